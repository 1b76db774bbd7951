// Package seccomp builds classic-BPF seccomp filters from a declarative Spec
// and talks to the kernel's seccomp user-notification interface, without cgo.
//
// A Spec is pure data (an architecture, a default action and ordered rules);
// Spec.Assemble turns it into a Program for that architecture on any host, so
// x86_64 and aarch64 filters can be generated anywhere. Program.Run is a
// reference interpreter of the emitted instructions, used by the tests to
// check the assembler against Spec.Decide. Program.Install and Listener are
// the only parts that touch the running kernel.
//
// The filter layout, the default sensitive set and kernel-version fallbacks
// are documented in docs/runtime-mechanisms.md.
package seccomp

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Action is a seccomp filter return value (SECCOMP_RET_*), including the
// 16 data bits (errno or trace data).
type Action uint32

// Filter actions. Errno and Trace build the actions that carry data.
const (
	KillProcess Action = 0x80000000 // SECCOMP_RET_KILL_PROCESS: the whole process dies with SIGSYS
	KillThread  Action = 0x00000000 // SECCOMP_RET_KILL_THREAD
	Trap        Action = 0x00030000 // SECCOMP_RET_TRAP: SIGSYS to the thread
	Notify      Action = 0x7fc00000 // SECCOMP_RET_USER_NOTIF: ask the supervisor
	Log         Action = 0x7ffc0000 // SECCOMP_RET_LOG: allow and log
	Allow       Action = 0x7fff0000 // SECCOMP_RET_ALLOW

	retErrno  Action = 0x00050000
	retTrace  Action = 0x7ff00000
	retData   Action = 0x0000ffff
	retAction Action = 0x7fff0000
)

// Errno is the action that fails the system call with errno e without
// running it. e must fit in 16 bits (Spec.Validate checks; larger values are
// truncated by the kernel).
func Errno(e syscall.Errno) Action { return retErrno | Action(uint32(e)&uint32(retData)) }

// Trace is SECCOMP_RET_TRACE with the given data (for a ptrace supervisor).
func Trace(data uint16) Action { return retTrace | Action(data) }

// Kind returns the action without its data bits (Errno(e).Kind() ==
// Errno(0)).
func (a Action) Kind() Action {
	if a&KillProcess != 0 {
		return KillProcess
	}
	return a & retAction
}

// Data returns the 16 data bits (the errno of an Errno action).
func (a Action) Data() uint16 { return uint16(a & retData) }

// valid reports whether a is an action the kernel knows.
func (a Action) valid() bool {
	switch a.Kind() {
	case KillProcess:
		return a == KillProcess
	case KillThread, Trap, Log, Allow, Notify:
		return a.Data() == 0
	case retErrno, retTrace:
		return true
	}
	return false
}

// String returns the form ParseAction accepts: allow, notify, kill,
// kill-thread, trap, log, errno:ENAME (or errno:N), trace:N.
func (a Action) String() string {
	switch a.Kind() {
	case KillProcess:
		if a == KillProcess {
			return "kill"
		}
	case KillThread:
		if a == KillThread {
			return "kill-thread"
		}
	case Trap:
		return "trap"
	case Notify:
		return "notify"
	case Log:
		return "log"
	case Allow:
		return "allow"
	case retErrno:
		if n := unix.ErrnoName(syscall.Errno(a.Data())); n != "" {
			return "errno:" + n
		}
		return "errno:" + strconv.Itoa(int(a.Data()))
	case retTrace:
		return "trace:" + strconv.Itoa(int(a.Data()))
	}
	return fmt.Sprintf("action(%#x)", uint32(a))
}

// ParseAction parses the String form of an action, case-insensitively.
// "kill" and "kill-process" are KillProcess; errno takes a symbolic name
// (errno:EPERM) or a number (errno:1).
func ParseAction(s string) (Action, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	name, arg, hasArg := strings.Cut(t, ":")
	switch name {
	case "allow", "notify", "kill", "kill-process", "kill-thread", "trap", "log":
		if hasArg {
			return 0, fmt.Errorf("action %q takes no argument", s)
		}
	}
	switch name {
	case "allow":
		return Allow, nil
	case "notify":
		return Notify, nil
	case "kill", "kill-process":
		return KillProcess, nil
	case "kill-thread":
		return KillThread, nil
	case "trap":
		return Trap, nil
	case "log":
		return Log, nil
	case "errno":
		if !hasArg || arg == "" {
			return 0, fmt.Errorf("action %q: errno needs a value, e.g. errno:EPERM", s)
		}
		if n, err := strconv.ParseUint(arg, 0, 16); err == nil {
			return Errno(syscall.Errno(n)), nil
		}
		e := errnoByName(strings.ToUpper(arg))
		if e == 0 {
			return 0, fmt.Errorf("action %q: unknown errno name %q", s, arg)
		}
		return Errno(e), nil
	case "trace":
		n, err := strconv.ParseUint(arg, 0, 16)
		if !hasArg || err != nil {
			return 0, fmt.Errorf("action %q: trace needs a 16-bit value, e.g. trace:1", s)
		}
		return Trace(uint16(n)), nil
	}
	return 0, fmt.Errorf("unknown seccomp action %q (expected allow, notify, kill, kill-thread, trap, log, errno:NAME or trace:N)", s)
}

// errnoByName looks an errno up by its symbolic name (Linux errno values
// are the same on x86_64 and aarch64).
func errnoByName(name string) syscall.Errno {
	for e := syscall.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == name {
			return e
		}
	}
	return 0
}
