// Package monitor holds the two run-time entities of KCFM as libraries:
// the checker host (FlowChecker: receives started program instances, answers
// their seccomp notifications after feeding the function-event ring and the
// syscall to a Model) and the supervisor (FlowMonitor: starts the program
// through the ExecutionManager layer, receives anomalies, stops the whole
// process tree, restarts with back-off, gives up on crash loops, fails
// closed). cmd/FlowChecker, cmd/FlowMonitor and `kcfm run` are thin mains
// around it. See docs/monitor.md.
package monitor

import (
	"github.com/kcfm-linux/kcfm/runtime/ipc"
	"github.com/kcfm-linux/kcfm/runtime/ring"
)

// Model is the run-time model of one monitored program instance (a process
// tree started by FlowMonitor). FlowChecker calls it from one goroutine at a
// time per instance.
type Model interface {
	// Func delivers one function-event record of thread tid in ring order
	// (fn = function address, site = call site).
	Func(pid, tid int, fn, site uint64, exit bool) *Anomaly
	// Syscall is a notified syscall, called only after every pending ring
	// record of that thread was delivered.
	Syscall(pid, tid int, nr int, args [6]uint64, ip uint64) *Anomaly
	// NewThread: a thread seen for the first time; parentTid is the creating
	// thread (fork: parentPid != pid), 0 if unknown.
	NewThread(pid, tid, parentPid, parentTid int)
	// Exec: the process replaced its image (path as resolved by the monitor).
	Exec(pid int, path string)
	// Exit: the thread is gone (its ring was drained first).
	Exit(pid, tid int)
}

// BatchModel is a Model that also takes function events in batches, as
// they come out of a thread's ring (cheaper per event than Func).
type BatchModel interface {
	Model
	// FuncBatch delivers records of thread tid in ring order (Lost ones
	// included: the model decides what to do with them). It returns how
	// many it consumed: all, or up to and including the record that raised
	// the returned anomaly.
	FuncBatch(pid, tid int, recs []ring.Record) (int, *Anomaly)
}

// Anomaly is what a Model reports: Type is "anomaly", Event the event that
// did not fit, Expected the events the model would have accepted, Stack the
// program's call stack (innermost first). It is the wire type of the IPC
// protocol, so a Model's report reaches FlowMonitor unchanged.
type Anomaly = ipc.Anomaly

// Frame is one call-stack frame of an Anomaly.
type Frame = ipc.Frame

// Loader makes the Model of one program instance from the signature file
// (FC_GRAPH_FILENAME) and the program's executable path.
type Loader func(signaturePath, exePath string) (Model, error)

// DefaultLoader is the Loader of the production binaries (FlowChecker,
// FlowMonitor and `kcfm run` when they host the checker). The model package
// sets it; while it is nil those binaries refuse to run.
var DefaultLoader Loader
