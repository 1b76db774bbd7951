package link

import (
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/automaton"
	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/internal/testgraph"
)

type sums map[string][]int

func (s sums) Lookup(fn string) ([]int, bool) { v, ok := s[fn]; return v, ok }
func (s sums) All() []int                     { return []int{0, 1, 2, 3} }
func (s sums) Describe() string               { return "test libc" }

func fn(sig *model.Signature, name string) *model.SigFunction {
	for i := range sig.Functions {
		if sig.Functions[i].Name == name {
			return &sig.Functions[i]
		}
	}
	return nil
}

// callees returns the functions called from f's start state.
func callees(sig *model.Signature, f *model.SigFunction) []string {
	var out []string
	for _, e := range f.States[0].Edges {
		if _, ok := e.Label.IsSyscall(); !ok {
			out = append(out, sig.Functions[e.Label].Name)
		}
	}
	return out
}

func TestExternalExpansion(t *testing.T) {
	g := testgraph.MustBuild(t, "main: ext write; ret")
	sig, rep, err := Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{"write": {1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 0 {
		t.Fatalf("warnings: %v", rep.Warnings)
	}
	m := fn(sig, "main")
	// start state: may loop on write(1) and may return.
	st := m.States[0]
	if st.Flags&1 == 0 || len(st.Edges) != 1 || st.Edges[0].Label != model.SyscallLabel(1) {
		t.Fatalf("main's start state: %+v", st)
	}
	found := false
	for _, nr := range sig.Syscalls {
		found = found || nr == 1
	}
	if !found {
		t.Fatalf("write not in the allowlist %v", sig.Syscalls)
	}
}

func TestUnknownExternalWarnsAndStrictFails(t *testing.T) {
	g := testgraph.MustBuild(t, "main: ext mystery; ret")
	sig, rep, err := Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.UnknownExternals["mystery"]) != 1 || !strings.Contains(strings.Join(sig.Warnings, "\n"), "mystery has no summary") {
		t.Fatalf("no warning for mystery: %+v", rep)
	}
	if _, _, err := Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{}, Strict: true}); err == nil {
		t.Fatal("--strict accepted an unknown external")
	}
}

func TestMissingEntry(t *testing.T) {
	g := testgraph.MustBuild(t, "notmain: ret")
	if _, _, err := Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{}}); err == nil || !strings.Contains(err.Error(), `entry function "main"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestIndirectByTypeAndNarrowing(t *testing.T) {
	g := testgraph.MustBuild(t, "main: icall int (int); ret\nf1: ret\nf2: ret\nf3: ret")
	g.AddressTaken = []model.FuncRef{
		{USR: "c:@F@f1", Type: "int (int)"}, {USR: "c:@F@f2", Type: "int (int)"}, {USR: "c:@F@f3", Type: "void (void)"},
	}
	sig, rep, err := Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(callees(sig, fn(sig, "main")), ","); got != "f1,f2" {
		t.Fatalf("type-matched targets = %s, want f1,f2", got)
	}
	if rep.AvgIndirectTargets() != 2 {
		t.Fatalf("avg targets %v", rep.AvgIndirectTargets())
	}
	// The pointer comes from a struct field only ever assigned f2.
	g.Labels[0].Slot = "field:c:@S@ops@FI@cb"
	g.SlotStores = []model.SlotStore{{Slot: "field:c:@S@ops@FI@cb", USR: "c:@F@f2"}}
	sig, rep, _ = Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{}})
	if got := strings.Join(callees(sig, fn(sig, "main")), ","); got != "f2" || rep.NarrowedCalls != 1 {
		t.Fatalf("narrowed targets = %s (%d narrowed), want f2", got, rep.NarrowedCalls)
	}
	// An unknown store or an escaped slot disables narrowing.
	g.EscapedSlots = []string{"field:c:@S@ops@FI@cb"}
	sig, _, _ = Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{}})
	if got := strings.Join(callees(sig, fn(sig, "main")), ","); got != "f1,f2" {
		t.Fatalf("escaped slot narrowed anyway: %s", got)
	}
	// Parameters and locals are never narrowed.
	g.EscapedSlots = nil
	g.Labels[0].Slot = "var:c:t.c@10@F@main@fp"
	g.SlotStores = []model.SlotStore{{Slot: "var:c:t.c@10@F@main@fp", USR: "c:@F@f2"}}
	sig, _, _ = Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{}})
	if got := strings.Join(callees(sig, fn(sig, "main")), ","); got != "f1,f2" {
		t.Fatalf("local slot narrowed: %s", got)
	}
}

func TestVirtualOverriders(t *testing.T) {
	g := testgraph.MustBuild(t, "main: ret\nBase_f: ret\nDer_f: ret\nOther_f: ret")
	g.Functions[0].Automaton = testgraph.MustBuild(t, "main: ret").Functions[0].Automaton
	// main: vcall Base::f on static class Der → only Der::f (Base::f is
	// overridden in Der; Other derives from Base, not from Der).
	g.Labels = append(g.Labels, model.Label{Kind: model.VCall, Target: "c:@F@Base_f", Name: "f", Class: "c:@S@Der"})
	g.Functions[0].Automaton.States[0].Edges = nil
	g.Classes = []model.Class{
		{USR: "c:@S@Base", Name: "Base", Methods: []model.Method{{USR: "c:@F@Base_f", Name: "f"}}},
		{USR: "c:@S@Der", Name: "Der", Bases: []string{"c:@S@Base"}, Methods: []model.Method{{USR: "c:@F@Der_f", Name: "f", Overrides: []string{"c:@F@Base_f"}}}},
		{USR: "c:@S@Other", Name: "Other", Bases: []string{"c:@S@Base"}, Methods: []model.Method{{USR: "c:@F@Other_f", Name: "f", Overrides: []string{"c:@F@Base_f"}}}},
	}
	// Check the resolution on the linker's tables directly.
	sig, _, err := Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{}})
	if err != nil {
		t.Fatal(err)
	}
	lk := &linker{byUSR: map[string]*fnInfo{}, overriders: map[string][]string{}, bases: map[string][]string{}, methodCls: map[string]string{}}
	for i, f := range sig.Functions {
		lk.byUSR["c:@F@"+f.Name] = &fnInfo{id: int32(i)}
	}
	for _, c := range g.Classes {
		lk.bases[c.USR] = c.Bases
		for _, m := range c.Methods {
			lk.methodCls[m.USR] = c.USR
			for _, o := range m.Overrides {
				lk.overriders[o] = append(lk.overriders[o], m.USR)
			}
		}
	}
	ids := lk.vcallTargets(g.Labels[len(g.Labels)-1])
	var names []string
	for _, id := range ids {
		names = append(names, sig.Functions[id].Name)
	}
	// Base::f itself stays possible (conservative), Other::f is excluded.
	if got := strings.Join(names, ","); got != "Base_f,Der_f" {
		t.Fatalf("virtual targets = %s, want Base_f,Der_f", got)
	}
	if sig.Functions[ids[0]].Flags&model.FnAddressTaken == 0 {
		t.Fatal("virtual method not marked as reachable from library code")
	}
}

func TestCallbacksAndFlags(t *testing.T) {
	g := testgraph.MustBuild(t, "main: ext qsort; ext exit; ret\ncmp: ret\nonexit: ret\nworker: ret\nhandler: ret")
	g.Callbacks = []model.Callback{
		{Registrar: "qsort", USR: "c:@F@cmp"}, {Registrar: "atexit", USR: "c:@F@onexit"},
		{Registrar: "pthread_create", USR: "c:@F@worker"}, {Registrar: "sigaction", USR: "c:@F@handler"},
	}
	sig, _, err := Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{"qsort": nil, "exit": {231}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint32{"cmp": model.FnSyncCallback, "onexit": model.FnExitHandler, "worker": model.FnThreadStart, "handler": model.FnSignalHandler, "main": model.FnEntry}
	for name, flag := range want {
		if fn(sig, name).Flags&flag == 0 {
			t.Errorf("%s lacks flag %#x (flags %#x)", name, flag, fn(sig, name).Flags)
		}
	}
	// qsort's loop calls cmp; exit's loop calls onexit.
	got := map[string]bool{}
	for _, st := range fn(sig, "main").States {
		for _, e := range st.Edges {
			if _, ok := e.Label.IsSyscall(); !ok {
				got[sig.Functions[e.Label].Name] = true
			}
		}
	}
	if !got["cmp"] || !got["onexit"] || got["worker"] || got["handler"] {
		t.Fatalf("calls from main's library loops: %v", got)
	}
}

func TestDependentCallByName(t *testing.T) {
	g := testgraph.MustBuild(t, "main: ret\nns_a: ret\nother: ret")
	g.Functions[1].Name = "ns::A::run(int)"
	g.Labels = append(g.Labels, model.Label{Kind: model.Call, Name: "run"}) // dependent: no target
	g.Functions[0].Automaton.States[0].Edges = append(g.Functions[0].Automaton.States[0].Edges, automaton.Edge{Label: automaton.Label(len(g.Labels) - 1), To: 0})
	sig, rep, err := Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(callees(sig, fn(sig, "main")), ","); got != "ns::A::run(int)" {
		t.Fatalf("dependent call resolved to %q", got)
	}
	if len(rep.UnknownExternals) != 0 {
		t.Fatalf("dependent call reported as external: %v", rep.UnknownExternals)
	}
}

// Calls of silent functions (no syscall reachable) are optional events:
// the build may have left them uninstrumented, or not.
func TestSilentCallsOptional(t *testing.T) {
	g := testgraph.MustBuild(t, "main: call eq; call work; ret\neq: ret\nwork: call eq; ext write; ret\nuser: icall int (void); ret")
	g.AddressTaken = append(g.AddressTaken, model.FuncRef{USR: "c:@F@eq", Type: "int (void)"})
	// work is a signal handler too: not flat, its call stays an event.
	g.Callbacks = append(g.Callbacks, model.Callback{Registrar: "signal", USR: "c:@F@work"})
	sig, rep, err := Link([]*model.TUGraph{g}, nil, Options{DecideExclusions: true, Arch: sysnum.X86_64, Summaries: sums{"write": {1}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Silent != 1 || fn(sig, "eq") == nil {
		t.Fatalf("report: %d silent functions, want 1 (eq, kept in the signature)", rep.Silent)
	}
	// main's start state: the call of eq, or (eq unreported) the call of work.
	if got := callees(sig, fn(sig, "main")); len(got) != 2 || got[0] != "eq" || got[1] != "work" {
		t.Fatalf("main's first calls = %v, want [eq work]", got)
	}
	// user: the indirect call reaches eq, reported or not: user's start
	// state calls eq and may return.
	u := fn(sig, "user")
	if u.States[0].Flags&uint8(automaton.Return) == 0 {
		t.Fatalf("user's start state cannot return: %+v", u.States[0])
	}
	if got := callees(sig, u); len(got) != 1 || got[0] != "eq" {
		t.Fatalf("user's calls = %v, want [eq]", got)
	}
	// work is not silent: its call stays mandatory after eq's.
	m := fn(sig, "main")
	for _, e := range m.States[0].Edges {
		if _, sys := e.Label.IsSyscall(); !sys && sig.Functions[e.Label].Name == "eq" {
			if got := callees(sig, &model.SigFunction{States: []model.SigState{m.States[e.To]}}); len(got) != 1 || got[0] != "work" {
				t.Fatalf("after eq main calls %v, want [work]", got)
			}
		}
	}
}

// Beyond the inlining budget, a flat callee becomes a loop over its events
// (still accepting everything it can do, in any order).
func TestFlatLoopFallback(t *testing.T) {
	g := testgraph.MustBuild(t, "main: call f; ret\nf: ext write; sys 39; call g; ret\ng: ret")
	g.Functions[1].Static = true
	saved := maxInlineStates
	maxInlineStates = 0
	defer func() { maxInlineStates = saved }()
	sig, rep, err := Link([]*model.TUGraph{g}, nil, Options{DecideExclusions: true, Arch: sysnum.X86_64, Summaries: sums{"write": {1}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Flat != 1 {
		t.Fatalf("flat functions: %d, want 1", rep.Flat)
	}
	// main's start state: call f (instrumented copy), and the loop: write,
	// getpid and call g in any order, and it may return.
	m := fn(sig, "main")
	st := m.States[0]
	if st.Flags&uint8(automaton.Return) == 0 {
		t.Fatalf("main's start state cannot return: %+v", st)
	}
	want := map[model.SigLabel]bool{model.SyscallLabel(1): true, model.SyscallLabel(39): true,
		model.CallLabel(idOf(sig, "g")): true, model.CallLabel(idOf(sig, "f")): true}
	for _, e := range st.Edges {
		delete(want, e.Label)
	}
	if len(want) != 0 {
		t.Fatalf("main's start state misses %v: %+v", want, st.Edges)
	}
}

func idOf(sig *model.Signature, name string) int32 {
	for i := range sig.Functions {
		if sig.Functions[i].Name == name {
			return int32(i)
		}
	}
	return -1
}

// Functions with external linkage are flat only when no TU of the program
// lets them escape; the exclusion lists say so per TU.
func TestFlatExternalDecidedByProgram(t *testing.T) {
	a := testgraph.MustBuild(t, "main: call h; call k; call r1; ret\nh: ext write; ret\nk: ext write; ret\nr1: ext write; call r2; ret")
	b := testgraph.MustBuild(t, "setup: ext signal; ret\nr2: call r1; ret | ret")
	b.Callbacks = append(b.Callbacks, model.Callback{Registrar: "signal", USR: "c:@F@h"})
	sig, rep, err := Link([]*model.TUGraph{a, b}, nil, Options{DecideExclusions: true, Arch: sysnum.X86_64, Summaries: sums{"write": {1}, "signal": nil}})
	if err != nil {
		t.Fatal(err)
	}
	// h is a signal handler (registered in b) and r1 recurses through r2
	// in the other TU: they stay instrumented. k, setup and r2 (whose call
	// of the instrumented r1 ends the inlining) are flat.
	if rep.Flat != 3 {
		t.Fatalf("flat: %d, want 3 (k, setup, r2)", rep.Flat)
	}
	if len(rep.Exclusions) != 2 || strings.Join(rep.Exclusions[0], ",") != "k" || strings.Join(rep.Exclusions[1], ",") != "r2,setup" {
		t.Fatalf("exclusions: %q", rep.Exclusions)
	}
	if fn(sig, "k") == nil {
		t.Fatal("flat k left the signature")
	}
}

// Without DecideExclusions the program's functions are modelled as their
// graphs record: every call event kept, unless the graph step wrote an
// exclusion list (TUGraph.Uninstrumented).
func TestExclusionsAsRecorded(t *testing.T) {
	src := "main: call eq; call work; ret\neq: ret\nwork: ext write; ret"
	g := testgraph.MustBuild(t, src)
	sig, rep, err := Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{"write": {1}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Silent != 0 || rep.Flat != 0 || rep.Exclusions != nil {
		t.Fatalf("nothing recorded, yet %d silent, %d flat, exclusions %q", rep.Silent, rep.Flat, rep.Exclusions)
	}
	if got := callees(sig, fn(sig, "main")); len(got) != 1 || got[0] != "eq" {
		t.Fatalf("main's first calls = %v, want [eq]", got)
	}
	g = testgraph.MustBuild(t, src)
	g.Functions[2].Static = true // work: flat for its TU
	g.MarkUninstrumented()
	if len(g.Uninstrumented) != 2 {
		t.Fatalf("recorded %v, want eq and work", g.Uninstrumented)
	}
	_, rep, err = Link([]*model.TUGraph{g}, nil, Options{Arch: sysnum.X86_64, Summaries: sums{"write": {1}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Silent != 1 || rep.Flat != 1 {
		t.Fatalf("recorded: %d silent, %d flat, want 1 and 1", rep.Silent, rep.Flat)
	}
}

// Exclusion lists are written for C sources only: the functions of a C++
// unit keep all their call events even when the link decides.
func TestNoExclusionsForCxx(t *testing.T) {
	g := testgraph.MustBuild(t, "main: call eq; call work; ret\neq: ret\nwork: ext write; ret")
	g.Language = "c++"
	_, rep, err := Link([]*model.TUGraph{g}, nil, Options{DecideExclusions: true, Arch: sysnum.X86_64, Summaries: sums{"write": {1}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Silent != 0 || rep.Flat != 0 || len(rep.Exclusions) != 1 || len(rep.Exclusions[0]) != 0 {
		t.Fatalf("C++ unit: %d silent, %d flat, exclusions %q", rep.Silent, rep.Flat, rep.Exclusions)
	}
}

// A program that defines its own function named like a pure libc one
// (here a strlen that makes a syscall) does not get its callers treated as
// silent when the link decides.
func TestSilentSeesProgramDefinedPureNames(t *testing.T) {
	a := testgraph.MustBuild(t, "main: call f; ret\nf: ext strlen; ret")
	b := testgraph.MustBuild(t, "strlen: sys 1; ret")
	_, rep, err := Link([]*model.TUGraph{a, b}, nil, Options{DecideExclusions: true, Arch: sysnum.X86_64, Summaries: sums{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range rep.Exclusions[0] {
		if ex == "f" {
			t.Fatalf("f calls the program's strlen (a syscall) but is excluded: %q", rep.Exclusions)
		}
	}
	if rep.Silent != 0 {
		t.Fatalf("%d silent functions, want 0", rep.Silent)
	}
}
