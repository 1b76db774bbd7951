// Command FlowChecker is the checking entity of KCFM: it receives the
// program instances FlowMonitor starts (seccomp listener + function-event
// arena), checks every function event and notified syscall against the
// program's signature (FC_GRAPH_FILENAME) and refuses an anomalous syscall
// before it runs, reporting the anomaly to FlowMonitor.
//
//	FlowChecker --ipc-fd N       (started by FlowMonitor)
//	FlowChecker --listen PATH    (FlowMonitors connect with checker.socket)
//
// See docs/monitor.md.
package main

import (
	"os"

	_ "github.com/kcfm-linux/kcfm/runtime/livemodel" // sets monitor.DefaultLoader
	"github.com/kcfm-linux/kcfm/runtime/monitor"
)

func main() {
	os.Exit(monitor.CheckerMain(os.Args[1:], monitor.DefaultLoader))
}
