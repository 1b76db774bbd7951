package policy

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/automaton"
	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// fnOf builds a function from "from label to" triples; labels are
// "sys:NR" or "call:ID"; ret lists the returning states.
func fnOf(name string, flags uint32, nstates int, ret []int, edges ...string) model.SigFunction {
	f := model.SigFunction{Name: name, Flags: flags, States: make([]model.SigState, nstates)}
	for _, r := range ret {
		f.States[r].Flags |= uint8(automaton.Return)
	}
	for _, e := range edges {
		var from, to, n int
		var kind string
		if _, err := fmt.Sscanf(strings.Replace(e, ":", " ", 1), "%d %s %d %d", &from, &kind, &n, &to); err != nil {
			panic(e + ": " + err.Error())
		}
		l := model.CallLabel(int32(n))
		if kind == "sys" {
			l = model.SyscallLabel(n)
		}
		f.States[from].Edges = append(f.States[from].Edges, model.SigEdge{Label: l, To: int32(to), Site: -1})
	}
	return f
}

func pairsOf(t *Transitions, tab *sysnum.Table) string {
	var out []string
	for a := 0; a < t.n; a++ {
		for _, b := range t.Successors(a) {
			out = append(out, tab.Name(a)+">"+tab.Name(b))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

const (
	nrRead     = 0
	nrWrite    = 1
	nrClose    = 3
	nrSigret   = 15
	nrGetpid   = 39
	nrGettid   = 186
	nrExitGrp  = 231
	nrNanoslp  = 35
	nrSchedYld = 24
)

func TestTransitionsExact(t *testing.T) {
	tab := sysnum.For(sysnum.X86_64)
	cases := []struct {
		name           string
		fns            []model.SigFunction
		allowed, start []int
		whole, program string
	}{
		{
			// main: call h; write; call h; close — h: read.
			// A callee returns to its own call site only.
			name: "calls",
			fns: []model.SigFunction{
				fnOf("main", model.FnEntry, 5, []int{4}, "0 call:1 1", "1 sys:1 2", "2 call:1 3", "3 sys:3 4"),
				fnOf("h", 0, 2, []int{1}, "0 sys:0 1"),
				fnOf("unused", 0, 3, []int{2}, "0 sys:39 1", "1 sys:39 2"),
			},
			allowed: []int{nrRead, nrWrite, nrClose, nrGetpid, nrExitGrp},
			start:   []int{nrExitGrp},
			program: "read>close read>write write>read",
			whole:   "close>exit_group exit_group>exit_group exit_group>read read>close read>write write>read",
		},
		{
			// h returns without a syscall on one path: write>close passes over it.
			name: "nullable callee",
			fns: []model.SigFunction{
				fnOf("main", model.FnEntry, 4, []int{3}, "0 sys:1 1", "1 call:1 2", "2 sys:3 3"),
				fnOf("h", 0, 2, []int{0, 1}, "0 sys:0 1"),
			},
			allowed: []int{nrRead, nrWrite, nrClose},
			program: "read>close write>close write>read",
			whole:   "read>close write>close write>read",
		},
		{
			// A loop makes read>read; a noreturn callee (no return state)
			// ends the path: nothing follows its exit_group.
			name: "loop and noreturn",
			fns: []model.SigFunction{
				fnOf("main", model.FnEntry, 3, []int{1}, "0 sys:0 1", "1 sys:0 1", "1 call:1 2", "2 sys:1 1"),
				fnOf("die", 0, 2, nil, "0 sys:231 1"),
			},
			allowed: []int{nrRead, nrWrite, nrExitGrp},
			program: "read>exit_group read>read",
			whole:   "read>exit_group read>read",
		},
		{
			// A signal handler may run between any two syscalls and ends in
			// rt_sigreturn.
			name: "signal handler",
			fns: []model.SigFunction{
				fnOf("main", model.FnEntry, 3, []int{2}, "0 sys:0 1", "1 sys:1 2"),
				fnOf("on_sig", model.FnSignalHandler|model.FnAddressTaken, 2, []int{1}, "0 sys:39 1"),
			},
			allowed: []int{nrRead, nrWrite, nrSigret, nrGetpid},
			program: "getpid>getpid getpid>rt_sigreturn read>getpid read>write rt_sigreturn>getpid rt_sigreturn>read rt_sigreturn>rt_sigreturn rt_sigreturn>write write>getpid",
			whole:   "getpid>getpid getpid>rt_sigreturn read>getpid read>write rt_sigreturn>getpid rt_sigreturn>read rt_sigreturn>rt_sigreturn rt_sigreturn>write write>getpid",
		},
		{
			// A thread start routine is its own sequence, framed by the
			// thread start-up syscalls in the whole run.
			name: "thread",
			fns: []model.SigFunction{
				fnOf("main", model.FnEntry, 2, []int{1}, "0 sys:0 1"),
				fnOf("worker", model.FnThreadStart, 3, []int{2}, "0 sys:1 1", "1 sys:3 2"),
			},
			allowed: []int{nrRead, nrWrite, nrClose, nrGettid},
			start:   []int{nrGettid},
			program: "write>close",
			whole:   "close>gettid gettid>gettid gettid>read gettid>write read>gettid write>close",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sig := &model.Signature{Arch: "x86_64", Program: c.name, Functions: c.fns, Syscalls: c.allowed, StartupSyscalls: c.start}
			for i, f := range c.fns {
				if f.Flags&model.FnEntry != 0 {
					sig.Entry = int32(i)
				}
			}
			if err := sig.Validate(); err != nil {
				t.Fatal(err)
			}
			tr, err := ComputeTransitions(sig, c.allowed, c.start)
			if err != nil {
				t.Fatal(err)
			}
			if got := pairsOf(tr, tab); got != c.whole {
				t.Errorf("whole run:\n got  %s\n want %s", got, c.whole)
			}
			if want := len(strings.Fields(c.whole)); tr.Pairs != want {
				t.Errorf("Pairs = %d, want %d", tr.Pairs, want)
			}
			if want := len(strings.Fields(c.program)); tr.ProgramPairs != want {
				t.Errorf("ProgramPairs = %d, want %d (%s)", tr.ProgramPairs, want, c.program)
			}
			if tr.Allowlist != len(c.allowed)*len(c.allowed) {
				t.Errorf("Allowlist = %d", tr.Allowlist)
			}
		})
	}
}

// A setjmp landing state may be resumed after any syscall.
func TestTransitionsLanding(t *testing.T) {
	f := fnOf("main", model.FnEntry, 3, []int{2}, "0 sys:0 1", "1 sys:1 2")
	f.States[1].Flags |= uint8(automaton.Landing)
	sig := &model.Signature{Arch: "x86_64", Functions: []model.SigFunction{f}, Syscalls: []int{0, 1, 3}}
	tr, err := ComputeTransitions(sig, sig.Syscalls, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := pairsOf(tr, sysnum.For(sysnum.X86_64)); got != "close>write read>write write>write" {
		t.Errorf("pairs %s", got)
	}
}

// Linked signatures: the digraph only has pairs of allowed syscalls, and
// the whole run includes the program phase.
func TestTransitionsOfLinkedSignatures(t *testing.T) {
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		for name, sig := range map[string]*model.Signature{"hello": helloSig(t, arch), "netd": netdSig(t, arch)} {
			p := mustCompute(t, sig, Options{})
			whole, err := digraphOf(sig, p.Allowed, p.Startup, true)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := digraphOf(sig, p.Allowed, p.Startup, false)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range prog.matrix {
				if x&^whole.matrix[i] != 0 {
					t.Fatalf("%s/%s: program-phase pair missing from the whole run", arch, name)
				}
			}
			tr, _ := ComputeTransitions(sig, p.Allowed, p.Startup)
			for a := 0; a < tr.n; a++ {
				for _, b := range tr.Successors(a) {
					if !p.IsAllowed(a) || !p.IsAllowed(b) || !tr.Has(a, b) {
						t.Fatalf("%s/%s: pair %d>%d outside the allowlist", arch, name, a, b)
					}
				}
			}
		}
	}
}
