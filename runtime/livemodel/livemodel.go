// Package livemodel plugs the pushdown checker into the run-time entities:
// it implements monitor.Model over a signature, turning the raw events of
// the function-event ring (addresses) and the seccomp notifications
// (syscall numbers and arguments) into checker events, and following the
// monitored process tree through threads, fork and exec.
//
// Importing it (for its side effect) sets monitor.DefaultLoader.
package livemodel

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/checker"
	"github.com/kcfm-linux/kcfm/runtime/monitor"
	"github.com/kcfm-linux/kcfm/runtime/ring"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"github.com/kcfm-linux/kcfm/tools/policy"
	"github.com/kcfm-linux/kcfm/tools/policy/filter"
)

func init() {
	monitor.DefaultLoader = Load
	monitor.SignatureFilter = SignatureFilter
}

// SignatureFilter makes the filter of one program from its signature, from
// the same policy description as `kcfm policy` (tools/policy and
// tools/policy/filter: one truth): syscalls the program never makes are
// killed in the kernel, the sensitive ones it makes are notified (base
// carries the sensitive set of the mode), the rest allowed. A program that
// may execute other programs gets "notify" instead of "kill" for syscalls
// outside its list, so that the programs it executes can run: FlowChecker
// sees them and, with no signature for the new program, lets them pass (the
// exec itself was checked).
func SignatureFilter(sigPath string, base *seccomp.Spec, mode string) (*seccomp.Spec, error) {
	sig, err := loadSig(sigPath)
	if err != nil {
		return nil, err
	}
	var sens []policy.SensitiveRule
	if mode != monitor.ModeFull {
		if sens, err = filter.FromRules(base.Rules); err != nil {
			return nil, err
		}
		if sens == nil {
			sens = []policy.SensitiveRule{} // an empty sensitive set is a choice, not a missing one
		}
	}
	p, err := policy.Compute(sig, policy.Options{Arch: string(base.Arch), Mode: mode, Sensitive: sens})
	if err != nil {
		return nil, fmt.Errorf("%s: policy: %v", sigPath, err)
	}
	spec, err := filter.Spec(p)
	if err != nil {
		return nil, err
	}
	if mode == monitor.ModeFull {
		// As in the base full-mode filter: clone3 fails with ENOSYS (its
		// flags are in memory), so libc falls back to clone.
		for i := range spec.Rules {
			if spec.Rules[i].Name == "clone3" {
				spec.Rules[i].Action = seccomp.Errno(unix.ENOSYS)
				spec.Rules[i].Conds = nil
			}
		}
	}
	if execCapable(sig) {
		spec.Default = seccomp.Notify
	}
	return spec, spec.Validate()
}

// Observed selects which syscalls the event source reports to the model;
// nil means every syscall ("full" mode). FlowChecker sets it from the
// seccomp spec it installs.
var Observed func(arch sysnum.Arch, nr int) bool

var sigCache sync.Map // path -> *model.Signature

func loadSig(path string) (*model.Signature, error) {
	if v, ok := sigCache.Load(path); ok {
		return v.(*model.Signature), nil
	}
	s, err := model.ReadSignature(path)
	if err != nil {
		return nil, err
	}
	sigCache.Store(path, s)
	return s, nil
}

// Load is the monitor.Loader: it reads the signature and prepares the model
// of one program instance.
func Load(signaturePath, exePath string) (monitor.Model, error) {
	sig, err := loadSig(signaturePath)
	if err != nil {
		return nil, err
	}
	return New(sig)
}

// Live is the model of one program instance (a process tree).
type Live struct {
	sig   *model.Signature
	m     *checker.Model
	arch  sysnum.Arch
	table *sysnum.Table
	procs map[int]*proc
	evs   []checker.Event // FuncBatch's buffer
	fork  map[int]bool    // syscall numbers that create processes
	clone int             // clone's number (flags decide thread vs process), -1 if none
}

type proc struct {
	p   *checker.Process
	sym *checker.Symbolizer
}

// New prepares the model of a signature.
func New(sig *model.Signature) (*Live, error) {
	arch, err := sysnum.ParseArch(sig.Arch)
	if err != nil {
		return nil, fmt.Errorf("signature: %v", err)
	}
	var obs func(int) bool
	if Observed != nil {
		obs = func(nr int) bool { return Observed(arch, nr) }
	}
	l := &Live{sig: sig, m: checker.New(sig, obs), arch: arch, table: sysnum.For(arch), procs: map[int]*proc{}, fork: map[int]bool{}, clone: -1}
	for _, name := range []string{"fork", "vfork", "clone3"} {
		if nr, ok := l.table.Nr(name); ok {
			l.fork[nr] = true
		}
	}
	if nr, ok := l.table.Nr("clone"); ok {
		l.clone = nr
	}
	return l, nil
}

const cloneThread = 0x00010000 // CLONE_THREAD

func (l *Live) proc(pid int) *proc {
	pr := l.procs[pid]
	if pr == nil {
		pr = &proc{p: l.m.NewProcess(pid), sym: l.m.NewSymbolizer(pid)}
		l.procs[pid] = pr
	}
	return pr
}

func convert(a *checker.Anomaly) *monitor.Anomaly {
	if a == nil {
		return nil
	}
	out := &monitor.Anomaly{Type: a.Type, Pid: a.Pid, Tid: a.Tid, Event: a.Event, Expected: a.Expected, Reason: a.Reason}
	for _, f := range a.Stack {
		out.Stack = append(out.Stack, monitor.Frame{Function: f.Function, File: f.File, Line: f.Line})
	}
	return out
}

// Func implements monitor.Model.
func (l *Live) Func(pid, tid int, fn, site uint64, exit bool) *monitor.Anomaly {
	pr := l.proc(pid)
	id := pr.sym.Lookup(fn)
	if exit {
		return convert(pr.p.Exit(tid, id))
	}
	return convert(pr.p.Enter(tid, id))
}

// FuncBatch implements monitor.BatchModel: the records of one thread, in
// ring order, checked in one go. Lost records (events lost to a hook
// abandoned by siglongjmp: the model has no resynchronisation event, see
// docs/monitor.md) are skipped.
func (l *Live) FuncBatch(pid, tid int, recs []ring.Record) (int, *monitor.Anomaly) {
	pr := l.proc(pid)
	evs := l.evs[:0]
	for _, r := range recs {
		if r.Lost {
			// Rare: keep the record <-> event numbering simple.
			return l.funcEach(pr, tid, recs)
		}
		evs = append(evs, checker.Event{Fn: pr.sym.Lookup(r.Fn), Exit: r.Exit})
	}
	l.evs = evs
	n, a := pr.p.Events(tid, evs)
	return n, convert(a)
}

func (l *Live) funcEach(pr *proc, tid int, recs []ring.Record) (int, *monitor.Anomaly) {
	for i, r := range recs {
		if r.Lost {
			continue
		}
		id := pr.sym.Lookup(r.Fn)
		var a *checker.Anomaly
		if r.Exit {
			a = pr.p.Exit(tid, id)
		} else {
			a = pr.p.Enter(tid, id)
		}
		if a != nil {
			return i + 1, convert(a)
		}
	}
	return len(recs), nil
}

// Syscall implements monitor.Model.
func (l *Live) Syscall(pid, tid int, nr int, args [6]uint64, ip uint64) *monitor.Anomaly {
	pr := l.proc(pid)
	a := pr.p.Syscall(tid, nr)
	if a == nil && (l.fork[nr] || (nr == l.clone && args[0]&cloneThread == 0)) {
		pr.p.SnapshotFork(tid)
	}
	return convert(a)
}

// NewThread implements monitor.Model.
func (l *Live) NewThread(pid, tid, parentPid, parentTid int) {
	if pr := l.procs[pid]; pr != nil {
		pr.p.NewThread(tid)
		return
	}
	if parent := l.procs[parentPid]; parent != nil && parentPid != pid {
		l.procs[pid] = &proc{p: parent.p.ForkChild(parentTid, pid), sym: l.m.NewSymbolizer(pid)}
		return
	}
	l.proc(pid)
}

// Exec implements monitor.Model: the process continues under the signature
// found next to the new program (PATH.kcfm), or unmodelled if there is none.
func (l *Live) Exec(pid int, path string) {
	pr := l.proc(pid)
	var next *checker.Model
	if path != "" {
		if _, err := os.Stat(path + ".kcfm"); err == nil {
			if sig, err := loadSig(path + ".kcfm"); err == nil {
				next = checker.NewObserving(sig, l.m.Observing())
			}
		}
	}
	pr.p.Exec(next)
	if next != nil {
		pr.sym = next.NewSymbolizer(pid)
	} else {
		pr.sym = l.m.NewSymbolizer(pid)
	}
}

// execCapable tells whether a function of the program can execute another
// program (an execve/execveat edge; the execve that starts the program
// itself is a start-up syscall and does not count).
func execCapable(sig *model.Signature) bool {
	t := sysnum.For(sysnum.Arch(sig.Arch))
	if t == nil {
		return true
	}
	var nrs []model.SigLabel
	for _, name := range []string{"execve", "execveat"} {
		if nr, ok := t.Nr(name); ok {
			nrs = append(nrs, model.SyscallLabel(nr))
		}
	}
	for _, f := range sig.Functions {
		for _, st := range f.States {
			for _, e := range st.Edges {
				for _, l := range nrs {
					if e.Label == l {
						return true
					}
				}
			}
		}
	}
	return false
}

// ObserveFilter implements monitor.FilterAware: syscalls the filter allows
// in the kernel are never reported and become silent moves of the model;
// syscalls notified only for some arguments (openat with write flags) are
// both silent moves and observable events. Called before the first event.
func (l *Live) ObserveFilter(spec *seccomp.Spec) {
	obs := ObservationOf(spec)
	l.m = checker.NewObserving(l.sig, obs)
	l.procs = map[int]*proc{}
}

// ObservationOf tells, from a filter, how each syscall reaches FlowChecker.
// Rules of a syscall are tried in order and the first unconditional one
// ends the search (as in the filter program); the default action applies
// when none matched.
func ObservationOf(spec *seccomp.Spec) func(nr int) checker.Observation {
	per := map[int][]seccomp.Rule{}
	for _, r := range spec.Rules {
		per[r.Nr] = append(per[r.Nr], r)
	}
	return func(nr int) checker.Observation {
		var cond, other bool // a conditional notify / non-notify rule may match first
		final := spec.Default
		for _, r := range per[nr] {
			notify := r.Action.Kind() == seccomp.Notify
			if len(r.Conds) > 0 {
				cond = cond || notify
				other = other || !notify
				continue
			}
			final = r.Action
			break
		}
		if final.Kind() == seccomp.Notify {
			if other {
				return checker.Sometimes
			}
			return checker.Reported
		}
		if cond {
			return checker.Sometimes
		}
		return checker.Silent
	}
}

// Exit implements monitor.Model.
func (l *Live) Exit(pid, tid int) {
	if pr := l.procs[pid]; pr != nil {
		// The process entry stays: its other threads may go on after the
		// main thread exits (pthread_exit in main).
		pr.p.ExitThread(tid)
	}
}
