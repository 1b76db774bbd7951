package policy

import (
	"encoding/binary"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// A test-only compiler from the OCI seccomp profile (decoded with the
// runtime-spec types) to a classic BPF seccomp program, and an interpreter
// for it. It is a small libseccomp: enough to install what WriteOCI emits
// on a real kernel and to compare the program's answers with
// Policy.Action. The launcher's real filter is runtime/seccomp's.

type sockFilter struct {
	Code uint16
	Jt   uint8
	Jf   uint8
	K    uint32
}

// cBPF opcodes (linux/bpf_common.h).
const (
	bpfLdWAbs = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJeqK   = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJsetK  = 0x45 // BPF_JMP | BPF_JSET | BPF_K
	bpfAndK   = 0x54 // BPF_ALU | BPF_AND | BPF_K
	bpfRetK   = 0x06 // BPF_RET | BPF_K
)

// seccomp return values (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retErrno       = 0x00050000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
	// testNotifyErrno stands in for SECCOMP_RET_USER_NOTIF when no
	// listener runs: the syscall fails with EOPNOTSUPP, which the test
	// programs look for.
	testNotifyErrno = 95
)

// seccomp_data offsets.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

func actionRet(a specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	switch a {
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActErrno:
		e := uint(1)
		if errno != nil {
			e = *errno
		}
		return retErrno | uint32(e&0xffff), nil
	case specs.ActNotify:
		return retErrno | testNotifyErrno, nil
	}
	return 0, fmt.Errorf("action %s not supported by the test compiler", a)
}

// compileOCI turns a profile into a BPF program for one architecture.
func compileOCI(s *specs.LinuxSeccomp, arch sysnum.Arch) ([]sockFilter, error) {
	if len(s.Architectures) != 1 {
		return nil, fmt.Errorf("want one architecture, got %v", s.Architectures)
	}
	want, _ := OCIArch(arch)
	if string(s.Architectures[0]) != want {
		return nil, fmt.Errorf("profile is for %s, not %s", s.Architectures[0], want)
	}
	tab := sysnum.For(arch)
	def, err := actionRet(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	prog := []sockFilter{
		{Code: bpfLdWAbs, K: offArch},
		{Code: bpfJeqK, Jt: 1, Jf: 0, K: arch.AuditArch()},
		{Code: bpfRetK, K: retKillProcess},
		{Code: bpfLdWAbs, K: offNr},
	}
	if arch == sysnum.X86_64 {
		// x32 syscalls share the arch token; refuse them like libseccomp.
		prog = append(prog, sockFilter{Code: bpfJsetK, Jt: 0, Jf: 1, K: 0x40000000}, sockFilter{Code: bpfRetK, K: retKillProcess})
	}
	for _, sc := range s.Syscalls {
		ret, err := actionRet(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, err
		}
		for _, name := range sc.Names {
			nr, ok := tab.Nr(name)
			if !ok {
				return nil, fmt.Errorf("unknown syscall %q on %s", name, arch)
			}
			var body []sockFilter
			for _, a := range sc.Args {
				if a.Index > 5 {
					return nil, fmt.Errorf("%s: argument index %d", name, a.Index)
				}
				mask, val := ^uint64(0), a.Value
				switch a.Op {
				case specs.OpMaskedEqual:
					mask, val = a.Value, a.ValueTwo
				case specs.OpEqualTo:
				default:
					return nil, fmt.Errorf("%s: operator %s not supported by the test compiler", name, a.Op)
				}
				off := uint32(offArgs + 8*a.Index)
				// jf targets are patched to "next rule" below (marker 0xff).
				body = append(body,
					sockFilter{Code: bpfLdWAbs, K: off + 4},
					sockFilter{Code: bpfAndK, K: uint32(mask >> 32)},
					sockFilter{Code: bpfJeqK, Jt: 0, Jf: 0xff, K: uint32(val >> 32)},
					sockFilter{Code: bpfLdWAbs, K: off},
					sockFilter{Code: bpfAndK, K: uint32(mask)},
					sockFilter{Code: bpfJeqK, Jt: 0, Jf: 0xff, K: uint32(val)},
				)
			}
			body = append(body, sockFilter{Code: bpfRetK, K: ret})
			// block: [ld nr] jeq nr ? body : next
			block := []sockFilter{{Code: bpfLdWAbs, K: offNr}, {Code: bpfJeqK, Jt: 0, Jf: uint8(len(body)), K: uint32(nr)}}
			for i := range body {
				if body[i].Jf == 0xff {
					body[i].Jf = uint8(len(body) - i - 1)
				}
			}
			if len(body) > 250 {
				return nil, fmt.Errorf("%s: rule too long", name)
			}
			prog = append(prog, block...)
			prog = append(prog, body...)
		}
	}
	prog = append(prog, sockFilter{Code: bpfRetK, K: def})
	if len(prog) > 4096 {
		return nil, fmt.Errorf("program of %d instructions exceeds BPF_MAXINSNS", len(prog))
	}
	return prog, nil
}

// runBPF interprets the program on one seccomp_data.
func runBPF(prog []sockFilter, arch sysnum.Arch, nr int, args [6]uint64) (uint32, error) {
	var data [64]byte
	binary.LittleEndian.PutUint32(data[offNr:], uint32(nr))
	binary.LittleEndian.PutUint32(data[offArch:], arch.AuditArch())
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[offArgs+8*i:], a)
	}
	var A uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case bpfLdWAbs:
			if in.K+4 > uint32(len(data)) {
				return 0, fmt.Errorf("pc %d: load out of range", pc)
			}
			A = binary.LittleEndian.Uint32(data[in.K:])
		case bpfAndK:
			A &= in.K
		case bpfJeqK:
			if A == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfJsetK:
			if A&in.K != 0 {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfRetK:
			return in.K, nil
		default:
			return 0, fmt.Errorf("pc %d: opcode %#x", pc, in.Code)
		}
	}
	return 0, fmt.Errorf("fell off the program")
}

// encodeBPF is the raw struct sock_filter array the C loader reads.
func encodeBPF(prog []sockFilter) []byte {
	out := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		var b [8]byte
		binary.LittleEndian.PutUint16(b[0:], in.Code)
		b[2], b[3] = in.Jt, in.Jf
		binary.LittleEndian.PutUint32(b[4:], in.K)
		out = append(out, b[:]...)
	}
	return out
}
