package automaton

import (
	"math/rand"
	"reflect"
	"slices"
	"testing"
)

// nfaAccepts simulates the builder's epsilon-NFA directly.
func nfaAccepts(b *Builder, word []Label, end Flags) bool {
	cl := b.closures()
	cur := map[int32]bool{}
	for _, c := range cl[0] {
		cur[c] = true
	}
	for _, l := range word {
		next := map[int32]bool{}
		for _, e := range b.edges {
			if cur[e.from] && e.label == l {
				for _, c := range cl[e.to] {
					next[c] = true
				}
			}
		}
		cur = next
	}
	for s := range cur {
		if b.flags[s]&end != 0 {
			return true
		}
	}
	return false
}

func randomBuilder(r *rand.Rand, n, labels int) *Builder {
	b := NewBuilder()
	for i := 1; i < n; i++ {
		b.State()
	}
	for i := 0; i < n*2; i++ {
		from, to := r.Intn(n), r.Intn(n)
		if r.Intn(3) == 0 {
			b.Epsilon(from, to)
		} else {
			b.Edge(from, to, Label(r.Intn(labels)), int32(r.Intn(5)))
		}
	}
	for i := 0; i < n/3+1; i++ {
		b.Mark(r.Intn(n), Return)
	}
	if r.Intn(2) == 0 {
		b.Mark(r.Intn(n), Halt)
	}
	return b
}

func TestFinishPreservesLanguage(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for iter := 0; iter < 300; iter++ {
		b := randomBuilder(r, 2+r.Intn(12), 1+r.Intn(3))
		a := b.Finish()
		if err := a.Validate(3, 5); err != nil {
			t.Fatalf("iter %d: invalid automaton: %v", iter, err)
		}
		if !a.Deterministic {
			t.Fatalf("iter %d: small automaton not determinised", iter)
		}
		for w := 0; w < 200; w++ {
			word := make([]Label, r.Intn(7))
			for i := range word {
				word[i] = Label(r.Intn(3))
			}
			for _, end := range []Flags{Return, Halt, Return | Halt} {
				if got, want := a.Accepts(word, end), nfaAccepts(b, word, end); got != want {
					t.Fatalf("iter %d word %v end %d: automaton %v, NFA %v", iter, word, end, got, want)
				}
			}
		}
	}
}

func TestMinimal(t *testing.T) {
	// (a|b)*abb, Thompson-style with epsilons: the minimal DFA has 4 states.
	const a, bb = Label(0), Label(1)
	b := NewBuilder()
	loop := b.State()
	b.Epsilon(0, loop)
	x := b.State()
	y := b.State()
	b.Edge(loop, x, a, -1)
	b.Edge(loop, y, bb, -1)
	b.Epsilon(x, loop)
	b.Epsilon(y, loop)
	s1, s2, s3 := b.State(), b.State(), b.State()
	b.Edge(loop, s1, a, -1)
	b.Edge(s1, s2, bb, -1)
	b.Edge(s2, s3, bb, -1)
	b.Mark(s3, Return)
	m := b.Finish()
	if len(m.States) != 4 {
		t.Fatalf("got %d states, want 4", len(m.States))
	}
	if !m.Accepts([]Label{a, bb, a, a, bb, bb}, Return) || m.Accepts([]Label{a, bb, a}, Return) {
		t.Fatal("wrong language")
	}
}

func TestInfosSurvive(t *testing.T) {
	// Two call sites of the same label on parallel branches merge into one
	// edge carrying both infos.
	b := NewBuilder()
	l, r, end := b.State(), b.State(), b.State()
	b.Epsilon(0, l)
	b.Epsilon(0, r)
	b.Edge(l, end, 7, 10)
	b.Edge(r, end, 7, 11)
	b.Mark(end, Return)
	a := b.Finish()
	if len(a.States) != 2 || len(a.States[0].Edges) != 1 {
		t.Fatalf("unexpected shape: %+v", a.States)
	}
	if got := a.States[0].Edges[0].Infos; len(got) != 2 || got[0] != 10 || got[1] != 11 {
		t.Fatalf("infos = %v, want [10 11]", got)
	}
}

func TestInfiniteLoopKept(t *testing.T) {
	// for(;;) { call 1 } never returns: its states must survive.
	b := NewBuilder()
	b.Edge(0, 0, 1, -1)
	a := b.Finish()
	if len(a.States) != 1 {
		t.Fatalf("states: %+v", a.States)
	}
	if len(a.States[0].Edges) != 1 || a.States[0].Edges[0].To != 0 {
		t.Fatalf("loop lost: %+v", a.States)
	}
}

func TestNFAFallback(t *testing.T) {
	// The classic exponential blow-up: (a|b)* a (a|b)^k. Force the fallback
	// with a small budget by building a large k relative to the limit.
	const a, bb = Label(0), Label(1)
	b := NewBuilder()
	blowUp(b, 18)
	m := b.Finish()
	if m.Deterministic {
		t.Fatalf("expected NFA fallback, got %d DFA states", len(m.States))
	}
	if err := m.Validate(2, 0); err != nil {
		t.Fatal(err)
	}
	w := append([]Label{bb, a}, make([]Label, 18)...)
	if !m.Accepts(w, Return) {
		t.Fatal("fallback NFA lost a word")
	}
}

// replay adds b's states, edges and flags to dst (a fresh or reset builder).
func replay(dst, b *Builder) {
	for len(dst.flags) < len(b.flags) {
		dst.State()
	}
	for s, es := range b.eps {
		for _, t := range es {
			dst.Epsilon(s, int(t))
		}
	}
	for _, e := range b.edges {
		dst.Edge(int(e.from), int(e.to), e.label, e.info)
	}
	for s, f := range b.flags {
		if f != 0 {
			dst.Mark(s, f)
		}
	}
}

// TestReset: a builder reused through Reset (larger and smaller automata,
// with and without epsilon edges) finishes exactly like a fresh one.
func TestReset(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	reused := NewBuilder()
	for iter := 0; iter < 500; iter++ {
		b := randomBuilder(r, 1+r.Intn([]int{3, 10, 40}[iter%3]), 1+r.Intn(4))
		reused.Reset()
		replay(reused, b)
		if !reflect.DeepEqual(reused.flags, b.flags) || len(reused.edges) != len(b.edges) {
			t.Fatalf("iter %d: replayed builder differs", iter)
		}
		for s := range b.eps {
			if !slices.Equal(reused.eps[s], b.eps[s]) {
				t.Fatalf("iter %d: epsilon edges of %d: %v, want %v", iter, s, reused.eps[s], b.eps[s])
			}
		}
		got, want := reused.Finish(), b.Finish()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("iter %d: reset builder finished to\n%+v\nwant\n%+v", iter, got, want)
		}
	}
}

// DFALimit lowers the determinisation budget: (a|b)* a (a|b)^4 needs 32
// DFA states, within the default budget but not within a limit of 8.
func TestDFALimit(t *testing.T) {
	const a, bb = Label(0), Label(1)
	build := func(limit int) *Automaton {
		b := NewBuilder()
		b.DFALimit = limit
		blowUp(b, 4)
		return b.Finish()
	}
	if m := build(0); !m.Deterministic {
		t.Fatal("default budget: not determinised")
	}
	m := build(8)
	if m.Deterministic {
		t.Fatalf("DFALimit 8: determinised into %d states", len(m.States))
	}
	if w := []Label{bb, a, a, bb, a, bb}; !m.Accepts(w, Return) {
		t.Fatal("fallback NFA lost a word")
	}
}

// blowUp builds (a|b)* a (a|b)^k over labels 0 (a) and 1 (b) into a fresh
// builder: 2^(k+1) DFA states.
func blowUp(b *Builder, k int) {
	const a, bb = Label(0), Label(1)
	b.Edge(0, 0, a, -1)
	b.Edge(0, 0, bb, -1)
	prev := b.State()
	b.Edge(0, prev, a, -1)
	for i := 0; i < k; i++ {
		n := b.State()
		b.Edge(prev, n, a, -1)
		b.Edge(prev, n, bb, -1)
		prev = n
	}
	b.Mark(prev, Return)
}

// The move sorts: insertion sort up to smallSort moves, the generic sort
// above; both orders must be what Finish relies on (dmoves grouped by
// label, moves totally ordered by label, target, info).
func TestSortMoves(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for n := 0; n <= 3*smallSort; n++ {
		for round := 0; round < 20; round++ {
			ms := make([]move, n)
			ds := make([]dmove, n)
			for i := range ms {
				ms[i] = move{Label(r.Intn(6)), int32(r.Intn(5)), int32(r.Intn(4)) - 1}
				ds[i] = dmove{ms[i].l, ms[i].to, ms[i].info}
			}
			want := slices.Clone(ms)
			slices.SortFunc(want, func(x, y move) int {
				switch {
				case moveLess(x, y):
					return -1
				case moveLess(y, x):
					return 1
				}
				return 0
			})
			sortMoves(ms)
			if !slices.Equal(ms, want) {
				t.Fatalf("sortMoves(%d moves): %v, want %v", n, ms, want)
			}
			before := slices.Clone(ds)
			sortDmoves(ds)
			if !slices.IsSortedFunc(ds, func(x, y dmove) int { return int(x.label) - int(y.label) }) {
				t.Fatalf("sortDmoves(%d moves): not grouped by label: %v", n, ds)
			}
			key := func(d dmove) [3]int32 { return [3]int32{int32(d.label), d.to, d.info} }
			a, b := make([][3]int32, n), make([][3]int32, n)
			for i := range ds {
				a[i], b[i] = key(ds[i]), key(before[i])
			}
			cmp3 := func(x, y [3]int32) int { return slices.Compare(x[:], y[:]) }
			slices.SortFunc(a, cmp3)
			slices.SortFunc(b, cmp3)
			if !slices.Equal(a, b) {
				t.Fatalf("sortDmoves(%d moves) lost or changed moves", n)
			}
		}
	}
}
