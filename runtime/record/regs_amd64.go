package record

import "golang.org/x/sys/unix"

func syscallNr(tid int) (int, error) {
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &regs); err != nil {
		return 0, err
	}
	return int(regs.Orig_rax), nil
}
