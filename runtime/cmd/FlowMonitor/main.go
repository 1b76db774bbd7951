// Command FlowMonitor is the supervising entity of KCFM: it starts the
// program named by FM_ENTITY_NAME in its config (through the
// ExecutionManager layer and the launcher shim), starts FlowChecker, and on
// an anomaly stops the whole process tree and restarts it with back-off,
// giving up on crash loops. It fails closed: without FlowChecker the
// program does not run, and if FlowMonitor dies the program and FlowChecker
// die too.
//
//	FlowMonitor [--config FILE] [--entity NAME] [--incidents FILE]
//	FlowMonitor [options] -- PROGRAM [ARGS...]
//
// See docs/monitor.md.
package main

import (
	"os"

	"github.com/kcfm-linux/kcfm/runtime/launcher"
	"github.com/kcfm-linux/kcfm/runtime/monitor"
)

func main() {
	launcher.MaybeRunShim() // the launcher re-executes this binary as its pre-exec shim
	os.Exit(monitor.MonitorMain(os.Args[1:]))
}
