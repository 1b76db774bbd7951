package monitor

import (
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// terminal hands the foreground of a controlling terminal to the program's
// process group while it runs (the program runs in its own group: without
// this it would be stopped by SIGTTIN when it reads the terminal) and takes
// it back afterwards. Ctrl-C then reaches the program, as in a shell.
type terminal struct {
	fd   int
	pgrp int // FlowMonitor's own group
}

// foregroundTerminal returns the terminal on f if this process's group is
// its foreground group, else nil.
func foregroundTerminal(f *os.File) *terminal {
	if f == nil {
		return nil
	}
	fd := int(f.Fd())
	fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || fg != unix.Getpgrp() {
		return nil
	}
	return &terminal{fd: fd, pgrp: fg}
}

// setForeground makes pgrp the terminal's foreground group. A background
// process may do so only with SIGTTOU blocked (not ignored: an ignored
// disposition would be inherited by the programs started later), so it is
// blocked on a locked thread for the call.
func (t *terminal) setForeground(pgrp int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	set := uint64(1) << (uint(syscall.SIGTTOU) - 1)
	var old uint64
	if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return e
	}
	err := unix.IoctlSetPointerInt(t.fd, unix.TIOCSPGRP, pgrp)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	return err
}

// give hands the terminal to the program's group and wakes it in case it
// was stopped reading the terminal before it got it.
func (t *terminal) give(pgid int) {
	if t == nil {
		return
	}
	if t.setForeground(pgid) == nil {
		syscall.Kill(-pgid, syscall.SIGCONT)
	}
}

// take takes the terminal back.
func (t *terminal) take() {
	if t != nil {
		t.setForeground(t.pgrp)
	}
}
