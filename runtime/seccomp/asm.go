package seccomp

// The filter is hand-assembled classic BPF: a tiny label-based assembler
// (builder) plus a compiler from Spec to instructions. Layout, in order:
//
//	ld [4] (arch); jeq AUDIT_ARCH ? next : ret KILL_PROCESS
//	ld [0] (nr);   jge MaxNr      ? ret KILL_PROCESS : next      (x32, -1, garbage)
//	binary search tree of jge over the nr ranges that have rules  (log2 depth)
//	one block per distinct rule list: conditions on args, ret ACTION, next rule …, ret DEFAULT
//	ret DEFAULT
//
// The tree only uses ld [0], jge and ret, which the kernel's seccomp action
// cache can emulate, so nrs whose block is an unconditional ALLOW are cached
// (no filter run at all after the first call). Conditional jumps whose
// target is more than 255 instructions away get a BPF_JA trampoline.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Classic BPF opcodes used by the filter (linux/filter.h, linux/bpf_common.h).
const (
	bpfLdWAbs  = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfAndK    = 0x54 // BPF_ALU | BPF_AND | BPF_K
	bpfJa      = 0x05 // BPF_JMP | BPF_JA
	bpfJeqK    = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJgtK    = 0x25
	bpfJgeK    = 0x35
	bpfJsetK   = 0x45
	bpfRetK    = 0x06 // BPF_RET | BPF_K
	maxInsns   = 4096 // BPF_MAXINSNS
	offNr      = 0
	offArch    = 4
	offIP      = 8
	offArgs    = 16
	seccompLen = 64 // sizeof(struct seccomp_data)
)

// Insn is one classic BPF instruction, laid out as struct sock_filter.
type Insn struct {
	Code uint16
	Jt   uint8
	Jf   uint8
	K    uint32
}

// Program is an assembled filter.
type Program []Insn

// Bytes encodes the program as the kernel's sock_filter array
// (little-endian; both supported architectures are little-endian).
func (p Program) Bytes() []byte {
	b := make([]byte, 8*len(p))
	for i, in := range p {
		binary.LittleEndian.PutUint16(b[8*i:], in.Code)
		b[8*i+2] = in.Jt
		b[8*i+3] = in.Jf
		binary.LittleEndian.PutUint32(b[8*i+4:], in.K)
	}
	return b
}

// ParseProgram decodes Bytes output and checks it with Verify.
func ParseProgram(b []byte) (Program, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("seccomp program: length %d is not a multiple of 8", len(b))
	}
	p := make(Program, len(b)/8)
	for i := range p {
		p[i] = Insn{
			Code: binary.LittleEndian.Uint16(b[8*i:]),
			Jt:   b[8*i+2],
			Jf:   b[8*i+3],
			K:    binary.LittleEndian.Uint32(b[8*i+4:]),
		}
	}
	if err := p.Verify(); err != nil {
		return nil, err
	}
	return p, nil
}

// String disassembles the program, one instruction per line.
func (p Program) String() string {
	var b strings.Builder
	for i, in := range p {
		fmt.Fprintf(&b, "%4d: ", i)
		switch in.Code {
		case bpfLdWAbs:
			fmt.Fprintf(&b, "ld [%d]", in.K)
		case bpfAndK:
			fmt.Fprintf(&b, "and #%#x", in.K)
		case bpfJa:
			fmt.Fprintf(&b, "ja %d", i+1+int(in.K))
		case bpfJeqK, bpfJgtK, bpfJgeK, bpfJsetK:
			op := map[uint16]string{bpfJeqK: "jeq", bpfJgtK: "jgt", bpfJgeK: "jge", bpfJsetK: "jset"}[in.Code]
			fmt.Fprintf(&b, "%s #%#x, %d, %d", op, in.K, i+1+int(in.Jt), i+1+int(in.Jf))
		case bpfRetK:
			fmt.Fprintf(&b, "ret %v", Action(in.K))
		default:
			fmt.Fprintf(&b, "op %#x k=%#x jt=%d jf=%d", in.Code, in.K, in.Jt, in.Jf)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// ErrBadProgram wraps every Verify and Run failure.
var ErrBadProgram = errors.New("bad seccomp program")

// Verify checks what the kernel's seccomp_check_filter would reject for the
// instruction subset this package emits: length, opcodes, aligned in-range
// loads, jumps inside the program, and that every path ends in ret (all
// jumps are forward, so the last instruction must be a ret).
func (p Program) Verify() error {
	if len(p) == 0 || len(p) > maxInsns {
		return fmt.Errorf("%w: %d instructions (must be 1..%d)", ErrBadProgram, len(p), maxInsns)
	}
	for i, in := range p {
		switch in.Code {
		case bpfLdWAbs:
			if in.K%4 != 0 || in.K >= seccompLen {
				return fmt.Errorf("%w: insn %d: load at offset %d outside seccomp_data", ErrBadProgram, i, in.K)
			}
		case bpfAndK, bpfRetK:
		case bpfJa:
			if uint64(i)+1+uint64(in.K) >= uint64(len(p)) {
				return fmt.Errorf("%w: insn %d: ja past the end", ErrBadProgram, i)
			}
		case bpfJeqK, bpfJgtK, bpfJgeK, bpfJsetK:
			if i+1+int(in.Jt) >= len(p) || i+1+int(in.Jf) >= len(p) {
				return fmt.Errorf("%w: insn %d: conditional jump past the end", ErrBadProgram, i)
			}
		default:
			return fmt.Errorf("%w: insn %d: opcode %#x not supported", ErrBadProgram, i, in.Code)
		}
	}
	if p[len(p)-1].Code != bpfRetK {
		return fmt.Errorf("%w: last instruction is not ret", ErrBadProgram)
	}
	return nil
}

// Run interprets the program on d, like the kernel does, and returns the
// action. It verifies the program first.
func (p Program) Run(d *Data) (Action, error) {
	if err := p.Verify(); err != nil {
		return 0, err
	}
	var raw [seccompLen]byte
	binary.LittleEndian.PutUint32(raw[offNr:], uint32(d.Nr))
	binary.LittleEndian.PutUint32(raw[offArch:], d.Arch)
	binary.LittleEndian.PutUint64(raw[offIP:], d.IP)
	for i, a := range d.Args {
		binary.LittleEndian.PutUint64(raw[offArgs+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(p); pc++ { // forward jumps only: terminates
		in := p[pc]
		switch in.Code {
		case bpfLdWAbs:
			acc = binary.LittleEndian.Uint32(raw[in.K:])
		case bpfAndK:
			acc &= in.K
		case bpfJa:
			pc += int(in.K)
		case bpfJeqK, bpfJgtK, bpfJgeK, bpfJsetK:
			var ok bool
			switch in.Code {
			case bpfJeqK:
				ok = acc == in.K
			case bpfJgtK:
				ok = acc > in.K
			case bpfJgeK:
				ok = acc >= in.K
			case bpfJsetK:
				ok = acc&in.K != 0
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfRetK:
			return Action(in.K), nil
		}
	}
	return 0, fmt.Errorf("%w: fell off the end", ErrBadProgram)
}

// ---- assembler ----

type label int

type node struct {
	code   uint16
	k      uint32
	jt, jf label // conditional jumps; ja uses jt
	place  label // >= 0: this node is a label definition, not an instruction
}

type builder struct {
	nodes   []node
	nlabels int
}

func (b *builder) newLabel() label { b.nlabels++; return label(b.nlabels - 1) }
func (b *builder) placeLabel(l label) {
	b.nodes = append(b.nodes, node{place: l})
}
func (b *builder) emit(code uint16, k uint32, jt, jf label) {
	b.nodes = append(b.nodes, node{code: code, k: k, jt: jt, jf: jf, place: -1})
}
func (b *builder) ld(off uint32)                         { b.emit(bpfLdWAbs, off, -1, -1) }
func (b *builder) and(k uint32)                          { b.emit(bpfAndK, k, -1, -1) }
func (b *builder) ret(a Action)                          { b.emit(bpfRetK, uint32(a), -1, -1) }
func (b *builder) ja(l label)                            { b.emit(bpfJa, 0, l, -1) }
func (b *builder) jmp(code uint16, k uint32, t, f label) { b.emit(code, k, t, f) }

func isCond(code uint16) bool {
	return code == bpfJeqK || code == bpfJgtK || code == bpfJgeK || code == bpfJsetK
}

// assemble lays the nodes out, adding a trampoline (ja) after every
// conditional jump whose target is out of the 8-bit range, until no more
// are needed (the set only grows, so this terminates).
func (b *builder) assemble() (Program, error) {
	farT := make([]bool, len(b.nodes))
	farF := make([]bool, len(b.nodes))
	pos := make([]int, len(b.nodes))
	lpos := make([]int, b.nlabels)
	for {
		n := 0
		for i := range lpos {
			lpos[i] = -1
		}
		for i, nd := range b.nodes {
			pos[i] = n
			if nd.place >= 0 {
				lpos[nd.place] = n
				continue
			}
			n++
			if isCond(nd.code) {
				if farT[i] {
					n++
				}
				if farF[i] {
					n++
				}
			}
		}
		if n > maxInsns {
			return nil, fmt.Errorf("seccomp filter needs %d instructions, more than the kernel's limit of %d", n, maxInsns)
		}
		changed := false
		for i, nd := range b.nodes {
			if nd.place >= 0 || !isCond(nd.code) {
				continue
			}
			for _, side := range []struct {
				l   label
				far *bool
			}{{nd.jt, &farT[i]}, {nd.jf, &farF[i]}} {
				if lpos[side.l] < 0 {
					return nil, fmt.Errorf("internal error: label %d never placed", side.l)
				}
				if off := lpos[side.l] - (pos[i] + 1); off < 0 {
					return nil, fmt.Errorf("internal error: backward jump")
				} else if off > 255 && !*side.far {
					*side.far = true
					changed = true
				}
			}
		}
		if !changed {
			prog := make(Program, 0, n)
			for i, nd := range b.nodes {
				if nd.place >= 0 {
					continue
				}
				here := len(prog)
				switch {
				case nd.code == bpfJa:
					prog = append(prog, Insn{Code: bpfJa, K: uint32(lpos[nd.jt] - (here + 1))})
				case isCond(nd.code):
					in := Insn{Code: nd.code, K: nd.k}
					tramp := 0
					if farT[i] {
						in.Jt = uint8(tramp)
						tramp++
					} else {
						in.Jt = uint8(lpos[nd.jt] - (here + 1))
					}
					if farF[i] {
						in.Jf = uint8(tramp)
					} else {
						in.Jf = uint8(lpos[nd.jf] - (here + 1))
					}
					prog = append(prog, in)
					if farT[i] {
						prog = append(prog, Insn{Code: bpfJa, K: uint32(lpos[nd.jt] - (len(prog) + 1))})
					}
					if farF[i] {
						prog = append(prog, Insn{Code: bpfJa, K: uint32(lpos[nd.jf] - (len(prog) + 1))})
					}
				default:
					prog = append(prog, Insn{Code: nd.code, K: nd.k})
				}
			}
			return prog, nil
		}
	}
}

// ---- compiler ----

type nrRange struct {
	lo, hi uint32 // inclusive
	key    string // "" = default
}

// Assemble validates the spec and compiles it to a filter program.
func (s *Spec) Assemble() (Program, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	// Rule lists per nr, in spec order, and a canonical key per list so
	// that identical lists share one block.
	perNr := map[int][]Rule{}
	for _, r := range s.Rules {
		perNr[r.Nr] = append(perNr[r.Nr], r)
	}
	keyOf := func(rs []Rule) string {
		var b strings.Builder
		for _, r := range rs {
			fmt.Fprintf(&b, "%08x", uint32(r.Action))
			for _, c := range r.Conds {
				fmt.Fprintf(&b, "|%d,%d,%x,%x,%t", c.Arg, c.Op, c.Value, c.Mask, c.Low32)
			}
			b.WriteString(";")
		}
		// A list whose first rule is unconditional ends there.
		return b.String()
	}
	nrs := make([]int, 0, len(perNr))
	for nr := range perNr {
		nrs = append(nrs, nr)
	}
	sort.Ints(nrs)
	blocks := map[string][]Rule{}
	var blockOrder []string
	var ranges []nrRange
	next := uint32(0)
	for _, nr := range nrs {
		rs := perNr[nr]
		for i, r := range rs { // rules after an unconditional one are dead
			if len(r.Conds) == 0 {
				rs = rs[:i+1]
				break
			}
		}
		if len(rs) == 1 && len(rs[0].Conds) == 0 && rs[0].Action == s.Default {
			continue // same as no rule
		}
		k := keyOf(rs)
		if _, ok := blocks[k]; !ok {
			blocks[k] = rs
			blockOrder = append(blockOrder, k)
		}
		u := uint32(nr)
		if u > next {
			ranges = appendRange(ranges, nrRange{next, u - 1, ""})
		}
		ranges = appendRange(ranges, nrRange{u, u, k})
		next = u + 1
	}
	if next < MaxNr {
		ranges = appendRange(ranges, nrRange{next, MaxNr - 1, ""})
	}

	b := &builder{}
	kill := b.newLabel()
	archOK := b.newLabel()
	nrOK := b.newLabel()
	dflt := b.newLabel()
	blockLabel := map[string]label{"": dflt}
	for _, k := range blockOrder {
		blockLabel[k] = b.newLabel()
	}

	b.ld(offArch)
	b.jmp(bpfJeqK, s.Arch.AuditArch(), archOK, kill)
	b.placeLabel(archOK)
	b.ld(offNr)
	b.jmp(bpfJgeK, MaxNr, kill, nrOK)
	b.placeLabel(nrOK)

	var tree func(rs []nrRange)
	target := func(rs []nrRange) label {
		if len(rs) == 1 {
			return blockLabel[rs[0].key]
		}
		return b.newLabel()
	}
	tree = func(rs []nrRange) {
		mid := len(rs) / 2
		left, right := rs[:mid], rs[mid:]
		lt, rt := target(left), target(right)
		b.jmp(bpfJgeK, rs[mid].lo, rt, lt)
		if len(left) > 1 {
			b.placeLabel(lt)
			tree(left)
		}
		if len(right) > 1 {
			b.placeLabel(rt)
			tree(right)
		}
	}
	if len(ranges) == 1 {
		b.ja(blockLabel[ranges[0].key])
	} else {
		tree(ranges)
	}

	for _, k := range blockOrder {
		b.placeLabel(blockLabel[k])
		for _, r := range blocks[k] {
			nextRule := b.newLabel()
			for _, c := range r.Conds {
				t := b.newLabel()
				compileCond(b, c, t, nextRule)
				b.placeLabel(t)
			}
			b.ret(r.Action)
			b.placeLabel(nextRule)
		}
		b.ret(s.Default)
	}
	b.placeLabel(dflt)
	b.ret(s.Default)
	b.placeLabel(kill)
	b.ret(KillProcess)
	return b.assemble()
}

func appendRange(rs []nrRange, r nrRange) []nrRange {
	if n := len(rs); n > 0 && rs[n-1].key == r.key && rs[n-1].hi+1 == r.lo {
		rs[n-1].hi = r.hi
		return rs
	}
	return append(rs, r)
}

// compileCond emits code that jumps to t when c holds and to f otherwise.
func compileCond(b *builder, c Cond, t, f label) {
	lo := uint32(offArgs + 8*c.Arg)
	hi := lo + 4
	vlo, vhi := uint32(c.Value), uint32(c.Value>>32)
	mlo, mhi := uint32(c.Mask), uint32(c.Mask>>32)
	switch c.Op {
	case OpNe:
		c.Op = OpEq
		compileCond(b, c, f, t)
	case OpLt:
		c.Op = OpGe
		compileCond(b, c, f, t)
	case OpLe:
		c.Op = OpGt
		compileCond(b, c, f, t)
	case OpEq:
		if !c.Low32 {
			l := b.newLabel()
			b.ld(hi)
			b.jmp(bpfJeqK, vhi, l, f)
			b.placeLabel(l)
		}
		b.ld(lo)
		b.jmp(bpfJeqK, vlo, t, f)
	case OpGt, OpGe:
		cmp := uint16(bpfJgtK)
		if c.Op == OpGe {
			cmp = bpfJgeK
		}
		if !c.Low32 {
			l1, l2 := b.newLabel(), b.newLabel()
			b.ld(hi)
			b.jmp(bpfJgtK, vhi, t, l1)
			b.placeLabel(l1)
			b.jmp(bpfJeqK, vhi, l2, f)
			b.placeLabel(l2)
		}
		b.ld(lo)
		b.jmp(cmp, vlo, t, f)
	case OpMaskedNe:
		if c.Value == 0 { // any bit of Mask set: jset
			if mlo != 0 {
				l := b.newLabel()
				b.ld(lo)
				b.jmp(bpfJsetK, mlo, t, l)
				b.placeLabel(l)
			}
			if mhi != 0 && !c.Low32 {
				l := b.newLabel()
				b.ld(hi)
				b.jmp(bpfJsetK, mhi, t, l)
				b.placeLabel(l)
			}
			b.ja(f)
			return
		}
		c.Op = OpMaskedEq
		compileCond(b, c, f, t)
	case OpMaskedEq:
		emitted := false
		part := func(off, m, v uint32, last bool) {
			if m == 0 {
				return // v == 0 by validation: always equal
			}
			l := t
			if !last {
				l = b.newLabel()
			}
			b.ld(off)
			if m != 0xffffffff {
				b.and(m)
			}
			b.jmp(bpfJeqK, v, l, f)
			if !last {
				b.placeLabel(l)
			}
			emitted = true
		}
		if !c.Low32 {
			part(hi, mhi, vhi, mlo == 0)
		}
		part(lo, mlo, vlo, true)
		if !emitted {
			b.ja(t) // mask 0: always true
		}
	}
}
