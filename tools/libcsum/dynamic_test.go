package libcsum

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

var updateReport = flag.Bool("update-report", false, "write the measured precision table into docs/libc-summaries.md")

const markBase = 0x10000 // keep in sync with testdata/calls.c

// dynResult is what one traced run of testdata/calls.c showed.
type dynResult struct {
	observed map[string]map[int]bool // function -> syscalls seen inside its brackets
	calls    map[string]int          // function -> number of calls
	order    []string
}

func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run scripts/setup.sh (it installs strace, gcc and musl-tools)", name)
	}
	return p
}

// traceCalls builds testdata/calls.c with cc, runs it under strace -f and
// attributes syscalls to the bracketed libc calls.
func traceCalls(t *testing.T, cc string, extra ...string) *dynResult {
	t.Helper()
	requireTool(t, cc)
	strace := requireTool(t, "strace")
	dir := t.TempDir()
	bin := filepath.Join(dir, "calls")
	args := append([]string{"-O0", "-fno-builtin", "-o", bin, "testdata/calls.c"}, extra...)
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", cc, args, err, out)
	}
	list, err := exec.Command(bin, "--list").Output()
	if err != nil {
		t.Fatalf("%s --list: %v", bin, err)
	}
	names := map[int]string{}
	var order []string
	for _, ln := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		var i int
		var n string
		if _, err := fmt.Sscanf(ln, "%d %s", &i, &n); err != nil {
			t.Fatalf("bad --list line %q", ln)
		}
		names[i] = n
		order = append(order, n)
	}
	out := filepath.Join(dir, "strace.txt")
	cmd := exec.Command(strace, "-f", "-n", "-qq", "-o", out, bin)
	cmd.Stdout, cmd.Stderr = nil, nil
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace %s: %v\n%s", bin, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return attribute(t, data, names, order)
}

var straceLine = regexp.MustCompile(`^(\d+)\s+\[\s*(\d+)\]\s+(.*)$`)
var retPid = regexp.MustCompile(`= (\d+)$`)

func isClone(rest string) bool {
	for _, p := range []string{"clone(", "clone3(", "fork(", "vfork(", "<... clone resumed>", "<... clone3 resumed>", "<... fork resumed>", "<... vfork resumed>"} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

func isSigreturn(rest string) bool {
	return strings.HasPrefix(rest, "rt_sigreturn(") || strings.HasPrefix(rest, "sigreturn(")
}

func attribute(t *testing.T, data []byte, names map[int]string, order []string) *dynResult {
	type line struct {
		pid, nr int
		rest    string
	}
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		m := straceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		nr, _ := strconv.Atoi(m[2])
		lines = append(lines, line{pid, nr, m[3]})
	}
	// pass 1: bracket state per pid, and the state each new pid starts in
	const none = -1
	childInit := map[int]int{}
	state := map[int]int{}
	get := func(pid int) int {
		if s, ok := state[pid]; ok {
			return s
		}
		if s, ok := childInit[pid]; ok {
			return s
		}
		return none
	}
	pending := map[int]int{}
	for pass := 0; pass < 2; pass++ {
		state = map[int]int{}
		res := &dynResult{observed: map[string]map[int]bool{}, calls: map[string]int{}, order: order}
		for _, l := range lines {
			if strings.HasPrefix(l.rest, "---") || strings.HasPrefix(l.rest, "+++") {
				continue
			}
			st := get(l.pid)
			if l.nr >= markBase && l.nr < markBase+2*len(names)+2 {
				if strings.HasPrefix(l.rest, "<...") {
					continue
				}
				i := (l.nr - markBase) / 2
				if (l.nr-markBase)%2 == 0 {
					state[l.pid] = i
					if pass == 1 {
						res.calls[names[i]]++
					}
				} else {
					state[l.pid] = none
				}
				continue
			}
			state[l.pid] = st
			if isClone(l.rest) {
				if !strings.HasPrefix(l.rest, "<...") {
					pending[l.pid] = st
				}
				if m := retPid.FindStringSubmatch(l.rest); m != nil {
					c, _ := strconv.Atoi(m[1])
					childInit[c] = pending[l.pid]
				}
			}
			if strings.HasPrefix(l.rest, "<...") {
				continue // counted at its start line
			}
			if isSigreturn(l.rest) {
				// rt_sigreturn ends a signal handler: it belongs to the
				// asynchronous signal delivery, not to the interrupted
				// libc function (docs/libc-summaries.md, "Signals").
				continue
			}
			if pass == 1 && st != none {
				fn := names[st]
				if res.observed[fn] == nil {
					res.observed[fn] = map[int]bool{}
				}
				res.observed[fn][l.nr] = true
			}
		}
		if pass == 1 {
			if len(res.calls) < 100 {
				t.Fatalf("only %d distinct functions were bracketed in the trace (markers lost?)", len(res.calls))
			}
			return res
		}
	}
	return nil
}

type miss struct {
	fn  string
	nrs []int
}

// checkSound fails the test for every observed syscall missing from the
// summary, and returns the precision rows.
func checkSound(t *testing.T, s *Summary, r *dynResult) (rows [][5]string, tolerated []string) {
	t.Helper()
	arch := sysnum.Arch(s.Arch)
	seen := map[string]bool{}
	var misses []miss
	for _, fn := range r.order {
		if seen[fn] {
			continue
		}
		seen[fn] = true
		f, ok := s.Lookup(fn)
		if !ok {
			t.Errorf("%s %s: function %s is not in the summary", s.Libc, s.Arch, fn)
			continue
		}
		in := map[int]bool{}
		for _, nr := range f.Syscalls {
			in[nr] = true
		}
		var obs, missing []int
		for nr := range r.observed[fn] {
			obs = append(obs, nr)
			if !in[nr] {
				missing = append(missing, nr)
			}
		}
		sort.Ints(obs)
		sort.Ints(missing)
		if len(missing) > 0 {
			if f.LoadsCode {
				tolerated = append(tolerated, fmt.Sprintf("%s: %s (loads_code: syscalls of dynamically loaded code)", fn, strings.Join(SyscallNames(arch, missing), ",")))
			} else {
				misses = append(misses, miss{fn, missing})
			}
		}
		eff := s.EffectOf(f, EffectiveOptions{})
		effN := strconv.Itoa(len(eff.Syscalls))
		if eff.UnknownSyscall || eff.NrArg > 0 {
			effN = "all"
		}
		rows = append(rows, [5]string{fn, strconv.Itoa(len(obs)), strconv.Itoa(len(f.Syscalls)), effN, strings.Join(SyscallNames(arch, obs), " ")})
	}
	for _, m := range misses {
		t.Errorf("UNSOUND %s %s: %s made %s, not in its summary", s.Libc, s.Arch, m.fn, strings.Join(SyscallNames(arch, m.nrs), ", "))
	}
	return rows, tolerated
}

func hostLibc(t *testing.T, which string) string {
	t.Helper()
	switch which {
	case "glibc":
		out, err := exec.Command("gcc", "-print-file-name=libc.so.6").Output()
		if err != nil {
			t.Fatalf("gcc -print-file-name: %v (run scripts/setup.sh)", err)
		}
		p, err := filepath.EvalSymlinks(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatalf("host glibc: %v", err)
		}
		return p
	default:
		p, err := filepath.EvalSymlinks("/lib/ld-musl-" + string(sysnum.Host()) + ".so.1")
		if err != nil {
			t.Fatalf("musl dynamic linker/libc not found: %v (install musl: run scripts/setup.sh)", err)
		}
		return p
	}
}

// TestDynamicSoundness traces real calls of >= 100 libc functions and checks
// that every syscall made inside a call is in that function's summary,
// computed from the libc the program ran with (host glibc, and musl built
// with musl-gcc).
func TestDynamicSoundness(t *testing.T) {
	if testing.Short() {
		t.Skip("traces a C program under strace; skipped with -short")
	}
	var report bytes.Buffer
	for _, c := range []struct {
		libc string
		cc   string
		args []string
	}{
		{"glibc", "gcc", []string{"-pthread"}},
		{"musl", "musl-gcc", nil},
	} {
		t.Run(c.libc, func(t *testing.T) {
			lib := hostLibc(t, c.libc)
			s, err := Generate(lib, sysnum.Host())
			if err != nil {
				t.Fatalf("Generate(%s): %v", lib, err)
			}
			r := traceCalls(t, c.cc, c.args...)
			rows, tolerated := checkSound(t, s, r)
			for _, x := range tolerated {
				t.Logf("tolerated: %s", x)
			}
			writePrecision(&report, s, rows, tolerated)
		})
	}
	if *updateReport {
		if err := spliceReport("../../docs/libc-summaries.md", report.String()); err != nil {
			t.Fatal(err)
		}
	}
}

func writePrecision(w *bytes.Buffer, s *Summary, rows [][5]string, tolerated []string) {
	var sumObs, sumSum, sumEff, n, unknown int
	var ratios []float64
	all := len(s.AllSyscalls())
	for _, r := range rows {
		o, _ := strconv.Atoi(r[1])
		m, _ := strconv.Atoi(r[2])
		e, err := strconv.Atoi(r[3])
		if err != nil { // "all": unknown syscall number
			e = all
			unknown++
		}
		sumObs += o
		sumSum += m
		sumEff += e
		n++
		if m > 0 {
			ratios = append(ratios, float64(o)/float64(m))
		}
	}
	var rs float64
	for _, x := range ratios {
		rs += x
	}
	exact, small, large := 0, 0, 0
	for _, r := range rows {
		m, _ := strconv.Atoi(r[2])
		if r[1] == r[2] {
			exact++
		}
		if m <= 10 {
			small++
		}
		if m >= 50 {
			large++
		}
	}
	fmt.Fprintf(w, "\n### %s %s %s (build id %s)\n\n", s.Libc, s.LibcVersion, s.Arch, s.BuildID)
	fmt.Fprintf(w, "%d functions traced; mean syscalls observed per function %.1f, mean summary size %.1f (effective, with the dying set: %.1f); mean observed/summary %.3f.\n",
		n, float64(sumObs)/float64(n), float64(sumSum)/float64(n), float64(sumEff)/float64(n), rs/float64(max(1, len(ratios))))
	fmt.Fprintf(w, "Summary exactly the observed set: %d functions; summary of at most 10 syscalls: %d; 50 or more: %d; unknown syscall number: %d.\n", exact, small, large, unknown)
	if len(tolerated) > 0 {
		fmt.Fprintf(w, "\nObserved syscalls not in the summary but allowed by `loads_code` (made by dynamically loaded code):\n\n")
		for _, x := range tolerated {
			fmt.Fprintf(w, "- %s\n", x)
		}
	}
	fmt.Fprintf(w, "\n| function | observed | summary | effective | observed syscalls |\n|---|---:|---:|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3], r[4])
	}
}

const reportBegin = "<!-- precision-report:begin (generated by go test ./tools/libcsum -run TestDynamicSoundness -update-report) -->"
const reportEnd = "<!-- precision-report:end -->"

func spliceReport(path, body string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i := strings.Index(s, reportBegin)
	j := strings.Index(s, reportEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s: report markers not found", path)
	}
	s = s[:i+len(reportBegin)] + "\n" + body + "\n" + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}
