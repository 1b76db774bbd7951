package execmgr

import (
	"io"
	"syscall"
	"time"

	"github.com/kcfm-linux/kcfm/runtime/launcher"
	"github.com/kcfm-linux/kcfm/runtime/ring"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// LaunchOptions is the pre-exec part of a start (runtime/launcher).
type LaunchOptions struct {
	// Filter is installed before the program's execve (nil: none). When
	// it notifies, Instance.Listener receives the notifications.
	Filter *seccomp.Spec
	// Mode and Sensitive describe Filter for FlowChecker ("default" with
	// the sensitive entries, or "full").
	Mode      string
	Sensitive []string
	// Ring creates a function-event arena (RingSlots × RingRecords, 0 =
	// the ring package's defaults) passed in KCFM_RING_FD.
	Ring                   bool
	RingSlots, RingRecords int
	// RingStall is KCFM_RING_STALL_MS (0: the runtime's default).
	RingStall time.Duration
}

// launch starts the program through the launcher shim. The launcher forks
// from its own thread that lives as long as the process (PDEATHSIG), puts
// the program in its own process group (pgid = pid) and makes it a child of
// this process.
func launch(spec Spec, argv []string) (*Instance, func() (Status, error), error) {
	var ar *ring.Arena
	if spec.Launch.Ring {
		a, err := ring.NewArena(spec.Launch.RingSlots, spec.Launch.RingRecords)
		if err != nil {
			return nil, nil, err
		}
		ar = a
	}
	cfg := launcher.Config{Path: spec.Path, Args: argv, Env: spec.Env, Dir: spec.Dir, Spec: spec.Launch.Filter,
		Arena: ar, RingStall: spec.Launch.RingStall}
	if spec.Env == nil {
		cfg.Env = []string{}
	}
	// A nil *os.File must not become a non-nil io.Reader/io.Writer.
	if spec.Stdin != nil {
		cfg.Stdin = io.Reader(spec.Stdin)
	}
	if spec.Stdout != nil {
		cfg.Stdout = io.Writer(spec.Stdout)
	}
	if spec.Stderr != nil {
		cfg.Stderr = io.Writer(spec.Stderr)
	}
	p, err := launcher.Start(cfg)
	if err != nil {
		if ar != nil {
			ar.Close()
		}
		return nil, nil, err
	}
	wait := func() (Status, error) {
		st, err := p.Wait()
		if err != nil {
			return Status{}, err
		}
		return statusOf(st.Sys().(syscall.WaitStatus)), nil
	}
	return &Instance{Pid: p.Pid, Listener: p.Listener, Arena: ar}, wait, nil
}
