package libcsum

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// Narrowing of indirect calls by where the called pointer was loaded from
// (docs/libc-summaries.md, "Indirect calls"): after the graph is built,
// every indirect call that went to the unresolved or the stdio-vtable
// class is looked at again with the segment's full control flow.
//
//   - rule "stdio vtable slot" (glibc): the pointer is loaded from
//     [v+d] where v was loaded from a FILE's vtable field (offset 0xd8 of
//     struct _IO_FILE_plus) or a wide stream's vtable field (offset 0xe0 of
//     struct _IO_wide_data): the call reaches the functions stored at
//     offset d of the vtables in __libc_IO_vtables (stdio validates the
//     FILE vtable pointer against that section; glibc's wide vtables are
//     also there). JUMP_FIELD d of every vtable, not every vtable function.
//   - rule "read-only function table": the pointer is loaded from memory
//     at an address computed from a constant address A (lea A, and
//     increments of the same register, as in a loop over a table), and A
//     lies in a section that is read-only after relocation (non-writable,
//     or inside PT_GNU_RELRO): the call reaches the code pointers stored
//     in that section (e.g. the __libc_atexit hook called by exit).

// ioJumpSize is sizeof(struct _IO_jump_t) in glibc (21 pointers).
const ioJumpSize = 21 * 8

// vtableFieldOffsets: offsets of the vtable pointer in struct
// _IO_FILE_plus (FILE is 0xd8 bytes on LP64) and of _wide_vtable in
// struct _IO_wide_data.
var vtableFieldOffsets = map[int64]bool{0xd8: true, 0xe0: true}

// initVtableSlots computes the code pointers of each vtable slot offset.
func (a *analysis) initVtableSlots() {
	vt := a.im.ioVtables
	if vt.hi <= vt.lo {
		return
	}
	align := a.im.ioVtablesAlign
	if align < 8 {
		align = 8
	}
	stride := (uint64(ioJumpSize) + align - 1) / align * align
	size := vt.hi - vt.lo
	if size < ioJumpSize || (size-ioJumpSize)%stride != 0 {
		a.warnings = append(a.warnings, fmt.Sprintf("rule stdio vtable slot: __libc_IO_vtables (%d bytes, alignment %d) is not an array of struct _IO_jump_t: not applied", size, align))
		return
	}
	slots := map[int64][]uint64{}
	for slot, r := range a.im.relocs {
		if !vt.has(slot) || !r.known || !a.im.isCode(r.value) {
			continue
		}
		off := (slot - vt.lo) % stride
		if off < 16 || off >= ioJumpSize || off%8 != 0 {
			a.warnings = append(a.warnings, fmt.Sprintf("rule stdio vtable slot: code pointer at %#x is not in a jump field: not applied", slot))
			return
		}
		slots[int64(off)] = append(slots[int64(off)], r.value)
	}
	a.vtSlots = slots
	a.vtSlotNode = map[int64]int{}
}

// vtSlotTarget returns the node for calls through vtable slot d (-1 if
// the rule does not apply).
func (a *analysis) vtSlotTarget(d int64) int {
	if a.vtSlots == nil || d < 16 || d >= ioJumpSize || d%8 != 0 {
		return -1
	}
	if ni, ok := a.vtSlotNode[d]; ok {
		return ni
	}
	ni := a.newNode(&node{kind: nVtable, name: fmt.Sprintf("stdio-vtable+%#x", d)})
	var segs []int
	for _, t := range a.vtSlots[d] {
		if s := a.segAt(t); s >= 0 {
			segs = append(segs, s)
		}
	}
	for _, s := range uniq(segs) {
		a.nodes[ni].out = append(a.nodes[ni].out, edge{to: s, site: -1})
		a.nodes[s].in = append(a.nodes[s].in, ni)
	}
	a.vtSlotNode[d] = ni
	return ni
}

// roTableTarget returns the node for calls through pointers loaded from
// the read-only section containing addr (-1 if addr is not in one).
func (a *analysis) roTableTarget(addr uint64) int {
	var sec *elf.Section
	for _, s := range a.im.f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && s.Flags&elf.SHF_EXECINSTR == 0 && addr >= s.Addr && addr < s.Addr+s.Size {
			sec = s
			break
		}
	}
	if sec == nil || !(sec.Flags&elf.SHF_WRITE == 0 || a.im.relro.has(sec.Addr) && a.im.relro.has(sec.Addr+sec.Size-1)) {
		return -1
	}
	if a.roNode == nil {
		a.roNode = map[string]int{}
	}
	if ni, ok := a.roNode[sec.Name]; ok {
		return ni
	}
	ni := a.newNode(&node{kind: nTable, name: "table " + sec.Name})
	var segs []int
	for slot, r := range a.im.relocs {
		if slot >= sec.Addr && slot < sec.Addr+sec.Size && r.known && a.im.isCode(r.value) {
			if r.kind == relIRelative || r.ifunc {
				segs = append(segs, a.ifuncNode(r.value))
			} else if s := a.segAt(r.value); s >= 0 {
				segs = append(segs, s)
			}
		}
	}
	for _, s := range uniq(segs) {
		a.nodes[ni].out = append(a.nodes[ni].out, edge{to: s, site: -1})
		a.nodes[s].in = append(a.nodes[s].in, ni)
	}
	a.roNode[sec.Name] = ni
	return ni
}

// site is an instruction of a segment.
type site struct{ n, i int }

// defsOf finds the instructions that can define register r just before
// instruction i of segment ni, following control flow backward inside the
// segment and across jumps and fall-through from the segments that branch
// to it (never across a call: a function's entry registers are its
// caller's arguments). ok is false if r may be changed otherwise on some
// path (a clobber, an unknown join point, a jump table, a function entry).
func (a *analysis) defsOf(ni, i int, r int8) (defs []site, ok bool) {
	seen := map[site]bool{}
	var work []site
	ok = true
	push := func(x site) {
		if !seen[x] {
			seen[x] = true
			work = append(work, x)
		}
	}
	preds := func(ni, i int) {
		n := a.nodes[ni]
		if i == 0 {
			// entering the segment: from the branches and fall-through
			// edges of its predecessors
			found := false
			for _, pi := range uniq(append([]int(nil), n.in...)) {
				p := a.nodes[pi]
				for _, e := range p.out {
					if e.to != ni {
						continue
					}
					if p.kind != nSeg || e.site < 0 {
						ok = false
						return
					}
					k := p.insts[e.site].kind
					switch {
					case e.after:
						push(site{pi, e.site}) // fall-through: the last instruction runs first
						found = true
					case k == kJmp || k == kJcc || (k == kJmpInd && a.jumpTargets(p, e.site) != nil):
						push(site{pi, e.site})
						found = true
					default:
						ok = false // a call: n is a function entry
						return
					}
				}
			}
			if !found {
				ok = false
			}
			return
		}
		if ps, isLeader := n.leaders[i]; isLeader {
			if len(ps) == 0 && n.hasJmpInd && !n.insts[i].nop {
				ok = false
			}
			for _, p := range ps {
				push(site{ni, p})
			}
			return
		}
		push(site{ni, i - 1})
	}
	preds(ni, i)
	for steps := 0; len(work) > 0 && ok; steps++ {
		if steps > 4000 {
			return nil, false
		}
		x := work[len(work)-1]
		work = work[:len(work)-1]
		in := &a.nodes[x.n].insts[x.i]
		if in.reg == r && in.def != dNone {
			defs = append(defs, x)
			continue
		}
		if in.clobber&(1<<uint(r)) != 0 || in.kind == kBad {
			return nil, false
		}
		preds(x.n, x.i)
	}
	if !ok {
		return nil, false
	}
	sort.Slice(defs, func(p, q int) bool { return defs[p].n < defs[q].n || defs[p].n == defs[q].n && defs[p].i < defs[q].i })
	return defs, true
}

func (a *analysis) inst(x site) *inst { return &a.nodes[x.n].insts[x.i] }

// slotDefs finds the stores to the stack slot [sp+d] (sp: the stack or
// the frame pointer) that can reach
// instruction i of segment ni, like defsOf (ok is false if the stack
// pointer may change on some path: push, pop, sp arithmetic; a call
// leaves it unchanged). Stores through other registers are assumed not to
// write spill slots (compilers spill to slots whose address is not taken).
func (a *analysis) slotDefs(ni, i int, sp int8, d0 int64) (stores []site, ok bool) {
	type sst struct {
		site
		d int64
	}
	seen := map[sst]bool{}
	var work []sst
	ok = true
	d := d0
	push := func(x site) {
		s := sst{x, d}
		if !seen[s] {
			seen[s] = true
			work = append(work, s)
		}
	}
	preds := func(ni, i int) {
		n := a.nodes[ni]
		if i == 0 {
			found := false
			for _, pi := range uniq(append([]int(nil), n.in...)) {
				p := a.nodes[pi]
				for _, e := range p.out {
					if e.to != ni {
						continue
					}
					if p.kind != nSeg || e.site < 0 {
						ok = false
						return
					}
					k := p.insts[e.site].kind
					if e.after || k == kJmp || k == kJcc || (k == kJmpInd && a.jumpTargets(p, e.site) != nil) {
						push(site{pi, e.site})
						found = true
						continue
					}
					ok = false
					return
				}
			}
			if !found {
				ok = false
			}
			return
		}
		if ps, isLeader := n.leaders[i]; isLeader {
			if len(ps) == 0 && n.hasJmpInd && !n.insts[i].nop {
				ok = false
			}
			for _, p := range ps {
				push(site{ni, p})
			}
			return
		}
		push(site{ni, i - 1})
	}
	preds(ni, i)
	for steps := 0; len(work) > 0 && ok; steps++ {
		if steps > 4000 {
			return nil, false
		}
		w := work[len(work)-1]
		work = work[:len(work)-1]
		x, in := w.site, a.inst(w.site)
		d = w.d
		if in.store && in.memBase == sp && in.memDisp == d {
			if in.storeSrc < 0 && !in.storeImm {
				return nil, false
			}
			stores = append(stores, x)
			continue
		}
		if in.kind == kBad {
			return nil, false
		}
		if (in.reg == sp && in.def != dNone) || (in.clobber&(1<<uint(sp)) != 0 && in.kind != kCall && in.kind != kCallInd) {
			if sp != a.info.sp || !in.spKnown {
				return nil, false
			}
			d += int64(in.spDelta) // the same slot before a push/pop/adjustment
		}
		preds(x.n, x.i)
	}
	if !ok {
		return nil, false
	}
	return stores, true
}

// framePointer: at instruction x the frame pointer register holds a copy
// of the stack pointer (mov %rsp,%rbp / mov x29, sp) on every path, so
// [fp+d] is a stack slot. (A negative displacement from the frame pointer
// register is taken as a frame slot without this check: locals below the
// saved frame pointer.)
func (a *analysis) framePointer(x site) bool {
	defs, ok := a.defsOf(x.n, x.i, a.info.fp)
	if !ok || len(defs) == 0 {
		return false
	}
	for _, d := range defs {
		if in := a.inst(d); in.def != dCopy || in.src != a.info.sp {
			return false
		}
	}
	return true
}

// defsOfDeep is defsOf looking through register copies and stack spills:
// the result has no copy or stack-slot load (depth-limited).
func (a *analysis) defsOfDeep(ni, i int, r int8) ([]site, bool) {
	return a.defsDeep(ni, i, r, 0)
}

// defsOfMangled is defsOfDeep stopping at PTR_DEMANGLE's xor (which is
// then the definition returned).
func (a *analysis) defsOfMangled(ni, i int, r int8) ([]site, bool) {
	a.stopAtGuard = true
	defer func() { a.stopAtGuard = false }()
	return a.defsDeep(ni, i, r, 0)
}

func (a *analysis) defsDeep(ni, i int, r int8, depth int) ([]site, bool) {
	defs, ok := a.defsOf(ni, i, r)
	if !ok {
		return nil, false
	}
	if depth >= 10 {
		return defs, true
	}
	var out []site
	for _, x := range defs {
		in := a.inst(x)
		switch {
		case in.def == dCopy:
			more, ok := a.defsDeep(x.n, x.i, in.src, depth+1)
			if !ok {
				return nil, false
			}
			out = append(out, more...)
		case in.def == dUnknown && in.guard && a.stopAtGuard:
			out = append(out, x)
		case in.def == dUnknown && (in.guard || in.rot17):
			// PTR_DEMANGLE: xor %fs:0x30 and ror $0x11 of the same register
			more, ok := a.defsDeep(x.n, x.i, in.reg, depth+1)
			if !ok {
				return nil, false
			}
			out = append(out, more...)
		case in.def == dUnknown && (in.memBase == a.info.sp || (in.memBase == a.info.fp && (in.memDisp < 0 || a.framePointer(x)))) && !in.store && in.reg != in.memBase:
			stores, ok := a.slotDefs(x.n, x.i, in.memBase, in.memDisp)
			if !ok || len(stores) == 0 {
				return nil, false
			}
			for _, st := range stores {
				if a.inst(st).storeImm {
					out = append(out, st) // a constant stored: the store is the definition
					continue
				}
				more, ok := a.defsDeep(st.n, st.i, a.inst(st).storeSrc, depth+1)
				if !ok {
					return nil, false
				}
				out = append(out, more...)
			}
		default:
			out = append(out, x)
		}
	}
	return out, true
}

// loadOrigin: the value called at n.insts[i] is loaded from memory [b+d]
// (the call itself for call *d(%b)); every path must agree on d. Returns
// the loads with their base registers.
func (a *analysis) loadOrigin(ni, i int) (d int64, loads []site, ok bool) {
	in := &a.nodes[ni].insts[i]
	if in.callReg < 0 {
		if in.memBase < 0 {
			return 0, nil, false
		}
		return in.memDisp, []site{{ni, i}}, true
	}
	defs, ok := a.defsOfDeep(ni, i, in.callReg)
	if !ok || len(defs) == 0 {
		return 0, nil, false
	}
	for k, x := range defs {
		dj := a.inst(x)
		if dj.memBase < 0 || dj.def != dUnknown || (k > 0 && dj.memDisp != d) {
			return 0, nil, false
		}
		d = dj.memDisp
		loads = append(loads, x)
	}
	return d, loads, true
}

// narrowIndirect re-classifies the indirect call at n.insts[i] by the
// provenance of the called pointer; -1 if no rule applies.
func (a *analysis) narrowIndirect(ni, i int) int {
	if a.vdsoSegs[ni] {
		if t := a.vdsoGlobal(ni, i); t >= 0 {
			return t
		}
	}
	d, loads, ok := a.loadOrigin(ni, i)
	if !ok {
		return -1
	}
	// stdio vtable slot: every base is a vtable pointer
	vtable := a.vtSlots != nil
	for _, l := range loads {
		if !vtable {
			break
		}
		defs, ok := a.defsOfDeep(l.n, l.i, a.inst(l).memBase)
		if !ok || len(defs) == 0 {
			vtable = false
			break
		}
		for _, x := range defs {
			dj := a.inst(x)
			if dj.memBase < 0 || dj.def != dUnknown || !vtableFieldOffsets[dj.memDisp] {
				vtable = false
			}
		}
	}
	if vtable {
		return a.vtSlotTarget(d)
	}
	// rtld pointer: every base was loaded from the GOT slot of a loader
	// object, or (two levels: a hook table the loader points to, e.g.
	// GLRO(dl_dlfcn_hook)) from a pointer loaded that way
	if a.rtldBases(loads, 2) {
		return a.rtldTarget(ni)
	}
	// read-only table: every base is lea A (or incremented in place)
	target := -1
	for _, l := range loads {
		defs, ok := a.defsOfDeep(l.n, l.i, a.inst(l).memBase)
		if !ok || len(defs) == 0 {
			return -1
		}
		for _, x := range defs {
			dj := a.inst(x)
			switch {
			case dj.def == dConst && dj.dref != 0:
				t := a.roTableTarget(dj.dref + uint64(d))
				if t < 0 || (target >= 0 && t != target) {
					return -1
				}
				target = t
			case dj.def == dUnknown && dj.selfAdd:
				// b += constant: a loop over the table
			default:
				return -1
			}
		}
	}
	return target
}

// narrowAll applies narrowIndirect to every indirect call that went to
// the unresolved or the whole-vtable class.
func (a *analysis) narrowAll() {
	for _, ni := range a.segIdx {
		n := a.nodes[ni]
		for k, e := range n.out {
			if e.site < 0 || (e.to != a.indNode && e.to != a.vtNode) {
				continue
			}
			in := &n.insts[e.site]
			if in.kind != kCallInd && in.kind != kJmpInd {
				continue
			}
			if t := a.narrowIndirect(ni, e.site); t >= 0 {
				n.out[k].to = t
				a.nodes[t].in = append(a.nodes[t].in, ni)
				a.narrowed++
			}
		}
	}
	a.edgeSet = nil
}

// Jump tables (x86-64). gcc compiles a switch to
//
//	cmp $N-1,%i ; ja default ; [movzbl/mov %i,%i'] ;
//	lea T(%rip),%b ; movslq (%b,%i',4),%r ; add %b,%r ; jmp *%r
//
// and a computed goto over a table of label differences the same way with
// lea L(%rip) as the added base. The targets are L + T[k] (L == T for a
// switch):
//
//   - k < N when the index has an unsigned bounds check (cmp $M,%i; ja/jae)
//     in the straight-line code before the table load: every entry must
//     be code, else the jump is not taken for a table;
//   - k < 256 when the index is a byte (movzbl, as vfprintf's spec ->
//     step table index): entries beyond the real table are garbage, so
//     only targets inside the jumping function (between its strong
//     boundaries) at an instruction start are kept. This is the
//     assumption the range edges of unresolved computed jumps make too.
//
// Otherwise (hand-written assembly) the jump stays a computed jump (range
// edges).
const maxJumpTable = 4096

// jumpTable returns the targets of the indirect jump at n.insts[i] if it
// is a recognised jump table, else nil.
func (a *analysis) jumpTable(n *node, i int) []uint64 {
	im := a.im
	in := &n.insts[i]
	if im.arch != sysnum.X86_64 || in.kind != kJmpInd || in.callReg < 0 {
		return nil
	}
	// the straight-line code before the jump, across segment boundaries
	// that fall through (a loop head is often a boundary)
	insts, i := a.linearBefore(n, i, 48)
	j := defBefore(insts, i, in.callReg, 8)
	if j < 0 || insts[j].def != dSum {
		return nil
	}
	for _, pr := range [][2]int8{{insts[j].src, insts[j].src2}, {insts[j].src2, insts[j].src}} {
		ld, lbl := pr[0], pr[1]
		if ld < 0 || lbl < 0 {
			continue
		}
		k := defBefore(insts, j, ld, 8)
		if k < 0 || insts[k].tblBase < 0 {
			continue
		}
		l := defBefore(insts, j, lbl, 16)
		if l < 0 || insts[l].def != dConst || (insts[l].ref == 0 && insts[l].dref == 0) {
			continue
		}
		t := defBefore(insts, k, insts[k].tblBase, 16)
		if t < 0 || insts[t].def != dConst || insts[t].dref == 0 {
			continue
		}
		base, table := uint64(insts[l].val), insts[t].dref
		entry := func(e uint64) (uint64, bool) {
			b := im.bytesAt(table+4*e, 4)
			if len(b) < 4 {
				return 0, false
			}
			return base + uint64(int64(int32(binary.LittleEndian.Uint32(b)))), true
		}
		if n := tableBound(insts, k, insts[k].tblIdx); n > 0 && n <= maxJumpTable {
			out := make([]uint64, 0, n)
			for e := uint64(0); e < n; e++ {
				x, ok := entry(e)
				if !ok || !im.isCode(x) {
					return nil // not a jump table after all
				}
				out = append(out, x)
			}
			return out
		}
		if !byteIndex(insts, k, insts[k].tblIdx) {
			return nil
		}
		lo, hi := a.functionRange(in.addr)
		var out []uint64
		for e := uint64(0); e < 256; e++ {
			x, ok := entry(e)
			if !ok {
				break
			}
			if x < lo || x >= hi || !a.instStart(x) {
				continue
			}
			out = append(out, x)
		}
		return out
	}
	return nil
}

// linearBefore returns up to max instructions ending with n.insts[i],
// prepending the instructions of the preceding segments of the same
// function as long as control falls through from them; and i's index in
// the result.
func (a *analysis) linearBefore(n *node, i, max int) ([]inst, int) {
	if i >= max || n.strong || a.im.arch != sysnum.X86_64 {
		return n.insts, i
	}
	out := append([]inst(nil), n.insts[:i+1]...)
	cur := n
	for len(out) < max && !cur.strong {
		k := sort.Search(len(a.segIdx), func(k int) bool { return a.nodes[a.segIdx[k]].hi > cur.lo-1 })
		if k >= len(a.segIdx) || a.nodes[a.segIdx[k]].hi != cur.lo {
			break
		}
		p := a.nodes[a.segIdx[k]]
		if len(p.insts) == 0 {
			break
		}
		if last := &p.insts[len(p.insts)-1]; last.kind == kJmp || last.kind == kRet || last.kind == kJmpInd || last.kind == kStop {
			break
		}
		out = append(append([]inst(nil), p.insts...), out...)
		cur = p
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out, len(out) - 1
}

// functionRange returns the strong boundaries (exported symbol or FDE
// start) around x.
func (a *analysis) functionRange(x uint64) (lo, hi uint64) {
	k := sort.Search(len(a.segIdx), func(k int) bool { return a.nodes[a.segIdx[k]].hi > x })
	if k >= len(a.segIdx) {
		return 0, 0
	}
	l, h := k, k+1
	for l > 0 && !a.nodes[a.segIdx[l]].strong {
		l--
	}
	for h < len(a.segIdx) && !a.nodes[a.segIdx[h]].strong {
		h++
	}
	return a.nodes[a.segIdx[l]].lo, a.nodes[a.segIdx[h-1]].hi
}

// instStart: x is the start of an instruction in the current decoding.
func (a *analysis) instStart(x uint64) bool {
	s := a.segAt(x)
	if s < 0 {
		return false
	}
	_, ok := a.nodes[s].index()[x]
	return ok
}

// byteIndex: the table index register at insts[k] holds a zero-extended
// byte (movzbl from memory or from an 8-bit register), so it is < 256.
func byteIndex(insts []inst, k int, idx int8) bool {
	j := defBefore(insts, k, idx, 16)
	return j >= 0 && (insts[j].btBase >= 0 || insts[j].zext8)
}

// tableBound finds the number of entries of the table indexed by register
// idx at insts[k]: the nearest unsigned bounds check "cmp $M,%r; ja" (N =
// M+1) or "jae" (N = M) on idx, or on the register idx was zero-extended
// from, in the straight-line code before k. 0 if there is none.
func tableBound(insts []inst, k int, idx int8) uint64 {
	reg := idx
	var above int8
	for j := k - 1; j >= 0 && j >= k-24; j-- {
		in := &insts[j]
		switch in.kind {
		case kJcc:
			if in.above != 0 && above == 0 {
				above = in.above
			}
			continue
		case kOther:
		default:
			return 0
		}
		if above != 0 && in.cmpReg == reg {
			if above == 1 {
				return in.cmpImm + 1
			}
			return in.cmpImm
		}
		if in.reg == reg && in.def != dNone {
			if in.zext >= 0 {
				reg = in.zext // movzbl %al,%eax / mov %ecx,%eax: bound the source
				continue
			}
			return 0
		}
		if in.clobber&(1<<uint(reg)) != 0 {
			return 0
		}
	}
	return 0
}

// resolveThreaded leaves no edges behind: the caller builds the graph.
//
// Threaded dispatch (x86-64). gcc duplicates the final "jmp *%r" of a
// jump table into the blocks it dispatches to (vfprintf's step tables):
// such a jump's register was computed by the add of a resolved table in a
// predecessor block. Candidates are the register jumps that are not
// themselves tables, in functions with resolved tables. The graph is built
// assuming each candidate jumps to the targets of its function's tables;
// on that graph, a candidate whose register's definitions are all table
// adds is resolved to those tables' targets (by induction over an
// execution, the assumption then holds for every candidate so resolved);
// the others are dropped and the graph is rebuilt without them, until
// nothing changes.
func (a *analysis) resolveThreaded() {
	if a.im.arch != sysnum.X86_64 {
		return
	}
	a.jtCache = map[uint64][]int{}
	addOf := map[uint64][]int{} // add instruction address -> table target segments
	byFn := map[uint64][]int{}
	for _, ni := range a.segIdx {
		n := a.nodes[ni]
		for i, in := range n.insts {
			if in.kind != kJmpInd {
				continue
			}
			ts := a.jumpTargets(n, i)
			if ts == nil {
				continue
			}
			insts, k := a.linearBefore(n, i, 48)
			if j := defBefore(insts, k, in.callReg, 8); j >= 0 {
				addOf[insts[j].addr] = ts
			}
			lo, _ := a.functionRange(in.addr)
			byFn[lo] = append(byFn[lo], ts...)
		}
	}
	cand := map[uint64]bool{}
	for _, ni := range a.segIdx {
		n := a.nodes[ni]
		for i, in := range n.insts {
			if in.kind != kJmpInd || in.slot || in.tail || in.callReg < 0 || a.jumpTargets(n, i) != nil || computedJump(n.insts, i) {
				continue
			}
			lo, _ := a.functionRange(in.addr)
			if ts := byFn[lo]; len(ts) > 0 {
				cand[in.addr] = true
				a.jtCache[in.addr] = uniq(append([]int(nil), ts...))
			}
		}
	}
	if len(cand) == 0 {
		return
	}
	for round := 0; round < 8; round++ {
		a.resetEdges()
		a.buildEdges()
		dropped := 0
		for _, ni := range a.segIdx {
			n := a.nodes[ni]
			for i, in := range n.insts {
				if !cand[in.addr] {
					continue
				}
				defs, ok := a.defsOfDeep(ni, i, in.callReg)
				var ts []int
				for _, x := range defs {
					dx := a.inst(x)
					if t, isAdd := addOf[dx.addr]; isAdd {
						ts = append(ts, t...)
						continue
					}
					if t := a.segAt(dx.ref); dx.def == dConst && dx.ref != 0 && t >= 0 && a.nodes[t].lo == dx.ref {
						ts = append(ts, t) // jmp *%r with r = lea label(%rip)
						continue
					}
					ok = false
					break
				}
				if !ok || len(defs) == 0 {
					delete(cand, in.addr)
					a.jtCache[in.addr] = nil
					dropped++
					continue
				}
				a.jtCache[in.addr] = uniq(ts)
			}
		}
		if dropped == 0 {
			a.resetEdges()
			a.threaded = len(cand)
			return
		}
	}
	a.warnings = append(a.warnings, "threaded jump tables did not converge in 8 rounds: unresolved")
	for x := range cand {
		a.jtCache[x] = nil
	}
	a.resetEdges()
}

// resetEdges removes everything buildEdges added, keeping the segments.
func (a *analysis) resetEdges() {
	a.rtldCallee = nil
	nseg := 0
	for _, ni := range a.segIdx {
		if ni+1 > nseg {
			nseg = ni + 1
		}
	}
	a.nodes = a.nodes[:nseg]
	for _, ni := range a.segIdx {
		n := a.nodes[ni]
		n.out, n.in, n.leaders, n.hasJmpInd = nil, nil, nil, false
	}
	a.indSites = [6]int{}
	a.regCalls = nil
	a.edgeSet = nil
}

// Rule "gconv steps" (glibc): a DL_CALL_FCT call (in a function that
// calls _dl_mcount_wrapper_check, the DL_CALL_FCT marker) whose pointer is
// loaded (possibly through PTR_DEMANGLE) from a function field of a struct
// __gconv_step (__fct 0x28, __btowc_fct 0x30, __init_fct 0x38, __end_fct
// 0x40; <gconv.h>, LP64) calls a character set conversion step: either a
// function of a gconv module loaded with dlopen (the call gets LoadsCode)
// or one of libc's built-in conversion functions, which make no system
// calls of their own (TestGconvBuiltins checks this on the host glibc with
// its debug symbols). The call therefore adds no syscalls.
//
// The same holds for the init/end functions taken from a struct
// __gconv_loaded_object (gconv_int.h: fct 0x18, init_fct 0x20, end_fct
// 0x28) when a module is set up: only loaded modules have one.
//
// Steps come in arrays (the next step of step is step[1], struct
// __gconv_step is 0x68 bytes), so a step field is any of those offsets
// modulo 0x68.
var gconvStepFields = map[int64]bool{0x28: true, 0x30: true, 0x38: true, 0x40: true}

const gconvStepSize = 0x68

func gconvField(d int64) bool {
	return d == 0x18 || d == 0x20 || (d >= 0 && gconvStepFields[d%gconvStepSize])
}

// gconvStepCall classifies the indirect call at n.insts[i].
func (a *analysis) gconvStepCall(ni, i int) bool {
	n := a.nodes[ni]
	in := &n.insts[i]
	if a.im.libc != "glibc" || in.callReg < 0 || a.mcountSeg < 0 {
		return false
	}
	// the function calls _dl_mcount_wrapper_check (the DL_CALL_FCT
	// marker) somewhere
	if !a.callsMcount(ni) {
		return false
	}
	defs, ok := a.defsOfDeep(ni, i, in.callReg)
	if !ok || len(defs) == 0 {
		return false
	}
	for _, x := range defs {
		d := a.inst(x)
		if (d.storeImm && d.storeVal == 0) || (d.def == dConst && d.val == 0) {
			continue // NULL: no call on that path
		}
		if d.def != dUnknown || d.memBase < 0 || d.memBase == a.info.sp || d.store || !gconvField(d.memDisp) {
			return false
		}
	}
	return true
}

// callsMcount: the function containing segment ni calls
// _dl_mcount_wrapper_check.
func (a *analysis) callsMcount(ni int) bool {
	entry := a.functionEntry(ni)
	if v, ok := a.mcountFns[entry]; ok {
		return v
	}
	found := false
	for x := range a.functionSegs([]int{entry}) {
		for _, in := range a.nodes[x].insts {
			if in.kind == kCall && a.segAt(in.target) == a.mcountSeg {
				found = true
			}
		}
	}
	a.mcountFns[entry] = found
	return found
}

// narrowGconv redirects the gconv step calls among the unresolved indirect
// calls to the gconv node.
func (a *analysis) narrowGconv() {
	a.mcountSeg = -1
	if ss := a.symSegs("_dl_mcount_wrapper_check"); len(ss) == 1 {
		a.mcountSeg = ss[0]
	}
	if a.mcountSeg < 0 {
		return
	}
	a.gconvNode = a.newNode(&node{kind: nPath, name: "gconv step", flags: fLoads})
	a.mcountFns = map[int]bool{}
	for _, ni := range a.segIdx {
		n := a.nodes[ni]
		for k, e := range n.out {
			if e.site < 0 || (e.to != a.indNode && e.to != a.mgNode) || (n.insts[e.site].kind != kCallInd && n.insts[e.site].kind != kJmpInd) {
				continue
			}
			if a.gconvStepCall(ni, e.site) {
				n.out[k].to = a.gconvNode
				a.nodes[a.gconvNode].in = append(a.nodes[a.gconvNode].in, ni)
				a.gconvCalls++
			}
		}
	}
	a.edgeSet = nil
}

// rtldBases: the base register of every load was loaded from the GOT slot
// of a dynamic loader object (rtldObjects), directly or through up to
// levels-1 further loads.
func (a *analysis) rtldBases(loads []site, levels int) bool {
	if levels == 0 || len(loads) == 0 {
		return false
	}
	for _, l := range loads {
		defs, ok := a.defsOfDeep(l.n, l.i, a.inst(l).memBase)
		if !ok || len(defs) == 0 {
			return false
		}
		for _, x := range defs {
			d := a.inst(x)
			if d.load != 0 {
				if r, ok := a.im.relocs[d.load]; ok && r.kind == relSymbol && !r.known && rtldObjects[r.sym] {
					continue
				}
				return false
			}
			if d.def != dUnknown || d.memBase < 0 || d.store || !a.rtldBases([]site{x}, levels-1) {
				return false
			}
		}
	}
	return true
}

// vdsoGlobal: rule "vDSO pointer" for a libc that keeps the vDSO function
// in its own global (musl: static void *volatile vdso_func = cgt_init,
// replaced by the vDSO's clock_gettime once found): inside the vDSO
// functions, a call through a pointer loaded from a global G reaches the
// vDSO (its fallback syscalls) and the code G initially points to.
func (a *analysis) vdsoGlobal(ni, i int) int {
	in := &a.nodes[ni].insts[i]
	if in.callReg < 0 {
		return -1
	}
	defs, ok := a.defsOfDeep(ni, i, in.callReg)
	if !ok || len(defs) == 0 {
		return -1
	}
	var inits []int
	for _, x := range defs {
		d := a.inst(x)
		if d.load == 0 || d.def != dUnknown {
			return -1
		}
		r, ok := a.im.relocs[d.load]
		if ok && r.kind == relSymbol {
			return -1 // a GOT slot: not a global of this library
		}
		if ok && r.known && a.im.isCode(r.value) {
			if t := a.segAt(r.value); t >= 0 {
				inits = append(inits, t)
			}
		}
	}
	// the initial function looks the vDSO symbol up and calls it (musl's
	// cgt_init): its own indirect calls reach the vDSO
	for x := range a.body(uniq(inits)) {
		n := a.nodes[x]
		for k, e := range n.out {
			if e.site >= 0 && e.to == a.indNode {
				if kd := n.insts[e.site].kind; kd == kCallInd || kd == kJmpInd {
					n.out[k].to = a.vdsoNode
					a.nodes[a.vdsoNode].in = append(a.nodes[a.vdsoNode].in, x)
				}
			}
		}
	}
	node := a.newNode(&node{kind: nPath, name: "vdso global"})
	for _, t := range append(uniq(inits), a.vdsoNode) {
		a.nodes[node].out = append(a.nodes[node].out, edge{to: t, site: -1})
		a.nodes[t].in = append(a.nodes[t].in, node)
	}
	return node
}
