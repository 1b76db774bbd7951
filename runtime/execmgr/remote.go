package execmgr

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/kcfm-linux/kcfm/runtime/ring"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// Remote is the Manager of a FlowMonitor whose programs are started by an
// ExecutionManager entity: every call is a request on the channel einit
// connected them with (Serve is the other side). The entity is the
// programs' parent and subreaper; the seccomp listener and the arena come
// back over the channel, so the rest of FlowMonitor works as with Local.
//
// If the channel ends, every pending and later call fails and Wait returns
// an error for every instance; the entity stops the programs of a channel
// that ended (fail closed).
type Remote struct {
	c    *PacketConn
	Peer Hello // the entity's hello

	mu      sync.Mutex
	nextReq uint64
	pending map[uint64]chan Message
	insts   map[uint64]*remoteInst
	lost    chan struct{}
	err     error
}

type remoteInst struct {
	info   StartedResp
	done   chan struct{}
	status Status
	err    error
	once   sync.Once
}

// ErrManagerLost is returned once the channel to the ExecutionManager
// entity is gone.
var ErrManagerLost = errors.New("execmgr: the ExecutionManager entity is gone")

// NewRemote greets the ExecutionManager entity on c and returns the
// Manager. c belongs to the Remote from now on.
func NewRemote(c *PacketConn) (*Remote, error) {
	r := &Remote{c: c, pending: map[uint64]chan Message{}, insts: map[uint64]*remoteInst{}, lost: make(chan struct{})}
	if err := c.Send(MsgHello, &Hello{Role: RoleMonitor, Pid: os.Getpid()}); err != nil {
		c.Close()
		return nil, err
	}
	m, err := recvTimeout(c, handshakeTimeout)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("execmgr: handshake with the ExecutionManager entity: %w", err)
	}
	closeFDs(m.FDs)
	h, ok := m.Body.(*Hello)
	if !ok || h.Role != RoleManager {
		c.Close()
		return nil, protoErr("handshake: got %s, want a hello from %s", m.Type, RoleManager)
	}
	r.Peer = *h
	go r.read()
	return r, nil
}

func (r *Remote) read() {
	for {
		m, err := r.c.Recv()
		if err != nil {
			r.fail(err)
			return
		}
		var req uint64
		switch b := m.Body.(type) {
		case *StartedResp:
			req = b.Req
			r.mu.Lock()
			if _, dup := r.insts[b.ID]; dup {
				r.mu.Unlock()
				closeFDs(m.FDs)
				r.fail(protoErr("started: instance %d announced twice", b.ID))
				return
			}
			r.insts[b.ID] = &remoteInst{done: make(chan struct{})}
			r.mu.Unlock()
		case *ErrorResp:
			req = b.Req
		case *StoppedResp:
			req = b.Req
		case *ExitedEvent:
			r.mu.Lock()
			ri := r.insts[b.ID]
			r.mu.Unlock()
			if ri == nil {
				r.fail(protoErr("exited: unknown instance %d", b.ID))
				return
			}
			st := Status{Exited: b.Exited, Code: b.Code, Signal: syscall.Signal(b.Signal)}
			ri.once.Do(func() { ri.status = st; close(ri.done) })
			continue
		default:
			closeFDs(m.FDs)
			r.fail(protoErr("unexpected %s from %s", m.Type, RoleManager))
			return
		}
		r.mu.Lock()
		ch := r.pending[req]
		delete(r.pending, req)
		r.mu.Unlock()
		if ch == nil {
			closeFDs(m.FDs)
			r.fail(protoErr("%s answers request %d, which is not pending", m.Type, req))
			return
		}
		ch <- m
	}
}

func (r *Remote) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.lost:
		return
	default:
	}
	r.err = fmt.Errorf("%w: %v", ErrManagerLost, err)
	close(r.lost)
	r.c.Close()
	for _, ri := range r.insts {
		ri.once.Do(func() { ri.err = r.err; close(ri.done) })
	}
}

// Lost is closed when the channel is gone; Err says why.
func (r *Remote) Lost() <-chan struct{} { return r.lost }

// Err is nil while the channel is up.
func (r *Remote) Err() error {
	select {
	case <-r.lost:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.err
	default:
		return nil
	}
}

// call sends a request and waits for its answer.
func (r *Remote) call(t MsgType, body any, setReq func(uint64), fds ...int) (Message, error) {
	ch := make(chan Message, 1)
	r.mu.Lock()
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return Message{}, err
	}
	r.nextReq++
	req := r.nextReq
	r.pending[req] = ch
	r.mu.Unlock()
	setReq(req)
	if err := r.c.Send(t, body, fds...); err != nil {
		r.mu.Lock()
		delete(r.pending, req)
		r.mu.Unlock()
		return Message{}, err
	}
	select {
	case m := <-ch:
		return m, nil
	case <-r.lost:
		// An answer may have raced with the loss.
		select {
		case m := <-ch:
			return m, nil
		default:
		}
		return Message{}, r.Err()
	}
}

// Start implements Manager.
func (r *Remote) Start(spec Spec) (*Instance, error) {
	if spec.Path == "" {
		return nil, errors.New("execmgr: no program path")
	}
	argv := spec.Argv
	if len(argv) == 0 {
		argv = []string{spec.Path}
	}
	env := spec.Env
	if env == nil {
		env = []string{}
	}
	req := &StartReq{Name: spec.Name, Path: spec.Path, Argv: argv, Env: env, Dir: spec.Dir,
		Launch: WireLaunch{Filter: FilterToWire(spec.Launch.Filter), Mode: spec.Launch.Mode, Sensitive: spec.Launch.Sensitive,
			Ring: spec.Launch.Ring, RingSlots: spec.Launch.RingSlots, RingRecords: spec.Launch.RingRecords,
			RingStallMs: spec.Launch.RingStall.Milliseconds()}}
	var fds []int
	for i, f := range []*os.File{spec.Stdin, spec.Stdout, spec.Stderr} {
		if f != nil {
			req.Stdio[i] = true
			fds = append(fds, int(f.Fd()))
		}
	}
	m, err := r.call(MsgStart, req, func(n uint64) { req.Req = n }, fds...)
	if err != nil {
		return nil, fmt.Errorf("execmgr: start %s: %w", spec.Path, err)
	}
	switch b := m.Body.(type) {
	case *ErrorResp:
		closeFDs(m.FDs)
		return nil, fmt.Errorf("execmgr: start %s: the ExecutionManager entity: %s", spec.Path, b.Error)
	case *StartedResp:
		inst := &Instance{ID: b.ID, Pid: b.Pid, Pgid: b.Pgid, Exe: b.Exe, Started: time.Now()}
		r.mu.Lock()
		ri := r.insts[b.ID]
		r.mu.Unlock()
		ri.info = *b
		inst.impl = ri
		k := 0
		if b.Listener {
			l, err := seccomp.NewListener(m.FDs[k])
			if err != nil {
				closeFDs(m.FDs)
				r.Stop(inst, 0)
				return nil, err
			}
			inst.Listener = l
			k++
		}
		if b.Arena {
			f := os.NewFile(uintptr(m.FDs[k]), "kcfm-arena")
			a, err := ring.Open(f)
			if err != nil {
				f.Close()
				if inst.Listener != nil {
					inst.Listener.Close()
				}
				r.Stop(inst, 0)
				return nil, fmt.Errorf("execmgr: the arena of %s: %w", spec.Path, err)
			}
			inst.Arena = a
		}
		return inst, nil
	}
	closeFDs(m.FDs)
	return nil, protoErr("start answered by %s", m.Type)
}

func (r *Remote) get(inst *Instance) (*remoteInst, error) {
	ri, ok := inst.impl.(*remoteInst)
	if !ok || ri == nil {
		return nil, errors.New("execmgr: instance not started by this manager")
	}
	return ri, nil
}

// Info returns what the entity said about a started instance: the filter
// it installed and the kernel's notification wake-up mode.
func (r *Remote) Info(inst *Instance) (StartedResp, error) {
	ri, err := r.get(inst)
	if err != nil {
		return StartedResp{}, err
	}
	return ri.info, nil
}

// Wait implements Manager.
func (r *Remote) Wait(inst *Instance) (Status, error) {
	ri, err := r.get(inst)
	if err != nil {
		return Status{}, err
	}
	<-ri.done
	return ri.status, ri.err
}

// Stop implements Manager.
func (r *Remote) Stop(inst *Instance, grace time.Duration) error {
	if _, err := r.get(inst); err != nil {
		return err
	}
	req := &StopReq{ID: inst.ID, GraceMs: grace.Milliseconds()}
	m, err := r.call(MsgStop, req, func(n uint64) { req.Req = n })
	if err != nil {
		return fmt.Errorf("execmgr: stop %s (pid %d): %w", inst.Exe, inst.Pid, err)
	}
	switch b := m.Body.(type) {
	case *StoppedResp:
		r.mu.Lock()
		delete(r.insts, b.ID)
		r.mu.Unlock()
		return nil
	case *ErrorResp:
		return fmt.Errorf("execmgr: stop %s (pid %d): the ExecutionManager entity: %s", inst.Exe, inst.Pid, b.Error)
	}
	return protoErr("stop answered by %s", m.Type)
}

// Close implements Manager: every instance still known is stopped at once,
// then the conversation ends (shutdown) and the channel is closed.
func (r *Remote) Close() error {
	r.mu.Lock()
	var ids []uint64
	for id := range r.insts {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	var first error
	for _, id := range ids {
		r.mu.Lock()
		ri := r.insts[id]
		r.mu.Unlock()
		if ri == nil {
			continue
		}
		if err := r.Stop(&Instance{ID: id, impl: ri}, 0); err != nil && first == nil {
			first = err
		}
	}
	if r.Err() == nil {
		r.c.Send(MsgShutdown, &Shutdown{})
	}
	r.fail(errors.New("closed"))
	return first
}
