package e2e

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// kcfmRun runs a program under `kcfm run` and returns its exit code,
// output and incident records.
func kcfmRun(t *testing.T, dir, mode string, args ...string) (int, string, string) {
	t.Helper()
	inc := filepath.Join(dir, "incidents-"+mode+".jsonl")
	os.Remove(inc)
	full := append([]string{"run", "--restarts", "0", "--mode", mode, "--incidents", inc, "--"}, args...)
	code, out := runExit(t, dir, kcfm, full...)
	data, _ := os.ReadFile(inc)
	return code, out, string(data)
}

// buildCProgram builds the benign C program of TestCProgramWithLibraries
// with its signature and returns its directory.
func buildCProgram(t *testing.T) string {
	dir := t.TempDir()
	src := filepath.Join(root, "tests/e2e/testdata/c")
	inc := "-I" + src
	rt := rtObject(t, dir)
	run(t, dir, "cc", "-O1", "-finstrument-functions", inc, "-c", filepath.Join(src, "store.c"), "-o", "store.o")
	run(t, dir, "ar", "rcs", "libstore.a", "store.o")
	run(t, dir, "cc", "-O1", "-fPIC", "-shared", "-finstrument-functions", inc, filepath.Join(src, "fmt.c"), "-o", "libfmt.so")
	run(t, dir, "cc", "-O1", "-finstrument-functions", inc, filepath.Join(src, "main.c"), filepath.Join(src, "worker.c"),
		"libstore.a", "-L.", "-lfmt", rt, "-lpthread", "-Wl,-rpath,"+dir, "-o", "prog")
	run(t, dir, kcfm, "link", "--lib", "store", "--kind", "static", "-o", "store.kcfmlib", graph(t, dir, filepath.Join(src, "store.c"), inc))
	run(t, dir, kcfm, "link", "--lib", "fmt", "--kind", "shared", "-o", "fmt.kcfmlib", graph(t, dir, filepath.Join(src, "fmt.c"), inc))
	run(t, dir, kcfm, "link", "--quiet", "-o", "prog.kcfm", graph(t, dir, filepath.Join(src, "main.c"), inc), graph(t, dir, filepath.Join(src, "worker.c"), inc), "store.kcfmlib", "fmt.kcfmlib")
	return dir
}

// Benign C and C++ programs (threads, fork+exec, a signal handler, qsort
// and atexit callbacks, setjmp/longjmp, static and shared graph
// libraries; virtual calls, exceptions, a lambda) run under the monitor
// with their normal output and status and no anomaly, in both modes.
func TestMonitoredBenignPrograms(t *testing.T) {
	cdir := buildCProgram(t)
	xdir := t.TempDir()
	xsrc := filepath.Join(root, "tests/e2e/testdata/cxx/main.cpp")
	run(t, xdir, "c++", "-O1", "-std=c++17", "-finstrument-functions", xsrc, rtObject(t, xdir), "-lpthread", "-o", "prog")
	run(t, xdir, kcfm, "link", "--quiet", "-o", "prog.kcfm", graph(t, xdir, xsrc, "-std=c++17"))
	for _, mode := range []string{"default", "full"} {
		code, out, inc := kcfmRun(t, cdir, mode, "./prog", "--write", filepath.Join(cdir, "saved-"+mode+".txt"))
		if code != 0 || inc != "" {
			t.Fatalf("C program, %s mode: exit %d, incidents:\n%s\noutput:\n%s", mode, code, inc, out)
		}
		for _, want := range []string{"sum: 25", "worker: 2", "signals: 1", "recovered: 1", "child: 0", "goodbye: 0"} {
			if !strings.Contains(out, want) {
				t.Fatalf("C program, %s mode: output lacks %q:\n%s", mode, want, out)
			}
		}
		if _, err := os.Stat(filepath.Join(cdir, "saved-"+mode+".txt")); err != nil {
			t.Fatalf("C program, %s mode: its legitimate file write did not happen: %v", mode, err)
		}
		code, out, inc = kcfmRun(t, xdir, mode, "./prog")
		if code != 0 || inc != "" || !strings.Contains(out, "total 29") {
			t.Fatalf("C++ program, %s mode: exit %d, incidents:\n%s\noutput:\n%s", mode, code, inc, out)
		}
	}
}

// symbolAddr reads a symbol's address from nm, or a PLT entry's from
// objdump (name@plt).
func symbolAddr(t *testing.T, bin, name string) uint64 {
	t.Helper()
	if strings.HasSuffix(name, "@plt") {
		out := run(t, filepath.Dir(bin), "objdump", "-d", "-j", ".plt", "-j", ".plt.sec", bin)
		m := regexp.MustCompile(`(?m)^([0-9a-f]+) <` + regexp.QuoteMeta(name) + `>:`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s in %s", name, bin)
		}
		a, _ := strconv.ParseUint(m[1], 16, 64)
		return a
	}
	out := run(t, filepath.Dir(bin), "nm", bin)
	m := regexp.MustCompile(`(?m)^([0-9a-f]+) [Tt] ` + regexp.QuoteMeta(name) + `$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no symbol %s in %s", name, bin)
	}
	a, _ := strconv.ParseUint(m[1], 16, 64)
	return a
}

// payload is the 16-byte name field followed by the new function pointer.
func payload(t *testing.T, path, arg string, target uint64) {
	t.Helper()
	if len(arg) > 15 {
		t.Fatalf("argument %q does not fit the 16-byte field", arg)
	}
	buf := make([]byte, 24)
	copy(buf, arg)
	binary.LittleEndian.PutUint64(buf[16:], target)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Real control-flow hijacks through a buffer overflow into a function
// pointer are stopped before their syscall; the same inputs without the
// monitor really do the damage (so the attacks are real).
func TestMonitoredAttacks(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(root, "tests/e2e/testdata/attack/vuln.c")
	run(t, dir, "cc", "-O0", "-no-pie", "-fno-pie", "-U_FORTIFY_SOURCE", "-finstrument-functions", src, rtObject(t, dir), "-lpthread", "-o", "vuln")
	run(t, dir, kcfm, "link", "--quiet", "-o", "vuln.kcfm", graph(t, dir, src))
	bin := filepath.Join(dir, "vuln")
	if err := os.WriteFile(filepath.Join(dir, "name.txt"), []byte("world"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"default", "full"} {
		code, out, inc := kcfmRun(t, dir, mode, "./vuln", "name.txt", "benign.log")
		if code != 0 || inc != "" || !strings.Contains(out, "hello world") {
			t.Fatalf("benign input, %s mode: exit %d, incidents %q, output %q", mode, code, inc, out)
		}
	}
	attacks := []struct {
		name, target, arg, artefact string
	}{
		{"right syscall in an impossible order (log before greeting)", "save_log", "pwned-log", "pwned-log"},
		{"function never called from there, spawning a shell", "run_maintenance", "touch pwn-sh", "pwn-sh"},
		{"libc code reached by the hijack (system@plt)", "system@plt", "touch pwn-sys", "pwn-sys"},
	}
	for _, a := range attacks {
		t.Run(a.target, func(t *testing.T) {
			in := filepath.Join(dir, a.target+".bin")
			payload(t, in, a.arg, symbolAddr(t, bin, a.target))
			artefact := filepath.Join(dir, a.artefact)
			// Unmonitored, the hijack works.
			os.Remove(artefact)
			cmd := exec.Command(bin, in, "unmonitored.log")
			cmd.Dir = dir
			cmd.CombinedOutput()
			if _, err := os.Stat(artefact); err != nil {
				t.Fatalf("%s: the unmonitored hijack did not work (no %s): the attack is not real", a.name, a.artefact)
			}
			os.Remove(artefact)
			for _, mode := range []string{"default", "full"} {
				code, out, inc := kcfmRun(t, dir, mode, "./vuln", in, "monitored.log")
				if code != 3 {
					t.Errorf("%s, %s mode: kcfm run exit %d, want 3 (anomaly, no restart left)\n%s\n%s", a.name, mode, code, out, inc)
				}
				if _, err := os.Stat(artefact); err == nil {
					t.Errorf("%s, %s mode: %s exists: the syscall ran", a.name, mode, a.artefact)
					os.Remove(artefact)
				}
				if !strings.Contains(inc, `"type":"anomaly"`) || !strings.Contains(inc, `"stack"`) {
					t.Errorf("%s, %s mode: no anomaly incident with a stack:\n%s", a.name, mode, inc)
				}
			}
		})
	}
}
