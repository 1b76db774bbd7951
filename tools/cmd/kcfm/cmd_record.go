package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/record"
	"github.com/kcfm-linux/kcfm/runtime/trace"
)

func init() {
	register(&cli.Command{
		Name:      "record",
		Usage:     "run a program and record its function events and syscalls as a trace (for kcfm check)",
		ArgsUsage: "-- PROGRAM [ARGS...]",
		Description: `Function events come from the program's instrumentation (-finstrument-functions +
libkcfm_rt, as set up by kcfm_generate_signature) through the shared-memory ring; syscalls
from ptrace. Threads, forked children and exec are followed. kcfm record exits with the
program's status (128+N if it was killed by signal N).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "o", Usage: "trace file", Required: true},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return fmt.Errorf("record: no program (usage: kcfm record -o TRACE -- PROGRAM [ARGS...])")
			}
			f, err := os.Create(c.String("o"))
			if err != nil {
				return err
			}
			defer f.Close()
			w, err := trace.NewWriter(f, trace.Header{Arch: string(sysnum.Host()), Program: c.Args().First()})
			if err != nil {
				return err
			}
			res, err := record.Run(record.Options{
				Path: c.Args().First(), Args: c.Args().Tail(),
				Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
			}, w)
			if err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "kcfm record: %d events written to %s\n", res.Events, c.String("o"))
			if res.ExitCode != 0 {
				return &exitError{code: res.ExitCode}
			}
			return nil
		},
	})
}
