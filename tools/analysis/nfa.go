package analysis

import (
	"github.com/kcfm-linux/kcfm/internal/automaton"
)

// nfa is the per-function epsilon-NFA the walker builds. Unlike
// automaton.Builder it exposes its edges, because the walker computes
// shuffle products of sub-automata (unsequenced operands) in place.
type nfa struct {
	flags []automaton.Flags
	edges []nedge // labelled edges; label < 0 means epsilon

	// scratch of finish, reused between functions
	off, adj, pos, keep, markv, order, stack, closure []int32
	b                                                 *automaton.Builder
}

type nedge struct {
	from, to int32
	label    int32 // -1: epsilon
	site     int32 // -1: none
}

func (a *nfa) reset() {
	a.flags = a.flags[:0]
	a.edges = a.edges[:0]
}

func (a *nfa) state() int32 {
	a.flags = append(a.flags, 0)
	return int32(len(a.flags) - 1)
}

func (a *nfa) eps(from, to int32) {
	if from != to {
		a.edges = append(a.edges, nedge{from, to, -1, -1})
	}
}

func (a *nfa) edge(from, to, label, site int32) {
	a.edges = append(a.edges, nedge{from, to, label, site})
}

func (a *nfa) mark(s int32, f automaton.Flags) { a.flags[s] |= f }

// region is a sub-automaton built between two marks: its states are
// [s0, s1), every edge leaving one of its states is in [e0, e1) (the walker
// never adds edges from a region's states after closing it, except from
// exit), entry and exit are its two ends.
type region struct {
	s0, s1      int32
	e0, e1      int
	entry, exit int32
}

type regionMark struct {
	s0 int32
	e0 int
}

func (a *nfa) begin() regionMark { return regionMark{int32(len(a.flags)), len(a.edges)} }

func (a *nfa) end(m regionMark, entry, exit int32) region {
	return region{s0: m.s0, s1: int32(len(a.flags)), e0: m.e0, e1: len(a.edges), entry: entry, exit: exit}
}

func (r region) has(s int32) bool { return s >= r.s0 && s < r.s1 }

// trivial reports whether the region produces no event, sets no flag and
// never leaves except through exit: it is then equivalent to an epsilon.
func (a *nfa) trivial(r region) bool {
	for _, e := range a.edges[r.e0:r.e1] {
		if e.label >= 0 || !r.has(e.to) {
			return false
		}
	}
	for s := r.s0; s < r.s1; s++ {
		if a.flags[s] != 0 {
			return false
		}
	}
	return true
}

// reachable lists the region's states reachable from its entry (without
// leaving it), entry first.
func (a *nfa) reachable(r region) ([]int32, map[int32][]int) {
	out := map[int32][]int{}
	for i := r.e0; i < r.e1; i++ {
		e := a.edges[i]
		if r.has(e.from) {
			out[e.from] = append(out[e.from], i)
		}
	}
	seen := map[int32]bool{r.entry: true}
	list := []int32{r.entry}
	for k := 0; k < len(list); k++ {
		for _, i := range out[list[k]] {
			t := a.edges[i].to
			if r.has(t) && !seen[t] {
				seen[t] = true
				list = append(list, t)
			}
		}
	}
	if !seen[r.exit] {
		list = append(list, r.exit)
	}
	return list, out
}

// maxProduct bounds the states of one shuffle product; beyond it the
// operands are over-approximated by a hub (any order, any repetition).
const maxProduct = 4096

// shuffle returns a region accepting every interleaving of the two
// regions' words (the evaluation of unsequenced operands: C leaves their
// order unspecified and lets their evaluations interleave). Edges that
// leave a region (jumps, throws) leave the product; once a component has
// halted, the other does not continue.
func (a *nfa) shuffle(x, y region) region {
	xs, xout := a.reachable(x)
	ys, yout := a.reachable(y)
	if len(xs)*len(ys) > maxProduct {
		return a.hub([]region{x, y})
	}
	m := a.begin()
	xi := make(map[int32]int32, len(xs))
	yi := make(map[int32]int32, len(ys))
	for i, s := range xs {
		xi[s] = int32(i)
	}
	for i, s := range ys {
		yi[s] = int32(i)
	}
	base := int32(len(a.flags))
	ny := int32(len(ys))
	for _, p := range xs {
		for _, q := range ys {
			a.flags = append(a.flags, a.flags[p]|a.flags[q])
		}
	}
	id := func(i, j int32) int32 { return base + i*ny + j }
	const dead = automaton.Halt
	for i, p := range xs {
		for j, q := range ys {
			from := id(int32(i), int32(j))
			if a.flags[p]&dead == 0 {
				for _, k := range xout[p] {
					e := a.edges[k]
					to := e.to
					if x.has(to) {
						to = id(xi[to], int32(j))
					}
					a.edges = append(a.edges, nedge{from, to, e.label, e.site})
				}
			}
			if a.flags[q]&dead == 0 {
				for _, k := range yout[q] {
					e := a.edges[k]
					to := e.to
					if y.has(to) {
						to = id(int32(i), yi[to])
					}
					a.edges = append(a.edges, nedge{from, to, e.label, e.site})
				}
			}
		}
	}
	return a.end(m, id(0, 0), id(xi[x.exit], yi[y.exit]))
}

// hub over-approximates the interleavings of several regions: one state
// with a self-loop for every event of every region (in any order, any
// number of times), the regions' flagged states as side exits, and their
// jumps out.
func (a *nfa) hub(rs []region) region {
	m := a.begin()
	h := a.state()
	exit := a.state()
	a.eps(h, exit)
	for _, r := range rs {
		for i := r.e0; i < r.e1; i++ {
			e := a.edges[i]
			if !r.has(e.from) {
				continue
			}
			switch {
			case !r.has(e.to):
				a.edges = append(a.edges, nedge{h, e.to, e.label, e.site})
			case a.flags[e.to] != 0:
				t := a.state()
				a.flags[t] = a.flags[e.to]
				a.edges = append(a.edges, nedge{h, t, e.label, e.site})
				if a.flags[t]&automaton.Halt == 0 {
					a.eps(t, h)
				}
			case e.label >= 0:
				a.edges = append(a.edges, nedge{h, h, e.label, e.site})
			}
		}
	}
	return a.end(m, h, exit)
}

// optional adds the empty word to a region.
func (a *nfa) optional(r region) region {
	a.edges = append(a.edges, nedge{r.entry, r.exit, -1, -1})
	r.e1 = len(a.edges)
	return r
}

// finish converts to the automaton package's builder and minimises.
// Epsilon-only chains are collapsed first: only the start state, targets
// of labelled edges and flagged states survive (the classic
// epsilon-removal), which keeps the builder's closures small.
func (a *nfa) finish(start int32) *automaton.Automaton {
	n := int32(len(a.flags))
	// adjacency in CSR form (reused between functions)
	a.off = grow32(a.off, int(n)+1)
	clear(a.off)
	for _, e := range a.edges {
		a.off[e.from+1]++
	}
	for i := int32(0); i < n; i++ {
		a.off[i+1] += a.off[i]
	}
	a.adj = grow32(a.adj, len(a.edges))
	a.pos = append(a.pos[:0], a.off[:n]...)
	for i, e := range a.edges {
		a.adj[a.pos[e.from]] = int32(i)
		a.pos[e.from]++
	}
	keep := grow32(a.keep, int(n))
	mark := grow32(a.markv, int(n))
	a.keep, a.markv = keep, mark
	for i := range keep {
		keep[i] = -1
		mark[i] = -1
	}
	if a.b == nil {
		a.b = automaton.NewBuilder()
	} else {
		a.b.Reset()
	}
	b := a.b
	keep[start] = 0
	order := append(a.order[:0], start)
	stack, closure := a.stack[:0], a.closure[:0]
	for k := 0; k < len(order); k++ {
		q := order[k]
		// epsilon closure of q
		closure = closure[:0]
		stack = append(stack[:0], q)
		mark[q] = int32(k)
		for len(stack) > 0 {
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			closure = append(closure, s)
			for _, ei := range a.adj[a.off[s]:a.off[s+1]] {
				if e := a.edges[ei]; e.label < 0 && mark[e.to] != int32(k) {
					mark[e.to] = int32(k)
					stack = append(stack, e.to)
				}
			}
		}
		var fl automaton.Flags
		for _, s := range closure {
			fl |= a.flags[s]
			for _, ei := range a.adj[a.off[s]:a.off[s+1]] {
				e := a.edges[ei]
				if e.label < 0 {
					continue
				}
				if keep[e.to] < 0 {
					keep[e.to] = int32(b.State())
					order = append(order, e.to)
				}
				b.Edge(int(keep[q]), int(keep[e.to]), automaton.Label(e.label), e.site)
			}
		}
		if fl != 0 {
			b.Mark(int(keep[q]), fl)
		}
	}
	a.order, a.stack, a.closure = order, stack, closure
	return b.Finish()
}

func grow32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}
