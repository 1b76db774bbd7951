package policy

import (
	"fmt"
	"math/bits"

	"github.com/kcfm-linux/kcfm/internal/automaton"
	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// Transitions is the syscall digraph the pushdown model allows: the pairs
// (a, b) such that some run of the model makes syscall b right after
// syscall a in one thread (function calls and returns in between are not
// syscalls). A plain allowlist allows all |S|² pairs; SFIP's digraph is the
// same measure for its context-insensitive model (research/anchors.md §1.2).
//
// What is counted (docs/policy.md, "Allowed transitions"):
//   - whole run: the program's thread makes start-up syscalls in any order
//     and runs the constructors, then the entry function, then start-up/exit
//     syscalls in any order and the exit handlers (the checker accepts
//     start-up syscalls in any order outside the program's functions); each
//     thread start routine the same way;
//   - program phase: the entry function and the thread start routines
//     alone, without the start-up and exit phases around them;
//   - calls are matched with returns (context-sensitive: a callee returns
//     to its own call site only);
//   - a signal handler may run between any two syscalls: x→first(h) for
//     every allowed x, last(h)→rt_sigreturn, rt_sigreturn→every allowed y;
//   - a setjmp landing state may be reached after any syscall.
type Transitions struct {
	Syscalls int // |S|: syscalls in the allowlist
	// Pairs are the transitions of the whole run: the start-up and exit
	// phases accept their syscalls in any order (as the checker does).
	Pairs int
	// ProgramPairs are the transitions while the program's own functions
	// run: from the entry's (and the thread routines') first syscall to
	// their last, signal handlers included.
	ProgramPairs int
	Allowlist    int // |S|²: transitions a plain allowlist allows
	n            int
	words        int
	matrix       []uint64 // row a: successors of a
}

// Reduction is the share of the allowlist's transitions the model removes
// over the whole run (0.386 = 38.6 % fewer).
func (t *Transitions) Reduction() float64 { return reduction(t.Pairs, t.Allowlist) }

// ProgramReduction is Reduction for the program phase.
func (t *Transitions) ProgramReduction() float64 { return reduction(t.ProgramPairs, t.Allowlist) }

func reduction(pairs, all int) float64 {
	if all == 0 {
		return 0
	}
	return 1 - float64(pairs)/float64(all)
}

// Has tells whether syscall b may directly follow a.
func (t *Transitions) Has(a, b int) bool {
	if a < 0 || b < 0 || a >= t.n || b >= t.n {
		return false
	}
	return t.matrix[a*t.words+b/64]&(1<<(b%64)) != 0
}

// Successors returns the syscalls that may directly follow a (sorted).
func (t *Transitions) Successors(a int) []int {
	var out []int
	if a < 0 || a >= t.n {
		return nil
	}
	row := t.matrix[a*t.words : (a+1)*t.words]
	for w, x := range row {
		for x != 0 {
			b := bits.TrailingZeros64(x)
			out = append(out, w*64+b)
			x &= x - 1
		}
	}
	return out
}

type bitset []uint64

func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) or(o bitset) bool {
	changed := false
	for i := range b {
		if n := b[i] | o[i]; n != b[i] {
			b[i] = n
			changed = true
		}
	}
	return changed
}
func (b bitset) empty() bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
func (b bitset) each(f func(int)) {
	for w, x := range b {
		for x != 0 {
			f(w*64 + bits.TrailingZeros64(x))
			x &= x - 1
		}
	}
}

// fnSummary is what callers need to know of a function: the syscalls its
// runs can start with, the syscalls its returning runs can end with, and
// whether it can return without any syscall.
type fnSummary struct {
	first, last bitset
	nullable    bool
}

type digraph struct {
	fns     []model.SigFunction
	n       int // syscall numbers 0..n-1; eps = n
	eps     int
	words   int
	all     bitset // every syscall in the allowlist
	matrix  []uint64
	sum     []fnSummary
	callers [][]int
}

func (g *digraph) newSet() bitset { return make(bitset, g.words) }

func (g *digraph) addPairs(from bitset, to bitset) {
	from.each(func(a int) {
		if a == g.eps {
			return
		}
		row := bitset(g.matrix[a*g.words : (a+1)*g.words])
		row.or(to)
	})
}

// analyze runs the intra-procedural dataflow of function f with the
// current callee summaries, adds the pairs it finds and updates f's
// summary. It reports whether the summary changed.
func (g *digraph) analyze(f int) bool {
	fn := &g.fns[f]
	ns := len(fn.States)
	in := make([]bitset, ns)
	for i := range in {
		in[i] = g.newSet()
	}
	in[0].set(g.eps)
	for i, st := range fn.States {
		if automaton.Flags(st.Flags)&automaton.Landing != 0 {
			in[i].or(g.all) // resumed by longjmp after any syscall
		}
	}
	first, last := g.newSet(), g.newSet()
	nullable := false
	queued := make([]bool, ns)
	work := make([]int, 0, ns)
	for i := range fn.States {
		work = append(work, i)
		queued[i] = true
	}
	out := g.newSet()
	single := g.newSet()
	for len(work) > 0 {
		s := work[len(work)-1]
		work = work[:len(work)-1]
		queued[s] = false
		cur := in[s]
		if cur.empty() {
			continue // not reached (yet)
		}
		for _, e := range fn.States[s].Edges {
			for i := range out {
				out[i] = 0
			}
			if nr, ok := e.Label.IsSyscall(); ok {
				if nr >= g.n {
					continue
				}
				for i := range single {
					single[i] = 0
				}
				single.set(nr)
				g.addPairs(cur, single)
				if cur.has(g.eps) {
					first.set(nr)
				}
				out.set(nr)
			} else {
				c := int(e.Label)
				cs := &g.sum[c]
				g.addPairs(cur, cs.first)
				if cur.has(g.eps) {
					first.or(cs.first)
				}
				out.or(cs.last)
				if cs.nullable {
					out.or(cur)
				}
			}
			if in[e.To].or(out) && !queued[e.To] {
				queued[e.To] = true
				work = append(work, int(e.To))
			}
		}
	}
	for i, st := range fn.States {
		if automaton.Flags(st.Flags)&automaton.Return == 0 {
			continue
		}
		last.or(in[i])
		if in[i].has(g.eps) {
			nullable = true
		}
	}
	last[g.eps/64] &^= 1 << (g.eps % 64)
	s := &g.sum[f]
	changed := s.first.or(first)
	if s.last.or(last) {
		changed = true
	}
	if nullable && !s.nullable {
		s.nullable = true
		changed = true
	}
	return changed
}

// ComputeTransitions computes the model's syscall digraph over the
// allowlist `allowed` (normally Policy.Allowed): for the whole run, and for
// the program phase alone (ProgramPairs).
func ComputeTransitions(sig *model.Signature, allowed, startup []int) (*Transitions, error) {
	whole, err := digraphOf(sig, allowed, startup, true)
	if err != nil {
		return nil, err
	}
	prog, err := digraphOf(sig, allowed, startup, false)
	if err != nil {
		return nil, err
	}
	t := &Transitions{Syscalls: len(allowed), Allowlist: len(allowed) * len(allowed), n: whole.n, words: whole.words, matrix: whole.matrix}
	for _, x := range whole.matrix {
		t.Pairs += bits.OnesCount64(x)
	}
	for _, x := range prog.matrix {
		t.ProgramPairs += bits.OnesCount64(x)
	}
	return t, nil
}

// digraphOf runs the analysis; with phases the start-up and exit phases
// around the entry and the thread start routines are included.
func digraphOf(sig *model.Signature, allowed, startup []int, phases bool) (*digraph, error) {
	max := -1
	for _, nr := range allowed {
		if nr > max {
			max = nr
		}
	}
	for _, f := range sig.Functions {
		for _, st := range f.States {
			for _, e := range st.Edges {
				if nr, ok := e.Label.IsSyscall(); ok && nr > max {
					max = nr
				}
			}
		}
	}
	if max > model.MaxSyscallNr {
		return nil, fmt.Errorf("syscall %d out of range", max)
	}
	n := max + 1
	g := &digraph{n: n, eps: n, words: (n + 1 + 63) / 64}
	g.all = g.newSet()
	for _, nr := range allowed {
		g.all.set(nr)
	}
	// The signature's functions plus synthetic roots: the main thread and
	// one per thread start routine.
	nf := len(sig.Functions)
	g.fns = append([]model.SigFunction(nil), sig.Functions...)
	var ctors, exits, threads, handlers []int32
	for i, f := range sig.Functions {
		switch {
		case f.Flags&model.FnCtor != 0:
			ctors = append(ctors, int32(i))
		case f.Flags&model.FnExitHandler != 0:
			exits = append(exits, int32(i))
		}
		if f.Flags&model.FnThreadStart != 0 {
			threads = append(threads, int32(i))
		}
		if f.Flags&model.FnSignalHandler != 0 {
			handlers = append(handlers, int32(i))
		}
	}
	if !phases {
		startup, ctors, exits = nil, nil, nil
	}
	startLoops := func(calls []int32, state int32) []model.SigEdge {
		var es []model.SigEdge
		for _, nr := range startup {
			es = append(es, model.SigEdge{Label: model.SyscallLabel(nr), To: state, Site: -1})
		}
		for _, c := range calls {
			es = append(es, model.SigEdge{Label: model.CallLabel(c), To: state, Site: -1})
		}
		return es
	}
	root := func(pre []int32, callee int32, post []int32) model.SigFunction {
		s0 := model.SigState{Edges: append(startLoops(pre, 0), model.SigEdge{Label: model.CallLabel(callee), To: 1, Site: -1})}
		s1 := model.SigState{Flags: uint8(automaton.Return), Edges: startLoops(post, 1)}
		return model.SigFunction{Name: "<root>", States: []model.SigState{s0, s1}}
	}
	roots := []int{len(g.fns)}
	g.fns = append(g.fns, root(ctors, sig.Entry, exits))
	for _, t := range threads {
		roots = append(roots, len(g.fns))
		g.fns = append(g.fns, root(nil, t, nil))
	}
	for _, h := range handlers {
		roots = append(roots, int(h))
	}

	// Reachable functions and their callers.
	g.callers = make([][]int, len(g.fns))
	reach := make([]bool, len(g.fns))
	stack := append([]int(nil), roots...)
	for _, r := range roots {
		reach[r] = true
	}
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		seen := map[int]bool{}
		for _, s := range g.fns[f].States {
			for _, e := range s.Edges {
				if _, ok := e.Label.IsSyscall(); ok {
					continue
				}
				c := int(e.Label)
				if c < 0 || c >= nf {
					return nil, fmt.Errorf("function %s calls function %d out of range", g.fns[f].Name, c)
				}
				if !seen[c] {
					seen[c] = true
					g.callers[c] = append(g.callers[c], f)
				}
				if !reach[c] {
					reach[c] = true
					stack = append(stack, c)
				}
			}
		}
	}
	g.sum = make([]fnSummary, len(g.fns))
	for i := range g.sum {
		g.sum[i] = fnSummary{first: g.newSet(), last: g.newSet()}
	}
	g.matrix = make([]uint64, n*g.words)

	// Worklist to the fixpoint: a function is re-analysed when a callee's
	// summary grows.
	queued := make([]bool, len(g.fns))
	var work []int
	for f := len(g.fns) - 1; f >= 0; f-- {
		if reach[f] {
			work = append(work, f)
			queued[f] = true
		}
	}
	for len(work) > 0 {
		f := work[len(work)-1]
		work = work[:len(work)-1]
		queued[f] = false
		if g.analyze(f) {
			for _, c := range g.callers[f] {
				if !queued[c] {
					queued[c] = true
					work = append(work, c)
				}
			}
		}
	}

	// Signal handlers interrupt anywhere.
	sigret := -1
	if len(handlers) > 0 {
		if a, err := sysnum.ParseArch(sig.Arch); err == nil {
			if nr, ok := sysnum.For(a).Nr("rt_sigreturn"); ok && nr < n && g.all.has(nr) {
				sigret = nr
			}
		}
	}
	for _, h := range handlers {
		hs := &g.sum[h]
		g.addPairs(g.all, hs.first)
		after := g.all
		if sigret >= 0 {
			after = g.newSet()
			after.set(sigret)
			ret := g.newSet()
			ret.set(sigret)
			g.addPairs(ret, g.all)
		}
		g.addPairs(hs.last, after)
		if hs.nullable {
			g.addPairs(g.all, after)
		}
	}

	return g, nil
}
