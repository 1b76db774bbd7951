package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/kcfm-linux/kcfm/runtime/launcher"
	_ "github.com/kcfm-linux/kcfm/runtime/livemodel" // sets monitor.DefaultLoader
	"github.com/kcfm-linux/kcfm/runtime/monitor"
)

// checkerCommand is the hidden subcommand `kcfm run` starts as its
// FlowChecker process (the same binary, so the model is the same).
const checkerCommand = "__flowchecker"

func init() {
	// `kcfm run` starts programs through runtime/launcher, which re-executes
	// this binary as its pre-exec shim; the shim must run before anything
	// else. Init functions of package main run before main(), on the main
	// thread.
	launcher.MaybeRunShim()
	register(&cli.Command{
		Name:      "run",
		Usage:     "run a program under FlowMonitor + FlowChecker on this host",
		ArgsUsage: "-- PROGRAM [ARGS...]",
		Description: "Starts FlowChecker (this binary, as a separate process) and supervises PROGRAM like FlowMonitor:\n" +
			"sensitive syscalls are held until the program's function events and the syscall were checked\n" +
			"against the signature; an anomaly kills the program before the syscall runs, is recorded as a\n" +
			"JSON line, and the program is restarted (at most --restarts times).\n\n" +
			"Exit status: the program's own status when it ends without an anomaly (128+N for signal N);\n" +
			"3 when an anomaly stopped it and no restart was left; 4 crash loop (--restart-on-crash);\n" +
			"5 FlowChecker died (the program was killed); 1 other errors; 2 bad usage.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "signature", Usage: "signature `FILE` (default: PROGRAM.kcfm next to the program)"},
			&cli.IntFlag{Name: "restarts", Value: 5, Usage: "restarts allowed after anomalies (and crashes with --restart-on-crash); 0 = stop at the first anomaly"},
			&cli.StringFlag{Name: "incidents", Value: "-", Usage: "append incident JSON lines to `FILE` (\"-\" = standard error)"},
			&cli.StringFlag{Name: "mode", Value: monitor.ModeDefault, Usage: "default (sensitive syscalls checked) or full (every syscall checked)"},
			&cli.BoolFlag{Name: "restart-on-crash", Usage: "also restart when the program crashes (signal or non-zero exit)"},
			&cli.DurationFlag{Name: "backoff", Value: monitor.DefaultBackoffInitial, Usage: "delay before the first restart; doubled for each further one"},
			&cli.DurationFlag{Name: "backoff-max", Value: monitor.DefaultBackoffMax, Usage: "longest delay between restarts"},
			&cli.StringSliceFlag{Name: "sensitive", Usage: "add an entry to the sensitive set (\"name[:cond][=action]\"), repeatable"},
		},
		Action: runAction,
	})
	register(&cli.Command{
		Name:            checkerCommand,
		Hidden:          true,
		SkipFlagParsing: true,
		Usage:           "internal: FlowChecker process of `kcfm run`",
		Action: func(c *cli.Context) error {
			if code := monitor.CheckerMain(c.Args().Slice(), monitor.DefaultLoader); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	})
}

func runAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return &exitError{code: monitor.ExitUsage, msg: "run: no program (usage: kcfm run [options] -- PROGRAM [ARGS...])"}
	}
	if monitor.DefaultLoader == nil {
		return &exitError{code: monitor.ExitError, msg: "run: this kcfm was built without the checker model (monitor.DefaultLoader is not set)"}
	}
	prog, err := filepath.Abs(c.Args().First())
	if err != nil {
		return &exitError{code: monitor.ExitUsage, msg: "run: " + err.Error()}
	}
	if st, err := os.Stat(prog); err != nil || !st.Mode().IsRegular() {
		return &exitError{code: monitor.ExitUsage, msg: fmt.Sprintf("run: %s is not a program file", prog)}
	}
	sig := c.String("signature")
	if sig == "" {
		sig = prog + ".kcfm"
	}
	if sig, err = filepath.Abs(sig); err != nil {
		return &exitError{code: monitor.ExitUsage, msg: "run: " + err.Error()}
	}
	if _, err := os.Stat(sig); err != nil {
		return &exitError{code: monitor.ExitUsage, msg: fmt.Sprintf("run: signature %s: %v (build it with kcfm_generate_signature or pass --signature)", sig, runErrText(err))}
	}
	restarts := c.Int("restarts")
	if restarts < 0 {
		return &exitError{code: monitor.ExitUsage, msg: "run: --restarts must be >= 0"}
	}
	self, err := os.Executable()
	if err != nil {
		return &exitError{code: monitor.ExitError, msg: "run: " + err.Error()}
	}
	e := &monitor.Entity{
		Name: filepath.Base(prog), Path: prog, Args: c.Args().Tail(), Signature: sig, Mode: c.String("mode"),
		Sensitive: monitor.Sensitive{Add: c.StringSlice("sensitive")}, OnAnomaly: monitor.ActionRestart,
		RestartOnCrash: c.Bool("restart-on-crash"),
		Backoff:        monitor.Backoff{Initial: monitor.Duration(c.Duration("backoff")), Max: monitor.Duration(c.Duration("backoff-max"))},
		CrashLoop:      monitor.CrashLoop{Restarts: &restarts, Window: 0},
		StopTimeout:    monitor.Duration(2 * time.Second),
	}
	if name := os.Getenv(monitor.EnvEntityName); name != "" {
		e.Name = name
	}
	if err := e.Validate(); err != nil {
		return &exitError{code: monitor.ExitUsage, msg: "run: " + err.Error()}
	}
	ctx, cancel := monitor.SignalContext(context.Background())
	defer cancel()
	code := monitor.RunEntity(ctx, e, monitor.RunOptions{Incidents: c.String("incidents"),
		CheckerPath: self, CheckerArgs: []string{checkerCommand}})
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func runErrText(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
