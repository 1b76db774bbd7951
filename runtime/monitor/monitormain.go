package monitor

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kcfm-linux/kcfm/runtime/execmgr"
)

// MonitorMain is the main of FlowMonitor:
//
//	FlowMonitor [--config FILE] [--entity NAME] [--incidents FILE] [--execmgr-channel ID]
//	FlowMonitor [options] -- PROGRAM [ARGS...]   (an entity made from the options)
//
// With --execmgr-channel the program is started by the ExecutionManager
// entity on that einit channel (execmgr.Remote), not forked by FlowMonitor.
// The entity comes from the config file (--config, else $FM_CONFIG, else
// DefaultConfigPath) selected by --entity or $FM_ENTITY_NAME; with a
// PROGRAM after "--" no config file is read. It returns the exit status.
func MonitorMain(args []string) int {
	fs := flag.NewFlagSet("FlowMonitor", flag.ContinueOnError)
	config := fs.String("config", "", "config file (default $"+EnvConfig+" or "+DefaultConfigPath+")")
	entity := fs.String("entity", "", "entity to run (default $"+EnvEntityName+")")
	incidents := fs.String("incidents", "", "append incident records to this file (\"-\" = stderr; overrides the config)")
	checker := fs.String("checker", "", "FlowChecker binary (overrides checker.path)")
	signature := fs.String("signature", "", "ad-hoc: signature file (default PROGRAM.kcfm)")
	mode := fs.String("mode", ModeDefault, "ad-hoc: default|full")
	onAnomaly := fs.String("on-anomaly", ActionRestart, "ad-hoc: restart|stop|log-only")
	restarts := fs.Int("restarts", DefaultCrashLoopRestart, "ad-hoc: restarts allowed within --window")
	window := fs.Duration("window", DefaultCrashLoopWindow, "ad-hoc: crash-loop window (0 = unlimited)")
	restartOnCrash := fs.Bool("restart-on-crash", false, "ad-hoc: restart when the program crashes")
	backoffInitial := fs.Duration("backoff-initial", DefaultBackoffInitial, "ad-hoc: first restart delay")
	backoffMax := fs.Duration("backoff-max", DefaultBackoffMax, "ad-hoc: longest restart delay")
	execmgrChannel := fs.String("execmgr-channel", "", "start the program through the ExecutionManager entity on this einit channel (KCFM_CHANNEL_<id>) instead of forking it")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: FlowMonitor [--config FILE] [--entity NAME] [--incidents FILE]\n"+
			"       FlowMonitor [options] -- PROGRAM [ARGS...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "FlowMonitor: %s\n", fmt.Sprintf(format, a...))
		return code
	}
	var e *Entity
	if fs.NArg() > 0 {
		prog, err := filepath.Abs(fs.Arg(0))
		if err != nil {
			return fail(ExitUsage, "%v", err)
		}
		name := *entity
		if name == "" {
			name = os.Getenv(EnvEntityName)
		}
		if name == "" {
			name = filepath.Base(prog)
		}
		e = &Entity{Name: name, Path: prog, Args: fs.Args()[1:], Signature: *signature, Mode: *mode, OnAnomaly: *onAnomaly,
			RestartOnCrash: *restartOnCrash, Backoff: Backoff{Initial: Duration(*backoffInitial), Max: Duration(*backoffMax)},
			CrashLoop: CrashLoop{Restarts: restarts, Window: Duration(*window)}}
		if e.Signature != "" {
			if e.Signature, err = filepath.Abs(e.Signature); err != nil {
				return fail(ExitUsage, "%v", err)
			}
		}
		if err := e.Validate(); err != nil {
			return fail(ExitUsage, "%v", err)
		}
	} else {
		path := *config
		if path == "" {
			path = os.Getenv(EnvConfig)
		}
		if path == "" {
			path = DefaultConfigPath
		}
		c, err := LoadConfig(path)
		if err != nil {
			return fail(ExitUsage, "%v", err)
		}
		name := *entity
		if name == "" {
			name = os.Getenv(EnvEntityName)
		}
		if e, err = c.Entity(name); err != nil {
			return fail(ExitUsage, "%s: %v", path, err)
		}
	}
	if *checker != "" {
		e.Checker = CheckerConfig{Path: *checker}
	}
	opt := RunOptions{Incidents: *incidents}
	if *execmgrChannel != "" {
		c, err := execmgr.OpenChannel(*execmgrChannel)
		if err != nil {
			return fail(ExitError, "%v", err)
		}
		r, err := execmgr.NewRemote(c)
		if err != nil {
			return fail(ExitError, "%v", err)
		}
		opt.Manager = r
	}
	ctx, cancel := SignalContext(context.Background())
	defer cancel()
	return RunEntity(ctx, e, opt)
}
