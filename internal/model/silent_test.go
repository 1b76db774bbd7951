package model_test

import (
	"reflect"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/testgraph"
)

func silentNames(g *model.TUGraph) []string {
	var out []string
	for i, s := range g.Silent() {
		if s {
			out = append(out, g.Functions[i].Name)
		}
	}
	return out
}

func TestSilent(t *testing.T) {
	src := `
main: call eq; call wrap; call rec; call str_user; call sys_user; call pub; call taken; ret
eq: ret | loop { ret }
wrap: call eq; call eq; ret
rec: call rec; ret | ret
str_user: ext strlen; ext memcmp; call eq; ret
sys_user: sys 39; ret
io_user: ext write; ret
pub: ret
taken: ret
caller_of_nonsilent: call sys_user; ret
halting: halt
dies: noret exit
`
	g := testgraph.MustBuild(t, src)
	g.AddressTaken = append(g.AddressTaken, model.FuncRef{USR: "c:@F@taken", Type: "int (void)"})
	// eq, wrap (calls only silent eq), rec (self-recursion only), str_user
	// (pure libc functions), pub and taken (external linkage and an
	// address taken do not matter), halting (no events at all) are
	// silent; main is the entry, the others make calls that may reach a
	// system call.
	want := []string{"eq", "wrap", "rec", "str_user", "pub", "taken", "halting"}
	if got := silentNames(g); !reflect.DeepEqual(got, want) {
		t.Fatalf("silent = %v, want %v", got, want)
	}

	// Noreturn functions, methods, lambdas are never silent, and neither
	// are their callers.
	for _, mod := range []func(g *model.TUGraph){
		func(g *model.TUGraph) { g.Functions[1].NoReturn = true },
		func(g *model.TUGraph) { g.Functions[1].Kind = "method" },
		func(g *model.TUGraph) { g.Functions[1].Kind = "lambda" },
		func(g *model.TUGraph) { g.Functions[1].Linkage = "" },
	} {
		g := testgraph.MustBuild(t, src)
		mod(g)
		if got, want := silentNames(g), []string{"rec", "pub", "taken", "halting"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after modification: silent = %v, want %v", got, want)
		}
	}
}

func TestInstrumentExclusions(t *testing.T) {
	src := `
main: call eq; call eq_x; call my_eq; ret
eq: ret
eq_x: ret
my_eq: ext write; ret
`
	// eq is part of eq_x (silent: harmless) and my_eq (not silent: GCC
	// would drop its events), so only eq_x may be listed.
	g := testgraph.MustBuild(t, src)
	if got, want := g.InstrumentExclusions(), []string{"eq_x"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("exclusions = %v, want %v", got, want)
	}
	// A name called but not defined here counts too.
	g = testgraph.MustBuild(t, "main: call eq; ext seq_read; ret\neq: ret")
	if got := g.InstrumentExclusions(); len(got) != 0 {
		t.Fatalf("exclusions = %v, want none (eq is part of seq_read)", got)
	}
	g = testgraph.MustBuild(t, "main: call eq; ret\neq: ret")
	if got, want := g.InstrumentExclusions(), []string{"eq"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("exclusions = %v, want %v", got, want)
	}
	g.Language = "c++"
	if got := g.InstrumentExclusions(); len(got) != 0 {
		t.Fatalf("C++ exclusions = %v, want none", got)
	}
}

func TestFlat(t *testing.T) {
	src := `
main: call a; call b; call c; call d; call e; call h; ret
a: ext write; call b; ret
b: sys 39; ret
c: icall int (void); ret
d: noret exit
e: call e2; ret
e2: ext read; call e; ret
h: ext write; ret
pub: ext write; ret
`
	g := testgraph.MustBuild(t, src)
	for i := range g.Functions {
		if g.Functions[i].Name != "pub" {
			g.Functions[i].Static = true
		}
	}
	g.AddressTaken = append(g.AddressTaken, model.FuncRef{USR: "c:@F@h", Type: "void (void)"})
	// a and b are flat; c (indirect call), d (noreturn), e (recursive
	// through e2), h (address taken), pub (external linkage) and main are
	// not. e2 is: it calls e, which is instrumented, so inlining e2 ends.
	var got []string
	for i, f := range g.Flat() {
		if f {
			got = append(got, g.Functions[i].Name)
		}
	}
	if want := []string{"a", "b", "e2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("flat = %v, want %v", got, want)
	}
	// "a" is part of "main" and "b" of "pub": GCC would drop their
	// instrumentation too, so only e2 is listed.
	if got, want := g.InstrumentExclusions(), []string{"e2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("exclusions = %v, want %v", got, want)
	}
}
