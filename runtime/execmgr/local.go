package execmgr

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Local is the in-process Manager: fork/exec from this process, which it
// makes a child subreaper. There is one per process (NewLocal returns it):
// two reapers in one process would reap each other's children.
type Local struct {
	self  int
	jobs  chan func()
	mu    sync.Mutex // held while forking and while reaping, so a fresh child is never reaped as an orphan
	insts map[int]*local
	aux   map[int]bool // helper processes (e.g. FlowChecker) excluded from every tree
	next  atomic.Uint64
	sigch chan os.Signal
}

type local struct {
	inst       *Instance
	startTicks uint64 // clock ticks since boot before the start (processes of the instance start at or after it)
	done       chan struct{}
	status     Status
	err        error
}

var (
	theLocal    *Local
	theLocalErr error
	localOnce   sync.Once
)

// NewLocal returns the process's Local, creating it on first use: it makes
// this process a child subreaper and starts the spawner thread and the
// orphan reaper.
func NewLocal() (*Local, error) {
	localOnce.Do(func() {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			theLocalErr = fmt.Errorf("execmgr: PR_SET_CHILD_SUBREAPER: %w", err)
			return
		}
		m := &Local{self: os.Getpid(), jobs: make(chan func()), insts: map[int]*local{}, aux: map[int]bool{},
			sigch: make(chan os.Signal, 1)}
		go m.spawner()
		signal.Notify(m.sigch, syscall.SIGCHLD)
		go m.reaper()
		theLocal = m
	})
	return theLocal, theLocalErr
}

// spawner runs fork jobs on one OS thread that never exits while the
// process lives: PR_SET_PDEATHSIG of the children then means "this process
// died", not "some Go thread went away".
func (m *Local) spawner() {
	runtime.LockOSThread() // never unlocked: the thread stays until the process ends
	for job := range m.jobs {
		job()
	}
	select {} // keep the thread even if jobs is ever closed
}

func (m *Local) onSpawner(f func()) {
	done := make(chan struct{})
	m.jobs <- func() { f(); close(done) }
	<-done
}

// StartAux starts a helper process (such as FlowChecker) from the spawner
// thread with PR_SET_PDEATHSIG = pdeathsig (0: none). Its pid is never
// counted into an instance tree; the caller owns cmd.Wait.
func (m *Local) StartAux(cmd *exec.Cmd, pdeathsig syscall.Signal) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = pdeathsig
	var err error
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onSpawner(func() { err = cmd.Start() })
	if err != nil {
		return err
	}
	m.aux[cmd.Process.Pid] = true
	return nil
}

// AuxDone forgets a helper after its Wait returned.
func (m *Local) AuxDone(pid int) {
	m.mu.Lock()
	delete(m.aux, pid)
	m.mu.Unlock()
}

// Start implements Manager.
func (m *Local) Start(spec Spec) (*Instance, error) {
	if spec.Path == "" {
		return nil, errors.New("execmgr: no program path")
	}
	argv := spec.Argv
	if len(argv) == 0 {
		argv = []string{spec.Path}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var (
		inst *Instance
		wait func() (Status, error)
		err  error
	)
	startTicks := uptimeTicks()
	m.onSpawner(func() { inst, wait, err = launch(spec, argv) })
	if err != nil {
		return nil, fmt.Errorf("execmgr: start %s: %w", spec.Path, err)
	}
	inst.ID = m.next.Add(1)
	inst.Pgid = inst.Pid
	inst.Exe = spec.Path
	inst.Started = time.Now()
	l := &local{inst: inst, done: make(chan struct{}), startTicks: startTicks}
	inst.impl = l
	m.insts[inst.Pid] = l
	go func() {
		l.status, l.err = wait()
		close(l.done)
	}()
	return inst, nil
}

func (m *Local) get(inst *Instance) (*local, error) {
	l, ok := inst.impl.(*local)
	if !ok || l == nil {
		return nil, errors.New("execmgr: instance not started by this manager")
	}
	return l, nil
}

// Wait implements Manager.
func (m *Local) Wait(inst *Instance) (Status, error) {
	l, err := m.get(inst)
	if err != nil {
		return Status{}, err
	}
	<-l.done
	return l.status, l.err
}

// Done returns a channel closed when the instance's first process ended.
func (m *Local) Done(inst *Instance) <-chan struct{} {
	l, err := m.get(inst)
	if err != nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return l.done
}

// exclude reports processes that are not part of inst's tree: helpers, and
// the leaders and sessions of other instances.
func (m *Local) excludeFor(inst *Instance, ps map[int]procStat) func(int) bool {
	m.mu.Lock()
	aux := make(map[int]bool, len(m.aux))
	for p := range m.aux {
		aux[p] = true
	}
	others := map[int]bool{}
	for pid, l := range m.insts {
		if l.inst != inst {
			others[pid] = true
		}
	}
	m.mu.Unlock()
	return func(pid int) bool {
		if aux[pid] || others[pid] {
			return true
		}
		if st, ok := ps[pid]; ok && (others[st.session] || others[st.pgrp]) {
			return true
		}
		return false
	}
}

// treeOf lists the live (or zombie) processes of inst.
func (m *Local) treeOf(inst *Instance) ([]int, map[int]procStat, error) {
	ps, err := scanProcs()
	if err != nil {
		return nil, nil, err
	}
	l, _ := m.get(inst)
	leader := inst.Pid
	if l != nil {
		select {
		case <-l.done:
			leader = 0 // reaped: the pid may be reused
		default:
		}
	}
	m.mu.Lock()
	only := len(m.insts) == 1
	m.mu.Unlock()
	q := treeQuery{self: m.self, leader: leader, sid: inst.Pgid, exclude: m.excludeFor(inst, ps)}
	if only && l != nil {
		// A child this process did not start through the Local is an orphan
		// of the instance when it left our process group (setsid/setpgid) or
		// was started after the instance. Children started by other code
		// before the instance, in our own group, are left alone.
		own := unix.Getpgrp()
		q.orphans = func(st procStat) bool { return st.pgrp != own || st.start >= l.startTicks }
	}
	return members(ps, q), ps, nil
}

// Members returns the processes of inst's tree now (for tests and status).
func (m *Local) Members(inst *Instance) ([]int, error) {
	pids, _, err := m.treeOf(inst)
	return pids, err
}

// Stop implements Manager.
func (m *Local) Stop(inst *Instance, grace time.Duration) error {
	l, err := m.get(inst)
	if err != nil {
		return err
	}
	if grace > 0 {
		pids, _, err := m.treeOf(inst)
		if err != nil {
			return err
		}
		if len(pids) > 0 {
			syscall.Kill(-inst.Pgid, syscall.SIGTERM)
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGTERM)
			}
			deadline := time.Now().Add(grace)
			for time.Now().Before(deadline) {
				m.reapOrphans()
				if pids, _, _ := m.treeOf(inst); len(pids) == 0 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, ps, err := m.treeOf(inst)
		if err != nil {
			return err
		}
		live := 0
		for _, p := range pids {
			if ps[p].state != 'Z' {
				live++
			}
		}
		if live > 0 {
			syscall.Kill(-inst.Pgid, syscall.SIGKILL)
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		m.reapOrphans()
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("execmgr: %d processes of %s (pid %d) survived SIGKILL for 10s: %v", len(pids), inst.Exe, inst.Pid, pids)
		}
		time.Sleep(time.Millisecond)
	}
	<-l.done // the leader is reaped by its waiter
	m.mu.Lock()
	delete(m.insts, inst.Pid)
	m.mu.Unlock()
	return nil
}

// Close implements Manager: every instance still known is stopped at once.
// The Local itself stays usable (it is the process's).
func (m *Local) Close() error {
	m.mu.Lock()
	var all []*Instance
	for _, l := range m.insts {
		all = append(all, l.inst)
	}
	m.mu.Unlock()
	var first error
	for _, inst := range all {
		if err := m.Stop(inst, 0); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (m *Local) reaper() {
	tick := time.NewTicker(time.Second) // SIGCHLD can coalesce; a slow tick catches the rest
	defer tick.Stop()
	for {
		select {
		case <-m.sigch:
		case <-tick.C:
		}
		m.reapOrphans()
	}
}

// reapOrphans reaps every exited child that no one else waits for: orphans
// reparented to this subreaper. Leaders and helpers are reaped by their own
// waiters.
func (m *Local) reapOrphans() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, pid := range childrenOf(m.self) {
		if m.aux[pid] {
			continue
		}
		if _, ok := m.insts[pid]; ok {
			continue
		}
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, unix.WNOHANG|unix.WALL, nil)
	}
}
