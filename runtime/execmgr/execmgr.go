// Package execmgr is the ExecutionManager layer of KCFM on Linux: the one
// place that starts monitored programs, waits for them and stops their
// whole process tree. FlowMonitor uses it through the Manager interface;
// Local is the in-process fork/exec implementation (an IPC client of an
// ExecutionManager entity comes with the images).
//
// Local makes its process a child subreaper (PR_SET_CHILD_SUBREAPER), so
// orphans of a monitored tree are reparented to it and can be found,
// killed and reaped: after Stop no zombie and no orphan of the instance is
// left. Every instance runs in its own process group, whose id is the
// program's pid. Programs are started through runtime/launcher (seccomp
// filter, function-event arena); every binary using Local must call
// launcher.MaybeRunShim first in main. All children are forked from OS
// threads that live as long as the process, so PR_SET_PDEATHSIG (which
// fires when the *thread* that forked a child exits) only fires when the
// process dies.
package execmgr

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/kcfm-linux/kcfm/runtime/ring"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// Spec is a program to start.
type Spec struct {
	Name string   // entity name (for messages)
	Path string   // absolute path of the executable
	Argv []string // argv, argv[0] included (default: [Path])
	Env  []string // the complete environment
	Dir  string   // working directory ("" = the caller's)

	Stdin, Stdout, Stderr *os.File // nil = /dev/null

	// Launch holds the pre-exec part (seccomp filter, function-event arena).
	Launch LaunchOptions
}

// Instance is a started program: its first process and what the launcher
// handed over.
type Instance struct {
	ID       uint64
	Pid      int               // the program's first process
	Pgid     int               // its process group (= Pid)
	Exe      string            // absolute executable path
	Listener *seccomp.Listener // seccomp user-notification listener, nil if none (the caller closes it)
	Arena    *ring.Arena       // function-event arena, nil if none (the caller closes it)
	Started  time.Time         // when the program was started

	impl any // implementation data
}

// Status is how a program ended.
type Status struct {
	Exited bool           // exited normally with Code
	Code   int            // exit code when Exited
	Signal syscall.Signal // the signal that killed it when !Exited
}

// ExitCode is the status as a shell reports it: the code, or 128+signal.
func (s Status) ExitCode() int {
	if s.Exited {
		return s.Code
	}
	return 128 + int(s.Signal)
}

// Success reports a normal exit with code 0.
func (s Status) Success() bool { return s.Exited && s.Code == 0 }

func (s Status) String() string {
	if s.Exited {
		return fmt.Sprintf("exit %d", s.Code)
	}
	return fmt.Sprintf("signal %d (%v)", int(s.Signal), s.Signal)
}

func statusOf(ws syscall.WaitStatus) Status {
	if ws.Signaled() {
		return Status{Signal: ws.Signal()}
	}
	return Status{Exited: true, Code: ws.ExitStatus()}
}

// Manager starts, waits for and stops program instances.
type Manager interface {
	// Start starts a program instance.
	Start(spec Spec) (*Instance, error)
	// Wait blocks until the instance's first process has ended and returns
	// how it ended. It may be called more than once.
	Wait(inst *Instance) (Status, error)
	// Stop ends the whole process tree of the instance: SIGTERM to every
	// process, SIGKILL after grace (at once with grace 0), then waits until
	// every process is gone and reaped. It may be called more than once, also
	// after the first process has ended (to clean up what it left).
	Stop(inst *Instance, grace time.Duration) error
	// Close stops every instance still running.
	Close() error
}
