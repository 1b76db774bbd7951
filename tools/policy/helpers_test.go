package policy

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/internal/testgraph"
	"github.com/kcfm-linux/kcfm/tools/link"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// testSums is a link.Summaries over syscall names of one architecture
// (names the architecture lacks are dropped, like a real libc summary
// generated for it would not have them).
type testSums struct {
	by  map[string][]int
	all []int
}

func newSums(t testing.TB, arch sysnum.Arch, fns map[string][]string) *testSums {
	t.Helper()
	tab := sysnum.For(arch)
	s := &testSums{by: map[string][]int{}}
	all := map[int]bool{}
	for fn, names := range fns {
		nrs := []int{}
		for _, n := range names {
			nr, ok := tab.Nr(n)
			if !ok {
				if _, other := sysnum.For(sysnum.X86_64).Nr(n); !other {
					t.Fatalf("summary of %s: unknown syscall %q", fn, n)
				}
				continue
			}
			nrs = append(nrs, nr)
			all[nr] = true
		}
		sort.Ints(nrs)
		s.by[fn] = nrs
	}
	for nr := range all {
		s.all = append(s.all, nr)
	}
	sort.Ints(s.all)
	return s
}

func (s *testSums) Lookup(fn string) ([]int, bool) {
	v, ok := s.by[fn]
	return v, ok
}
func (s *testSums) All() []int       { return s.all }
func (s *testSums) Describe() string { return "test libc summaries" }

// unit is one TU in testgraph notation with the file it stands for.
type unit struct {
	file string
	src  string
	// callbacks: registrar -> function names handed to it
	callbacks map[string][]string
}

// linkSig builds TU graphs with internal/testgraph and links them.
func linkSig(t testing.TB, arch sysnum.Arch, program string, units []unit, sums map[string][]string) *model.Signature {
	t.Helper()
	var gs []*model.TUGraph
	for _, u := range units {
		g, err := testgraph.Build(u.src)
		if err != nil {
			t.Fatalf("%s: %v", u.file, err)
		}
		g.Source = u.file
		g.Files = []string{u.file}
		for reg, fns := range u.callbacks {
			for _, fn := range fns {
				g.Callbacks = append(g.Callbacks, model.Callback{Registrar: reg, USR: "c:@F@" + fn, Linkage: fn})
				g.AddressTaken = append(g.AddressTaken, model.FuncRef{USR: "c:@F@" + fn, Linkage: fn, Type: "void (int)"})
			}
		}
		gs = append(gs, g)
	}
	sig, rep, err := link.Link(gs, nil, link.Options{Arch: arch, Program: program, Summaries: newSums(t, arch, sums), Strict: true})
	if err != nil {
		t.Fatalf("link %s: %v (report %+v)", program, err, rep)
	}
	return sig
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./tools/policy -run %s -update` to create it)", err, t.Name())
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (rerun with -update after checking the change):\n%s", path, diffLines(string(want), string(got)))
	}
}

// diffLines shows the first differing lines.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := len(w)
	if len(g) > n {
		n = len(g)
	}
	shown := 0
	for i := 0; i < n && shown < 12; i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + a + "\n  got:  " + c + "\n")
			shown++
		}
	}
	return b.String()
}

// helloUnits is examples/kcfm_hello (hello.c, greet.c) in testgraph
// notation: main greets the names, optionally appending to a log file;
// usage() prints and exits.
var helloUnits = []unit{
	{file: "examples/kcfm_hello/hello.c", src: `
usage: ext fprintf; noret exit
main: call usage | loop { call format_greeting; ext puts }; ret | ext fopen; ext strerror; ext fprintf; ret | ext fopen; loop { call format_greeting; ext puts; ext fputs }; ext fclose; ret
`},
	{file: "examples/kcfm_hello/greet.c", src: `
is_shout: loop { ext __ctype_b_loc }; ret
format_greeting: call is_shout; ext snprintf; ret
`},
}

// helloLibc are summaries in the shape `kcfm libc` makes for glibc: stdio
// buffers come from malloc (brk, mmap), fopen opens, fclose flushes and
// closes, exit flushes and ends the process.
var helloLibc = map[string][]string{
	"fprintf":       {"write", "newfstatat", "fstat", "brk", "mmap"},
	"puts":          {"write", "newfstatat", "fstat", "brk", "mmap"},
	"fputs":         {"write", "brk", "mmap"},
	"fopen":         {"openat", "brk", "mmap"},
	"fclose":        {"write", "close", "munmap", "lseek"},
	"exit":          {"exit_group", "write", "close", "lseek"},
	"strerror":      {},
	"snprintf":      {},
	"__ctype_b_loc": {},
}

func helloSig(t testing.TB, arch sysnum.Arch) *model.Signature {
	return linkSig(t, arch, "kcfm_hello", helloUnits, helloLibc)
}

// testSensitive is a sensitive set in the shape of the runtime's default
// (runtime/seccomp DefaultSensitiveList): the core package's tests use it;
// tools/policy/filter converts the runtime's own list.
var testSensitive = func() []SensitiveRule {
	var out []SensitiveRule
	add := func(class string, c *ArgCond, names ...string) {
		for _, n := range names {
			out = append(out, SensitiveRule{Syscall: n, Cond: c, Class: class, Reason: class + " (test set)"})
		}
	}
	const writes = 0x1 | 0x2 | 0x40 | 0x200 | 0x400 | 0x400000 // O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND|O_TMPFILE
	add("exec", nil, "execve", "execveat", "fork", "vfork")
	add("process", &ArgCond{Arg: 0, Mask: 0x10000, Op: NoneSet}, "clone")
	out = append(out, SensitiveRule{Syscall: "clone3", Action: ActErrno, Errno: 38, Class: "process", Reason: "flags in memory: ENOSYS makes libc use clone"})
	add("network", nil, "socket", "connect", "bind", "listen", "accept", "accept4")
	add("file-write", &ArgCond{Arg: 1, Mask: writes, Op: AnySet}, "open")
	add("file-write", &ArgCond{Arg: 2, Mask: writes, Op: AnySet}, "openat")
	add("file-write", nil, "openat2", "creat", "unlink", "unlinkat", "rename", "renameat", "mkdir", "mkdirat")
	add("exec-memory", &ArgCond{Arg: 2, Mask: 0x4, Op: AnySet}, "mmap", "mprotect", "pkey_mprotect")
	add("debug", nil, "ptrace", "process_vm_readv", "process_vm_writev", "kill", "tgkill")
	add("privilege", nil, "setuid", "setgid", "capset", "chmod", "mount", "unshare", "bpf")
	return out
}()

// without returns the set minus the named syscalls.
func without(rules []SensitiveRule, names ...string) []SensitiveRule {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	var out []SensitiveRule
	for _, r := range rules {
		if !drop[r.Syscall] {
			out = append(out, r)
		}
	}
	return out
}
