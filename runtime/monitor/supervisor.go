package monitor

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/kcfm-linux/kcfm/runtime/execmgr"
	"github.com/kcfm-linux/kcfm/runtime/ipc"
)

// Exit statuses of FlowMonitor (and `kcfm run`) besides the program's own.
const (
	ExitError       = 1 // FlowMonitor could not do its job (start failure, bad signature, ...)
	ExitUsage       = 2 // bad command line or config
	ExitAnomaly     = 3 // an anomaly stopped the program and no restart is left
	ExitCrashLoop   = 4 // the program kept crashing: the crash-loop guard gave up
	ExitCheckerLost = 5 // FlowChecker died; the program was killed (fail closed)
)

// releaseTimeout bounds the wait for FlowChecker's "released".
const releaseTimeout = 5 * time.Second

// Supervisor is FlowMonitor for one entity.
type Supervisor struct {
	Entity    *Entity
	Manager   execmgr.Manager
	Checker   *CheckerLink
	Incidents *IncidentLog
	// Stdio of the program (nil = /dev/null).
	Stdin, Stdout, Stderr *os.File
	// Logf receives diagnostics (nil: standard error).
	Logf func(format string, a ...any)
	// Launch builds the pre-exec options of each start (filter, arena).
	Launch execmgr.LaunchOptions
	// OnRunning, if set, is called when an instance was started and
	// FlowChecker accepted it (tests and benchmarks use it).
	OnRunning func(inst *execmgr.Instance)

	tty *terminal // the controlling terminal, when Stdin is it and we are in its foreground
}

type endKind int

const (
	endExit endKind = iota
	endAnomaly
	endSignal
	endCheckerLost
	endCheckError
	endStartFailed
)

type outcome struct {
	kind   endKind
	status execmgr.Status
	ranFor time.Duration
	err    error
}

func (s *Supervisor) logf(format string, a ...any) {
	if s.Logf != nil {
		s.Logf(format, a...)
		return
	}
	fmt.Fprintf(os.Stderr, "FlowMonitor[%s]: %s\n", s.Entity.Name, fmt.Sprintf(format, a...))
}

// Spec returns the start spec of the entity.
func (s *Supervisor) Spec() execmgr.Spec {
	e := s.Entity
	var env []string
	if *e.InheritEnv {
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if _, over := e.Env[k]; !over {
				env = append(env, kv)
			}
		}
	}
	keys := make([]string, 0, len(e.Env))
	for k := range e.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+e.Env[k])
	}
	return execmgr.Spec{Name: e.Name, Path: e.Path, Argv: append([]string{e.Path}, e.Args...), Env: env, Dir: e.Dir,
		Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr, Launch: s.Launch}
}

// Run supervises the entity until it ends for good and returns FlowMonitor's
// exit status. Cancelling ctx (SIGTERM/SIGINT) stops the program cleanly;
// sig is then reported as 128+signal by the caller's choice of ctx cause.
func (s *Supervisor) Run(ctx context.Context) int {
	e := s.Entity
	pol := newRestartPolicy(e)
	s.tty = foregroundTerminal(s.Stdin)
	for {
		o := s.runOnce(ctx)
		now := time.Now()
		switch o.kind {
		case endSignal:
			return exitForSignal(ctx)
		case endCheckerLost:
			s.incident(Incident{Type: IncidentCheckerLost, Reason: errText(o.err)})
			s.logf("FlowChecker is gone (%v): the program was killed", o.err)
			return ExitCheckerLost
		case endCheckError:
			s.incident(Incident{Type: IncidentCheckError, Reason: errText(o.err)})
			s.logf("FlowChecker cannot check %s: %v", e.Path, o.err)
			return ExitError
		case endStartFailed:
			s.logf("%v", o.err)
			return ExitError
		case endAnomaly:
			if e.OnAnomaly == ActionStop {
				s.giveUp(pol, "anomaly (on_anomaly: stop)", o)
				return ExitAnomaly
			}
			if !s.restart(ctx, pol, now, o, "anomaly") {
				if ctx.Err() != nil {
					return exitForSignal(ctx)
				}
				return ExitAnomaly
			}
		case endExit:
			if o.status.Success() || !e.RestartOnCrash {
				return o.status.ExitCode()
			}
			s.incident(Incident{Type: IncidentCrash, Status: o.status.String()})
			if !s.restart(ctx, pol, now, o, "crash") {
				if ctx.Err() != nil {
					return exitForSignal(ctx)
				}
				return ExitCrashLoop
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// restart applies the policy; false = gave up (or interrupted).
func (s *Supervisor) restart(ctx context.Context, pol *restartPolicy, now time.Time, o outcome, why string) bool {
	delay, n, ok := pol.next(now, o.ranFor)
	if !ok {
		s.giveUp(pol, why, o)
		return false
	}
	ms := delay.Milliseconds()
	s.incident(Incident{Type: IncidentRestart, Reason: why, Attempt: n, DelayMs: &ms})
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (s *Supervisor) giveUp(pol *restartPolicy, why string, o outcome) {
	n := pol.restartsInWindow()
	w := pol.window.Seconds()
	in := Incident{Type: IncidentGiveUp, Reason: why, Restarts: &n, WindowS: &w}
	if o.kind == endExit {
		in.Status = o.status.String()
	}
	s.incident(in)
	s.logf("giving up after %d restart(s): %s", n, why)
}

func (s *Supervisor) incident(in Incident) {
	if s.Incidents == nil {
		return
	}
	if err := s.Incidents.Write(in); err != nil {
		s.logf("writing incident: %v", err)
	}
}

// verdictFor maps the configured action to what FlowChecker does.
func verdictFor(action string) string {
	if action == ActionLogOnly {
		return ipc.VerdictAllow
	}
	return ipc.VerdictKill
}

// runOnce starts one instance and watches it until it ended and its whole
// tree is gone.
func (s *Supervisor) runOnce(ctx context.Context) outcome {
	if err := s.Checker.Err(); err != nil {
		return outcome{kind: endCheckerLost, err: err}
	}
	if ctx.Err() != nil {
		return outcome{kind: endSignal}
	}
	inst, err := s.Manager.Start(s.Spec())
	if err != nil {
		return outcome{kind: endStartFailed, err: err}
	}
	s.tty.give(inst.Pgid)
	defer s.tty.take()
	w := &watch{s: s, inst: inst, done: make(chan struct{})}
	go func() {
		w.status, w.waitErr = s.Manager.Wait(inst)
		close(w.done)
	}()
	o := w.run(ctx)
	if inst.Listener != nil {
		inst.Listener.Close()
	}
	if inst.Arena != nil {
		inst.Arena.Close()
	}
	o.ranFor = time.Since(inst.Started)
	return o
}

type watch struct {
	s       *Supervisor
	inst    *execmgr.Instance
	done    chan struct{}
	status  execmgr.Status
	waitErr error
	anomaly bool // an anomaly with verdict kill was reported
}

func (w *watch) stop(grace time.Duration) {
	if err := w.s.Manager.Stop(w.inst, grace); err != nil {
		w.s.logf("stop: %v", err)
	}
}

func (w *watch) run(ctx context.Context) outcome {
	s, inst := w.s, w.inst
	// Hand the instance to FlowChecker: the listener (and the arena). Our
	// copy of the listener stays open until the instance ended, so if the
	// checker dies, notified syscalls wait (they do not fail with ENOSYS)
	// until the tree is killed.
	var fds []int
	if inst.Listener == nil {
		w.stop(0)
		return outcome{kind: endCheckError, err: fmt.Errorf("the launcher returned no seccomp listener")}
	}
	fds = append(fds, inst.Listener.Fd())
	if inst.Arena != nil {
		fds = append(fds, int(inst.Arena.File().Fd()))
	}
	msg := &ipc.Instance{ID: inst.ID, Pid: inst.Pid, Pgid: inst.Pgid, Exe: inst.Exe,
		OnAnomaly: verdictFor(s.Entity.OnAnomaly), Arena: inst.Arena != nil, Mode: s.Launch.Mode, Sensitive: s.Launch.Sensitive}
	if err := s.Checker.Send(ipc.TInstance, msg, fds...); err != nil {
		w.stop(0)
		return outcome{kind: endCheckerLost, err: err}
	}
	if inst.Arena != nil {
		inst.Arena.Close() // the checker has its own mapping
		inst.Arena = nil
	}
	for {
		select {
		case m := <-s.Checker.Msgs:
			switch b := m.Body.(type) {
			case *ipc.Ack:
				if m.Type == ipc.TInstanceOK && b.ID == inst.ID {
					if s.OnRunning != nil {
						s.OnRunning(inst)
					}
				}
			case *ipc.InstanceError:
				if b.ID == inst.ID {
					w.stop(0)
					w.release()
					return outcome{kind: endCheckError, err: fmt.Errorf("%s", b.Error)}
				}
			case *ipc.AnomalyReport:
				if w.report(b) {
					w.stop(0)
					w.release()
					return outcome{kind: endAnomaly}
				}
			case *ipc.Ended:
				// No task uses the filter any more; the leader's exit follows.
			default:
				s.logf("ignoring unexpected %s from FlowChecker", m.Type)
			}
			closeFDs(m.FDs)
		case <-w.done:
			if w.waitErr != nil {
				s.logf("wait: %v", w.waitErr)
			}
			w.stop(s.Entity.StopTimeout.D()) // what the program left behind
			if !w.release() {
				return outcome{kind: endCheckerLost, err: s.Checker.Err()}
			}
			if w.anomaly {
				return outcome{kind: endAnomaly}
			}
			return outcome{kind: endExit, status: w.status}
		case <-s.Checker.Lost():
			w.stop(0) // fail closed
			return outcome{kind: endCheckerLost, err: s.Checker.Err()}
		case <-ctx.Done():
			w.stop(s.Entity.StopTimeout.D())
			w.release()
			return outcome{kind: endSignal}
		}
	}
}

// report records an anomaly of this instance; true when FlowChecker killed
// the program for it.
func (w *watch) report(b *ipc.AnomalyReport) bool {
	if b.ID != w.inst.ID {
		w.s.logf("ignoring an anomaly of an old instance %d", b.ID)
		return false
	}
	nr := b.Syscall
	a := b.Anomaly
	w.s.incident(Incident{Type: IncidentAnomaly, Pid: a.Pid, Tid: a.Tid, Instance: b.ID, Action: w.s.Entity.OnAnomaly,
		Verdict: b.Verdict, Syscall: &nr, Event: a.Event, Expected: nonNil(a.Expected), Stack: nonNilFrames(a.Stack), Reason: a.Reason})
	if b.Verdict == ipc.VerdictKill {
		w.anomaly = true
		return true
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilFrames(s []Frame) []Frame {
	if s == nil {
		return []Frame{}
	}
	return s
}

// release tells FlowChecker the instance is over and waits until it
// confirms; anomalies reported before the confirmation still count.
func (w *watch) release() bool {
	s := w.s
	if err := s.Checker.Send(ipc.TRelease, &ipc.Ack{ID: w.inst.ID}); err != nil {
		return false
	}
	t := time.NewTimer(releaseTimeout)
	defer t.Stop()
	for {
		select {
		case m := <-s.Checker.Msgs:
			closeFDs(m.FDs)
			switch b := m.Body.(type) {
			case *ipc.Ack:
				if m.Type == ipc.TReleased && b.ID == w.inst.ID {
					return true
				}
			case *ipc.AnomalyReport:
				w.report(b)
			}
		case <-s.Checker.Lost():
			return false
		case <-t.C:
			s.logf("FlowChecker did not confirm the release of instance %d within %v", w.inst.ID, releaseTimeout)
			return false
		}
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		os.NewFile(uintptr(fd), "").Close()
	}
}
