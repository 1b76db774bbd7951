package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InstallFlags are SECCOMP_FILTER_FLAG_* values.
type InstallFlags uint

// Filter flags (linux/seccomp.h).
const (
	FlagTsync            InstallFlags = 1 << 0 // apply to every thread of the process
	FlagLog              InstallFlags = 1 << 1
	FlagSpecAllow        InstallFlags = 1 << 2
	FlagNewListener      InstallFlags = 1 << 3 // return a notification fd (kernel >= 5.0)
	FlagTsyncESRCH       InstallFlags = 1 << 4
	FlagWaitKillableRecv InstallFlags = 1 << 5 // once received, only fatal signals interrupt the wait (kernel >= 5.19)
)

// ErrNotSupported is wrapped by errors caused by a kernel that lacks a
// seccomp feature (tests skip on it; it never hides other failures).
var ErrNotSupported = errors.New("not supported by this kernel")

// SockFprog is struct sock_fprog.
type SockFprog struct {
	Len    uint16
	_      [6]byte
	Filter *Insn
}

// Fprog returns the struct sock_fprog for p. p must stay alive while the
// result is used.
func (p Program) Fprog() SockFprog { return SockFprog{Len: uint16(len(p)), Filter: &p[0]} }

// Install loads the program into the calling thread (every thread with
// FlagTsync) after setting PR_SET_NO_NEW_PRIVS, and returns the
// notification fd when FlagNewListener is given (else -1). Lock the
// goroutine to its thread first (runtime.LockOSThread) unless FlagTsync is
// set, or the filter lands on an arbitrary thread.
//
// If the kernel rejects FlagWaitKillableRecv (< 5.19) it is dropped and the
// install retried; the flags that took effect are returned.
func (p Program) Install(flags InstallFlags) (fd int, used InstallFlags, err error) {
	if err := p.Verify(); err != nil {
		return -1, 0, err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, 0, fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	prog := p.Fprog()
	for {
		r, _, e := syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
		runtime.KeepAlive(p)
		if e == 0 {
			if flags&FlagNewListener == 0 {
				return -1, flags, nil
			}
			return int(r), flags, nil
		}
		if e == syscall.EINVAL && flags&FlagWaitKillableRecv != 0 {
			flags &^= FlagWaitKillableRecv
			continue
		}
		if e == syscall.EINVAL && flags&FlagNewListener != 0 {
			return -1, 0, fmt.Errorf("seccomp(SET_MODE_FILTER, %#x): %w (user notification: %w)", uint(flags), e, ErrNotSupported)
		}
		return -1, 0, fmt.Errorf("seccomp(SET_MODE_FILTER, %#x): %w", uint(flags), e)
	}
}

// ActionAvailable asks the kernel whether it knows action a
// (SECCOMP_GET_ACTION_AVAIL); for example Notify needs 5.0.
func ActionAvailable(a Action) bool {
	k := uint32(a.Kind())
	_, _, e := syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&k)))
	return e == 0
}
