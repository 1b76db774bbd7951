// Package e2e tests the whole build-time and recording path on real
// programs: kcfm graph → kcfm link (with a static and a shared graph
// library) → an instrumented build → kcfm record of a real run → kcfm check.
// Real runs must be accepted; mutated traces (a syscall inserted, events
// swapped, a syscall moved to another call context) must be rejected.
package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var (
	root string // repository root
	kcfm string // built kcfm binary
)

func TestMain(m *testing.M) {
	wd, _ := os.Getwd()
	root = filepath.Clean(filepath.Join(wd, "..", ".."))
	dir, err := os.MkdirTemp("", "kcfm-e2e-bin-")
	if err != nil {
		panic(err)
	}
	kcfm = filepath.Join(dir, "kcfm")
	build := exec.Command("go", "build", "-o", kcfm, "./tools/cmd/kcfm")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic("building kcfm: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runExit runs a command in dir and returns its exit code and combined
// output; only a failure to start it fails the test.
func runExit(t *testing.T, dir, name string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// checkTrace runs kcfm check and returns its exit code and output.
func checkTrace(t *testing.T, dir, sig, tr string) (int, string) {
	t.Helper()
	return runExit(t, dir, kcfm, "check", sig, tr)
}

type event map[string]any

func readTrace(t *testing.T, path string) (string, []event) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var evs []event
	for _, l := range lines[1:] {
		var e event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	return lines[0], evs
}

func writeTrace(t *testing.T, path, header string, evs []event) {
	t.Helper()
	var b strings.Builder
	b.WriteString(header + "\n")
	for _, e := range evs {
		data, _ := json.Marshal(e)
		b.Write(data)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func find(evs []event, ev, sym string, from int) int {
	for i := from; i < len(evs); i++ {
		if evs[i]["ev"] == ev && (sym == "" || evs[i]["sym"] == sym || evs[i]["name"] == sym) {
			return i
		}
	}
	return -1
}

// block returns [i, j) of the call of sym starting at the first enter at
// or after from, up to its matching exit.
func block(t *testing.T, evs []event, sym string, from int) (int, int) {
	t.Helper()
	i := find(evs, "enter", sym, from)
	if i < 0 {
		t.Fatalf("no call of %s in the trace", sym)
	}
	depth := 0
	for j := i; j < len(evs); j++ {
		if evs[j]["tid"] != evs[i]["tid"] || evs[j]["sym"] != sym {
			continue
		}
		switch evs[j]["ev"] {
		case "enter":
			depth++
		case "exit":
			depth--
			if depth == 0 {
				return i, j + 1
			}
		}
	}
	t.Fatalf("call of %s does not return in the trace", sym)
	return 0, 0
}

func syscallEvent(like event, name string, nr int) event {
	return event{"ev": "syscall", "pid": like["pid"], "tid": like["tid"], "nr": nr, "name": name}
}

func nrOf(name string) int {
	x86 := map[string]int{"execve": 59, "write": 1}
	arm := map[string]int{"execve": 221, "write": 64}
	if runtime.GOARCH == "arm64" {
		return arm[name]
	}
	return x86[name]
}

func graph(t *testing.T, dir, src string, flags ...string) string {
	out := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))+".kcfmtu")
	args := append([]string{"graph", "-o", out, src, "--"}, flags...)
	run(t, dir, kcfm, args...)
	return out
}

func rtObject(t *testing.T, dir string) string {
	obj := filepath.Join(dir, "kcfm_rt.o")
	run(t, dir, "cc", "-O2", "-fPIC", "-c", filepath.Join(root, "runtime/librt/kcfm_rt.c"), "-I", filepath.Join(root, "sysroot-overlay/include"), "-o", obj)
	return obj
}

func TestCProgramWithLibraries(t *testing.T) {
	dir := buildCProgram(t)
	out := run(t, dir, kcfm, "record", "-o", "run.trace", "--", "./prog", "--write", filepath.Join(dir, "saved.txt"))
	for _, want := range []string{"sum: 25", "worker: 2", "signals: 1", "recovered: 1", "child: 0", "goodbye: 0"} {
		if !strings.Contains(out, want) {
			t.Fatalf("program output lacks %q:\n%s", want, out)
		}
	}
	header, evs := readTrace(t, filepath.Join(dir, "run.trace"))
	for _, sym := range []string{"main", "worker_main", "on_signal", "cmp_int", "goodbye", "risky", "render", "store_put"} {
		if find(evs, "enter", sym, 0) < 0 {
			t.Fatalf("trace has no function event for %s", sym)
		}
	}
	if code, msg := checkTrace(t, dir, "prog.kcfm", "run.trace"); code != 0 {
		t.Fatalf("kcfm check rejected a real run (exit %d):\n%s", code, msg)
	}

	mutants := map[string]func() []event{
		// execve right inside a function that makes no syscalls at all.
		"inserted execve": func() []event {
			i := find(evs, "enter", "store_sum", 0)
			m := append([]event{}, evs[:i+1]...)
			m = append(m, syscallEvent(evs[i], "execve", nrOf("execve")))
			return append(m, evs[i+1:]...)
		},
		// store_sum's call moved before the calls main makes first.
		"swapped calls": func() []event {
			a0, _ := block(t, evs, "install_handler", 0)
			b0, b1 := block(t, evs, "store_sum", 0)
			m := append([]event{}, evs[:a0]...)
			m = append(m, evs[b0:b1]...)
			m = append(m, evs[a0:b0]...)
			return append(m, evs[b1:]...)
		},
		// fmt_line's write, moved into the qsort comparator: every
		// function of the program can make this syscall somewhere, but
		// not in this call context.
		"syscall moved to another context": func() []event {
			w := find(evs, "syscall", "write", find(evs, "enter", "fmt_line", 0))
			c := find(evs, "enter", "cmp_int", 0)
			var m []event
			for i, e := range evs {
				if i == w {
					continue
				}
				m = append(m, e)
				if i == c {
					m = append(m, evs[w])
				}
			}
			return m
		},
	}
	for name, mutate := range mutants {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".trace")
		writeTrace(t, path, header, mutate())
		code, msg := checkTrace(t, dir, "prog.kcfm", path)
		if code != 2 {
			t.Errorf("%s: kcfm check exit %d, want 2 (rejected):\n%s", name, code, msg)
		}
	}
}

func TestCxxProgram(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(root, "tests/e2e/testdata/cxx/main.cpp")
	rt := rtObject(t, dir)
	run(t, dir, "c++", "-O1", "-std=c++17", "-finstrument-functions", src, rt, "-lpthread", "-o", "prog")
	run(t, dir, kcfm, "link", "--quiet", "-o", "prog.kcfm", graph(t, dir, src, "-std=c++17"))
	out := run(t, dir, kcfm, "record", "-o", "run.trace", "--", "./prog")
	if !strings.Contains(out, "log: too big") || !strings.Contains(out, "total 29") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	if code, msg := checkTrace(t, dir, "prog.kcfm", "run.trace"); code != 0 {
		t.Fatalf("kcfm check rejected a real C++ run (exit %d):\n%s", code, msg)
	}
	header, evs := readTrace(t, filepath.Join(dir, "run.trace"))
	i := find(evs, "enter", "_ZNK6Square4areaEv", 0)
	if i < 0 {
		t.Fatal("no virtual call of Square::area in the trace")
	}
	m := append([]event{}, evs[:i+1]...)
	m = append(m, syscallEvent(evs[i], "execve", nrOf("execve")))
	m = append(m, evs[i+1:]...)
	path := filepath.Join(dir, "mut.trace")
	writeTrace(t, path, header, m)
	if code, msg := checkTrace(t, dir, "prog.kcfm", path); code != 2 {
		t.Fatalf("execve inside Square::area accepted (exit %d):\n%s", code, msg)
	}
}
