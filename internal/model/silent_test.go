package model_test

import (
	"reflect"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/testgraph"
)

func silentGraph(t *testing.T, src string, static ...string) *model.TUGraph {
	t.Helper()
	g, err := testgraph.Build(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range static {
		for i := range g.Functions {
			if g.Functions[i].Name == s {
				g.Functions[i].Static = true
			}
		}
	}
	return g
}

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
main: call eq; call wrap; call rec; call ext_user; call sys_user; call pub; call taken; ret
eq: ret | loop { ret }
wrap: call eq; call eq; ret
rec: call rec; ret | ret
ext_user: ext strlen; ret
sys_user: sys 39; ret
pub: ret
taken: ret
caller_of_nonsilent: call ext_user; ret
halting: halt
`
	g := silentGraph(t, src, "eq", "wrap", "rec", "ext_user", "sys_user", "taken", "caller_of_nonsilent", "halting", "main")
	g.AddressTaken = append(g.AddressTaken, model.FuncRef{USR: "c:@F@taken", Type: "int (void)"})
	// eq, wrap (calls only silent eq), rec (self-recursion only), halting
	// (no events at all) are silent; pub has external linkage, taken's
	// address escapes, main is the entry, the others make calls or syscalls.
	want := []string{"eq", "wrap", "rec", "halting"}
	if got := silentNames(g); !reflect.DeepEqual(got, want) {
		t.Fatalf("silent = %v, want %v", got, want)
	}

	// Callbacks, constructors and noreturn functions are never silent.
	for _, mod := range []func(g *model.TUGraph){
		func(g *model.TUGraph) {
			g.Callbacks = append(g.Callbacks, model.Callback{Registrar: "atexit", USR: "c:@F@eq"})
		},
		func(g *model.TUGraph) { g.Ctors = append(g.Ctors, "c:@F@eq") },
		func(g *model.TUGraph) { g.Dtors = append(g.Dtors, "c:@F@eq") },
		func(g *model.TUGraph) {
			g.SlotStores = append(g.SlotStores, model.SlotStore{Slot: "s", USR: "c:@F@eq"})
		},
		func(g *model.TUGraph) { g.Functions[1].NoReturn = true },
		func(g *model.TUGraph) { g.Functions[1].Kind = "method" },
	} {
		g := silentGraph(t, src, "eq", "wrap", "rec", "halting")
		mod(g)
		// eq loses silence, and with it wrap, which calls it.
		if got, want := silentNames(g), []string{"rec", "halting"}; !reflect.DeepEqual(got, want) {
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
	g := silentGraph(t, src, "eq", "eq_x", "my_eq")
	if got, want := g.InstrumentExclusions(), []string{"eq_x"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("exclusions = %v, want %v", got, want)
	}
	// A name called but not defined here counts too.
	g = silentGraph(t, "main: call eq; ext seq_read; ret\neq: ret", "eq")
	if got := g.InstrumentExclusions(); len(got) != 0 {
		t.Fatalf("exclusions = %v, want none (eq is part of seq_read)", got)
	}
	g = silentGraph(t, "main: call eq; ret\neq: ret", "eq")
	if got, want := g.InstrumentExclusions(), []string{"eq"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("exclusions = %v, want %v", got, want)
	}
	g.Language = "c++"
	if got := g.InstrumentExclusions(); len(got) != 0 {
		t.Fatalf("C++ exclusions = %v, want none", got)
	}
}
