package libcsum

import (
	"fmt"
	"sort"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// The named modelling rules that cut special paths out of the ordinary
// summaries (docs/libc-summaries.md, "Rules"). Each cut edge leaves a flag
// on the calling segment (closed over reachability like the syscall sets);
// what the cut-off path can do is summarised once, for the whole library
// (Summary.Cancellation, Summary.Fatal), and added back by
// Summary.Effective when it applies.

// symSegs returns the entry nodes of the exported functions named (all
// versions), sorted and unique.
func (a *analysis) symSegs(names ...string) []int {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []int
	for _, s := range a.im.syms {
		if !want[s.name] {
			continue
		}
		ni := -1
		if s.ifunc {
			ni = a.ifuncNode(s.value)
		} else {
			ni = a.segAt(s.value)
		}
		if ni >= 0 {
			out = append(out, ni)
		}
	}
	return uniq(out)
}

// functionSegs returns the segments of the functions starting at the
// given entry segments: the entry and the following segments up to the
// next strong boundary (exported symbol or FDE start).
func (a *analysis) functionSegs(entries []int) map[int]bool {
	out := map[int]bool{}
	pos := map[int]int{}
	for k, ni := range a.segIdx {
		pos[ni] = k
	}
	for _, e := range entries {
		k, ok := pos[e]
		if !ok {
			continue
		}
		out[e] = true
		for j := k + 1; j < len(a.segIdx) && !a.nodes[a.segIdx[j]].strong; j++ {
			out[a.segIdx[j]] = true
		}
	}
	return out
}

// cutEdges removes the edges into targets from every segment for which
// keep(from, edge) is false, flags those segments and returns how many
// edges were cut.
func (a *analysis) cutEdges(targets map[int]bool, flag uint8, keep func(from int, e edge) bool) int {
	cut := 0
	for _, ni := range a.segIdx {
		n := a.nodes[ni]
		out := n.out[:0]
		for _, e := range n.out {
			if targets[e.to] && !keep(ni, e) {
				cut++
				n.flags |= flag
				continue
			}
			out = append(out, e)
		}
		n.out = out
	}
	a.edgeSet = nil // addEdge's memo is stale
	return cut
}

// cutCancellation is rule "cancellation": the act of cancelling the
// calling thread is cut out of every function that can do it, leaving the
// fCancel flag (Func.Cancellation: "a cancellation point").
//
//   - glibc: every call of __pthread_unwind (found as the callee of the
//     exported __pthread_unwind_next that never returns) except those in
//     pthread_exit, thrd_exit and __pthread_unwind_next themselves, which
//     unwind unconditionally and keep the path. The callers are the inlined
//     __do_cancel of the cancellation points (__pthread_enable_asynccancel
//     in read, write, …; pthread_testcancel, pthread_setcancelstate/type,
//     __libc_cleanup_pop_restore, pthread_cancel on the calling thread) and
//     the SIGCANCEL handler.
//   - musl: every call of pthread_exit whose argument is the constant
//     PTHREAD_CANCELED ((void *)-1): __cancel, reached from
//     __syscall_cp_asm's cancellation check, the SIGCANCEL handler and
//     pthread_testcancel, and pthread_cancel on the calling thread. Other
//     calls (the program's pthread_exit, a thread start routine returning)
//     keep the path.
//
// A thread is cancelled only after pthread_cancel was called for it, so the
// path matters only in programs that call it (cancelTriggers); there,
// Summary.Effective adds the cancellation path's syscalls to the
// cancellation points.
func (a *analysis) cutCancellation() {
	a.cancelEntry = -1
	switch a.im.libc {
	case "glibc":
		next := a.symSegs("__pthread_unwind_next")
		var us []int
		for _, ni := range next {
			n := a.nodes[ni]
			for _, e := range n.out {
				if e.site >= 0 && a.nodes[e.to].kind == nSeg && !a.returns[e.to] {
					if k := n.insts[e.site].kind; k == kCall || k == kJmp {
						us = append(us, e.to)
					}
				}
			}
		}
		us = uniq(us)
		if len(us) != 1 {
			a.warnings = append(a.warnings, fmt.Sprintf("rule cancellation: __pthread_unwind not found (%d candidates): cancellation is not cut", len(us)))
			return
		}
		u := us[0]
		exempt := a.functionSegs(a.symSegs("pthread_exit", "thrd_exit", "__pthread_unwind_next"))
		a.cancelCuts = a.cutEdges(map[int]bool{u: true}, fCancel, func(from int, e edge) bool { return exempt[from] })
		a.cancelEntry = u
	case "musl":
		pe := a.symSegs("pthread_exit", "__pthread_exit")
		if len(pe) == 0 {
			a.warnings = append(a.warnings, "rule cancellation: pthread_exit not found: cancellation is not cut")
			return
		}
		targets := map[int]bool{}
		for _, t := range pe {
			targets[t] = true
		}
		arg0 := a.info.argRegs[0]
		a.cancelCuts = a.cutEdges(targets, fCancel, func(from int, e edge) bool {
			if e.site < 0 {
				return true
			}
			if k := a.nodes[from].insts[e.site].kind; k != kCall && k != kJmp {
				return true
			}
			r := a.trace(from, e.site, false, arg0)
			if r.unknown || r.deps != 0 || len(r.consts) == 0 {
				return true
			}
			for _, c := range r.consts {
				if c != -1 {
					return true
				}
			}
			return false // pthread_exit(PTHREAD_CANCELED)
		})
		if a.cancelCuts == 0 {
			a.warnings = append(a.warnings, "rule cancellation: no pthread_exit(PTHREAD_CANCELED) call found")
			return
		}
		a.cancelEntry = pe[0] // aliases (pthread_exit, __pthread_exit) are one function
		if len(pe) > 1 {
			a.warnings = append(a.warnings, fmt.Sprintf("rule cancellation: pthread_exit has %d entry points", len(pe)))
		}
	}
}

// cancelTriggers are the functions through which a program cancels a
// thread.
var cancelTriggers = []string{"pthread_cancel"}

// fatalSinks are the exported functions that end the process on a crash
// path: abort and the functions that report a detected bug or attack and
// then abort.
var fatalSinks = []string{
	"abort", "__libc_fatal", "__fortify_fail", "__chk_fail", "__stack_chk_fail",
	"__assert_fail", "__assert_perror_fail", "__assert",
}

// assertSinks format their message with gettext and stdio; the dying set
// replaces that by assertMessageSyscalls (measured: an assertion failure
// in the C locale mallocs the message, writes it to stderr and aborts).
var assertSinks = map[string]bool{"__assert_fail": true, "__assert_perror_fail": true, "__assert": true}

var assertMessageSyscalls = []string{"write", "writev", "brk", "mmap", "munmap", "madvise", "getrandom", "futex"}

// cutFatal is rule "fatal": calls of crash paths are cut out of every
// function, leaving the fFatal flag (Func.Fatal); what the crash paths can
// do is summarised once (Summary.Fatal: the closure of a virtual node
// calling every sink).
//
// Sinks: the exported fatalSinks, and glibc's internal message function
// (__libc_message, found as the direct callee of the exported
// __libc_fatal) at the call sites that make it abort: its first argument
// is a constant with the do_abort bit (1) set (glibc 2.36:
// malloc_printerr and friends call __libc_message (do_abort, …)), or it
// never returns (newer glibc).
func (a *analysis) cutFatal() {
	a.fatalNode, a.dyingNode = -1, -1
	sinks := a.symSegs(fatalSinks...)
	var msgFns []int
	if a.im.libc == "glibc" {
		for ni := range a.functionSegs(a.symSegs("__libc_fatal")) {
			n := a.nodes[ni]
			for _, e := range n.out {
				if e.site >= 0 && n.insts[e.site].kind == kCall && a.nodes[e.to].kind == nSeg {
					msgFns = append(msgFns, e.to)
				}
			}
		}
		msgFns = uniq(msgFns)
		if len(msgFns) != 1 {
			a.warnings = append(a.warnings, fmt.Sprintf("rule fatal: __libc_message not found (%d candidates)", len(msgFns)))
			msgFns = nil
		}
	}
	for name, lf := range loaderFuncs {
		if ni, ok := a.extOf[name]; ok && lf.fatal {
			sinks = append(sinks, ni)
		}
	}
	sort.Ints(sinks)
	if len(sinks) == 0 {
		a.warnings = append(a.warnings, "rule fatal: no crash path function found: nothing is cut")
		return
	}
	targets := map[int]bool{}
	fn := a.newNode(&node{kind: nPath, name: "fatal"})
	for _, t := range append(append([]int(nil), sinks...), msgFns...) {
		targets[t] = true
		a.nodes[fn].out = append(a.nodes[fn].out, edge{to: t, site: -1})
		a.nodes[t].in = append(a.nodes[t].in, fn)
	}
	msg := map[int]bool{}
	for _, m := range msgFns {
		msg[m] = true
	}
	arg0 := a.info.argRegs[0]
	a.fatalCuts = a.cutEdges(targets, fFatal, func(from int, e edge) bool {
		if !msg[e.to] || !a.returns[e.to] {
			return false // always fatal
		}
		if e.site < 0 {
			return true
		}
		r := a.trace(from, e.site, false, arg0)
		if r.unknown || r.deps != 0 || len(r.consts) == 0 {
			return true
		}
		for _, c := range r.consts {
			if c&1 == 0 {
				return true // not do_abort: a message, the process goes on
			}
		}
		return false
	})
	a.fatalNode = fn
	// the dying set: the crash paths without the assertion messages'
	// formatting (their fixed message syscalls instead)
	dn := a.newNode(&node{kind: nPath, name: "dying", localSys: a.nrs(assertMessageSyscalls)})
	assertSegs := map[int]bool{}
	for _, sy := range a.im.syms {
		if assertSinks[sy.name] && !sy.ifunc {
			assertSegs[a.segAt(sy.value)] = true
		}
	}
	for _, t := range append(append([]int(nil), sinks...), msgFns...) {
		if !assertSegs[t] {
			a.nodes[dn].out = append(a.nodes[dn].out, edge{to: t, site: -1})
			a.nodes[t].in = append(a.nodes[t].in, dn)
		}
	}
	a.dyingNode = dn
}

// Rule "callback registrars": a libc function that stores a callback it is
// given (a registrar) and a libc function that calls it later (a
// dispatcher). The dispatcher's indirect calls reach what the registrar
// was given: the program's callbacks (the program's own code, modelled by
// its graph) and the code addresses libc itself passes to the registrar,
// found by tracing the argument at every call site of the registrar in
// libc (like a callback argument). A value that cannot be traced makes the
// dispatch reach every address-taken function (the unresolved class).
type registrar struct {
	name        string
	registrars  []string // exported functions storing the callback
	args        []int    // their argument positions (1-based) holding callbacks
	byValue     bool     // the callbacks are passed in a struct by value: take the code addresses the callers materialise
	dispatchers []string // exported functions calling it back (their indirect calls)
	// scoped: registration and call happen within one activation of the
	// registrar's caller (pthread_cleanup_push/pop must pair in one
	// lexical scope): the callback is attributed to that caller, as a
	// callback argument of the registrar, and the dispatch is cut.
	scoped bool
	// exclusive: the functions called only by the registrar (and by
	// themselves) dispatch too (qsort_r's msort_with_tmp).
	exclusive bool
	// demangled: only calls through a PTR_DEMANGLE'd pointer are
	// dispatches (glibc mangles the exit handlers it stores; exit's other
	// indirect calls, e.g. flushing stdio, are not handlers).
	demangled bool
}

var registrars = []registrar{
	{name: "cleanup handlers", registrars: []string{"_pthread_cleanup_push", "_pthread_cleanup_push_defer"}, args: []int{2},
		dispatchers: []string{"_pthread_cleanup_pop", "_pthread_cleanup_pop_restore"}, scoped: true},
	{name: "sort comparators", registrars: []string{"qsort_r", "__qsort_r"}, args: []int{4}, scoped: true, exclusive: true},
	{name: "obstack allocators", registrars: []string{"_obstack_begin", "_obstack_begin_1"}, args: []int{4, 5},
		dispatchers: []string{"_obstack_newchunk", "_obstack_free", "obstack_free", "_obstack_begin", "_obstack_begin_1"}},
	{name: "exit handlers", registrars: []string{"__cxa_atexit", "on_exit", "__cxa_at_quick_exit", "__cxa_thread_atexit_impl", "atexit"}, args: []int{1},
		demangled: true},
	{name: "cookie functions", registrars: []string{"fopencookie", "_IO_fopencookie"}, byValue: true},
}

// applyRegistrars runs before resolveRegCalls (scoped registrars: the
// callback dependency on their arguments, the dispatch cut) or after
// narrowAll (the others: every dispatcher's unresolved indirect calls go
// to the registrar's value node, filled by resolveRegistrarValues).
func (a *analysis) applyRegistrars(scoped bool) {
	for _, rg := range registrars {
		if rg.scoped != scoped {
			continue
		}
		regs := a.symSegs(rg.registrars...)
		if len(regs) == 0 {
			continue
		}
		disp := a.dispatchSegs(rg)
		if rg.demangled {
			if a.im.arch != sysnum.X86_64 || a.im.libc != "glibc" {
				continue // PTR_DEMANGLE is recognised on x86_64 glibc only
			}
			a.dispatchFilter = a.demangledCall
		} else {
			a.dispatchFilter = nil
		}
		if rg.scoped {
			for _, r := range regs {
				for _, k := range rg.args {
					a.nodes[r].callDep |= 1 << uint(a.info.argRegs[k-1])
				}
			}
			a.redirectDispatch(disp, -1)
			continue
		}
		vn := a.newNode(&node{kind: nPath, name: "registered " + rg.name})
		a.regValues = append(a.regValues, regValue{rg: rg, node: vn, regs: regs})
		a.redirectDispatch(disp, vn)
	}
}

type regValue struct {
	rg   registrar
	node int
	regs []int
}

// dispatchSegs returns the segments whose indirect calls dispatch the
// registered callbacks: the dispatchers' functions; for exit handlers the
// functions exit and quick_exit call directly (__run_exit_handlers,
// __call_tls_dtors); for cookies the functions of the stdio vtables the
// registrars refer to (_IO_cookie_jumps).
func (a *analysis) dispatchSegs(rg registrar) map[int]bool {
	switch rg.name {
	case "exit handlers":
		// the functions exit and quick_exit call (__run_exit_handlers) and
		// the functions those call (__call_tls_dtors)
		calleesOf := func(fn map[int]bool) map[int]bool {
			var callees []int
			for ni := range fn {
				for _, e := range a.nodes[ni].out {
					if e.site >= 0 && a.nodes[e.to].kind == nSeg && a.nodes[ni].insts[e.site].kind == kCall {
						callees = append(callees, e.to)
					}
				}
			}
			return a.functionSegs(uniq(callees))
		}
		first := calleesOf(a.functionSegs(a.symSegs("exit", "quick_exit")))
		out := calleesOf(first)
		for x := range first {
			out[x] = true
		}
		return out
	case "cookie functions":
		vt := a.im.ioVtables
		var fns []int
		if vt.hi <= vt.lo {
			// musl: the cookie functions are the FILE methods the
			// registrar installs (code addresses its body materialises)
			for x := range a.body(a.symSegs(rg.registrars...)) {
				for _, in := range a.nodes[x].insts {
					if t := a.segAt(in.ref); in.ref != 0 && t >= 0 && a.nodes[t].lo == in.ref {
						fns = append(fns, t)
					}
				}
			}
			return a.body(uniq(fns))
		}
		for ni := range a.functionSegs(a.symSegs(rg.registrars...)) {
			segs := []int{ni}
			for _, e := range a.nodes[ni].out {
				if e.site >= 0 && a.nodes[e.to].kind == nSeg {
					segs = append(segs, e.to)
				}
			}
			for x := range a.functionSegs(segs) {
				for _, in := range a.nodes[x].insts {
					if in.dref > vt.lo && in.dref < vt.hi {
						for slot := in.dref; slot < in.dref+ioJumpSize; slot += 8 {
							if r, ok := a.im.relocs[slot]; ok && r.known && a.im.isCode(r.value) {
								if t := a.segAt(r.value); t >= 0 {
									fns = append(fns, t)
								}
							}
						}
					}
				}
			}
		}
		return a.functionSegs(uniq(fns))
	}
	out := a.functionSegs(a.symSegs(rg.dispatchers...))
	if rg.exclusive {
		for x := range a.exclusiveCallees(a.functionSegs(a.symSegs(rg.registrars...))) {
			out[x] = true
		}
	}
	return out
}

// exclusiveCallees returns the segments of the functions called directly
// from fn whose callers are all in fn or in themselves (recursion), and
// which are not exported.
func (a *analysis) exclusiveCallees(fn map[int]bool) map[int]bool {
	exported := map[int]bool{}
	for _, sy := range a.im.syms {
		if t := a.segAt(sy.value); t >= 0 && !sy.ifunc {
			exported[t] = true
		}
	}
	out := map[int]bool{}
	for ni := range fn {
		for _, e := range a.nodes[ni].out {
			if e.site < 0 || a.nodes[e.to].kind != nSeg || fn[e.to] || exported[e.to] || !a.nodes[e.to].strong {
				continue
			}
			if k := a.nodes[ni].insts[e.site].kind; k != kCall && k != kJmp {
				continue
			}
			segs := a.functionSegs([]int{e.to})
			only := true
			for _, ci := range a.nodes[e.to].in {
				if !fn[ci] && !segs[ci] && !a.padding(ci) {
					only = false
				}
			}
			if only {
				for x := range segs {
					out[x] = true
				}
			}
		}
	}
	return out
}

// redirectDispatch sends the unresolved indirect calls (to the unresolved
// or the PTR_DEMANGLE class, or traced through a register) of the
// dispatch segments to node to (-1: cut them).
func (a *analysis) redirectDispatch(disp map[int]bool, to int) {
	keep := func(ni, i int) bool { return a.dispatchFilter != nil && !a.dispatchFilter(ni, i) }
	kept := a.regCalls[:0]
	for _, rc := range a.regCalls {
		if disp[rc[0]] && !keep(rc[0], rc[1]) {
			if to >= 0 {
				a.nodes[rc[0]].out = append(a.nodes[rc[0]].out, edge{to: to, site: rc[1]})
				a.nodes[to].in = append(a.nodes[to].in, rc[0])
			}
			a.dispatched++
			continue
		}
		kept = append(kept, rc)
	}
	a.regCalls = kept
	for ni := range disp {
		n := a.nodes[ni]
		for k, e := range n.out {
			if e.site < 0 || (e.to != a.indNode && e.to != a.mgNode) {
				continue
			}
			if kd := n.insts[e.site].kind; kd != kCallInd && kd != kJmpInd {
				continue
			}
			if keep(ni, e.site) {
				continue
			}
			a.dispatched++
			if to >= 0 {
				n.out[k].to = to
				a.nodes[to].in = append(a.nodes[to].in, ni)
			} else {
				n.out[k].to = -1
			}
		}
		out := n.out[:0]
		for _, e := range n.out {
			if e.to >= 0 {
				out = append(out, e)
			}
		}
		n.out = out
	}
	a.edgeSet = nil
}

// resolveRegistrarValues fills the value nodes of the stored registrars.
func (a *analysis) resolveRegistrarValues() {
	for _, rv := range a.regValues {
		var targets []int
		unknown := false
		if rv.rg.byValue {
			// callbacks in a struct passed by value: the code addresses
			// materialised by the registrars' callers in libc
			for _, r := range rv.regs {
				for _, ci := range uniq(append([]int(nil), a.nodes[r].in...)) {
					if a.nodes[ci].kind != nSeg {
						unknown = true
						continue
					}
					for x := range a.functionSegs([]int{a.functionEntry(ci)}) {
						for _, in := range a.nodes[x].insts {
							if in.ref != 0 {
								if t := a.segAt(in.ref); t >= 0 {
									targets = append(targets, t)
								}
							}
						}
					}
				}
			}
		} else {
			for _, r := range rv.regs {
				for _, k := range rv.rg.args {
					ts, unk := a.argValues(r, a.info.argRegs[k-1])
					targets = append(targets, ts...)
					unknown = unknown || unk
				}
			}
		}
		n := a.nodes[rv.node]
		for _, t := range uniq(targets) {
			n.out = append(n.out, edge{to: t, site: -1})
			a.nodes[t].in = append(a.nodes[t].in, rv.node)
		}
		if unknown {
			n.out = append(n.out, edge{to: a.indNode, site: -1})
			a.nodes[a.indNode].in = append(a.nodes[a.indNode].in, rv.node)
		}
	}
}

// functionEntry returns the segment starting the function containing ni
// (the nearest strong boundary at or before it).
func (a *analysis) functionEntry(ni int) int {
	lo, _ := a.functionRange(a.nodes[ni].lo)
	if t := a.segAt(lo); t >= 0 {
		return t
	}
	return ni
}

// argValues returns the code addresses register r can hold at the entry
// of segment entry when called from inside libc (traced at every call
// site, up through callers that pass their own arguments on); unknown if
// some value cannot be traced. Values from the program (entry is an
// exported function) are the program's callbacks and not returned.
func (a *analysis) argValues(entry int, r int8) (targets []int, unknown bool) {
	type item struct {
		n   int
		reg int8
	}
	seen := map[item]bool{}
	work := []item{{entry, r}}
	seen[work[0]] = true
	for len(work) > 0 {
		it := work[len(work)-1]
		work = work[:len(work)-1]
		for _, pi := range uniq(append([]int(nil), a.nodes[it.n].in...)) {
			p := a.nodes[pi]
			for _, e := range p.out {
				if e.to != it.n {
					continue
				}
				if p.kind != nSeg || e.site < 0 {
					if p.kind != nPath {
						unknown = true // called through a pointer: arguments unknown
					}
					continue
				}
				res := a.trace(pi, e.site, e.after, it.reg)
				unknown = unknown || res.unknown
				for _, c := range res.consts {
					if c == 0 {
						continue // NULL: no callback
					}
					if t := a.segAt(uint64(c)); t >= 0 && a.im.isCode(uint64(c)) {
						targets = append(targets, t)
					} else {
						unknown = true
					}
				}
				for q := 0; q < 64; q++ {
					if res.deps&(1<<uint(q)) != 0 {
						x := item{pi, int8(q)}
						if !seen[x] {
							seen[x] = true
							work = append(work, x)
						}
					}
				}
			}
		}
	}
	return uniq(targets), unknown
}

// Rule "registered tables" (glibc printf handlers): an indirect call
// through an entry of a table T[i] whose base T was loaded from a global
// variable G, where every write of G (and every materialisation of its
// address) in libc is inside the table's registrar functions. The
// registrars store only what the program gives them (register_printf_*),
// so the entries are the program's callbacks: the call adds nothing to
// the summary (like a callback argument).
var tableRegistrars = []struct {
	name       string
	registrars []string
}{
	{"printf handlers", []string{"register_printf_specifier", "register_printf_function", "register_printf_modifier", "register_printf_type"}},
}

// narrowRegisteredTables redirects such calls to a node without targets.
func (a *analysis) narrowRegisteredTables() {
	for _, tr := range tableRegistrars {
		regSegs := a.functionSegs(a.symSegs(tr.registrars...))
		if len(regSegs) == 0 {
			continue
		}
		// globals written inside the registrars; excluded if written or
		// address-taken anywhere else
		globals := map[uint64]bool{}
		for ni := range regSegs {
			for _, in := range a.nodes[ni].insts {
				if in.storeRip != 0 {
					globals[in.storeRip] = true
				}
			}
		}
		for _, ni := range a.segIdx {
			if regSegs[ni] {
				continue
			}
			for _, in := range a.nodes[ni].insts {
				if globals[in.storeRip] {
					delete(globals, in.storeRip)
				}
				if globals[in.dref] {
					delete(globals, in.dref)
				}
			}
		}
		if len(globals) == 0 {
			continue
		}
		tnode := -1
		for _, ni := range a.segIdx {
			n := a.nodes[ni]
			for k, e := range n.out {
				if e.site < 0 || e.to != a.indNode {
					continue
				}
				in := &n.insts[e.site]
				if in.kind != kCallInd && in.kind != kJmpInd {
					continue
				}
				if !a.loadedFromTable(ni, e.site, globals) {
					continue
				}
				if tnode < 0 {
					tnode = a.newNode(&node{kind: nPath, name: "registered " + tr.name})
				}
				n.out[k].to = tnode
				a.nodes[tnode].in = append(a.nodes[tnode].in, ni)
				a.dispatched++
			}
		}
	}
	a.edgeSet = nil
}

// loadedFromTable: the called pointer is T[i] with T loaded from one of
// the globals.
func (a *analysis) loadedFromTable(ni, i int, globals map[uint64]bool) bool {
	in := &a.nodes[ni].insts[i]
	var bases []site
	if in.callReg < 0 {
		if in.idxBase < 0 {
			return false
		}
		bases = []site{{ni, i}}
	} else {
		defs, ok := a.defsOfDeep(ni, i, in.callReg)
		if !ok || len(defs) == 0 {
			return false
		}
		for _, x := range defs {
			if d := a.inst(x); d.def != dUnknown || d.idxBase < 0 {
				return false
			}
		}
		bases = defs
	}
	for _, x := range bases {
		defs, ok := a.defsOfDeep(x.n, x.i, a.inst(x).idxBase)
		if !ok || len(defs) == 0 {
			return false
		}
		for _, y := range defs {
			if d := a.inst(y); d.load == 0 || !globals[d.load] {
				return false
			}
		}
	}
	return true
}

// padding: the segment is alignment padding only (it falls through into
// the next function, but nothing enters it).
func (a *analysis) padding(ni int) bool {
	n := a.nodes[ni]
	if n.kind != nSeg || len(n.insts) == 0 {
		return false
	}
	for _, in := range n.insts {
		if !in.nop {
			return false
		}
	}
	return true
}

// Rule "setxid broadcast": in a multi-threaded process the set*id
// functions make every thread run the same system call (POSIX per-process
// credentials). glibc: setuid → __nptl_setxid, which stores the syscall
// number in a struct xid_command, makes it itself and signals every other
// thread, whose SIGSETXID handler (__nptl_setxid_sighandler, installed by
// pthread_create) makes it too; musl: setuid → __setxid → __synccall(
// do_setxid, …). Those sites load the number from memory, but only the
// set*id wrappers write it, always with one of setxidFamily. The sites:
// the syscalls with an unknown number in the functions called directly by
// both setuid and setgid, in the code those functions materialise (musl's
// do_setxid), and in the code pthread_create materialises (glibc's
// handler). They get the family instead of "unknown".
var setxidFamily = []string{"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups"}

func (a *analysis) applySetxid() {
	callees := func(name string) map[int]bool {
		out := map[int]bool{}
		for ni := range a.functionSegs(a.symSegs(name)) {
			for _, e := range a.nodes[ni].out {
				if e.site >= 0 && a.nodes[e.to].kind == nSeg {
					if k := a.nodes[ni].insts[e.site].kind; k == kCall || k == kJmp {
						out[e.to] = true
					}
				}
			}
		}
		return out
	}
	cu, cg := callees("setuid"), callees("setgid")
	var common []int
	for t := range cu {
		if cg[t] {
			common = append(common, t)
		}
	}
	if len(common) == 0 {
		return
	}
	segs := a.body(uniq(common))
	refsOf := func(fn map[int]bool) []int {
		var out []int
		for ni := range fn {
			for _, in := range a.nodes[ni].insts {
				if in.ref != 0 {
					if t := a.segAt(in.ref); t >= 0 && a.nodes[t].lo == in.ref {
						out = append(out, t)
					}
				}
			}
		}
		return uniq(out)
	}
	for x := range a.body(refsOf(segs)) {
		segs[x] = true
	}
	for x := range a.body(refsOf(a.functionSegs(a.symSegs("pthread_create")))) {
		segs[x] = true
	}
	family := a.nrs(setxidFamily)
	for ni := range segs {
		n := a.nodes[ni]
		if len(n.unknown) == 0 {
			continue
		}
		sys := map[uint64]bool{}
		for _, in := range n.insts {
			if in.kind == kSyscall {
				sys[in.addr] = true
			}
		}
		kept := n.unknown[:0]
		replaced := false
		for _, u := range n.unknown {
			if sys[u] {
				replaced = true
				continue
			}
			kept = append(kept, u)
		}
		n.unknown = kept
		if replaced {
			n.localSys = append(n.localSys, family...)
			a.setxidSites++
		}
	}
}

// body returns the segments reachable from the entries without calls:
// through jumps, conditional branches and fall-through (a function's
// body, also when the library has no unwind tables to delimit it).
func (a *analysis) body(entries []int) map[int]bool {
	out := map[int]bool{}
	work := append([]int(nil), entries...)
	for _, e := range entries {
		out[e] = true
	}
	for len(work) > 0 {
		ni := work[len(work)-1]
		work = work[:len(work)-1]
		n := a.nodes[ni]
		for _, e := range n.out {
			if e.site < 0 || a.nodes[e.to].kind != nSeg || out[e.to] {
				continue
			}
			if k := n.insts[e.site].kind; e.after || k == kJcc || (k == kJmp && !a.nodes[e.to].strong) || (k == kJmpInd && a.jumpTargets(n, e.site) != nil) {
				out[e.to] = true
				work = append(work, e.to)
			}
		}
	}
	return out
}

// demangledCall: the indirect call at n.insts[i] goes through a pointer
// that went through PTR_DEMANGLE (xor %fs:0x30 and ror $0x11) on every
// path.
func (a *analysis) demangledCall(ni, i int) bool {
	in := &a.nodes[ni].insts[i]
	if in.callReg < 0 {
		return false
	}
	defs, ok := a.defsOfMangled(ni, i, in.callReg)
	if !ok || len(defs) == 0 {
		return false
	}
	for _, x := range defs {
		d := a.inst(x)
		if !d.guard {
			return false
		}
		rot, ok := a.defsOf(x.n, x.i, d.reg)
		if !ok || len(rot) == 0 {
			return false
		}
		for _, r := range rot {
			if !a.inst(r).rot17 {
				return false
			}
		}
	}
	return true
}
