package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/runtime/checker"
	"github.com/kcfm-linux/kcfm/runtime/trace"
)

func init() {
	register(&cli.Command{
		Name:      "check",
		Usage:     "replay a recorded trace against a signature and report the first event the model rejects",
		ArgsUsage: "SIGNATURE TRACE",
		Description: `Exit status: 0 the whole trace is accepted, 2 an event was rejected (the
anomaly is printed as JSON on standard output), 1 bad input.
TRACE is a kcfm-trace file as written by 'kcfm record' (docs/formats.md); '-' reads standard input.`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "observe", Usage: "check only these syscalls (names or numbers; default: every syscall in the trace)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("check: want SIGNATURE TRACE, got %d arguments", c.NArg())
			}
			sig, err := model.ReadSignature(c.Args().Get(0))
			if err != nil {
				return err
			}
			var obs func(int) bool
			if names := c.StringSlice("observe"); len(names) > 0 {
				set, err := syscallSet(sig.Arch, names)
				if err != nil {
					return err
				}
				obs = func(nr int) bool { return set[nr] }
			}
			in := os.Stdin
			if p := c.Args().Get(1); p != "-" {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			r, err := trace.NewReader(in)
			if err != nil {
				return fmt.Errorf("%s: %v", c.Args().Get(1), err)
			}
			if r.Header.Arch != "" && r.Header.Arch != sig.Arch {
				return fmt.Errorf("trace is for %s, signature for %s", r.Header.Arch, sig.Arch)
			}
			res, err := checker.New(sig, obs).Replay(r)
			if err != nil {
				return fmt.Errorf("%s: %v", c.Args().Get(1), err)
			}
			if res.Anomaly != nil {
				out, _ := json.Marshal(res.Anomaly)
				fmt.Println(string(out))
				fmt.Fprintf(os.Stderr, "kcfm check: REJECTED at trace line %d after %d events: %s\n", res.Line, res.Events, res.Anomaly.Event)
				return &exitError{code: 2}
			}
			fmt.Printf("accepted: %d events, average branching factor %.2f\n", res.Events, res.Stats.ABF())
			return nil
		},
	})
}
