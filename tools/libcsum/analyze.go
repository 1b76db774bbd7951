package libcsum

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// The analysis works on "segments": the executable sections are cut at
// every known code boundary (exported symbol starts and ends, FDE starts and
// ends from .eh_frame, direct call targets, branch targets outside the
// branching segment, code addresses in data relocations or materialised in
// code, IFUNC candidates). Each segment is decoded by linear sweep from its
// start (so x86 decoding re-synchronises at every boundary), and everything
// in a segment is assumed reachable once the segment is entered: a
// flow-insensitive over-approximation inside a segment. Control leaving a
// segment (call, jump, conditional branch, fall-through off the end) is an
// edge in the segment graph.

const (
	nodeIND = -1 // virtual node: target of unresolved indirect calls
)

type nodeKind uint8

const (
	nSeg     nodeKind = iota
	nIFunc            // IFUNC: edges to the resolver's candidates
	nInd              // unresolved indirect call: edges to every address-taken code segment
	nExt              // external function (not defined in this library)
	nVtable           // glibc stdio vtable call: edges to the functions in __libc_IO_vtables
	nMangled          // glibc PTR_DEMANGLE'd call: edges to the code addresses libc mangles
	nRtld             // call through a pointer loaded from the dynamic loader's data: loader code or vDSO
	nPath             // virtual entry of a cut path (rule fatal): edges to the path's entry points
	nTable            // call through a pointer loaded from a read-only table: the section's code pointers
)

// node flags (closed over reachability like the syscall sets)
const (
	fLoads  uint8 = 1 << iota // reaches dlopen: may run dynamically loaded code
	fCancel                   // a cut edge into the thread cancellation path (see cutCancellation)
	fFatal                    // a cut edge into a crash path (see cutFatal)
)

type edge struct {
	to    int
	site  int  // instruction index in the source segment's code (transfer point); -1: none (virtual)
	after bool // the state after instruction site (fall-through off the end)
}

type node struct {
	kind      nodeKind
	lo, hi    uint64 // segment range
	strong    bool   // starts at a strong boundary (symbol/FDE)
	insts     []inst
	leaders   map[int][]int  // inst index -> predecessor inst indices (for leaders only)
	idx       map[uint64]int // instruction address -> index (see index)
	hasJmpInd bool
	out       []edge
	in        []int // source nodes (for re-processing)
	localSys  []int
	unknown   []uint64 // sites with non-constant numbers
	dep       uint64   // registers whose value at entry flows into a syscall number
	callDep   uint64   // registers whose value at entry is called (callback arguments)
	flags     uint8    // fLoads, fCancel, fFatal: unioned over everything reachable
	name      string   // nIFunc / nExt: resolver address or symbol
}

type analysis struct {
	im             *image
	info           archInfo
	table          *sysnum.Table
	bounds         map[uint64]bool // boundary addresses
	strong         map[uint64]bool
	nodes          []*node
	segIdx         []int          // node indices of segments sorted by lo
	ifuncOf        map[uint64]int // resolver address -> node
	extOf          map[string]int
	indNode        int
	vtNode         int
	mgNode         int
	rtldNode       int
	vdsoNode       int
	vdsoSegs       map[int]bool   // segments of the vDSO functions (vdsoFallback)
	rtldCallerNode map[int]int    // segments of rtldCallers -> their rtld callee's node
	rtldCallee     map[int]string // that node -> the ld.so function (loaderFuncs)
	vtTargets      map[uint64]bool
	mangled        map[uint64]bool
	indSites       [6]int // indirect call sites by class: unresolved, vtable, demangled, through a register (resolved by tracing), computed jump, rtld pointer
	edgeSet        map[[2]int]map[edge]bool
	regCalls       [][2]int        // (node, inst) of indirect calls through a register, resolved by resolveRegCalls
	taken          map[uint64]bool // address-taken code (targets of unresolved indirect calls)
	resolverSeg    map[int]bool
	returns        []bool             // by node: the segment may return to its caller (computeReturns)
	jtCache        map[uint64][]int   // jump instruction address -> target segments (resolved jump tables)
	threaded       int                // threaded dispatch jumps resolved
	cancelEntry    int                // node where the cut cancellation path starts (-1: none)
	cancelCuts     int                // edges cut by rule cancellation
	vtSlots        map[int64][]uint64 // stdio vtable slot offset -> code pointers stored there
	vtSlotNode     map[int64]int
	roNode         map[string]int // read-only table section -> node
	narrowed       int            // indirect calls narrowed by provenance
	regValues      []regValue     // rule callback registrars: value nodes
	mcountSeg      int            // _dl_mcount_wrapper_check (rule gconv steps)
	gconvNode      int
	gconvCalls     int
	mcountFns      map[int]bool         // function entry -> calls _dl_mcount_wrapper_check
	dispatched     int                  // indirect calls redirected by rule callback registrars
	dispatchFilter func(ni, i int) bool // which dispatcher calls a registrar rule redirects (nil: all)
	stopAtGuard    bool                 // defsDeep: stop at PTR_DEMANGLE (defsOfMangled)
	fatalNode      int                  // virtual node calling every crash path (-1: none)
	fatalCuts      int                  // edges cut by rule fatal
	dyingNode      int                  // virtual node: the crash paths' dying set (-1: none)
	setxidSites    int                  // segments whose unknown sites rule setxid resolved
	traceMemo      map[traceKey]traceRes
	warnings       []string
}

type traceKey struct {
	node, site int
	after      bool
	reg        int8
}

type traceRes struct {
	consts  []int64
	deps    uint64
	unknown bool
}

func (a *analysis) decode(lo, hi uint64) []inst {
	b := a.im.bytesAt(lo, int(hi-lo))
	if a.im.arch == sysnum.X86_64 {
		return decodeX86(b, lo, a.im)
	}
	return decodeA64(b, lo, a.im)
}

// buildSegments computes boundaries to a fixed point and decodes segments.
func (a *analysis) buildSegments() {
	im := a.im
	a.bounds, a.strong = map[uint64]bool{}, map[uint64]bool{}
	addStrong := func(x uint64) {
		if im.isCode(x) {
			a.bounds[x], a.strong[x] = true, true
		}
	}
	for _, t := range im.text {
		addStrong(t.lo)
	}
	for _, s := range im.syms {
		addStrong(s.value)
		if s.size > 0 {
			addStrong(s.value + s.size)
		}
	}
	for _, f := range im.fdes {
		addStrong(f.lo)
		addStrong(f.hi)
	}
	if e := im.f.Entry; e != 0 {
		addStrong(e)
	}
	for _, p := range im.dataCodePtrs {
		a.bounds[p] = true
	}
	for r := range im.ifuncResolvers {
		if im.isCode(r) {
			a.bounds[r] = true
		}
	}
	// iterate: decode, collect new boundaries
	for iter := 0; iter < 20; iter++ {
		a.layout()
		added := 0
		add := func(x uint64) {
			if im.isCode(x) && !a.bounds[x] {
				a.bounds[x] = true
				added++
			}
		}
		for _, ni := range a.segIdx {
			n := a.nodes[ni]
			for i, in := range n.insts {
				switch in.kind {
				case kCall:
					add(in.target)
				case kJmp, kJcc:
					if in.target < n.lo || in.target >= n.hi {
						add(in.target)
					}
				}
				if in.ref != 0 {
					add(in.ref)
				}
				if in.load != 0 {
					if r, ok := im.relocs[in.load]; ok && r.known && !r.ifunc {
						add(r.value)
					}
				}
				if in.kind == kJmpInd {
					for _, t := range a.jumpTable(n, i) {
						add(t)
					}
				}
				if (in.kind == kCallInd || in.kind == kJmpInd) && in.slot {
					if r, ok := im.relocs[in.target]; ok && r.known && !r.ifunc && r.kind != relIRelative {
						add(r.value)
					}
				}
			}
		}
		if added == 0 {
			return
		}
	}
	a.warnings = append(a.warnings, "segment boundaries did not converge in 20 rounds")
}

// layout (re)creates segment nodes from the boundary set.
func (a *analysis) layout() {
	var bs []uint64
	for b := range a.bounds {
		bs = append(bs, b)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i] < bs[j] })
	old := map[uint64]*node{}
	for _, ni := range a.segIdx {
		n := a.nodes[ni]
		old[n.lo] = n
	}
	a.nodes = a.nodes[:0]
	a.segIdx = a.segIdx[:0]
	for i, lo := range bs {
		hi := uint64(0)
		for _, t := range a.im.text {
			if t.has(lo) {
				hi = t.hi
			}
		}
		if i+1 < len(bs) && bs[i+1] < hi {
			hi = bs[i+1]
		}
		if hi <= lo {
			continue
		}
		var n *node
		if o, ok := old[lo]; ok && o.hi == hi {
			n = o
		} else {
			n = &node{kind: nSeg, lo: lo, hi: hi, insts: a.decode(lo, hi)}
		}
		n.strong = a.strong[lo]
		a.segIdx = append(a.segIdx, len(a.nodes))
		a.nodes = append(a.nodes, n)
	}
}

// segAt returns the node index of the segment containing x, or -1.
func (a *analysis) segAt(x uint64) int {
	i := sort.Search(len(a.segIdx), func(i int) bool { return a.nodes[a.segIdx[i]].hi > x })
	if i < len(a.segIdx) && a.nodes[a.segIdx[i]].lo <= x {
		return a.segIdx[i]
	}
	return -1
}

func (a *analysis) newNode(n *node) int {
	a.nodes = append(a.nodes, n)
	return len(a.nodes) - 1
}

// ifuncNode returns the node standing for an IFUNC with the given resolver.
func (a *analysis) ifuncNode(resolver uint64) int {
	if i, ok := a.ifuncOf[resolver]; ok {
		return i
	}
	i := a.newNode(&node{kind: nIFunc, name: fmt.Sprintf("ifunc@%#x", resolver)})
	a.ifuncOf[resolver] = i
	rs := a.segAt(resolver)
	if rs < 0 {
		a.nodes[i].unknown = append(a.nodes[i].unknown, resolver)
		return i
	}
	a.resolverSeg[rs] = true
	// Candidates: code addresses the resolver materialises; the resolver may
	// delegate to a helper, so look one call/jump deep.
	seen := map[int]bool{}
	var scan func(s, depth int)
	scan = func(s, depth int) {
		if seen[s] || depth > 2 {
			return
		}
		seen[s] = true
		a.resolverSeg[s] = true
		for _, in := range a.nodes[s].insts {
			if in.ref != 0 {
				if t := a.segAt(in.ref); t >= 0 {
					a.nodes[i].out = append(a.nodes[i].out, edge{to: t, site: -1})
				}
			}
			if in.load != 0 {
				if r, ok := a.im.relocs[in.load]; ok && r.known && a.im.isCode(r.value) {
					if t := a.segAt(r.value); t >= 0 {
						a.nodes[i].out = append(a.nodes[i].out, edge{to: t, site: -1})
					}
				}
			}
			if in.kind == kCall || in.kind == kJmp || in.kind == kJcc {
				if t := a.segAt(in.target); t >= 0 && t != s {
					scan(t, depth+1)
				}
			}
		}
	}
	scan(rs, 0)
	if len(a.nodes[i].out) == 0 {
		a.warnings = append(a.warnings, fmt.Sprintf("IFUNC resolver %#x: no candidate implementations found", resolver))
	}
	return i
}

func (a *analysis) extNode(sym string) int {
	if i, ok := a.extOf[sym]; ok {
		return i
	}
	i := a.newNode(&node{kind: nExt, name: sym})
	a.extOf[sym] = i
	return i
}

// slotTarget resolves a call/jump through memory slot s (GOT/PLT entry).
func (a *analysis) slotTarget(s uint64) int {
	r, ok := a.im.relocs[s]
	if !ok {
		return a.indNode
	}
	switch {
	case r.kind == relIRelative:
		return a.ifuncNode(r.value)
	case r.kind == relSymbol && r.ifunc:
		return a.ifuncNode(r.value)
	case r.known:
		if t := a.segAt(r.value); t >= 0 {
			return t
		}
		return a.indNode
	case r.kind == relSymbol:
		return a.extNode(r.sym)
	}
	return a.indNode
}

// buildEdges creates the segment graph.
func (a *analysis) buildEdges() {
	im := a.im
	a.ifuncOf, a.extOf, a.resolverSeg = map[uint64]int{}, map[string]int{}, map[int]bool{}
	a.indNode = a.newNode(&node{kind: nInd, name: "indirect"})
	a.vtNode = a.newNode(&node{kind: nVtable, name: "stdio-vtable"})
	a.mgNode = a.newNode(&node{kind: nMangled, name: "mangled"})
	a.rtldNode = a.newNode(&node{kind: nRtld, name: "rtld-pointer"})
	a.vdsoNode = a.newNode(&node{kind: nRtld, name: "vdso-pointer"})
	var vdso []int
	for _, sy := range im.syms {
		if _, ok := vdsoFallback[sy.name]; ok && !sy.ifunc {
			if t := a.segAt(sy.value); t >= 0 {
				vdso = append(vdso, t)
			}
		}
	}
	a.vdsoSegs = a.functionSegs(vdso)
	a.rtldCallerNode, a.rtldCallee = map[int]int{}, map[int]string{}
	var callers []string
	for caller := range rtldCallers {
		callers = append(callers, caller)
	}
	sort.Strings(callers) // deterministic node numbering
	for _, caller := range callers {
		callee := rtldCallers[caller]
		cn := a.newNode(&node{kind: nRtld, name: "rtld " + callee})
		for x := range a.functionSegs(a.symSegs(caller)) {
			a.rtldCallerNode[x] = cn
		}
		a.rtldCallee[cn] = callee
	}
	a.vtTargets, a.mangled = map[uint64]bool{}, map[uint64]bool{}
	// IFUNC resolvers first, so that resolverSeg is known
	var resolvers []uint64
	for r := range im.ifuncResolvers {
		resolvers = append(resolvers, r)
	}
	sort.Slice(resolvers, func(i, j int) bool { return resolvers[i] < resolvers[j] })
	for _, r := range resolvers {
		a.ifuncNode(r)
	}
	a.taken = map[uint64]bool{}
	vtSlots := im.ioVtables
	for slot, r := range im.relocs {
		if !r.known || !im.isCode(r.value) || r.kind == relIRelative || r.ifunc || im.ifuncResolvers[r.value] {
			continue
		}
		if vtSlots.hi > vtSlots.lo && vtSlots.has(slot) {
			a.vtTargets[r.value] = true
		} else {
			a.taken[r.value] = true
		}
	}
	segs := append([]int(nil), a.segIdx...)
	// Pass 1: which segments contain a possible jump table (an indirect
	// jump that is not a recognised tail call), undecodable bytes or a jump
	// into the middle of an instruction.
	for _, ni := range segs {
		n := a.nodes[ni]
		usesVtables := a.usesVtables(n)
		idx := map[uint64]bool{}
		for _, in := range n.insts {
			idx[in.addr] = true
		}
		for i, in := range n.insts {
			switch {
			case in.kind == kBad:
				n.hasJmpInd = true
			case in.kind == kJmpInd && a.jumpTargets(n, i) != nil:
				// a resolved jump table: exact edges
			case in.kind == kJmpInd && computedJump(n.insts, i):
				n.hasJmpInd = true
			case in.kind == kJmpInd && !in.slot && !in.tail && !usesVtables &&
				!(in.callReg >= 0 && a.im.arch == sysnum.X86_64 && demangledBefore(n.insts, i, in.callReg)):
				n.hasJmpInd = true
			case (in.kind == kJmp || in.kind == kJcc) && in.target >= n.lo && in.target < n.hi && !idx[in.target]:
				n.hasJmpInd = true
			}
		}
	}
	rangeEdges := map[int][]int{}
	entered := map[int]bool{}
	// Indirect jumps (jump tables) may reach any code of their function:
	// link every segment between the enclosing strong boundaries.
	for k, ni := range segs {
		n := a.nodes[ni]
		if !n.hasJmpInd {
			continue
		}
		lo := k
		for lo > 0 && !a.nodes[segs[lo]].strong {
			lo--
		}
		hi := k + 1
		for hi < len(segs) && !a.nodes[segs[hi]].strong {
			hi++
		}
		for j := lo; j < hi; j++ {
			if j != k {
				rangeEdges[ni] = append(rangeEdges[ni], segs[j])
				entered[segs[j]] = true // entered in the middle: unknown join points
			}
		}
	}
	for ni := range entered {
		a.nodes[ni].hasJmpInd = true
	}
	a.computeReturns(segs, rangeEdges)
	for k, ni := range segs {
		n := a.nodes[ni]
		n.leaders = map[int][]int{}
		usesVtables := a.usesVtables(n)
		idx := n.index()
		link := func(to, site int, after bool) {
			if to >= 0 {
				n.out = append(n.out, edge{to: to, site: site, after: after})
			}
		}
		reach := a.reachable(n, idx)
		for _, t := range rangeEdges[ni] {
			n.out = append(n.out, edge{to: t, site: -2})
		}
		for i, in := range n.insts {
			if !reach[i] {
				continue
			}
			switch in.kind {
			case kCall:
				link(a.segAt(in.target), i, false)
			case kJmp, kJcc:
				if j, ok := idx[in.target]; ok {
					n.leaders[j] = append(n.leaders[j], i)
				} else if in.target < n.lo || in.target >= n.hi {
					link(a.segAt(in.target), i, false)
				}
			case kCallInd:
				if in.slot {
					link(a.slotTarget(in.target), i, false)
				} else if c := a.indirectClass(n, i, usesVtables); c != a.indNode || in.callReg < 0 {
					link(c, i, false)
				} else {
					a.indSites[0]--
					a.indSites[3]++
					a.regCalls = append(a.regCalls, [2]int{ni, i})
				}
			case kJmpInd:
				if in.slot {
					link(a.slotTarget(in.target), i, false)
				} else if ts := a.jumpTargets(n, i); ts != nil {
					a.indSites[4]++ // resolved jump table
					for _, t := range ts {
						link(t, i, false)
					}
				} else if computedJump(n.insts, i) {
					a.indSites[4]++ // computed jump: the range edges of this segment
				} else {
					// jump table or tail call through a pointer
					c := a.indirectClass(n, i, usesVtables)
					if c != a.indNode || in.callReg < 0 {
						link(c, i, false)
					} else {
						a.indSites[0]--
						a.indSites[3]++
						a.regCalls = append(a.regCalls, [2]int{ni, i})
					}
				}
			}
			if in.ref != 0 && !a.resolverSeg[ni] {
				if in.reg >= 0 && mangledAfter(n.insts, i, in.reg) {
					a.mangled[in.ref] = true
				} else {
					a.taken[in.ref] = true
				}
			}
			if in.load != 0 {
				if r, ok := im.relocs[in.load]; ok && r.known && im.isCode(r.value) && !a.resolverSeg[ni] {
					if r.ifunc || r.kind == relIRelative {
						// pointer to an IFUNC: calls through it reach the candidates
						link(a.ifuncNode(r.value), i, false)
					} else {
						a.taken[r.value] = true
					}
				}
			}
		}
		// fall-through off the end
		if len(n.insts) > 0 && reach[len(n.insts)-1] {
			if !a.terminates(&n.insts[len(n.insts)-1]) && k+1 < len(segs) && a.nodes[segs[k+1]].lo == n.hi {
				link(segs[k+1], len(n.insts)-1, true)
			}
		}
		// leaders after terminators and fall-through predecessors
		for i := 1; i < len(n.insts); i++ {
			term := a.terminates(&n.insts[i-1])
			if _, isLeader := n.leaders[i]; isLeader && !term {
				n.leaders[i] = append(n.leaders[i], i-1)
			} else if !isLeader && term {
				n.leaders[i] = nil
			}
		}
	}
	// the indirect nodes reach every segment of their target class
	for _, c := range []struct {
		node int
		set  map[uint64]bool
	}{{a.indNode, a.taken}, {a.vtNode, a.vtTargets}, {a.mgNode, a.mangled}} {
		var segsOf []int
		seen := map[int]bool{}
		for t := range c.set {
			if s := a.segAt(t); s >= 0 && !seen[s] {
				seen[s] = true
				segsOf = append(segsOf, s)
			}
		}
		sort.Ints(segsOf)
		for _, s := range segsOf {
			a.nodes[c.node].out = append(a.nodes[c.node].out, edge{to: s, site: -1})
		}
	}
	// Code addresses passed to the dynamic loader: a segment calling into
	// ld.so (an external _dl_* function or a pointer from its data) may
	// hand it libc functions to call back (_dl_catch_exception(…, operate,
	// args)): the code addresses the segment materialises are its direct
	// successors.
	for _, ni := range segs {
		n := a.nodes[ni]
		toLoader := false
		for _, e := range n.out {
			t := a.nodes[e.to]
			toLoader = toLoader || e.to == a.rtldNode || (t.kind == nExt && isLoaderSymbol(t.name))
		}
		if !toLoader {
			continue
		}
		for _, in := range n.insts {
			if in.ref != 0 && !a.resolverSeg[ni] {
				if t := a.segAt(in.ref); t >= 0 {
					n.out = append(n.out, edge{to: t, site: -1})
				}
			}
		}
	}
	for i, n := range a.nodes {
		for _, e := range n.out {
			a.nodes[e.to].in = append(a.nodes[e.to].in, i)
		}
	}
}

// isLoaderSymbol: an external symbol defined by glibc's dynamic loader.
func isLoaderSymbol(name string) bool {
	_, ok := loaderFuncs[name]
	return ok || strings.HasPrefix(name, "_dl_") || name == "__tls_get_addr" || strings.HasPrefix(name, "__rtld_")
}

// usesVtables: the segment validates stdio vtable pointers (glibc's
// IO_validate_vtable materialises both ends of __libc_IO_vtables) or
// refers to a vtable inside the section. A reference to the end alone is
// not enough: the neighbouring section's bounds can coincide with it
// (__stop___libc_atexit == __start___libc_IO_vtables in exit).
func (a *analysis) usesVtables(n *node) bool {
	vt := a.im.ioVtables
	if vt.hi <= vt.lo {
		return false
	}
	lo, hi := false, false
	for _, in := range n.insts {
		switch {
		case in.dref == vt.lo:
			lo = true
		case in.dref == vt.hi:
			hi = true
		case in.dref > vt.lo && in.dref < vt.hi:
			return true
		}
	}
	return lo && hi
}

// reachable marks the instructions of n reachable from its start through
// intra-segment control flow. Segments that may be entered elsewhere (jump
// tables, undecodable bytes) are taken as wholly reachable.
func (a *analysis) reachable(n *node, idx map[uint64]int) []bool {
	return a.reachableRet(n, idx, a.returns)
}

// index maps instruction addresses of n to instruction indexes.
func (n *node) index() map[uint64]int {
	if n.idx == nil {
		n.idx = make(map[uint64]int, len(n.insts))
		for i, in := range n.insts {
			n.idx[in.addr] = i
		}
	}
	return n.idx
}

// terminates: no fall-through after in (jump, return, stop, or a call of a
// function that never returns).
func (a *analysis) terminates(in *inst) bool {
	switch in.kind {
	case kJmp, kRet, kJmpInd, kStop:
		return true
	case kCall, kCallInd:
		return !a.callReturns(in, a.returns)
	}
	return false
}

// callReturns: the call in may return, given the set ret of segments known
// to return (nil: every call returns). Calls whose target is not a segment
// of this library (external, IFUNC, through a pointer) may return.
func (a *analysis) callReturns(in *inst, ret []bool) bool {
	if a.lastInFDE(in) {
		return false
	}
	if ret == nil {
		return true
	}
	t := -1
	switch {
	case in.kind == kCall:
		t = a.segAt(in.target)
	case in.kind == kCallInd && in.slot:
		if r, ok := a.im.relocs[in.target]; ok && r.known && !r.ifunc && r.kind != relIRelative {
			t = a.segAt(r.value)
		}
	}
	return t < 0 || ret[t]
}

// lastInFDE: in is a call and the last instruction of an unwind (FDE)
// range: the compiler emitted no code for the call's return (the callee is
// declared noreturn or the call is followed by __builtin_unreachable, e.g.
// glibc's malloc_printerr calling __libc_message(do_abort, …)), so control
// never continues after it. Without this, the analysis would fall through
// into the next function.
func (a *analysis) lastInFDE(in *inst) bool {
	if in.kind != kCall && in.kind != kCallInd {
		return false
	}
	lo, ok := a.im.fdeEnd[in.addr+uint64(in.size)]
	return ok && lo <= in.addr
}

// computeReturns finds the segments that may return to their caller: the
// least fixed point of "a return instruction is reachable from the start
// (calls of functions that do not return end a path), or a jump, tail call
// or fall-through leads to a segment that may return". Indirect tail calls
// and calls of code outside the library may return. Code after a call of a
// function that never returns (__stack_chk_fail, abort, exit, …) is not
// reachable from that call: this stops the analysis from falling through
// into the next function.
func (a *analysis) computeReturns(segs []int, rangeEdges map[int][]int) {
	ret := make([]bool, len(a.nodes))
	pos := make(map[int]int, len(segs))
	for k, ni := range segs {
		pos[ni] = k
	}
	segRet := func(t int) bool { return t < 0 || ret[t] }
	for changed := true; changed; {
		changed = false
		for k, ni := range segs {
			if ret[ni] {
				continue
			}
			n := a.nodes[ni]
			idx := n.index()
			reach := a.reachableRet(n, idx, ret)
			yes := false
			for i := range n.insts {
				if !reach[i] || yes {
					continue
				}
				in := &n.insts[i]
				switch in.kind {
				case kRet:
					yes = true
				case kJmp, kJcc:
					if _, inside := idx[in.target]; !inside && (in.target < n.lo || in.target >= n.hi) {
						yes = segRet(a.segAt(in.target))
					}
				case kJmpInd:
					switch {
					case in.slot:
						t := -1
						if r, ok := a.im.relocs[in.target]; ok && r.known && !r.ifunc && r.kind != relIRelative {
							t = a.segAt(r.value)
						}
						yes = segRet(t)
					case a.jumpTargets(n, i) != nil:
						for _, t := range a.jumpTargets(n, i) {
							yes = yes || ret[t]
						}
					case computedJump(n.insts, i):
					default:
						yes = true // tail call through a pointer
					}
				}
			}
			if !yes && len(n.insts) > 0 && reach[len(n.insts)-1] {
				last := &n.insts[len(n.insts)-1]
				term := last.kind == kJmp || last.kind == kRet || last.kind == kJmpInd || last.kind == kStop ||
					((last.kind == kCall || last.kind == kCallInd) && !a.callReturns(last, ret))
				if !term && k+1 < len(segs) && a.nodes[segs[k+1]].lo == n.hi {
					yes = ret[segs[k+1]]
				}
			}
			for _, t := range rangeEdges[ni] {
				yes = yes || ret[t]
			}
			if yes {
				ret[ni] = true
				changed = true
			}
		}
	}
	a.returns = ret
	_ = pos
}

func (a *analysis) reachableRet(n *node, idx map[uint64]int, ret []bool) []bool {
	r := make([]bool, len(n.insts))
	if n.hasJmpInd {
		for i := range r {
			r[i] = true
		}
		return r
	}
	work := []int{0}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		if i < 0 || i >= len(n.insts) || r[i] {
			continue
		}
		r[i] = true
		in := &n.insts[i]
		switch in.kind {
		case kJmp:
			if j, ok := idx[in.target]; ok {
				work = append(work, j)
			}
			continue
		case kJcc:
			if j, ok := idx[in.target]; ok {
				work = append(work, j)
			}
		case kRet, kJmpInd, kStop:
			continue
		case kCall, kCallInd:
			if !a.callReturns(in, ret) {
				continue
			}
		}
		work = append(work, i+1)
	}
	return r
}

// addEdge adds an edge discovered during propagation.
func (a *analysis) addEdge(from int, e edge) bool {
	k := [2]int{from, e.to}
	if a.edgeSet == nil {
		a.edgeSet = map[[2]int]map[edge]bool{}
	}
	m := a.edgeSet[k]
	if m == nil {
		m = map[edge]bool{}
		for _, o := range a.nodes[from].out {
			if o.to == e.to {
				m[o] = true
			}
		}
		a.edgeSet[k] = m
	}
	if m[e] {
		return false
	}
	m[e] = true
	a.nodes[from].out = append(a.nodes[from].out, e)
	a.nodes[e.to].in = append(a.nodes[e.to].in, from)
	return true
}

// resolveRegCalls resolves indirect calls through a register by tracing the
// register backward: a code address loaded by lea/adr/adrp+add is a direct
// edge; a value from the segment's entry register is the caller's argument
// (callDep), resolved at every call site up the graph the same way; a value
// loaded from memory (or otherwise unknown) goes to the unresolved-indirect
// node. Exported functions whose callDep reaches an argument call a
// callback supplied by the program (qsort's comparator): that code is the
// program's own and is not part of the summary.
func (a *analysis) resolveRegCalls() {
	var work []int
	inWork := map[int]bool{}
	push := func(x int) {
		if !inWork[x] {
			inWork[x] = true
			work = append(work, x)
		}
	}
	resolve := func(ni, site int, after bool, deps uint64) uint64 {
		var newDeps uint64
		for r := 0; r < 64; r++ {
			if deps&(1<<uint(r)) == 0 {
				continue
			}
			res := a.trace(ni, site, after, int8(r))
			for _, c := range res.consts {
				t := -1
				if a.im.isCode(uint64(c)) {
					t = a.segAt(uint64(c))
				}
				if t < 0 {
					t = a.indNode
				}
				if a.addEdge(ni, edge{to: t, site: site, after: after}) && a.nodes[t].callDep != 0 {
					push(t)
				}
			}
			if res.unknown {
				a.addEdge(ni, edge{to: a.indNode, site: site, after: after})
			}
			newDeps |= res.deps
		}
		return newDeps
	}
	for _, rc := range a.regCalls {
		ni, i := rc[0], rc[1]
		n := a.nodes[ni]
		d := resolve(ni, i, false, 1<<uint(n.insts[i].callReg))
		if d&^n.callDep != 0 {
			n.callDep |= d
			push(ni)
		}
	}
	for len(work) > 0 {
		ti := work[0]
		work = work[1:]
		inWork[ti] = false
		t := a.nodes[ti]
		for _, si := range uniq(append([]int(nil), t.in...)) {
			s := a.nodes[si]
			nOut := len(s.out)
			for k := 0; k < nOut; k++ {
				e := s.out[k]
				if e.to != ti {
					continue
				}
				var d uint64
				switch {
				case s.kind == nInd || s.kind == nVtable || s.kind == nMangled || s.kind == nRtld || s.kind == nTable:
					// called with unknown arguments: the callback is unknown
					a.addEdge(si, edge{to: a.indNode, site: -1})
				case s.kind != nSeg || e.site == -1:
					d = t.callDep
				case e.site == -2:
					a.addEdge(si, edge{to: a.indNode, site: -2})
				default:
					d = resolve(si, e.site, e.after, t.callDep)
				}
				if d&^s.callDep != 0 {
					s.callDep |= d
					push(si)
				}
			}
		}
	}
}

// indirectClass picks the target class of the indirect call/jump at
// n.insts[i] (see docs/libc-summaries.md, "Indirect calls").
func (a *analysis) indirectClass(n *node, i int, usesVtables bool) int {
	if a.rtldPointer(n.insts, i) {
		a.indSites[5]++
		return a.rtldTarget(a.segAt(n.lo))
	}
	if usesVtables {
		a.indSites[1]++
		return a.vtNode
	}
	if r := n.insts[i].callReg; r >= 0 && a.im.arch == sysnum.X86_64 && demangledBefore(n.insts, i, r) {
		a.indSites[2]++
		return a.mgNode
	}
	a.indSites[0]++
	return a.indNode
}

// jumpTargets returns the target segments of a resolved jump table at
// n.insts[i] (nil if it is not one), once the segments are final.
func (a *analysis) jumpTargets(n *node, i int) []int {
	in := &n.insts[i]
	if in.kind != kJmpInd {
		return nil
	}
	if a.jtCache == nil {
		a.jtCache = map[uint64][]int{}
	}
	if ts, ok := a.jtCache[in.addr]; ok {
		return ts
	}
	var ts []int
	for _, x := range a.jumpTable(n, i) {
		t := a.segAt(x)
		if t < 0 || a.nodes[t].lo != x {
			ts = nil // not a segment start: should not happen (targets are boundaries)
			break
		}
		ts = append(ts, t)
	}
	ts = uniq(ts)
	a.jtCache[in.addr] = ts
	return ts
}

// computedJump: the indirect jump at insts[i] goes through a register
// computed as an address constant plus an index (x86-64: lea table(%rip),%b;
// movslq (%b,%i,4),%r; add %b,%r; jmp *%r, or lea label(%rip),%b; shl; add
// %b,%r; arm64: adr xb, label; add xr, xb, wi, sxtb #2; br xr): a
// compiler's jump table or hand-written assembly's computed jump, whose
// targets lie in the jumping function, never a call through a pointer. The
// definitions are looked for in the straight-line code before the jump.
func computedJump(insts []inst, i int) bool {
	r := insts[i].callReg
	if r < 0 {
		return false
	}
	j := defBefore(insts, i, r, 8)
	if j < 0 || insts[j].def != dSum {
		return false
	}
	for _, s := range []int8{insts[j].src, insts[j].src2} {
		if s < 0 {
			continue
		}
		if k := defBefore(insts, j, s, 16); k >= 0 && insts[k].def == dConst && (insts[k].ref != 0 || insts[k].dref != 0) {
			return true
		}
	}
	return false
}

// defBefore returns the index of the last instruction before i (in the
// straight-line code: no call, jump or return in between, at most max
// instructions back) that writes register r, or -1.
func defBefore(insts []inst, i int, r int8, max int) int {
	for j := i - 1; j >= 0 && j >= i-max; j-- {
		in := &insts[j]
		if in.kind != kOther {
			if in.kind == kJcc {
				continue // a bounds check before the table
			}
			return -1
		}
		if in.reg == r && in.def != dNone {
			return j
		}
		if in.clobber&(1<<uint(r)) != 0 {
			return -1
		}
	}
	return -1
}

// rtldTarget is the node for a call through a loader pointer in segment
// ni: the vDSO inside the vDSO functions, the known ld.so function inside
// rtldCallers, the loader otherwise.
func (a *analysis) rtldTarget(ni int) int {
	if a.vdsoSegs[ni] {
		return a.vdsoNode
	}
	if t, ok := a.rtldCallerNode[ni]; ok {
		return t
	}
	return a.rtldNode
}

// rtldCallers: libc functions whose loader-pointer calls go to one known
// ld.so function (_dl_mcount_wrapper_check calls GLRO(dl_mcount) when
// profiling with LD_PROFILE).
var rtldCallers = map[string]string{"_dl_mcount_wrapper_check": "_dl_mcount", "_dl_mcount_wrapper": "_dl_mcount"}

// rtldObjects are the dynamic loader's data objects that hold pointers to
// its own functions and to the vDSO (glibc: GLRO(dl_vdso_clock_gettime),
// GLRO(dl_catch_error), …).
var rtldObjects = map[string]bool{"_rtld_global": true, "_rtld_global_ro": true}

// rtldPointer: the indirect call/jump at insts[i] goes through a pointer
// loaded from a dynamic loader object (rtldObjects): "mov GOT(%rip),%b;
// mov off(%b),%r; call *%r" or "call *off(%b)" (arm64: adrp+ldr xb; ldr
// xr, [xb, #off]; blr xr), in the straight-line code before the call.
func (a *analysis) rtldPointer(insts []inst, i int) bool {
	in := &insts[i]
	b, j := in.memBase, i
	if in.callReg >= 0 {
		j = defBefore(insts, i, in.callReg, 16)
		if j < 0 || insts[j].def == dNone {
			return false
		}
		b = insts[j].memBase
	}
	if b < 0 {
		return false
	}
	k := defBefore(insts, j, b, 16)
	if k < 0 || insts[k].load == 0 {
		return false
	}
	r, ok := a.im.relocs[insts[k].load]
	return ok && r.kind == relSymbol && !r.known && rtldObjects[r.sym]
}

// demangledBefore: the register used by the call at i was produced by
// glibc's PTR_DEMANGLE (ror $0x11; xor %fs:0x30) in the straight-line code
// just before the call.
func demangledBefore(insts []inst, i int, r int8) bool {
	for j := i - 1; j >= 0 && j >= i-12; j-- {
		in := &insts[j]
		if in.kind != kOther {
			return false
		}
		if in.reg == r {
			return in.guard
		}
		if in.clobber&(1<<uint(r)) != 0 {
			return false
		}
	}
	return false
}

// mangledAfter: the code address loaded into r by insts[i] (lea) flows
// straight into glibc's PTR_MANGLE (xor %fs:0x30; rol $0x11) and nowhere
// else before being overwritten.
func mangledAfter(insts []inst, i int, r int8) bool {
	for j := i + 1; j < len(insts) && j <= i+12; j++ {
		in := &insts[j]
		if in.kind != kOther {
			return false
		}
		if in.reg == r {
			return in.guard
		}
		if in.def == dCopy && in.src == r {
			return false // copied elsewhere
		}
		if in.clobber&(1<<uint(r)) != 0 {
			return false
		}
	}
	return false
}

// trace walks backward from (site, after) in node ni to find the values
// register reg can hold there.
func (a *analysis) trace(ni, site int, after bool, reg int8) traceRes {
	k := traceKey{ni, site, after, reg}
	if r, ok := a.traceMemo[k]; ok {
		return r
	}
	n := a.nodes[ni]
	var res traceRes
	// A state tracks a register (slot == noSlot) or, from a reload of a
	// spilled value, the stack slot [sp+slot] back to its store.
	const noSlot = int64(-1 << 62)
	type st struct {
		i    int
		reg  int8 // the register; for a slot, its base (sp or fp)
		slot int64
	}
	seen := map[st]bool{}
	var work []st
	push := func(i int, r int8, slot int64) {
		s := st{i, r, slot}
		if !seen[s] {
			seen[s] = true
			work = append(work, s)
		}
	}
	// entering instruction i from its predecessors
	preds := func(i int, r int8, slot int64) {
		if i == 0 {
			if slot != noSlot {
				res.unknown = true // a stack slot of the caller's frame
				return
			}
			res.deps |= 1 << uint(r)
			return
		}
		if ps, ok := n.leaders[i]; ok {
			if len(ps) == 0 {
				if n.hasJmpInd && !n.insts[i].nop {
					res.unknown = true // a jump-table target: predecessors unknown
				}
				return // otherwise: unreachable from inside and not a segment start
			}
			for _, p := range ps {
				if slot == noSlot {
					if c, ok := a.eqOnEdge(n, p, i, r); ok {
						res.consts = append(res.consts, c)
						continue
					}
				}
				push(p, r, slot)
			}
			return
		}
		if slot == noSlot {
			if c, ok := a.eqOnEdge(n, i-1, i, r); ok {
				res.consts = append(res.consts, c)
				return
			}
		}
		push(i-1, r, slot)
	}
	if after {
		push(site, reg, noSlot)
	} else {
		preds(site, reg, noSlot)
	}
	sp, fp := a.info.sp, a.info.fp
	steps := 0
	for len(work) > 0 && !res.unknown {
		s := work[len(work)-1]
		work = work[:len(work)-1]
		if steps++; steps > 20000 {
			res.unknown = true
			break
		}
		in := &n.insts[s.i]
		if s.slot != noSlot {
			// tracking a spilled value back to its store; the base (stack
			// or frame pointer) must not change in between (a call
			// leaves both as they are)
			switch {
			case in.store && in.memBase == s.reg && in.memDisp == s.slot:
				switch {
				case in.storeImm:
					res.consts = append(res.consts, in.storeVal)
				case in.storeSrc < 0:
					res.unknown = true
				default:
					preds(s.i, in.storeSrc, noSlot)
				}
			case in.kind == kBad:
				res.unknown = true
			case (in.reg == s.reg && in.def != dNone) ||
				(in.clobber&(1<<uint(s.reg)) != 0 && in.kind != kCall && in.kind != kCallInd):
				if s.reg == sp && in.spKnown {
					preds(s.i, s.reg, s.slot+int64(in.spDelta)) // push/pop/sub/add: the slot before it
				} else {
					res.unknown = true
				}
			default:
				preds(s.i, s.reg, s.slot)
			}
			continue
		}
		if in.def != dNone && in.reg == s.reg {
			switch {
			case in.def == dConst:
				res.consts = append(res.consts, in.val)
			case in.def == dCopy:
				preds(s.i, in.src, noSlot)
			case in.def == dUnknown && (in.memBase == sp || (in.memBase == fp && in.memDisp < 0)) && !in.store && s.reg != in.memBase:
				preds(s.i, in.memBase, in.memDisp) // reload of a spill slot (frame slots: below the frame pointer)
			default:
				res.unknown = true
			}
			continue
		}
		if in.clobber&(1<<uint(s.reg)) != 0 || in.kind == kBad {
			res.unknown = true
			continue
		}
		preds(s.i, s.reg, noSlot)
	}
	a.traceMemo[k] = res
	return res
}

// eqOnEdge: on the control-flow edge from instruction p to instruction i,
// a conditional branch at p proves register r equal to a constant
// (test r,r; je / cmp r,$N; je / cbz r / cmp wR,#N; b.eq, and the
// fall-through side of jne/cbnz/b.ne). Compilers use this to reuse a
// compared register as a syscall number.
func (a *analysis) eqOnEdge(n *node, p, i int, r int8) (int64, bool) {
	if p < 0 || p >= len(n.insts) {
		return 0, false
	}
	br := &n.insts[p]
	if br.kind != kJcc || br.jeq == 0 {
		return 0, false
	}
	taken := br.target == n.insts[i].addr
	fall := p+1 == i
	if taken == fall { // both or neither: no information
		return 0, false
	}
	if (br.jeq == 1) != taken {
		return 0, false // this edge is the "not equal" side
	}
	if br.cbReg >= 0 {
		if br.cbReg == r {
			return 0, true
		}
		return 0, false
	}
	if p == 0 {
		return 0, false
	}
	cmp := &n.insts[p-1]
	if cmp.eqReg == r && cmp.kind == kOther {
		return cmp.eqVal, true
	}
	return 0, false
}

func (a *analysis) addConsts(n *node, cs []int64, site uint64) {
	for _, c := range cs {
		if c < 0 || c > int64(a.table.Max()) || a.table.Name(int(c)) == "" {
			n.unknown = append(n.unknown, site)
			continue
		}
		n.localSys = append(n.localSys, int(c))
	}
}

// propagate finds syscall sites and resolves register dependencies across
// edges to a fixed point.
func (a *analysis) propagate() {
	var work []int
	inWork := map[int]bool{}
	for _, ni := range a.segIdx {
		n := a.nodes[ni]
		for i, in := range n.insts {
			if in.kind != kSyscall {
				continue
			}
			r := a.trace(ni, i, false, a.info.nrReg)
			a.addConsts(n, r.consts, in.addr)
			if r.unknown {
				n.unknown = append(n.unknown, in.addr)
			}
			if r.deps&^n.dep != 0 {
				n.dep |= r.deps
				if !inWork[ni] {
					work, inWork[ni] = append(work, ni), true
				}
			}
		}
	}
	// virtual nodes: dependency = union of successors'
	for len(work) > 0 {
		ti := work[0]
		work = work[1:]
		inWork[ti] = false
		t := a.nodes[ti]
		for _, si := range uniq(t.in) {
			s := a.nodes[si]
			for _, e := range s.out {
				if e.to != ti {
					continue
				}
				var newDeps uint64
				if s.kind == nInd || s.kind == nVtable || s.kind == nMangled || s.kind == nRtld || s.kind == nTable {
					// a syscall wrapper reached through a pointer: its number is unknown
					s.unknown = append(s.unknown, 0)
				} else if s.kind != nSeg || e.site < 0 {
					newDeps = t.dep // virtual/range edges: pass the dependency up unchanged
					if s.kind == nSeg && e.site == -2 {
						// jump-table range edge: the register comes from somewhere in this segment
						s.unknown = append(s.unknown, s.lo)
						newDeps = 0
					}
				} else {
					for r := 0; r < 64; r++ {
						if t.dep&(1<<uint(r)) == 0 {
							continue
						}
						res := a.trace(si, e.site, e.after, int8(r))
						a.addConsts(s, res.consts, s.insts[e.site].addr)
						if res.unknown {
							s.unknown = append(s.unknown, s.insts[e.site].addr)
						}
						newDeps |= res.deps
					}
				}
				if newDeps&^s.dep != 0 {
					s.dep |= newDeps
					if !inWork[si] {
						work, inWork[si] = append(work, si), true
					}
				}
			}
		}
	}
}

func uniq(xs []int) []int {
	sort.Ints(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// bitset of syscall numbers
type bitset []uint64

func (b bitset) set(i int) { b[i/64] |= 1 << uint(i%64) }
func (b bitset) or(c bitset) bool {
	ch := false
	for i := range b {
		if n := b[i] | c[i]; n != b[i] {
			b[i], ch = n, true
		}
	}
	return ch
}
func (b bitset) list() []int {
	var out []int
	for i, w := range b {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			out = append(out, i*64+t)
			w &= w - 1
		}
	}
	return out
}

type closure struct {
	sys     []bitset
	unknown []bool
	flags   []uint8
	unkSite []uint64 // one example site
}

// close computes, for every node, the union over all reachable nodes
// (Tarjan SCC, then reverse topological accumulation).
func (a *analysis) close() closure {
	N := len(a.nodes)
	words := (a.table.Max() + 64) / 64
	c := closure{sys: make([]bitset, N), unknown: make([]bool, N), flags: make([]uint8, N), unkSite: make([]uint64, N)}
	index := make([]int, N)
	low := make([]int, N)
	onStack := make([]bool, N)
	comp := make([]int, N)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var comps [][]int
	counter := 0
	// iterative Tarjan
	type frame struct{ v, ei int }
	for root := 0; root < N; root++ {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = counter, counter
		counter++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.ei < len(a.nodes[v].out) {
				w := a.nodes[v].out[f.ei].to
				f.ei++
				if index[w] < 0 {
					index[w], low[w] = counter, counter
					counter++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				} else if onStack[w] && index[w] < low[v] {
					low[v] = index[w]
				}
				continue
			}
			if low[v] == index[v] {
				var cc []int
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = len(comps)
					cc = append(cc, w)
					if w == v {
						break
					}
				}
				comps = append(comps, cc)
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				if low[v] < low[p] {
					low[p] = low[v]
				}
			}
		}
	}
	// components are produced in reverse topological order (sinks first)
	csys := make([]bitset, len(comps))
	cunk := make([]bool, len(comps))
	cflag := make([]uint8, len(comps))
	csite := make([]uint64, len(comps))
	for ci, cc := range comps {
		bs := make(bitset, words)
		for _, v := range cc {
			n := a.nodes[v]
			for _, s := range n.localSys {
				bs.set(s)
			}
			if len(n.unknown) > 0 {
				cunk[ci] = true
				if csite[ci] == 0 {
					csite[ci] = n.unknown[0]
				}
			}
			cflag[ci] |= n.flags
			for _, e := range n.out {
				d := comp[e.to]
				if d != ci {
					bs.or(csys[d])
					if cunk[d] {
						cunk[ci] = true
						if csite[ci] == 0 {
							csite[ci] = csite[d]
						}
					}
					cflag[ci] |= cflag[d]
				}
			}
		}
		csys[ci] = bs
	}
	for v := 0; v < N; v++ {
		ci := comp[v]
		c.sys[v], c.unknown[v], c.flags[v], c.unkSite[v] = csys[ci], cunk[ci], cflag[ci], csite[ci]
	}
	return c
}
