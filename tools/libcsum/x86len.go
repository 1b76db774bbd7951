package libcsum

// Instruction-length fallbacks for x86-64 encodings that
// golang.org/x/arch/x86/x86asm (v0.33) does not decode or decodes with the
// wrong length. Linear sweep depends on exact lengths: one wrong length
// desynchronises the decoder and hides the following instructions, so every
// case found while cross-checking against objdump on glibc is handled here
// (TestX86LengthsMatchObjdump compares every instruction start with objdump on glibc and musl).

// vexNoModRM reports the length of the VEX-encoded instructions without a
// ModRM byte (VZEROUPPER, VZEROALL: opcode 0x77 in map 0F), which x86asm
// decodes one byte too long.
func vexNoModRM(b []byte) int {
	switch {
	case len(b) >= 3 && b[0] == 0xc5 && b[2] == 0x77:
		return 3
	case len(b) >= 4 && b[0] == 0xc4 && b[1]&0x1f == 1 && b[3] == 0x77:
		return 4
	}
	return 0
}

// evexLen returns the length of an EVEX-encoded (AVX-512) instruction
// starting at b[0] == 0x62 in 64-bit mode, or 0 if b is not a well-formed
// EVEX instruction. Layout: 62 P0 P1 P2 opcode ModRM [SIB] [disp] [imm8].
func evexLen(b []byte) int {
	if len(b) < 6 || b[0] != 0x62 {
		return 0
	}
	p0, p1 := b[1], b[2]
	if p1&0x04 == 0 { // P1 bit 2 is fixed to 1
		return 0
	}
	mm := p0 & 0x07
	if mm == 0 || mm == 4 || mm == 7 { // maps 1,2,3,5,6 exist
		return 0
	}
	op := b[4]
	n := 5
	m := modrmLen(b[n:])
	if m == 0 {
		return 0
	}
	n += m
	imm := 0
	switch mm {
	case 3:
		imm = 1
	case 1:
		switch {
		case op >= 0x70 && op <= 0x73, op == 0xc2, op >= 0xc4 && op <= 0xc6:
			imm = 1
		}
	}
	n += imm
	if n > len(b) || n > 15 {
		return 0
	}
	return n
}

// modrmLen returns the number of bytes of a ModRM byte plus its SIB and
// displacement (64-bit addressing), or 0 if b is too short.
func modrmLen(b []byte) int {
	if len(b) < 1 {
		return 0
	}
	modrm := b[0]
	mod, rm := modrm>>6, modrm&7
	n := 1
	if mod == 3 {
		return n
	}
	if rm == 4 {
		if len(b) < 2 {
			return 0
		}
		sib := b[1]
		n++
		if mod == 0 && sib&7 == 5 {
			n += 4
		}
	} else if mod == 0 && rm == 5 {
		n += 4 // RIP-relative
	}
	switch mod {
	case 1:
		n++
	case 2:
		n += 4
	}
	if n > len(b) {
		return 0
	}
	return n
}

// pkru reports the length of RDPKRU (0f 01 ee) and WRPKRU (0f 01 ef).
func pkru(b []byte) int {
	if len(b) >= 3 && b[0] == 0x0f && b[1] == 0x01 && (b[2] == 0xee || b[2] == 0xef) {
		return 3
	}
	return 0
}
