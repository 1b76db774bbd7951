package launcher

import (
	"syscall"
	"unsafe"

	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"golang.org/x/sys/unix"
)

// The last steps before the program runs happen in a child the shim makes
// with clone(CLONE_VFORK|CLONE_PARENT|CLONE_FILES), without CLONE_VM:
//
//   - the child is single-threaded, so after the filter is installed the only
//     system call it makes is the execve (no Go runtime thread can trip over
//     a strict filter with a futex or nanosleep);
//   - CLONE_FILES shares the fd table with the shim, so the listener fd the
//     filter returns is visible to the shim, which (unfiltered) sends it to
//     the supervisor: the program never needs sendmsg; execve unshares the
//     table and closes the listener (O_CLOEXEC) in the program only;
//   - CLONE_VFORK suspends the shim until the child has exec'd or died, so
//     the shim knows when the listener is ready and whether execve failed;
//   - CLONE_PARENT makes the program a child of the supervisor, not of the
//     short-lived shim.
//
// Like syscall.forkAndExecInChild, the child runs Go code on a copy of the
// goroutine stack and may only make raw system calls: no allocation, no
// write barriers, no stack growth (nosplit), no race instrumentation.

// Result page, shared between the child and the shim (MAP_SHARED).
const (
	pgStage    = 0 // last stage reached
	pgErrno    = 1 // errno of the failing stage
	pgListener = 2 // listener fd + 1
	pgFlags    = 3 // seccomp flags that took effect
	pgWords    = 8
)

// Stages of the child, reported on failure.
const (
	stagePdeathsig = 1 + iota
	stageParentGone
	stageSetpgid
	stageSignals
	stageSigmask
	stageNoNewPrivs
	stageSeccomp
	stageExec
)

var stageNames = map[uint64]string{
	stagePdeathsig:  "prctl(PR_SET_PDEATHSIG)",
	stageParentGone: "supervisor exited before the program started",
	stageSetpgid:    "setpgid",
	stageSignals:    "resetting signal handlers",
	stageSigmask:    "restoring the signal mask",
	stageNoNewPrivs: "prctl(PR_SET_NO_NEW_PRIVS)",
	stageSeccomp:    "installing the seccomp filter",
	stageExec:       "execve",
}

// childArgs is prepared by the shim before clone; the child only reads it.
type childArgs struct {
	supervisorPid uintptr
	path          *byte
	argv          **byte // first element of a NULL-terminated array
	envv          **byte
	prog          *seccomp.SockFprog // nil: no filter
	flags         uintptr
	secret        [3]uintptr
	page          *[pgWords]uint64
	act           [4]uint64 // struct sigaction scratch (handler, flags, restorer, mask)
	dfl           [4]uint64 // SIG_DFL, all zero
	mask          uint64    // signal mask for the program (empty)
}

const cloneFlags = unix.CLONE_VFORK | unix.CLONE_PARENT | unix.CLONE_FILES | uintptr(syscall.SIGCHLD)

// forkChild clones; in the shim it returns the child's pid once the child
// has exec'd or exited. The child never returns.
//
//go:nosplit
//go:norace
//go:nocheckptr
func forkChild(a *childArgs) (uintptr, syscall.Errno) {
	pid, _, e := syscall.RawSyscall6(unix.SYS_CLONE, cloneFlags, 0, 0, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	if pid != 0 {
		return pid, 0
	}
	childMain(a)
	return 0, 0 // not reached
}

//go:nosplit
//go:norace
//go:nocheckptr
func childFail(a *childArgs, stage uint64, e syscall.Errno) {
	a.page[pgStage] = stage
	a.page[pgErrno] = uint64(e)
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
	}
}

//go:nosplit
//go:norace
//go:nocheckptr
func childMain(a *childArgs) {
	// Die with the supervisor's launcher thread; if it is already gone
	// (the child was reparented), stop here.
	if _, _, e := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); e != 0 {
		childFail(a, stagePdeathsig, e)
	}
	if ppid, _, _ := syscall.RawSyscall(unix.SYS_GETPPID, 0, 0, 0); ppid != a.supervisorPid {
		childFail(a, stageParentGone, syscall.ESRCH)
	}
	// Own process group, so the supervisor can kill the program and
	// everything it forks at once.
	if _, _, e := syscall.RawSyscall(unix.SYS_SETPGID, 0, 0, 0); e != 0 {
		childFail(a, stageSetpgid, e)
	}
	// The shim's Go signal handlers must not run in this child: reset every
	// caught signal to SIG_DFL (ignored ones stay ignored, as across exec).
	for sig := uintptr(1); sig <= 64; sig++ {
		if sig == uintptr(syscall.SIGKILL) || sig == uintptr(syscall.SIGSTOP) {
			continue
		}
		if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&a.act[0])), 8, 0, 0); e != 0 {
			continue // not a valid signal number here (32, 33 are glibc's)
		}
		if a.act[0] == 1 { // SIG_IGN
			continue
		}
		if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&a.dfl[0])), 0, 8, 0, 0); e != 0 && e != syscall.EINVAL {
			childFail(a, stageSignals, e)
		}
	}
	// The shim blocked every signal around clone; the program starts with
	// an empty mask. From here a signal takes its default action.
	if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&a.mask)), 0, 8, 0, 0); e != 0 {
		childFail(a, stageSigmask, e)
	}
	if a.prog != nil {
		if _, _, e := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
			childFail(a, stageNoNewPrivs, e)
		}
		flags := a.flags
		for {
			fd, _, e := syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(a.prog)))
			if e == syscall.EINVAL && flags&uintptr(seccomp.FlagWaitKillableRecv) != 0 {
				flags &^= uintptr(seccomp.FlagWaitKillableRecv) // kernel < 5.19
				continue
			}
			if e != 0 {
				childFail(a, stageSeccomp, e)
			}
			if flags&uintptr(seccomp.FlagNewListener) != 0 {
				a.page[pgListener] = uint64(fd) + 1
			}
			a.page[pgFlags] = uint64(flags)
			break
		}
	}
	a.page[pgStage] = stageExec
	// The filter lets exactly this execve through: its unused argument
	// registers carry the secret (see execSecretRule).
	_, _, e := syscall.RawSyscall6(unix.SYS_EXECVE,
		uintptr(unsafe.Pointer(a.path)),
		uintptr(unsafe.Pointer(a.argv)),
		uintptr(unsafe.Pointer(a.envv)),
		a.secret[0], a.secret[1], a.secret[2])
	childFail(a, stageExec, e)
}
