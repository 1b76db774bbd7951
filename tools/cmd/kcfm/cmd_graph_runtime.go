package main

import (
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// graphGCPercent is the GOGC of `kcfm graph` (unless GOGC is set in the
// environment). The command allocates 35-45 MB of short-lived objects on a
// live heap of ~10 MB (SQLite amalgamation, 200k-line generated corpus):
// with the default of 100 and Go's 4 MB minimum heap goal that is 9-11
// collections costing 21-36 ms of CPU (GODEBUG=gctrace=1; 4-6 % of the
// command, much of it idle-time mark workers on the other core); with 400,
// one to three collections (3-7 ms) for ~5 MB more peak RSS. The process
// exits after one translation unit, so the setting is not restored.
const graphGCPercent = 400

// tuneGraphRuntime is the graph command's Before hook.
func tuneGraphRuntime(*cli.Context) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(graphGCPercent)
	}
	return nil
}

// The graph command is registered by cmd_graph.go's init, which runs before
// this file's (init functions run in file-name order); TestGraphRuntimeHook
// checks that the hook is installed.
func init() {
	for _, c := range commands {
		if c.Name == "graph" {
			prev := c.Before
			c.Before = func(ctx *cli.Context) error {
				if err := tuneGraphRuntime(ctx); err != nil {
					return err
				}
				if prev != nil {
					return prev(ctx)
				}
				return nil
			}
		}
	}
}
