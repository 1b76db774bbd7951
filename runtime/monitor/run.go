package monitor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/execmgr"
)

// RunOptions are the parts of a FlowMonitor run that do not come from the
// entity's config.
type RunOptions struct {
	// Incidents overrides the entity's incidents file when set ("-" = stderr).
	Incidents string
	// CheckerPath/CheckerArgs start FlowChecker when the entity does not
	// name one (checker.path) or a socket (checker.socket); empty CheckerPath
	// means FindChecker.
	CheckerPath string
	CheckerArgs []string
	// Stdio of the program (nil: FlowMonitor's own).
	Stdin, Stdout, Stderr *os.File
	// Logf receives diagnostics (nil: standard error).
	Logf func(format string, a ...any)
	// OnRunning is called for every instance FlowChecker accepted.
	OnRunning func(inst *execmgr.Instance)
	// Manager starts the program instead of this process (e.g. an
	// execmgr.Remote talking to an ExecutionManager entity); nil: the
	// in-process execmgr.Local. RunEntity closes it.
	Manager execmgr.Manager
}

// RunEntity is FlowMonitor: it starts (or connects to) FlowChecker, then
// supervises the entity until it ends for good, and returns the exit status
// (see the Exit* constants; otherwise the program's own status).
func RunEntity(ctx context.Context, e *Entity, opt RunOptions) int {
	logf := opt.Logf
	if logf == nil {
		logf = func(format string, a ...any) {
			fmt.Fprintf(os.Stderr, "FlowMonitor[%s]: %s\n", e.Name, fmt.Sprintf(format, a...))
		}
	}
	if _, err := os.Stat(e.Path); err != nil {
		logf("program: %v", err)
		return ExitError
	}
	if _, err := os.Stat(e.Signature); err != nil {
		logf("signature: %v (build it with kcfm_generate_signature, or name it with signature:/--signature)", err)
		return ExitError
	}
	incPath := e.Incidents
	if opt.Incidents != "" {
		incPath = opt.Incidents
	}
	inc, err := OpenIncidentLog(incPath, e.Name)
	if err != nil {
		logf("%v", err)
		return ExitError
	}
	defer inc.Close()
	launch, err := launchOptions(e)
	if err != nil {
		logf("%v", err)
		return ExitUsage
	}
	var (
		mgr   execmgr.Manager = opt.Manager
		local *execmgr.Local
	)
	if mgr == nil {
		if local, err = execmgr.NewLocal(); err != nil {
			logf("%v", err)
			return ExitError
		}
		mgr = local
	}
	defer mgr.Close()
	var link *CheckerLink
	if e.Checker.Socket != "" {
		link, err = DialChecker(e.Checker.Socket)
		if err == nil && filepath.Clean(link.Peer.Signature) != filepath.Clean(e.Signature) {
			link.Close()
			err = fmt.Errorf("the FlowChecker at %s checks against %s, not this entity's signature %s", e.Checker.Socket, link.Peer.Signature, e.Signature)
		}
	} else {
		path, args := e.Checker.Path, e.Checker.Args
		if path == "" {
			path, args = opt.CheckerPath, opt.CheckerArgs
		}
		if path == "" {
			path, err = FindChecker("")
		}
		if err == nil && local == nil {
			local, err = execmgr.NewLocal() // FlowChecker is this process's child in any case
		}
		if err == nil {
			link, err = StartChecker(local, path, args, e.Signature, os.Stderr)
		}
	}
	if err != nil {
		logf("%v", err)
		return ExitError
	}
	defer link.Close()
	stdin, stdout, stderr := opt.Stdin, opt.Stdout, opt.Stderr
	if stdin == nil {
		stdin = os.Stdin
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	s := &Supervisor{Entity: e, Manager: mgr, Checker: link, Incidents: inc, Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Logf: logf, Launch: launch, OnRunning: opt.OnRunning}
	return s.Run(ctx)
}

// launchOptions builds the pre-exec options of the entity.
func launchOptions(e *Entity) (execmgr.LaunchOptions, error) {
	entries, err := SensitiveEntries(e.Sensitive)
	if err != nil {
		return execmgr.LaunchOptions{}, err
	}
	spec, err := FilterSpec(e.Signature, sysnum.Host(), e.Mode, entries)
	if err != nil {
		return execmgr.LaunchOptions{}, err
	}
	return execmgr.LaunchOptions{Filter: spec, Mode: e.Mode, Sensitive: entries, Ring: true}, nil
}
