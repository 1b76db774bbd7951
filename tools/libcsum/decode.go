package libcsum

import (
	"encoding/binary"
	"strconv"
	"strings"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
)

// kind classifies an instruction's control flow.
type kind uint8

const (
	kOther   kind = iota
	kSyscall      // syscall / svc #0
	kCall         // direct call (target)
	kJmp          // direct unconditional jump (target)
	kJcc          // direct conditional branch (target; falls through)
	kRet
	kCallInd // indirect call; slot set if through a known memory slot
	kJmpInd  // indirect jump; slot set if through a known memory slot
	kStop    // hlt, ud2, brk, udf, int3: no fall-through
	kBad     // undecodable byte(s)
)

// def kinds: how an instruction sets its tracked destination register.
type defKind uint8

const (
	dNone    defKind = iota
	dConst           // reg = val
	dCopy            // reg = src
	dUnknown         // reg = something else
	dSum             // reg = src + src2 (possibly scaled/extended): address arithmetic
)

// inst is the architecture-neutral view of one instruction that the
// analysis needs: control flow, and register effects for the backward
// constant tracking of syscall numbers.
type inst struct {
	addr     uint64
	size     uint8
	kind     kind
	def      defKind
	reg      int8 // register set by def (canonical index), -1 if none
	src      int8 // dCopy source; dSum first operand
	src2     int8 // dSum second operand
	val      int64
	clobber  uint64 // other registers written with unknown values (bit per canonical reg)
	target   uint64 // direct branch target, or memory slot for kCallInd/kJmpInd with slot
	slot     bool
	ref      uint64 // code address materialised (lea rip / adr / adrp+add)
	load     uint64 // memory slot loaded into a register (GOT entry), 0 if none
	dref     uint64 // non-code address materialised (lea rip / adrp+add)
	guard    bool   // x86-64: xor reg, %fs:0x30 (glibc PTR_MANGLE/PTR_DEMANGLE)
	callReg  int8   // kCallInd/kJmpInd through a register: that register, else -1
	tail     bool   // kJmpInd through [reg+disp] (no index): a tail call, not a jump table
	low8     bool   // x86-64: mov r8low, imm (val): merged with a preceding zeroing
	eqReg    int8   // x86 test r,r / cmp r,imm; arm64 cmp r,#imm: register compared (else -1)
	eqVal    int64  // ... with this value
	jeq      int8   // conditional branch: +1 taken iff eq (je, cbz, b.eq), -1 taken iff ne (jne, cbnz, b.ne), 0 other
	cbReg    int8   // arm64 cbz/cbnz register
	nop      bool   // alignment padding
	memBase  int8   // load into reg (or call/jump through memory) from [memBase+disp], else -1
	memDisp  int64  // ... that displacement
	selfAdd  bool   // reg += constant (x86 add/sub $imm, lea d(%reg),%reg; arm64 add/sub xr, xr, #imm)
	tblBase  int8   // x86 movslq (tblBase,tblIdx,4),reg: a jump-table load (else -1)
	tblIdx   int8
	cmpReg   int8   // x86 cmp $imm,r (any width; canonical register), else -1
	cmpImm   uint64 // ... the immediate, zero-extended to the register width
	above    int8   // x86 ja (1) / jae (2): unsigned bounds checks
	zext     int8   // x86 movzb/movzw/mov r32 from register zext (canonical), else -1
	btBase   int8   // x86 movzbl (btBase,btIdx,1),reg: a byte-table load (else -1)
	btIdx    int8
	zext8    bool // x86 movzx from an 8-bit register or byte memory: the value is < 256
	store    bool // a 64-bit store of register storeSrc to [memBase+memDisp]
	storeSrc int8
	rot17    bool   // x86 ror/rol $0x11 (half of glibc's PTR_MANGLE/PTR_DEMANGLE)
	storeRip uint64 // writes memory at this absolute address (x86 rip-relative, arm64 adrp+str)
	idxBase  int8   // load into reg (or call) from [idxBase+index*scale+disp], else -1
	spDelta  int32  // x86: the instruction adds this constant to the stack pointer (spKnown)
	spKnown  bool
	epilogue bool // x86: pop, leave, add $imm,%rsp (tears the frame down)
	storeImm bool // a 64-bit store of the constant storeVal (storeSrc -1)
	storeVal int64
}

const allRegs = ^uint64(0)

// archInfo describes the calling convention used by the analysis.
type archInfo struct {
	sp       int8   // stack pointer (canonical index)
	fp       int8   // frame pointer
	nrReg    int8   // register holding the syscall number
	argRegs  []int8 // integer argument registers, in order
	callClob uint64 // registers a call may change
	sysClob  uint64 // registers the syscall instruction changes
	regName  []string
}

func regMask(rs ...int) uint64 {
	var m uint64
	for _, r := range rs {
		m |= 1 << uint(r)
	}
	return m
}

// x86-64 canonical registers follow the hardware numbering.
var x86Info = archInfo{
	sp:       4,
	fp:       5,
	nrReg:    0,                                       // rax
	argRegs:  []int8{7, 6, 2, 1, 8, 9},                // rdi rsi rdx rcx r8 r9
	callClob: regMask(0, 1, 2, 6, 7, 8, 9, 10, 11, 4), // rax rcx rdx rsi rdi r8-r11 (+rsp)
	sysClob:  regMask(0, 1, 11),                       // rax rcx r11
	regName:  []string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"},
}

var arm64Info = func() archInfo {
	names := make([]string, 32)
	for i := range names {
		names[i] = "x" + strconv.Itoa(i)
	}
	names[31] = "sp"
	var clob uint64
	for i := 0; i <= 18; i++ {
		clob |= 1 << uint(i)
	}
	clob |= 1 << 30
	return archInfo{
		sp:       a64SP,
		fp:       29,
		nrReg:    8,
		argRegs:  []int8{0, 1, 2, 3, 4, 5, 6, 7},
		callClob: clob,
		sysClob:  regMask(0),
		regName:  names,
	}
}()

// ---------------------------------------------------------------- x86-64

// x86Reg maps an x86asm register to (canonical index, width in bits).
func x86Reg(r x86asm.Reg) (int8, int) {
	switch {
	case r >= x86asm.RAX && r <= x86asm.R15:
		return int8(r - x86asm.RAX), 64
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return int8(r - x86asm.EAX), 32
	case r >= x86asm.AX && r <= x86asm.R15W:
		return int8(r - x86asm.AX), 16
	case r >= x86asm.AL && r <= x86asm.BL:
		return int8(r - x86asm.AL), 8
	case r >= x86asm.AH && r <= x86asm.BH:
		return int8(r - x86asm.AH), 8
	case r >= x86asm.SPB && r <= x86asm.R15B:
		return int8(r-x86asm.SPB) + 4, 8
	}
	return -1, 0
}

// x86 ops that do not write their first operand.
var x86NoWrite = map[x86asm.Op]bool{
	x86asm.CMP: true, x86asm.TEST: true, x86asm.PUSH: true, x86asm.BT: true,
	x86asm.UCOMISS: true, x86asm.UCOMISD: true, x86asm.COMISS: true, x86asm.COMISD: true,
	x86asm.PTEST: true, x86asm.NOP: true, x86asm.PREFETCHT0: true, x86asm.PREFETCHT1: true,
	x86asm.PREFETCHT2: true, x86asm.PREFETCHNTA: true, x86asm.PREFETCHW: true, x86asm.CLFLUSH: true,
	x86asm.WRFSBASE: true, x86asm.WRGSBASE: true, x86asm.OUT: true, x86asm.INVLPG: true,
}

// implicit GPR writes of x86 ops (beyond the explicit first operand).
var x86Implicit = map[x86asm.Op]uint64{
	x86asm.CPUID: regMask(0, 1, 2, 3), x86asm.RDTSC: regMask(0, 2), x86asm.RDTSCP: regMask(0, 1, 2),
	x86asm.MUL: regMask(0, 2), x86asm.DIV: regMask(0, 2), x86asm.IDIV: regMask(0, 2),
	x86asm.CQO: regMask(2), x86asm.CDQ: regMask(2), x86asm.CWD: regMask(2),
	x86asm.CDQE: regMask(0), x86asm.CWDE: regMask(0), x86asm.CBW: regMask(0),
	x86asm.CMPXCHG: regMask(0), x86asm.CMPXCHG8B: regMask(0, 2), x86asm.CMPXCHG16B: regMask(0, 2),
	x86asm.LODSB: regMask(0, 6, 1), x86asm.LODSW: regMask(0, 6, 1), x86asm.LODSD: regMask(0, 6, 1), x86asm.LODSQ: regMask(0, 6, 1),
	x86asm.STOSB: regMask(7, 1), x86asm.STOSW: regMask(7, 1), x86asm.STOSD: regMask(7, 1), x86asm.STOSQ: regMask(7, 1),
	x86asm.MOVSB: regMask(6, 7, 1), x86asm.MOVSW: regMask(6, 7, 1), x86asm.MOVSD: regMask(6, 7, 1), x86asm.MOVSQ: regMask(6, 7, 1),
	x86asm.CMPSB: regMask(6, 7, 1), x86asm.CMPSW: regMask(6, 7, 1), x86asm.CMPSD: regMask(6, 7, 1), x86asm.CMPSQ: regMask(6, 7, 1),
	x86asm.SCASB: regMask(7, 1), x86asm.SCASW: regMask(7, 1), x86asm.SCASD: regMask(7, 1), x86asm.SCASQ: regMask(7, 1),
	x86asm.LOOP: regMask(1), x86asm.LOOPE: regMask(1), x86asm.LOOPNE: regMask(1),
	x86asm.XGETBV: regMask(0, 2), x86asm.RDMSR: regMask(0, 2),
	x86asm.PUSH: regMask(4), x86asm.POP: regMask(4), x86asm.LEAVE: regMask(4, 5), x86asm.ENTER: regMask(4, 5),
	x86asm.XLATB: regMask(0), x86asm.LAHF: regMask(0), x86asm.IN: regMask(0),
	x86asm.PUSHF: regMask(4), x86asm.POPF: regMask(4), x86asm.PUSHFQ: regMask(4), x86asm.POPFQ: regMask(4),
}

// decodeX86 decodes [addr, addr+len(b)) by linear sweep.
func decodeX86(b []byte, addr uint64, im *image) []inst {
	out := make([]inst, 0, len(b)/4)
	for off := 0; off < len(b); {
		a := addr + uint64(off)
		in := inst{addr: a, reg: -1, src: -1, src2: -1, callReg: -1, eqReg: -1, cbReg: -1, memBase: -1, tblBase: -1, tblIdx: -1, cmpReg: -1, zext: -1, btBase: -1, btIdx: -1, storeSrc: -1, idxBase: -1}
		if n := vexNoModRM(b[off:]); n > 0 {
			in.size = uint8(n)
			out = append(out, in)
			off += n
			continue
		}
		if n := pkru(b[off:]); n > 0 { // rdpkru/wrpkru: not in x86asm
			in.size = uint8(n)
			in.clobber = regMask(0, 1, 2)
			out = append(out, in)
			off += n
			continue
		}
		xi, err := x86asm.Decode(b[off:], 64)
		if err != nil || xi.Len == 0 {
			if n := evexLen(b[off:]); n > 0 {
				// AVX-512: no control flow; it may write a GPR (e.g. vmovd r32, xmm): clobber all.
				in.size = uint8(n)
				in.clobber = allRegs
				out = append(out, in)
				off += n
				continue
			}
			in.size, in.kind = 1, kBad
			out = append(out, in)
			off++
			continue
		}
		in.size = uint8(xi.Len)
		next := a + uint64(xi.Len)
		x86Semantics(&in, &xi, next, im)
		if in.low8 && len(out) > 0 {
			// xor %eax,%eax; mov $N,%al  =>  rax = N
			if p := out[len(out)-1]; p.def == dConst && p.reg == in.reg && p.val == 0 && p.kind == kOther {
				in.def = dConst
			}
		}
		out = append(out, in)
		off += xi.Len
	}
	// jmp *%reg right after the frame is torn down (pop, leave, add
	// $n,%rsp) is a tail call through a pointer, never a jump table (a
	// jump table's targets still use the frame)
	for i := range out {
		if out[i].kind != kJmpInd || out[i].callReg < 0 {
			continue
		}
		for j := i - 1; j >= 0 && j >= i-8 && out[j].kind == kOther; j-- {
			if out[j].epilogue {
				out[i].tail = true
				break
			}
			if out[j].spKnown || out[j].clobber&(1<<4) != 0 {
				break
			}
		}
	}
	return out
}

// x86StackEffect records pushes, pops and constant stack pointer
// adjustments (spill slots are tracked across them), and a push of a
// register as a store to [sp+0] after the push.
func x86StackEffect(in *inst, op x86asm.Op, a0, a1 x86asm.Arg) {
	switch op {
	case x86asm.PUSH:
		in.spDelta, in.spKnown = -8, true
		in.store, in.memBase, in.memDisp = true, 4, 0
		if r, ok := a0.(x86asm.Reg); ok {
			if c, w := x86Reg(r); c >= 0 && w == 64 {
				in.storeSrc = c
			}
		}
	case x86asm.LEAVE:
		in.epilogue = true
	case x86asm.POP:
		in.spDelta, in.spKnown, in.epilogue = 8, true, true
		if _, ok := a0.(x86asm.Reg); ok {
			in.memBase, in.memDisp = 4, 0 // loads [sp] before the adjustment
		}
	case x86asm.ADD, x86asm.SUB:
		if r, ok := a0.(x86asm.Reg); ok && r == x86asm.RSP {
			if imm, ok := a1.(x86asm.Imm); ok {
				in.spDelta, in.spKnown = int32(imm), true
				if op == x86asm.SUB {
					in.spDelta = -int32(imm)
				} else {
					in.epilogue = true
				}
			}
		}
	}
}

// x86MemBase records a [base+disp] memory operand (no index, not
// rip-relative, no segment override).
func x86MemBase(in *inst, arg x86asm.Arg) {
	if m, ok := arg.(x86asm.Mem); ok && m.Base != 0 && m.Base != x86asm.RIP && m.Index == 0 && m.Segment == 0 {
		if b, w := x86Reg(m.Base); b >= 0 && w == 64 {
			in.memBase, in.memDisp = b, m.Disp
		}
	}
	if m, ok := arg.(x86asm.Mem); ok && m.Base != 0 && m.Base != x86asm.RIP && m.Index != 0 && m.Segment == 0 {
		if b, w := x86Reg(m.Base); b >= 0 && w == 64 {
			in.idxBase = b
		}
	}
}

func ripMem(arg x86asm.Arg, next uint64) (uint64, bool) {
	m, ok := arg.(x86asm.Mem)
	if !ok || m.Base != x86asm.RIP || m.Index != 0 {
		return 0, false
	}
	return uint64(int64(next) + m.Disp), true
}

func x86Semantics(in *inst, xi *x86asm.Inst, next uint64, im *image) {
	op := xi.Op
	a0, a1 := xi.Args[0], xi.Args[1]
	switch op {
	case x86asm.SYSCALL:
		in.kind = kSyscall
		in.clobber = x86Info.sysClob
		return
	case x86asm.INT:
		if imm, ok := a0.(x86asm.Imm); ok && imm == 0x80 {
			in.kind = kSyscall // 32-bit ABI gate: number in eax, reported like any site
			in.clobber = regMask(0)
			return
		}
		in.kind, in.clobber = kOther, allRegs
		return
	case x86asm.SYSENTER:
		in.kind, in.clobber = kSyscall, allRegs
		return
	case x86asm.CALL:
		in.clobber = x86Info.callClob
		switch t := a0.(type) {
		case x86asm.Rel:
			in.kind, in.target = kCall, uint64(int64(next)+int64(t))
		default:
			in.kind = kCallInd
			if s, ok := ripMem(a0, next); ok {
				in.target, in.slot = s, true
			}
			x86MemBase(in, a0)
			if r, ok := a0.(x86asm.Reg); ok {
				in.callReg, _ = x86Reg(r)
			}
		}
		return
	case x86asm.JMP:
		switch t := a0.(type) {
		case x86asm.Rel:
			in.kind, in.target = kJmp, uint64(int64(next)+int64(t))
		default:
			in.kind = kJmpInd
			if s, ok := ripMem(a0, next); ok {
				in.target, in.slot = s, true
			}
			x86MemBase(in, a0)
			if r, ok := a0.(x86asm.Reg); ok {
				in.callReg, _ = x86Reg(r)
			}
			if m, ok := a0.(x86asm.Mem); ok && m.Index == 0 && m.Base != x86asm.RIP {
				in.tail = true
			}
		}
		return
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JNE, x86asm.JG, x86asm.JGE,
		x86asm.JL, x86asm.JLE, x86asm.JO, x86asm.JNO, x86asm.JP, x86asm.JNP, x86asm.JS, x86asm.JNS,
		x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		if t, ok := a0.(x86asm.Rel); ok {
			in.kind, in.target = kJcc, uint64(int64(next)+int64(t))
		} else {
			in.kind = kJmpInd
		}
		switch op {
		case x86asm.JE:
			in.jeq = 1
		case x86asm.JNE:
			in.jeq = -1
		case x86asm.JA:
			in.above = 1
		case x86asm.JAE:
			in.above = 2
		}
		in.clobber = x86Implicit[op]
		return
	case x86asm.RET, x86asm.IRET, x86asm.IRETQ, x86asm.LRET:
		in.kind = kRet
		return
	case x86asm.HLT, x86asm.UD2, x86asm.UD1, x86asm.UD0:
		in.kind = kStop
		return
	}
	in.clobber = x86Implicit[op]
	x86StackEffect(in, op, a0, a1)
	if op == x86asm.NOP || (op == x86asm.XCHG && a0 == a1) {
		in.nop = true
		return
	}
	switch op {
	case x86asm.TEST:
		if r0, ok := a0.(x86asm.Reg); ok {
			if r1, ok := a1.(x86asm.Reg); ok && r0 == r1 {
				if c, w := x86Reg(r0); c >= 0 && w >= 32 {
					in.eqReg, in.eqVal = c, 0
				}
			}
		}
	case x86asm.CMP:
		if r0, ok := a0.(x86asm.Reg); ok {
			if imm, ok := a1.(x86asm.Imm); ok {
				if c, w := x86Reg(r0); c >= 0 && (w == 64 || (w == 32 && imm >= 0)) {
					in.eqReg, in.eqVal = c, int64(imm)
				}
				if c, w := x86Reg(r0); c >= 0 && (r0 < x86asm.AH || r0 > x86asm.BH) {
					v := uint64(imm)
					if w < 64 {
						v &= 1<<uint(w) - 1
					}
					in.cmpReg, in.cmpImm = c, v
				}
			}
		}
	case x86asm.MOVZX:
		if r1, ok := a1.(x86asm.Reg); ok && (r1 < x86asm.AH || r1 > x86asm.BH) {
			in.zext, _ = x86Reg(r1)
		}
		if xi.MemBytes == 1 {
			in.zext8 = true
		} else if r1, ok := a1.(x86asm.Reg); ok {
			if _, w1 := x86Reg(r1); w1 == 8 {
				in.zext8 = true
			}
		}
		if m, ok := a1.(x86asm.Mem); ok && xi.MemBytes == 1 && m.Base != 0 && m.Base != x86asm.RIP && m.Index != 0 && m.Scale == 1 && m.Disp == 0 && m.Segment == 0 {
			b, bw := x86Reg(m.Base)
			x, xw := x86Reg(m.Index)
			if b >= 0 && bw == 64 && x >= 0 && xw == 64 {
				in.btBase, in.btIdx = b, x
			}
		}
	}
	if xi.Prefix[0] != 0 {
		for _, p := range xi.Prefix {
			if p == 0 {
				break
			}
			if p&0xff == 0xf3 || p&0xff == 0xf2 { // rep: rcx
				switch op {
				case x86asm.MOVSB, x86asm.MOVSW, x86asm.MOVSD, x86asm.MOVSQ, x86asm.STOSB, x86asm.STOSW, x86asm.STOSD, x86asm.STOSQ,
					x86asm.CMPSB, x86asm.CMPSW, x86asm.CMPSD, x86asm.CMPSQ, x86asm.SCASB, x86asm.SCASW, x86asm.SCASD, x86asm.SCASQ,
					x86asm.LODSB, x86asm.LODSW, x86asm.LODSD, x86asm.LODSQ:
					in.clobber |= regMask(1)
				}
			}
		}
	}
	// code address materialised / GOT slot loaded
	if op == x86asm.LEA {
		if t, ok := ripMem(a1, next); ok {
			if im != nil && im.isCode(t) {
				in.ref = t
			} else {
				in.dref = t
			}
		}
	}
	if op == x86asm.XOR {
		if m, ok := a1.(x86asm.Mem); ok && m.Segment == x86asm.FS && m.Base == 0 && m.Index == 0 && m.Disp == 0x30 {
			in.guard = true
		}
	}
	if op == x86asm.ROR || op == x86asm.ROL {
		if imm, ok := a1.(x86asm.Imm); ok && imm == 0x11 {
			in.rot17 = true
		}
	}
	if op == x86asm.MOV {
		if t, ok := ripMem(a1, next); ok {
			in.load = t
		} else if _, ok := a0.(x86asm.Reg); ok {
			x86MemBase(in, a1)
		} else if r1, ok := a1.(x86asm.Reg); ok {
			if c, w := x86Reg(r1); c >= 0 && w == 64 {
				x86MemBase(in, a0)
				if in.memBase >= 0 {
					in.store, in.storeSrc = true, c
				}
			}
		} else if imm, ok := a1.(x86asm.Imm); ok && xi.MemBytes == 8 {
			x86MemBase(in, a0)
			if in.memBase >= 0 {
				in.store, in.storeImm, in.storeVal = true, true, int64(imm) // movq $imm, d(%b)
			}
		}
	}
	if t, ok := ripMem(a0, next); ok && !x86NoWrite[op] {
		in.storeRip = t
	}
	// explicit destination
	dst, ok := a0.(x86asm.Reg)
	if !ok {
		if op == x86asm.XCHG || op == x86asm.XADD {
			if r, ok := a1.(x86asm.Reg); ok {
				if c, _ := x86Reg(r); c >= 0 {
					in.clobber |= 1 << uint(c)
				}
			}
		}
		return
	}
	r, w := x86Reg(dst)
	if r < 0 {
		return // vector/segment register destination
	}
	if x86NoWrite[op] {
		return
	}
	if op == x86asm.XCHG || op == x86asm.XADD {
		if r2, ok := a1.(x86asm.Reg); ok {
			if c, _ := x86Reg(r2); c >= 0 {
				in.clobber |= 1 << uint(c)
			}
		}
	}
	in.reg, in.def = r, dUnknown
	if w < 32 {
		if op == x86asm.MOV && w == 8 && (dst < x86asm.AH || dst > x86asm.BH) {
			if imm, ok := a1.(x86asm.Imm); ok {
				in.low8, in.val = true, int64(uint8(imm))
			}
		}
		return // partial write: unknown unless merged by decodeX86
	}
	switch op {
	case x86asm.MOV:
		switch s := a1.(type) {
		case x86asm.Imm:
			v := int64(s)
			if w == 32 {
				v = int64(uint32(v))
			}
			in.def, in.val = dConst, v
		case x86asm.Reg:
			if c, sw := x86Reg(s); c >= 0 && sw == w {
				in.def, in.src = dCopy, c
				if w == 32 {
					in.zext = c
				}
			}
		}
	case x86asm.XOR, x86asm.SUB:
		if s, ok := a1.(x86asm.Reg); ok && s == dst {
			in.def, in.val = dConst, 0
		}
		if _, ok := a1.(x86asm.Imm); ok && w == 64 && op == x86asm.SUB {
			in.selfAdd = true
		}
	case x86asm.MOVSXD:
		if m, ok := a1.(x86asm.Mem); ok && w == 64 && m.Base != 0 && m.Base != x86asm.RIP && m.Index != 0 && m.Scale == 4 && m.Disp == 0 && m.Segment == 0 {
			b, bw := x86Reg(m.Base)
			x, xw := x86Reg(m.Index)
			if b >= 0 && bw == 64 && x >= 0 && xw == 64 {
				in.tblBase, in.tblIdx = b, x
			}
		}
	case x86asm.LEA:
		if t, ok := ripMem(a1, next); ok && w == 64 {
			in.def, in.val = dConst, int64(t) // an address constant
		} else if m, ok := a1.(x86asm.Mem); ok && w == 64 && m.Base == dst && m.Index == 0 && m.Segment == 0 {
			in.selfAdd = true
		} else if m, ok := a1.(x86asm.Mem); ok && w == 64 && m.Base != 0 && m.Index != 0 && m.Segment == 0 {
			b, _ := x86Reg(m.Base)
			x, _ := x86Reg(m.Index)
			if b >= 0 && x >= 0 {
				in.def, in.src, in.src2 = dSum, b, x
			}
		}
	case x86asm.ADD:
		if _, ok := a1.(x86asm.Imm); ok && w == 64 {
			in.selfAdd = true
		}
		if s, ok := a1.(x86asm.Reg); ok && w == 64 {
			if c, sw := x86Reg(s); c >= 0 && sw == 64 {
				in.def, in.src, in.src2 = dSum, c, r
			}
		}
	case x86asm.OR:
		if s, ok := a1.(x86asm.Imm); ok && int64(s) == -1 {
			in.def, in.val = dConst, -1
			if w == 32 {
				in.val = int64(uint32(0xffffffff))
			}
		}
	}
}

// ---------------------------------------------------------------- aarch64

func a64Reg(a arm64asm.Arg) (int8, bool) {
	switch r := a.(type) {
	case arm64asm.Reg:
		switch {
		case r >= arm64asm.X0 && r <= arm64asm.X30:
			return int8(r - arm64asm.X0), true
		case r >= arm64asm.W0 && r <= arm64asm.W30:
			return int8(r - arm64asm.W0), true
		}
	case arm64asm.RegSP:
		rr := arm64asm.Reg(r)
		if rr == arm64asm.SP {
			return a64SP, true
		}
		switch {
		case rr >= arm64asm.X0 && rr <= arm64asm.X30:
			return int8(rr - arm64asm.X0), true
		case rr >= arm64asm.W0 && rr <= arm64asm.W30:
			return int8(rr - arm64asm.W0), true
		}
	}
	return -1, false
}

// a64SP is the canonical index of the aarch64 stack pointer.
const a64SP = 31

func isZR(a arm64asm.Arg) bool {
	r, ok := a.(arm64asm.Reg)
	return ok && (r == arm64asm.XZR || r == arm64asm.WZR)
}

var a64NoWrite = map[arm64asm.Op]bool{
	arm64asm.CMP: true, arm64asm.CMN: true, arm64asm.TST: true, arm64asm.CCMP: true, arm64asm.CCMN: true,
	arm64asm.FCMP: true, arm64asm.FCMPE: true, arm64asm.FCCMP: true, arm64asm.FCCMPE: true,
	arm64asm.PRFM: true, arm64asm.PRFUM: true, arm64asm.MSR: true, arm64asm.DMB: true, arm64asm.DSB: true, arm64asm.ISB: true,
	arm64asm.HINT: true, arm64asm.NOP: true, arm64asm.SYS: true, arm64asm.DC: true, arm64asm.IC: true, arm64asm.TLBI: true,
	arm64asm.AT: true, arm64asm.CLREX: true, arm64asm.YIELD: true, arm64asm.WFE: true, arm64asm.WFI: true, arm64asm.SEV: true, arm64asm.SEVL: true,
}

// loads that write their first two operands
var a64Pair = map[arm64asm.Op]bool{
	arm64asm.LDP: true, arm64asm.LDNP: true, arm64asm.LDPSW: true, arm64asm.LDXP: true, arm64asm.LDAXP: true,
}

func isA64Store(op arm64asm.Op) bool {
	s := op.String()
	return strings.HasPrefix(s, "ST") && !strings.HasPrefix(s, "STX") && !strings.HasPrefix(s, "STLX")
}

// decodeA64 decodes [addr, addr+len(b)) (4-byte instructions).
func decodeA64(b []byte, addr uint64, im *image) []inst {
	out := make([]inst, 0, len(b)/4)
	// page[r]: value of an ADRP in r earlier in the same straight-line code
	var page [32]uint64
	var pageOK [32]bool
	var loaded [32]uint64 // slot loaded into r by adrp+ldr
	reset := func() {
		page, pageOK, loaded = [32]uint64{}, [32]bool{}, [32]uint64{}
	}
	for off := 0; off+4 <= len(b); off += 4 {
		a := addr + uint64(off)
		in := inst{addr: a, size: 4, reg: -1, src: -1, src2: -1, callReg: -1, eqReg: -1, cbReg: -1, memBase: -1, tblBase: -1, tblIdx: -1, cmpReg: -1, zext: -1, btBase: -1, btIdx: -1, storeSrc: -1, idxBase: -1}
		ai, err := arm64asm.Decode(b[off : off+4])
		if err != nil {
			w := binary.LittleEndian.Uint32(b[off:])
			if w == 0 { // udf #0 / padding
				in.kind = kStop
			} else {
				in.kind = kBad
				in.clobber = allRegs
			}
			out = append(out, in)
			reset()
			continue
		}
		a64Semantics(&in, &ai, a, im, &page, &pageOK, &loaded)
		if in.kind != kOther {
			reset() // block boundary: keep the ADRP tracking local
		}
		out = append(out, in)
	}
	return out
}

func pcrel(a arm64asm.Arg, pc uint64) (uint64, bool) {
	if p, ok := a.(arm64asm.PCRel); ok {
		return uint64(int64(pc) + int64(p)), true
	}
	return 0, false
}

// memImm returns base register and immediate offset of an offset-mode
// memory operand (arm64asm does not export the immediate, so it is read from
// the operand's text).
func memImm(a arm64asm.Arg) (int8, int64, arm64asm.AddrMode, bool) {
	m, ok := a.(arm64asm.MemImmediate)
	if !ok {
		return -1, 0, 0, false
	}
	r, _ := a64Reg(m.Base)
	s := m.String()
	var imm int64
	if i := strings.Index(s, "#"); i >= 0 {
		j := i + 1
		for j < len(s) && (s[j] == '-' || (s[j] >= '0' && s[j] <= '9')) {
			j++
		}
		imm, _ = strconv.ParseInt(s[i+1:j], 10, 64)
	}
	return r, imm, m.Mode, true
}

func a64Semantics(in *inst, ai *arm64asm.Inst, pc uint64, im *image, page *[32]uint64, pageOK *[32]bool, loaded *[32]uint64) {
	op := ai.Op
	args := ai.Args
	switch op {
	case arm64asm.SVC:
		in.kind, in.clobber = kSyscall, arm64Info.sysClob
		return
	case arm64asm.BL:
		in.clobber = arm64Info.callClob
		if t, ok := pcrel(args[0], pc); ok {
			in.kind, in.target = kCall, t
		}
		return
	case arm64asm.B:
		if t, ok := pcrel(args[0], pc); ok {
			in.kind, in.target = kJmp, t
			return
		}
		for _, x := range args { // B.cond
			if x == nil {
				break
			}
			if t, ok := pcrel(x, pc); ok {
				in.kind, in.target = kJcc, t
			}
			if c, ok := x.(arm64asm.Cond); ok {
				switch c.Value {
				case 0: // EQ
					in.jeq = 1
				case 1: // NE
					in.jeq = -1
				}
			}
		}
		return
	case arm64asm.CBZ, arm64asm.CBNZ, arm64asm.TBZ, arm64asm.TBNZ:
		if op == arm64asm.CBZ || op == arm64asm.CBNZ {
			if r, ok := a64Reg(args[0]); ok {
				in.cbReg = r
				in.jeq = 1
				if op == arm64asm.CBNZ {
					in.jeq = -1
				}
			}
		}
		for _, x := range args {
			if x == nil {
				break
			}
			if t, ok := pcrel(x, pc); ok {
				in.kind, in.target = kJcc, t
			}
		}
		return
	case arm64asm.BR:
		in.kind = kJmpInd
		if r, ok := a64Reg(args[0]); ok {
			in.callReg = r
			if loaded[r] != 0 {
				in.target, in.slot = loaded[r], true
			}
		}
		return
	case arm64asm.BLR:
		in.kind, in.clobber = kCallInd, arm64Info.callClob
		if r, ok := a64Reg(args[0]); ok {
			in.callReg = r
			if loaded[r] != 0 {
				in.target, in.slot = loaded[r], true
			}
		}
		return
	case arm64asm.RET, arm64asm.ERET:
		in.kind = kRet
		return
	case arm64asm.BRK, arm64asm.HLT:
		in.kind = kStop
		return
	}
	if op == arm64asm.NOP {
		in.nop = true
		return
	}
	if op == arm64asm.CMP {
		if r, ok := a64Reg(args[0]); ok {
			switch v := args[1].(type) {
			case arm64asm.Imm:
				in.eqReg, in.eqVal = r, int64(v.Imm)
			case arm64asm.Imm64:
				in.eqReg, in.eqVal = r, int64(v.Imm)
			case arm64asm.ImmShift:
				if v.String() == "#0" || strings.HasPrefix(v.String(), "#0x") || strings.HasPrefix(v.String(), "#") {
					str := strings.TrimPrefix(v.String(), "#")
					if u, err := strconv.ParseInt(strings.TrimPrefix(str, "0x"), 16, 64); err == nil && strings.HasPrefix(str, "0x") {
						in.eqReg, in.eqVal = r, u
					} else if u, err := strconv.ParseInt(str, 10, 64); err == nil {
						in.eqReg, in.eqVal = r, u
					}
				}
			}
		}
	}
	// register writes
	var writes []int8
	if !a64NoWrite[op] && !isA64Store(op) && args[0] != nil {
		if r, ok := a64Reg(args[0]); ok {
			writes = append(writes, r)
		}
	}
	if a64Pair[op] && args[1] != nil {
		if r, ok := a64Reg(args[1]); ok {
			writes = append(writes, r)
		}
	}
	if s := op.String(); strings.HasPrefix(s, "STX") || strings.HasPrefix(s, "STLX") {
		if r, ok := a64Reg(args[0]); ok {
			writes = append(writes, r) // status register
		}
	}
	for _, x := range args {
		if x == nil {
			break
		}
		if base, _, mode, ok := memImm(x); ok && base >= 0 && (mode == arm64asm.AddrPreIndex || mode == arm64asm.AddrPostIndex || mode == arm64asm.AddrPostReg) {
			writes = append(writes, base)
		}
	}
	for _, r := range writes {
		in.clobber |= 1 << uint(r)
	}
	// known forms for the first destination
	if len(writes) > 0 && writes[0] >= 0 {
		dst := writes[0]
		in.clobber &^= 1 << uint(dst)
		in.reg, in.def = dst, dUnknown
		if op == arm64asm.MOV {
			switch s := args[1].(type) {
			case arm64asm.Imm:
				in.def, in.val = dConst, int64(s.Imm)
			case arm64asm.Imm64:
				in.def, in.val = dConst, int64(s.Imm)
				if r, ok := args[0].(arm64asm.Reg); ok && r >= arm64asm.W0 && r <= arm64asm.WZR {
					in.val = int64(uint32(s.Imm))
				}
			case arm64asm.Reg:
				if isZR(s) {
					in.def, in.val = dConst, 0
				} else if c, ok := a64Reg(s); ok {
					in.def, in.src = dCopy, c
				}
			}
		}
	}
	if (op == arm64asm.ADD || op == arm64asm.SUB) && in.def == dUnknown && args[2] != nil {
		if s1, ok := a64Reg(args[1]); ok && s1 == in.reg {
			switch args[2].(type) {
			case arm64asm.Imm, arm64asm.Imm64, arm64asm.ImmShift:
				in.selfAdd = true
			}
		}
	}
	if op == arm64asm.ADD && in.def == dUnknown && args[2] != nil {
		if s1, ok := a64Reg(args[1]); ok {
			var s2 int8 = -1
			switch v := args[2].(type) {
			case arm64asm.Reg, arm64asm.RegSP:
				s2, _ = a64Reg(v)
			case arm64asm.RegExtshiftAmount:
				s2, _ = a64Reg(regOfExtshift(v))
			}
			if s2 >= 0 {
				in.def, in.src, in.src2 = dSum, s1, s2
			}
		}
	}
	// ADRP/ADR/ADD/LDR tracking of addresses
	switch op {
	case arm64asm.ADRP:
		if r, ok := a64Reg(args[0]); ok {
			if p, ok := args[1].(arm64asm.PCRel); ok {
				page[r], pageOK[r] = uint64(int64(pc&^0xfff)+int64(p)), true
			}
		}
		return
	case arm64asm.ADR:
		if t, ok := pcrel(args[1], pc); ok {
			if im != nil && im.isCode(t) {
				in.ref = t
			} else {
				in.dref = t
			}
			in.def, in.val = dConst, int64(t)
		}
	case arm64asm.ADD:
		if d, ok := a64Reg(args[0]); ok {
			if s, ok := a64Reg(args[1]); ok && pageOK[s] {
				var imm uint64
				switch v := args[2].(type) {
				case arm64asm.Imm:
					imm = uint64(v.Imm)
				case arm64asm.Imm64:
					imm = v.Imm
				case arm64asm.ImmShift:
					str := strings.TrimPrefix(v.String(), "#")
					if u, err := strconv.ParseUint(strings.TrimPrefix(str, "0x"), 16, 64); err == nil && strings.HasPrefix(str, "0x") {
						imm = u
					} else if u, err := strconv.ParseUint(str, 10, 64); err == nil {
						imm = u
					}
				}
				t := page[s] + imm
				if im != nil && im.isCode(t) {
					in.ref = t
				} else {
					in.dref = t
				}
				if a64X(args[0]) {
					in.def, in.val = dConst, int64(t) // an address constant
				}
				for _, w := range writes {
					pageOK[w], loaded[w] = false, 0
				}
				_ = d
				return
			}
		}
	case arm64asm.STR:
		if base, imm, mode, ok := memImm(args[1]); ok && base >= 0 && mode == arm64asm.AddrOffset {
			if r, ok := args[0].(arm64asm.Reg); ok && r >= arm64asm.X0 && r <= arm64asm.X30 {
				in.store, in.storeSrc, in.memBase, in.memDisp = true, int8(r-arm64asm.X0), base, imm
			}
			if pageOK[base] {
				in.storeRip = page[base] + uint64(imm)
			}
		}
	case arm64asm.LDR:
		if base, imm, mode, ok := memImm(args[1]); ok && base >= 0 && mode == arm64asm.AddrOffset {
			if r, ok := args[0].(arm64asm.Reg); ok && r >= arm64asm.X0 && r <= arm64asm.X30 {
				in.memBase, in.memDisp = base, imm
			}
		}
		if d, ok := a64Reg(args[0]); ok {
			if base, imm, mode, ok := memImm(args[1]); ok && base >= 0 && mode == arm64asm.AddrOffset && pageOK[base] {
				slot := page[base] + uint64(imm)
				in.load = slot
				for _, w := range writes {
					pageOK[w], loaded[w] = false, 0
				}
				loaded[d] = slot
				return
			}
		}
	}
	for _, w := range writes {
		pageOK[w], loaded[w] = false, 0
	}
}

// regOfExtshift returns the register of an extended/shifted register
// operand (arm64asm does not export it: it is parsed from the text, e.g.
// "W2, SXTB #2").
func regOfExtshift(v arm64asm.RegExtshiftAmount) arm64asm.Arg {
	s := v.String()
	if i := strings.IndexByte(s, ','); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) < 2 {
		return nil
	}
	n, err := strconv.Atoi(s[1:])
	if err != nil || n < 0 || n > 30 {
		return nil
	}
	switch s[0] {
	case 'X':
		return arm64asm.X0 + arm64asm.Reg(n)
	case 'W':
		return arm64asm.W0 + arm64asm.Reg(n)
	}
	return nil
}

// a64X: the operand is a 64-bit general register X0-X30 (as Reg or RegSP).
func a64X(a arm64asm.Arg) bool {
	switch r := a.(type) {
	case arm64asm.Reg:
		return r >= arm64asm.X0 && r <= arm64asm.X30
	case arm64asm.RegSP:
		return arm64asm.Reg(r) >= arm64asm.X0 && arm64asm.Reg(r) <= arm64asm.X30
	}
	return false
}
