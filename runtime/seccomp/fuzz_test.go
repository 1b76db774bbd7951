package seccomp

import (
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// FuzzParseProgram feeds arbitrary bytes to the program decoder and the
// interpreter: they must reject or run them without panicking or looping.
func FuzzParseProgram(f *testing.F) {
	s := Spec{Arch: sysnum.X86_64, Default: KillProcess, Rules: []Rule{
		{Nr: 257, Action: Notify, Conds: []Cond{{Arg: 2, Op: OpMaskedNe, Mask: 3, Low32: true}}},
		{Nr: 257, Action: Allow}, {Nr: 0, Action: Allow},
	}}
	p, _ := s.Assemble()
	f.Add(p.Bytes(), uint64(257), uint64(1))
	f.Add([]byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f}, uint64(0), uint64(0))
	f.Add([]byte{0x05, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x06, 0, 0, 0, 0, 0, 0, 0}, uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, b []byte, nr, arg uint64) {
		p, err := ParseProgram(b)
		if err != nil {
			return
		}
		d := Data{Nr: int32(nr), Arch: uint32(nr >> 32), Args: [6]uint64{arg, arg >> 1, arg, ^arg, arg << 3, 0}}
		if _, err := p.Run(&d); err != nil {
			t.Fatalf("verified program failed to run: %v", err)
		}
		_ = p.String()
	})
}

// FuzzAssemble derives a spec from the fuzz input and checks the assembled
// program against the reference semantics.
func FuzzAssemble(f *testing.F) {
	f.Add([]byte("seed-one"), int64(1))
	f.Add([]byte{0xff, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, int64(7))
	f.Fuzz(func(t *testing.T, b []byte, seed int64) {
		if len(b) > 4096 {
			return
		}
		r := rand.New(rand.NewSource(seed))
		arch := sysnum.X86_64
		if len(b) > 0 && b[0]&1 == 1 {
			arch = sysnum.AArch64
		}
		tab := sysnum.For(arch)
		names := tab.Names()
		s := Spec{Arch: arch, Default: actionsForTest[int(seed&0xff)%len(actionsForTest)]}
		for i := 0; i+10 <= len(b); i += 10 {
			nr, _ := tab.Nr(names[int(binary.LittleEndian.Uint16(b[i:]))%len(names)])
			rl := Rule{Nr: nr, Action: actionsForTest[int(b[i+2])%len(actionsForTest)]}
			if b[i+3]&1 == 1 {
				c := Cond{Arg: int(b[i+3]>>1) % 6, Op: Op(1 + int(b[i+4])%8), Low32: b[i+4]&0x80 != 0,
					Value: uint64(binary.LittleEndian.Uint32(b[i+5:])) << (8 * (b[i+9] & 4))}
				if c.Op == OpMaskedEq || c.Op == OpMaskedNe {
					c.Mask = c.Value | uint64(b[i+9])
				}
				if c.Low32 {
					c.Value &= 0xffffffff
					c.Mask &= 0xffffffff
				}
				rl.Conds = append(rl.Conds, c)
			}
			s.Rules = append(s.Rules, rl)
		}
		p, err := s.Assemble()
		if err != nil {
			t.Fatalf("valid spec did not assemble: %v", err)
		}
		checkAgainstDecide(t, &s, p, r)
	})
}
