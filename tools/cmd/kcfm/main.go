// Command kcfm is the build-time and host-side tool of the KCFM control-flow
// monitor: it builds TU graphs from C/C++ source (graph), links them into a
// program signature (link), computes libc summaries (libc), generates
// policies (policy), inspects and checks signatures (show, check) and runs a
// program monitored (run).
//
// Each subcommand lives in its own cmd_*.go file and registers itself with
// register() from an init function, so that independent subcommands do not
// have to touch a shared list.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
)

var commands []*cli.Command

// register adds a subcommand; called from init functions of cmd_*.go files.
func register(c *cli.Command) { commands = append(commands, c) }

// exitError is returned by subcommands that need a specific exit status
// (for example `kcfm check` distinguishes "rejected" from "error").
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return &cli.App{
		Name:                 "kcfm",
		Usage:                "control-flow monitor for C/C++ programs: build graphs and signatures, generate policies, run monitored",
		Commands:             commands,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
	}
}

func main() {
	if err := newApp().Run(os.Args); err != nil {
		code := 1
		if ee, ok := err.(*exitError); ok {
			code = ee.code
			if ee.msg == "" {
				os.Exit(code)
			}
		}
		fmt.Fprintf(os.Stderr, "kcfm: %v\n", err)
		os.Exit(code)
	}
}
