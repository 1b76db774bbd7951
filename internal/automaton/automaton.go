// Package automaton builds the per-function automata of the control-flow
// model: a Builder collects an NFA with epsilon edges (the shape a walk over
// a function's control flow naturally produces) and Finish turns it into an
// epsilon-free, deterministic and minimised automaton.
//
// Labels are opaque integers (the caller keeps the table of what they mean);
// every labelled edge may carry "info" integers (for example the index of the
// source location of a call) which survive determinisation and minimisation
// as sorted, de-duplicated lists on the resulting edges.
package automaton

import (
	"fmt"
	"sort"
)

// Flags mark states of an automaton.
type Flags uint8

const (
	// Return marks a state where the function may return normally.
	Return Flags = 1 << iota
	// Halt marks a state after a call that does not return (exit, abort,
	// longjmp, throw out of the function, __builtin_unreachable).
	Halt
	// Landing marks a state where control may resume asynchronously: the
	// second return of setjmp (after longjmp) or a C++ catch handler.
	Landing
)

// Label is an edge label: an index into the caller's label table.
type Label int32

// Edge is a labelled transition.
type Edge struct {
	Label Label   `json:"l"`
	To    int32   `json:"t"`
	Infos []int32 `json:"i,omitempty"`
}

// State is one state of a finished automaton; edges are sorted by label and
// then target.
type State struct {
	Flags Flags  `json:"f,omitempty"`
	Edges []Edge `json:"e,omitempty"`
}

// Automaton is an epsilon-free automaton; state 0 is the start state. When
// Deterministic is false (determinisation exceeded the state budget) a label
// may lead to several targets; it is still epsilon-free and reduced.
type Automaton struct {
	Deterministic bool    `json:"det"`
	States        []State `json:"states"`
}

// MaxDFAStates bounds subset construction: beyond this many states (or 64
// times the NFA size) Finish keeps an epsilon-free NFA instead.
const MaxDFAStates = 200000

type nfaEdge struct {
	from, to int32
	label    Label
	info     int32 // -1: none
}

// Builder collects an NFA with epsilon edges. State 0 is the start state and
// exists from the beginning.
type Builder struct {
	flags []Flags
	eps   [][]int32
	edges []nfaEdge
}

// NewBuilder returns a builder holding only the start state 0.
func NewBuilder() *Builder {
	b := &Builder{}
	b.State()
	return b
}

// State adds a state and returns its number.
func (b *Builder) State() int {
	b.flags = append(b.flags, 0)
	b.eps = append(b.eps, nil)
	return len(b.flags) - 1
}

// NumStates returns the number of NFA states so far.
func (b *Builder) NumStates() int { return len(b.flags) }

// Epsilon adds an unlabelled transition.
func (b *Builder) Epsilon(from, to int) {
	b.check(from, to)
	if from != to {
		b.eps[from] = append(b.eps[from], int32(to))
	}
}

// Edge adds a labelled transition; info < 0 means "no info".
func (b *Builder) Edge(from, to int, l Label, info int32) {
	b.check(from, to)
	if l < 0 {
		panic(fmt.Sprintf("automaton: negative label %d", l))
	}
	if info < 0 {
		info = -1
	}
	b.edges = append(b.edges, nfaEdge{int32(from), int32(to), l, info})
}

// Mark adds flags to a state.
func (b *Builder) Mark(s int, f Flags) {
	b.check(s, s)
	b.flags[s] |= f
}

func (b *Builder) check(from, to int) {
	if from < 0 || from >= len(b.flags) || to < 0 || to >= len(b.flags) {
		panic(fmt.Sprintf("automaton: state out of range (%d, %d; have %d)", from, to, len(b.flags)))
	}
}

// closure computes the epsilon closure of every state (sorted sets).
func (b *Builder) closures() [][]int32 {
	n := len(b.flags)
	cl := make([][]int32, n)
	mark := make([]int32, n)
	for i := range mark {
		mark[i] = -1
	}
	stack := []int32{}
	for s := 0; s < n; s++ {
		set := []int32{}
		stack = append(stack[:0], int32(s))
		mark[s] = int32(s)
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			set = append(set, x)
			for _, y := range b.eps[x] {
				if mark[y] != int32(s) {
					mark[y] = int32(s)
					stack = append(stack, y)
				}
			}
		}
		sort.Slice(set, func(i, j int) bool { return set[i] < set[j] })
		cl[s] = set
	}
	return cl
}

// Finish returns the epsilon-free, minimised automaton.
func (b *Builder) Finish() *Automaton {
	cl := b.closures()
	out := make([][]nfaEdge, len(b.flags))
	for _, e := range b.edges {
		out[e.from] = append(out[e.from], e)
	}
	if a, ok := b.determinise(cl, out); ok {
		return minimise(a)
	}
	return minimise(b.removeEpsilon(cl, out))
}

func setKey(s []int32) string {
	buf := make([]byte, 0, len(s)*4)
	for _, x := range s {
		buf = append(buf, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	return string(buf)
}

func (b *Builder) determinise(cl [][]int32, out [][]nfaEdge) (*Automaton, bool) {
	limit := MaxDFAStates
	if l := 64 * len(b.flags); l < limit {
		limit = l
	}
	if limit < 1024 {
		limit = 1024
	}
	index := map[string]int32{}
	var sets [][]int32
	add := func(s []int32) int32 {
		k := setKey(s)
		if i, ok := index[k]; ok {
			return i
		}
		i := int32(len(sets))
		index[k] = i
		sets = append(sets, s)
		return i
	}
	add(cl[0])
	a := &Automaton{Deterministic: true}
	type tgt struct {
		set   map[int32]struct{}
		infos map[int32]struct{}
	}
	for i := 0; i < len(sets); i++ {
		if len(sets) > limit {
			return nil, false
		}
		var st State
		by := map[Label]*tgt{}
		for _, q := range sets[i] {
			st.Flags |= b.flags[q]
			for _, e := range out[q] {
				t := by[e.label]
				if t == nil {
					t = &tgt{set: map[int32]struct{}{}, infos: map[int32]struct{}{}}
					by[e.label] = t
				}
				for _, c := range cl[e.to] {
					t.set[c] = struct{}{}
				}
				if e.info >= 0 {
					t.infos[e.info] = struct{}{}
				}
			}
		}
		// Labels in order: map iteration order would make the state
		// numbering (and so the dumps) differ from run to run.
		labels := make([]Label, 0, len(by))
		for l := range by {
			labels = append(labels, l)
		}
		sort.Slice(labels, func(i, j int) bool { return labels[i] < labels[j] })
		for _, l := range labels {
			t := by[l]
			s := make([]int32, 0, len(t.set))
			for x := range t.set {
				s = append(s, x)
			}
			sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
			to := add(s)
			st.Edges = append(st.Edges, Edge{Label: l, To: to, Infos: sortedInfos(t.infos)})
		}
		a.States = append(a.States, st)
	}
	return a, true
}

func sortedInfos(m map[int32]struct{}) []int32 {
	if len(m) == 0 {
		return nil
	}
	s := make([]int32, 0, len(m))
	for x := range m {
		s = append(s, x)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// removeEpsilon builds an epsilon-free NFA over the reachable states: state
// q gets every labelled edge of its closure, to the original targets.
func (b *Builder) removeEpsilon(cl [][]int32, out [][]nfaEdge) *Automaton {
	n := len(b.flags)
	num := make([]int32, n)
	for i := range num {
		num[i] = -1
	}
	order := []int32{0}
	num[0] = 0
	for i := 0; i < len(order); i++ {
		for _, c := range cl[order[i]] {
			for _, e := range out[c] {
				if num[e.to] < 0 {
					num[e.to] = int32(len(order))
					order = append(order, e.to)
				}
			}
		}
	}
	a := &Automaton{States: make([]State, len(order))}
	for i, q := range order {
		type key struct {
			l  Label
			to int32
		}
		m := map[key]map[int32]struct{}{}
		var f Flags
		for _, c := range cl[q] {
			f |= b.flags[c]
			for _, e := range out[c] {
				k := key{e.label, num[e.to]}
				if m[k] == nil {
					m[k] = map[int32]struct{}{}
				}
				if e.info >= 0 {
					m[k][e.info] = struct{}{}
				}
			}
		}
		st := State{Flags: f}
		for k, infos := range m {
			st.Edges = append(st.Edges, Edge{Label: k.l, To: k.to, Infos: sortedInfos(infos)})
		}
		sort.Slice(st.Edges, func(x, y int) bool {
			if st.Edges[x].Label != st.Edges[y].Label {
				return st.Edges[x].Label < st.Edges[y].Label
			}
			return st.Edges[x].To < st.Edges[y].To
		})
		a.States[i] = st
	}
	return a
}

// minimise merges equivalent states by partition refinement (Moore): two
// states are equivalent when they have the same flags and, label by label,
// edges into the same classes. For a DFA the result is the minimal DFA;
// for an NFA it is the quotient by this (sound) equivalence. The start
// state stays 0 and states are numbered in breadth-first order so that the
// output is canonical.
func minimise(a *Automaton) *Automaton {
	n := len(a.States)
	class := make([]int32, n)
	// initial partition by flags
	{
		idx := map[Flags]int32{}
		for i, s := range a.States {
			c, ok := idx[s.Flags]
			if !ok {
				c = int32(len(idx))
				idx[s.Flags] = c
			}
			class[i] = c
		}
	}
	numClasses := -1
	for {
		idx := map[string]int32{}
		next := make([]int32, n)
		buf := []byte{}
		for i, s := range a.States {
			buf = buf[:0]
			buf = appendInt(buf, class[i])
			pairs := make([][2]int32, 0, len(s.Edges))
			for _, e := range s.Edges {
				pairs = append(pairs, [2]int32{int32(e.Label), class[e.To]})
			}
			sort.Slice(pairs, func(x, y int) bool {
				if pairs[x][0] != pairs[y][0] {
					return pairs[x][0] < pairs[y][0]
				}
				return pairs[x][1] < pairs[y][1]
			})
			for j, p := range pairs {
				if j > 0 && p == pairs[j-1] {
					continue
				}
				buf = appendInt(buf, p[0])
				buf = appendInt(buf, p[1])
			}
			k := string(buf)
			c, ok := idx[k]
			if !ok {
				c = int32(len(idx))
				idx[k] = c
			}
			next[i] = c
		}
		class = next
		if len(idx) == numClasses {
			break
		}
		numClasses = len(idx)
	}
	// Build the quotient, numbering classes in BFS order from the start.
	num := make([]int32, numClasses)
	for i := range num {
		num[i] = -1
	}
	rep := make([]int32, 0, numClasses) // representative original state per new state
	num[class[0]] = 0
	rep = append(rep, 0)
	members := make([][]int32, numClasses)
	for i := range a.States {
		members[class[i]] = append(members[class[i]], int32(i))
	}
	out := &Automaton{Deterministic: a.Deterministic}
	for i := 0; i < len(rep); i++ {
		c := class[rep[i]]
		type key struct {
			l  Label
			to int32
		}
		m := map[key]map[int32]struct{}{}
		var keys []key
		var f Flags
		for _, q := range members[c] {
			f |= a.States[q].Flags
			for _, e := range a.States[q].Edges {
				tc := class[e.To]
				if num[tc] < 0 {
					num[tc] = int32(len(rep))
					rep = append(rep, e.To)
				}
				k := key{e.Label, num[tc]}
				if m[k] == nil {
					m[k] = map[int32]struct{}{}
					keys = append(keys, k)
				}
				for _, x := range e.Infos {
					m[k][x] = struct{}{}
				}
			}
		}
		sort.Slice(keys, func(x, y int) bool {
			if keys[x].l != keys[y].l {
				return keys[x].l < keys[y].l
			}
			return keys[x].to < keys[y].to
		})
		st := State{Flags: f}
		for _, k := range keys {
			st.Edges = append(st.Edges, Edge{Label: k.l, To: k.to, Infos: sortedInfos(m[k])})
		}
		out.States = append(out.States, st)
	}
	return out
}

func appendInt(b []byte, x int32) []byte {
	return append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
}

// Accepts reports whether the automaton accepts the label sequence, ending
// in a state with any of the given flags (used by tests and by `kcfm check`
// on single functions).
func (a *Automaton) Accepts(word []Label, end Flags) bool {
	cur := map[int32]bool{0: true}
	for _, l := range word {
		next := map[int32]bool{}
		for s := range cur {
			for _, e := range a.States[s].Edges {
				if e.Label == l {
					next[e.To] = true
				}
			}
		}
		if len(next) == 0 {
			return false
		}
		cur = next
	}
	for s := range cur {
		if a.States[s].Flags&end != 0 {
			return true
		}
	}
	return false
}

// Validate checks the structural invariants of an automaton read from an
// untrusted file: targets in range, labels in [0, numLabels), infos in
// [0, numInfos), determinism when claimed.
func (a *Automaton) Validate(numLabels, numInfos int) error {
	if len(a.States) == 0 {
		return fmt.Errorf("automaton has no states")
	}
	for i, s := range a.States {
		if s.Flags&^(Return|Halt|Landing) != 0 {
			return fmt.Errorf("state %d: unknown flags %#x", i, uint8(s.Flags))
		}
		for j, e := range s.Edges {
			if e.To < 0 || int(e.To) >= len(a.States) {
				return fmt.Errorf("state %d edge %d: target %d out of range (%d states)", i, j, e.To, len(a.States))
			}
			if e.Label < 0 || int(e.Label) >= numLabels {
				return fmt.Errorf("state %d edge %d: label %d out of range (%d labels)", i, j, e.Label, numLabels)
			}
			for _, x := range e.Infos {
				if x < 0 || int(x) >= numInfos {
					return fmt.Errorf("state %d edge %d: info %d out of range (%d)", i, j, x, numInfos)
				}
			}
			if a.Deterministic && j > 0 && s.Edges[j-1].Label == e.Label {
				return fmt.Errorf("state %d: two edges labelled %d in a deterministic automaton", i, e.Label)
			}
		}
	}
	return nil
}
