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
	"cmp"
	"fmt"
	"slices"
	"sort"
	"sync"
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
	// DFALimit, when positive, lowers the state budget of determinisation
	// (MaxDFAStates, 64 times the NFA): beyond it Finish keeps the
	// epsilon-free NFA. For automata whose subset construction may blow up
	// (the linker's, with inlined functions and libc summary loops).
	DFALimit int
}

// NewBuilder returns a builder holding only the start state 0.
func NewBuilder() *Builder {
	b := &Builder{}
	b.State()
	return b
}

// Reset empties the builder to the start state alone, keeping its memory
// for the next automaton (Finish's result never shares it).
func (b *Builder) Reset() {
	for i := range b.eps {
		b.eps[i] = b.eps[i][:0]
	}
	b.flags, b.eps, b.edges = b.flags[:0], b.eps[:0], b.edges[:0]
	b.State()
}

// State adds a state and returns its number.
func (b *Builder) State() int {
	b.flags = append(b.flags, 0)
	if len(b.eps) < cap(b.eps) {
		b.eps = b.eps[:len(b.eps)+1] // an emptied list kept by Reset
	} else {
		b.eps = append(b.eps, nil)
	}
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
	single := make([]int32, n) // backing store of the one-state closures
	var mark []int32
	stack := []int32{}
	for s := 0; s < n; s++ {
		if len(b.eps[s]) == 0 {
			single[s] = int32(s)
			cl[s] = single[s : s+1 : s+1]
			continue
		}
		if mark == nil {
			mark = make([]int32, n)
			for i := range mark {
				mark[i] = -1
			}
		}
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
		slices.Sort(set)
		cl[s] = set
	}
	return cl
}

// scratch holds the working memory of Finish, reused between calls (the
// analysis finishes one small automaton per function: allocation would
// dominate).
type scratch struct {
	cnt, pos, num, order                  []int32
	class, next, sig, sigs, sigOff, infos []int32
	rep, mstart, mflat, mpos              []int32
	flat, es                              []nfaEdge
	out                                   [][]nfaEdge
	pairs                                 [][2]int32
	moves                                 []move
	dmoves                                []dmove
	tgt, dinfos                           []int32
	mark                                  []uint32 // determinise: per NFA state, the group that holds it
	// determinise's result and subsets: read by minimise, then dead
	dstates        []State
	dedges         []Edge
	dsets          [][]int32
	setArena       []int32
	sigTab, setTab internTable
}

// dmove is a labelled move of a subset during determinisation.
type dmove struct {
	label Label
	to    int32
	info  int32
}

type move struct {
	l    Label
	to   int32
	info int32
}

var scratchPool = sync.Pool{New: func() any { return &scratch{} }}

// internTable numbers distinct integer sequences (subsets of states,
// state signatures) in order of first appearance: an open-addressing hash
// table of ids whose contents the caller keeps. Unlike a Go map it is
// cleared in time proportional to the automaton at hand, not to the
// largest automaton the pooled scratch has seen, and needs no key strings.
type internTable struct {
	slots []int32  // id+1; 0 is an empty slot
	hash  []uint64 // hash of each id
}

// reset empties the table, sized for about n ids.
func (t *internTable) reset(n int) {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if cap(t.slots) < size {
		t.slots = make([]int32, size)
	} else {
		t.slots = t.slots[:size]
		clear(t.slots)
	}
	t.hash = t.hash[:0]
}

// find returns the id with hash h for which same(id) holds, or -1.
func (t *internTable) find(h uint64, same func(id int32) bool) int32 {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return -1
		}
		if t.hash[s-1] == h && same(s-1) {
			return s - 1
		}
	}
}

// add registers the next id (the number of ids so far) under hash h.
func (t *internTable) add(h uint64) int32 {
	id := int32(len(t.hash))
	t.hash = append(t.hash, h)
	if 2*len(t.hash) > len(t.slots) {
		t.slots = make([]int32, 2*len(t.slots))
		for j, hj := range t.hash {
			t.place(hj, int32(j))
		}
	} else {
		t.place(h, id)
	}
	return id
}

func (t *internTable) place(h uint64, id int32) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = id + 1
}

// hashInts hashes a sequence of integers (FNV-1a over the values, then a
// final mix so that the low bits the table uses depend on every value).
func hashInts(s []int32) uint64 {
	h := uint64(14695981039346656037)
	for _, x := range s {
		h = (h ^ uint64(uint32(x))) * 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// ints returns a zeroed slice of length n reusing buf.
func ints(buf []int32, n int) []int32 {
	if cap(buf) < n {
		return make([]int32, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

// Finish returns the epsilon-free, minimised automaton.
func (b *Builder) Finish() *Automaton {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	// out[s]: the edges leaving s, carved from one array
	n := len(b.flags)
	cnt := ints(sc.cnt, n+1)
	for _, e := range b.edges {
		cnt[e.from+1]++
	}
	for i := 1; i < len(cnt); i++ {
		cnt[i] += cnt[i-1]
	}
	if cap(sc.flat) < len(b.edges) {
		sc.flat = make([]nfaEdge, len(b.edges))
	}
	flat := sc.flat[:len(b.edges)]
	if cap(sc.out) < n {
		sc.out = make([][]nfaEdge, n)
	}
	out := sc.out[:n]
	pos := append(sc.pos[:0], cnt[:n]...)
	for _, e := range b.edges {
		flat[pos[e.from]] = e
		pos[e.from]++
	}
	for s := range out {
		out[s] = flat[cnt[s]:cnt[s+1]:cnt[s+1]]
	}
	sc.cnt, sc.pos = cnt, pos
	if b.alreadyDeterministic(out) {
		return minimise(b.determiniseFast(out, sc), sc)
	}
	var cl [][]int32 // nil: no epsilon edges, every closure is {s}
	for s := range b.eps {
		if len(b.eps[s]) > 0 {
			cl = b.closures()
			break
		}
	}
	if a, ok := b.determinise(cl, out, sc); ok {
		return minimise(a, sc)
	}
	if cl == nil {
		cl = b.closures()
	}
	return minimise(b.removeEpsilon(cl, out), sc)
}

// alreadyDeterministic: no epsilon edges and no state with two edges of
// the same label. Subset construction would then only renumber the
// reachable states; determiniseFast does that directly.
func (b *Builder) alreadyDeterministic(out [][]nfaEdge) bool {
	for s := range b.flags {
		if len(b.eps[s]) > 0 {
			return false
		}
		es := out[s]
		for i := 1; i < len(es); i++ {
			for j := 0; j < i; j++ {
				if es[i].label == es[j].label {
					return false
				}
			}
		}
	}
	return true
}

// determiniseFast is determinise for alreadyDeterministic builders: the
// same states in the same (discovery) order, edges sorted by label.
func (b *Builder) determiniseFast(out [][]nfaEdge, sc *scratch) *Automaton {
	num := ints(sc.num, len(b.flags))
	for i := range num {
		num[i] = -1
	}
	order := append(sc.order[:0], 0)
	num[0] = 0
	// the result only lives until minimise has read it: its states,
	// edges and infos are carved from the scratch's arrays
	a := &Automaton{Deterministic: true, States: sc.dstates[:0]}
	es := sc.es[:0]
	edgeArena := sc.dedges[:0]
	infoArena := sc.setArena[:0]
	defer func() {
		sc.num, sc.order, sc.es = num, order, es
		sc.dstates, sc.dedges, sc.setArena = a.States, edgeArena, infoArena
	}()
	for i := 0; i < len(order); i++ {
		q := order[i]
		es = append(es[:0], out[q]...)
		slices.SortFunc(es, func(x, y nfaEdge) int { return cmp.Compare(x.label, y.label) })
		st := State{Flags: b.flags[q]}
		e0 := len(edgeArena)
		for _, e := range es {
			if num[e.to] < 0 {
				num[e.to] = int32(len(order))
				order = append(order, e.to)
			}
			var inf []int32
			if e.info >= 0 {
				infoArena = append(infoArena, e.info)
				inf = infoArena[len(infoArena)-1 : len(infoArena) : len(infoArena)]
			}
			edgeArena = append(edgeArena, Edge{Label: e.label, To: num[e.to], Infos: inf})
		}
		if len(edgeArena) > e0 {
			st.Edges = edgeArena[e0:len(edgeArena):len(edgeArena)]
		}
		a.States = append(a.States, st)
	}
	return a
}

func (b *Builder) determinise(cl [][]int32, out [][]nfaEdge, sc *scratch) (*Automaton, bool) {
	limit := MaxDFAStates
	if l := 64 * len(b.flags); l < limit {
		limit = l
	}
	if limit < 1024 {
		limit = 1024
	}
	if b.DFALimit > 0 && b.DFALimit < limit {
		limit = b.DFALimit
	}
	sets := sc.dsets[:0]
	tab := &sc.setTab
	tab.reset(len(b.flags))
	add := func(s []int32) int32 {
		h := hashInts(s)
		if i := tab.find(h, func(id int32) bool { return slices.Equal(sets[id], s) }); i >= 0 {
			return i
		}
		sets = append(sets, s)
		return tab.add(h)
	}
	if cl == nil {
		add([]int32{0})
	} else {
		add(cl[0])
	}
	a := &Automaton{Deterministic: true, States: sc.dstates[:0]}
	edgeArena := sc.dedges[:0]
	// The labelled moves of a subset, sorted by label: grouped by label
	// they give the subset's edges in label order (map iteration would
	// make the numbering differ between runs).
	moves := sc.dmoves[:0]
	tgt, infos := sc.tgt[:0], sc.dinfos[:0]
	setArena := sc.setArena[:0] // subsets and infos, carved from one array
	// mark[q] == group: q is in the target set of the current label group
	// (its closure was added, so the closures of the states in it are too:
	// closures are transitive). Without it the closures of every move
	// would be concatenated and sorted: quadratic where many states of a
	// subset loop on the same label (libc summary loops, inlined code).
	mark := sc.mark[:0]
	for range b.flags {
		mark = append(mark, 0)
	}
	group := uint32(0)
	defer func() {
		sc.dmoves, sc.tgt, sc.dinfos, sc.dsets, sc.setArena = moves, tgt, infos, sets, setArena
		sc.dstates, sc.dedges, sc.mark = a.States, edgeArena, mark
	}()
	for i := 0; i < len(sets); i++ {
		if len(sets) > limit {
			return nil, false
		}
		var st State
		e0 := len(edgeArena)
		moves = moves[:0]
		for _, q := range sets[i] {
			st.Flags |= b.flags[q]
			for _, e := range out[q] {
				moves = append(moves, dmove{e.label, e.to, e.info})
			}
		}
		// Grouping by label is all the order needed: a group's targets
		// and infos are sorted and de-duplicated below.
		sortDmoves(moves)
		for j := 0; j < len(moves); {
			l := moves[j].label
			tgt, infos = tgt[:0], infos[:0]
			if group++; group == 0 { // wrapped: start the marks afresh
				clear(mark)
				group = 1
			}
			for ; j < len(moves) && moves[j].label == l; j++ {
				if to := moves[j].to; mark[to] != group {
					if cl == nil {
						mark[to] = group
						tgt = append(tgt, to)
					} else {
						for _, x := range cl[to] {
							if mark[x] != group {
								mark[x] = group
								tgt = append(tgt, x)
							}
						}
					}
				}
				if x := moves[j].info; x >= 0 {
					infos = append(infos, x)
				}
			}
			slices.Sort(tgt)
			tgt = slices.Compact(tgt)
			setArena = append(setArena, tgt...)
			set := setArena[len(setArena)-len(tgt) : len(setArena) : len(setArena)]
			var inf []int32
			if len(infos) > 0 {
				slices.Sort(infos)
				infos = slices.Compact(infos)
				setArena = append(setArena, infos...)
				inf = setArena[len(setArena)-len(infos) : len(setArena) : len(setArena)]
			}
			to := add(set)
			edgeArena = append(edgeArena, Edge{Label: l, To: to, Infos: inf})
		}
		if len(edgeArena) > e0 {
			st.Edges = edgeArena[e0:len(edgeArena):len(edgeArena)]
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
func minimise(a *Automaton, sc *scratch) *Automaton {
	n := len(a.States)
	class := ints(sc.class, n)
	// initial partition by flags
	{
		var idx [256]int32
		for i := range idx {
			idx[i] = -1
		}
		k := int32(0)
		for i, s := range a.States {
			if idx[s.Flags] < 0 {
				idx[s.Flags] = k
				k++
			}
			class[i] = idx[s.Flags]
		}
	}
	// Refine: a state's signature is its class and the sorted set of
	// (label, class of target) pairs; states with equal signatures stay
	// together. Signatures are interned through a hash of their integers.
	numClasses := -1
	next := ints(sc.next, n)
	sig := sc.sig[:0]       // signature of the current state
	sigs := sc.sigs[:0]     // interned signatures, back to back
	sigOff := sc.sigOff[:0] // start of each interned signature in sigs
	tab := &sc.sigTab
	pairs := sc.pairs[:0]
	for {
		tab.reset(n)
		sigs, sigOff = sigs[:0], sigOff[:0]
		for i, s := range a.States {
			pairs = pairs[:0]
			for _, e := range s.Edges {
				pairs = append(pairs, [2]int32{int32(e.Label), class[e.To]})
			}
			if !a.Deterministic {
				// (a DFA's edges are sorted by label, one per label)
				slices.SortFunc(pairs, func(x, y [2]int32) int {
					if x[0] != y[0] {
						return cmp.Compare(x[0], y[0])
					}
					return cmp.Compare(x[1], y[1])
				})
			}
			sig = append(sig[:0], class[i])
			for j, p := range pairs {
				if j > 0 && p == pairs[j-1] {
					continue
				}
				sig = append(sig, p[0], p[1])
			}
			h := hashInts(sig)
			c := tab.find(h, func(cand int32) bool {
				end := int32(len(sigs))
				if int(cand)+1 < len(sigOff) {
					end = sigOff[cand+1]
				}
				return slices.Equal(sigs[sigOff[cand]:end], sig)
			})
			if c < 0 {
				sigOff = append(sigOff, int32(len(sigs)))
				sigs = append(sigs, sig...)
				c = tab.add(h)
			}
			next[i] = c
		}
		class, next = next, class
		if len(sigOff) == numClasses {
			break
		}
		numClasses = len(sigOff)
	}
	// Build the quotient, numbering classes in BFS order from the start.
	sc.class, sc.next, sc.sig, sc.sigs, sc.sigOff, sc.pairs = class, next, sig, sigs, sigOff, pairs
	num := ints(sc.num, numClasses)
	for i := range num {
		num[i] = -1
	}
	rep := sc.rep[:0] // representative original state per new state
	num[class[0]] = 0
	rep = append(rep, 0)
	// members of each class, in state order (CSR)
	mstart := ints(sc.mstart, numClasses+1)
	for i := range a.States {
		mstart[class[i]+1]++
	}
	for c := 1; c <= numClasses; c++ {
		mstart[c] += mstart[c-1]
	}
	mflat := ints(sc.mflat, n)
	mpos := append(sc.mpos[:0], mstart[:numClasses]...)
	for i := range a.States {
		mflat[mpos[class[i]]] = int32(i)
		mpos[class[i]]++
	}
	moves := sc.moves[:0]
	infos := sc.infos[:0]
	defer func() {
		sc.num, sc.rep, sc.mstart, sc.mflat, sc.mpos, sc.moves, sc.infos = num, rep, mstart, mflat, mpos, moves, infos
	}()
	out := &Automaton{Deterministic: a.Deterministic, States: make([]State, 0, numClasses)}
	// the result's edges and infos share two arrays (a few allocations
	// per automaton instead of one per edge)
	nEdges := 0
	for _, st := range a.States {
		nEdges += len(st.Edges)
	}
	edgeArena := make([]Edge, 0, nEdges)
	var infoArena []int32
	for i := 0; i < len(rep); i++ {
		c := class[rep[i]]
		moves = moves[:0]
		var f Flags
		for _, q := range mflat[mstart[c]:mstart[c+1]] {
			f |= a.States[q].Flags
			for _, e := range a.States[q].Edges {
				tc := class[e.To]
				if num[tc] < 0 {
					num[tc] = int32(len(rep))
					rep = append(rep, e.To)
				}
				if len(e.Infos) == 0 {
					moves = append(moves, move{e.Label, num[tc], -1})
				}
				for _, x := range e.Infos {
					moves = append(moves, move{e.Label, num[tc], x})
				}
			}
		}
		sortMoves(moves)
		st := State{Flags: f}
		e0 := len(edgeArena)
		for j := 0; j < len(moves); {
			l, to := moves[j].l, moves[j].to
			infos = infos[:0]
			for ; j < len(moves) && moves[j].l == l && moves[j].to == to; j++ {
				if x := moves[j].info; x >= 0 && (len(infos) == 0 || infos[len(infos)-1] != x) {
					infos = append(infos, x)
				}
			}
			var inf []int32
			if len(infos) > 0 {
				infoArena = append(infoArena, infos...)
				inf = infoArena[len(infoArena)-len(infos) : len(infoArena) : len(infoArena)]
			}
			edgeArena = append(edgeArena, Edge{Label: l, To: to, Infos: inf})
		}
		if len(edgeArena) > e0 {
			st.Edges = edgeArena[e0:len(edgeArena):len(edgeArena)]
		}
		out.States = append(out.States, st)
	}
	return out
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

// smallSort is the length up to which the move lists of a state are sorted
// by insertion with inline comparisons: most states have a handful of
// moves, and the generic sort's calls through the comparison function
// cost more than the sorting.
const smallSort = 24

// sortDmoves orders moves by label (the order within a label is free).
func sortDmoves(m []dmove) {
	if len(m) > smallSort {
		slices.SortFunc(m, func(x, y dmove) int { return cmp.Compare(x.label, y.label) })
		return
	}
	for i := 1; i < len(m); i++ {
		x := m[i]
		j := i
		for ; j > 0 && m[j-1].label > x.label; j-- {
			m[j] = m[j-1]
		}
		m[j] = x
	}
}

func moveLess(x, y move) bool {
	if x.l != y.l {
		return x.l < y.l
	}
	if x.to != y.to {
		return x.to < y.to
	}
	return x.info < y.info
}

// sortMoves orders moves by label, target and info.
func sortMoves(m []move) {
	if len(m) > smallSort {
		slices.SortFunc(m, func(x, y move) int {
			if moveLess(x, y) {
				return -1
			}
			if moveLess(y, x) {
				return 1
			}
			return 0
		})
		return
	}
	for i := 1; i < len(m); i++ {
		x := m[i]
		j := i
		for ; j > 0 && moveLess(x, m[j-1]); j-- {
			m[j] = m[j-1]
		}
		m[j] = x
	}
}
