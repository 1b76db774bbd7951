package checker

import (
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/internal/testgraph"
	"github.com/kcfm-linux/kcfm/tools/link"
)

type fakeSums map[string][]int

func (f fakeSums) Lookup(fn string) ([]int, bool) { s, ok := f[fn]; return s, ok }
func (f fakeSums) All() []int {
	var out []int
	for _, s := range f {
		out = append(out, s...)
	}
	return out
}
func (f fakeSums) Describe() string { return "fake libc" }

// x86_64 numbers used below.
const (
	nrWrite  = 1
	nrOpenat = 257
	nrExecve = 59
	nrSocket = 41
	nrExit   = 231
)

var sums = fakeSums{"write": {nrWrite}, "open_for_write": {nrOpenat}, "open": {nrOpenat}, "execv": {nrExecve}, "socket": {nrSocket}, "exit": {nrExit}, "qsort": nil, "longjmp": nil}

func build(t *testing.T, src string, mutate func(g *model.TUGraph)) (*model.Signature, map[string]int32) {
	t.Helper()
	return buildWith(t, src, mutate, link.Options{})
}

// buildDecided links with DecideExclusions (as kcfm link --instrument-flags):
// silent and flat functions are modelled as possibly uninstrumented.
func buildDecided(t *testing.T, src string, mutate func(g *model.TUGraph)) (*model.Signature, map[string]int32) {
	t.Helper()
	return buildWith(t, src, mutate, link.Options{DecideExclusions: true})
}

func buildWith(t *testing.T, src string, mutate func(g *model.TUGraph), opt link.Options) (*model.Signature, map[string]int32) {
	t.Helper()
	g := testgraph.MustBuild(t, src)
	if mutate != nil {
		mutate(g)
	}
	opt.Arch, opt.Summaries = sysnum.X86_64, sums
	sig, _, err := link.Link([]*model.TUGraph{g}, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int32{}
	for i, f := range sig.Functions {
		ids[f.Name] = int32(i)
	}
	return sig, ids
}

type ev struct {
	kind string // enter exit sys
	fn   string
	nr   int
}

func run(t *testing.T, sig *model.Signature, ids map[string]int32, full bool, evs []ev) *Anomaly {
	t.Helper()
	var obs func(int) bool
	if !full {
		obs = func(nr int) bool { return nr == nrOpenat || nr == nrExecve || nr == nrSocket }
	}
	p := New(sig, obs).NewProcess(100)
	for _, e := range evs {
		var a *Anomaly
		switch e.kind {
		case "enter":
			id, ok := ids[e.fn]
			if !ok {
				id = Unknown
			}
			a = p.Enter(100, id)
		case "exit":
			id, ok := ids[e.fn]
			if !ok {
				id = Unknown
			}
			a = p.Exit(100, id)
		case "sys":
			if !full && !(e.nr == nrOpenat || e.nr == nrExecve || e.nr == nrSocket) {
				continue // not reported in the default mode
			}
			a = p.Syscall(100, e.nr)
		}
		if a != nil {
			return a
		}
	}
	return nil
}

func enter(f string) ev { return ev{kind: "enter", fn: f} }
func exit(f string) ev  { return ev{kind: "exit", fn: f} }
func sys(n int) ev      { return ev{kind: "sys", nr: n} }

const ctxProgram = `
main: call a; call b; ret
a: call h; ret
b: call h; ext execv; ret
h: ext write; ret
`

func TestContextSensitive(t *testing.T) {
	sig, ids := build(t, ctxProgram, nil)
	for _, full := range []bool{false, true} {
		good := []ev{enter("main"), enter("a"), enter("h"), sys(nrWrite), exit("h"), exit("a"), enter("b"), enter("h"), sys(nrWrite), exit("h"), sys(nrExecve), exit("b"), exit("main")}
		if a := run(t, sig, ids, full, good); a != nil {
			t.Fatalf("full=%v: benign trace rejected: %+v", full, a)
		}
		// execve right after h returned into a: every function involved
		// can make these events, but not in this context. A model without
		// call context (h may return to any caller) accepts it.
		bad := []ev{enter("main"), enter("a"), enter("h"), sys(nrWrite), exit("h"), sys(nrExecve)}
		a := run(t, sig, ids, full, bad)
		if a == nil {
			t.Fatalf("full=%v: execve in the wrong call context accepted", full)
		}
		if !strings.Contains(a.Event, "execve") || len(a.Stack) < 2 || a.Stack[0].Function != "a" {
			t.Fatalf("anomaly lacks detail: %+v", a)
		}
		if len(a.Expected) == 0 || a.Expected[0] != "return from a" {
			t.Fatalf("expected events = %v", a.Expected)
		}
	}
}

func TestOrder(t *testing.T) {
	sig, ids := build(t, "main: ext socket; ext open_for_write; ret", nil)
	if a := run(t, sig, ids, false, []ev{enter("main"), sys(nrSocket), sys(nrOpenat), exit("main")}); a != nil {
		t.Fatal(a)
	}
	if a := run(t, sig, ids, false, []ev{enter("main"), sys(nrOpenat), sys(nrSocket)}); a == nil {
		t.Fatal("swapped order accepted")
	}
	// A syscall inserted where none is possible.
	if a := run(t, sig, ids, false, []ev{enter("main"), sys(nrSocket), sys(nrOpenat), sys(nrExecve)}); a == nil {
		t.Fatal("inserted execve accepted")
	}
}

func TestUnexpectedCall(t *testing.T) {
	sig, ids := build(t, "main: call a; ret\na: ret\nevil: ext execv; ret", nil)
	a := run(t, sig, ids, false, []ev{enter("main"), enter("evil")})
	if a == nil || !strings.Contains(a.Event, "call evil") {
		t.Fatalf("hijack into evil accepted: %+v", a)
	}
}

func TestSignalHandlerAsync(t *testing.T) {
	sig, ids := build(t, "main: ext signal; call work; ret\nwork: ext write; ret\nhandler: ext write; ret", func(g *model.TUGraph) {
		g.Callbacks = append(g.Callbacks, model.Callback{Registrar: "signal", USR: "c:@F@handler"})
	})
	if a := run(t, sig, ids, true, []ev{enter("main"), enter("work"), enter("handler"), sys(nrWrite), exit("handler"), sys(nrWrite), exit("work"), exit("main")}); a != nil {
		t.Fatal(a)
	}
}

func TestQsortCallback(t *testing.T) {
	sig, ids := build(t, "main: ext qsort; ret\ncmp: ret", func(g *model.TUGraph) {
		g.Callbacks = append(g.Callbacks, model.Callback{Registrar: "qsort", USR: "c:@F@cmp"})
	})
	if a := run(t, sig, ids, true, []ev{enter("main"), enter("cmp"), exit("cmp"), enter("cmp"), exit("cmp"), exit("main")}); a != nil {
		t.Fatal(a)
	}
}

func TestLongjmpUnwind(t *testing.T) {
	// main: setjmp; call deep; then (after longjmp) execv.
	sig, ids := build(t, "main: setjmp; call deep; ret | setjmp; ext execv; ret\ndeep: call deeper; ret\ndeeper: noret longjmp", nil)
	// deeper longjmps back to main: no exit events for deeper/deep.
	if a := run(t, sig, ids, false, []ev{enter("main"), enter("deep"), enter("deeper"), sys(nrExecve), exit("main")}); a != nil {
		t.Fatal(a)
	}
}

func TestUnknownFrameTransparent(t *testing.T) {
	sig, ids := build(t, "main: ext write; ext open_for_write; ret\ncb: ret", func(g *model.TUGraph) {
		g.AddressTaken = append(g.AddressTaken, model.FuncRef{USR: "c:@F@cb", Type: "void (void)"})
	})
	// An inline function from a system header (not in the signature)
	// makes the syscall; it is checked against main.
	if a := run(t, sig, ids, true, []ev{enter("main"), enter("inline_write"), sys(nrWrite), exit("inline_write"), sys(nrOpenat), exit("main")}); a != nil {
		t.Fatal(a)
	}
	// Unknown code may call back address-taken functions only.
	if a := run(t, sig, ids, true, []ev{enter("main"), enter("lib"), enter("cb"), exit("cb"), exit("lib")}); a != nil {
		t.Fatal(a)
	}
	if a := run(t, sig, ids, true, []ev{enter("main"), enter("lib"), enter("main")}); a == nil {
		t.Fatal("unknown code calling a non-escaping function accepted")
	}
}

func TestForkChildInheritsStack(t *testing.T) {
	sig, ids := build(t, "main: ext fork_it; ext execv; ret", func(g *model.TUGraph) {})
	_ = sig
	m := New(sig, nil)
	p := m.NewProcess(1)
	if a := p.Enter(1, ids["main"]); a != nil {
		t.Fatal(a)
	}
	p.SnapshotFork(1)
	c := p.ForkChild(1, 2)
	if a := c.Syscall(2, nrExecve); a != nil {
		t.Fatalf("child's execve after fork rejected: %+v", a)
	}
}

func TestStats(t *testing.T) {
	sig, ids := build(t, ctxProgram, nil)
	p := New(sig, nil).NewProcess(1)
	p.EnableStats()
	p.Enter(1, ids["main"])
	p.Enter(1, ids["a"])
	if p.Stats().Events != 2 || p.Stats().ABF() < 1 {
		t.Fatalf("stats: %+v", p.Stats())
	}
}

func TestExceptionUnwindReturns(t *testing.T) {
	// thrower halts (throw); middle calls thrower then more; main catches.
	src := "main: call middle; ret | setjmp; call handler; ret\nmiddle: call thrower; call more; ret\nthrower: noret __cxa_throw\nmore: ret\nhandler: ret"
	evs := []ev{enter("main"), enter("middle"), enter("thrower"), exit("thrower"), exit("middle"), enter("handler"), exit("handler"), exit("main")}
	// C: a return from a state that cannot return is an anomaly.
	sig, ids := build(t, src, nil)
	if a := run(t, sig, ids, true, evs); a == nil {
		t.Fatal("C program: return after a noreturn call accepted")
	}
	// C++: frames unwound by an exception report their returns.
	sig, ids = build(t, src, func(g *model.TUGraph) { g.Language = "c++" })
	if sig.Flags&model.SigExceptions == 0 {
		t.Fatal("C++ signature without the exceptions flag")
	}
	if a := run(t, sig, ids, true, evs); a != nil {
		t.Fatalf("C++ exception unwinding rejected: %+v", a)
	}
}

// Every state set step returns is canonical (a cached closure or an
// interned merge), so that the transition cache can hold it: the same
// step twice gives the very same set, also when unobserved syscalls make
// several states match.
func TestStepResultsCanonical(t *testing.T) {
	// After the unreported write, both of main's start states call f and
	// reach the same state: the merge of two equal closures.
	sig, ids := buildDecided(t, "main: sys 1; call f; call g; ret | call f; call g; ret\nf: ret\ng: ret", nil)
	m := New(sig, func(nr int) bool { return nr != 1 }) // write (1) is never reported
	main := ids["main"]
	set := m.closure(main, 0)
	for _, callee := range []string{"f", "g"} {
		next, _ := m.step(main, set, model.CallLabel(ids[callee]))
		if len(next) == 0 {
			t.Fatalf("main cannot call %s at its start", callee)
		}
		if !m.canon[&next[0]] {
			t.Fatalf("step to %s returned a set that is not canonical: %v", callee, next)
		}
		again, _ := m.step(main, set, model.CallLabel(ids[callee]))
		if &again[0] != &next[0] {
			t.Fatalf("the same step twice gave two sets")
		}
		// and from the result on
		for _, c2 := range []string{"f", "g"} {
			if n2, _ := m.step(main, next, model.CallLabel(ids[c2])); len(n2) > 0 && !m.canon[&n2[0]] {
				t.Fatalf("second step not canonical")
			}
		}
	}
}

// Flat functions (small functions without indirect calls that make no
// syscall an attacker is after) are inlined into their callers: left
// uninstrumented, their syscalls are checked in order in the caller's
// frame; instrumented, as usual.
func TestFlatFunctionsInlined(t *testing.T) {
	const nrUname, nrGetuid = 63, 102
	src := "main: call opener; ext execv; ret\nopener: ext write; sys 63; call helper; ret\nhelper: sys 102; ret\nfiler: ext open_for_write; ret"
	static := func(g *model.TUGraph) {
		for i := range g.Functions {
			if g.Functions[i].Name != "main" {
				g.Functions[i].Static = true
			}
		}
	}
	for _, mod := range []func(*model.TUGraph){static, nil} { // internal and external linkage
		sig, ids := buildDecided(t, src, mod)
		for _, full := range []bool{false, true} {
			// uninstrumented: no events for opener and helper
			if a := run(t, sig, ids, full, []ev{enter("main"), sys(nrWrite), sys(nrUname), sys(nrGetuid), sys(nrExecve), exit("main")}); a != nil {
				t.Fatalf("full=%v: uninstrumented flat functions: %+v", full, a)
			}
			// instrumented copies: their events are checked as before
			if a := run(t, sig, ids, full, []ev{enter("main"), enter("opener"), sys(nrWrite), sys(nrUname), enter("helper"), sys(nrGetuid), exit("helper"), exit("opener"), sys(nrExecve), exit("main")}); a != nil {
				t.Fatalf("full=%v: instrumented flat functions: %+v", full, a)
			}
		}
		// the order inside the inlined functions still counts
		if a := run(t, sig, ids, true, []ev{enter("main"), sys(nrGetuid), sys(nrWrite)}); a == nil {
			t.Fatal("getuid before write accepted")
		}
		if a := run(t, sig, ids, true, []ev{enter("main"), sys(nrExecve), sys(nrWrite)}); a == nil {
			t.Fatal("write after execv accepted")
		}
	}
	// Not flat: a function that can open a file for writing (a hijack
	// target: its entry must be seen), address taken, a signal handler.
	filer := "main: call filer; ret\nfiler: ext open; ret"
	sig, ids := buildDecided(t, filer, static)
	if a := run(t, sig, ids, true, []ev{enter("main"), sys(nrOpenat)}); a == nil {
		t.Fatal("filer (openat) is inlined")
	}
	for _, c := range []struct {
		name string
		mod  func(g *model.TUGraph)
	}{
		{"address taken", func(g *model.TUGraph) {
			static(g)
			g.AddressTaken = append(g.AddressTaken, model.FuncRef{USR: "c:@F@opener", Type: "void (void)"})
		}},
		{"signal handler", func(g *model.TUGraph) {
			g.Callbacks = append(g.Callbacks, model.Callback{Registrar: "signal", USR: "c:@F@opener"})
		}},
	} {
		sig, ids := buildDecided(t, src, c.mod)
		if a := run(t, sig, ids, true, []ev{enter("main"), sys(nrWrite)}); a == nil {
			t.Fatalf("%s: opener is inlined", c.name)
		}
	}
	rec := "main: call r; ret\nr: ext write; call r; ret | ret"
	sig, ids = buildDecided(t, rec, static)
	if a := run(t, sig, ids, true, []ev{enter("main"), sys(nrWrite)}); a == nil {
		t.Fatal("recursive r is inlined")
	}
	if a := run(t, sig, ids, true, []ev{enter("main"), enter("r"), sys(nrWrite), enter("r"), exit("r"), exit("r"), exit("main")}); a != nil {
		t.Fatalf("recursive r, instrumented: %+v", a)
	}
}
