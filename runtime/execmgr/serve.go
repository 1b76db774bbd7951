package execmgr

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// ServeOptions tune Serve.
type ServeOptions struct {
	// Filter decides the filter the program is started under, given the
	// start request and the filter FlowMonitor asked for (nil: none). It
	// returns the filter and a short description of where its rules came
	// from. nil Filter: FlowMonitor's filter as it is.
	Filter func(req *StartReq, requested *seccomp.Spec) (*seccomp.Spec, string, error)
	// Logf receives the entity's diagnostics (nil: none).
	Logf func(format string, a ...any)
}

// Serve is the ExecutionManager entity's side of a channel: it answers
// FlowMonitor's hello, then starts, watches and stops program instances
// with m until FlowMonitor sends shutdown or the channel ends. Every
// instance started on this channel is stopped (SIGKILL to its whole tree)
// before Serve returns: without its FlowMonitor no program runs (fail
// closed). It returns nil after a shutdown, io.EOF when the peer closed the
// channel without one, or the protocol/transport error that ended it.
func Serve(c *PacketConn, m *Local, opt ServeOptions) error {
	s := &server{c: c, m: m, opt: opt, insts: map[uint64]*servedInst{}}
	defer c.Close()
	err := s.handshake()
	if err == nil {
		err = s.loop()
	}
	s.stopAll()
	return err
}

type server struct {
	c   *PacketConn
	m   *Local
	opt ServeOptions

	mu    sync.Mutex
	insts map[uint64]*servedInst
	wg    sync.WaitGroup
}

type servedInst struct {
	inst   *Instance
	exited chan struct{} // closed after the exited event was sent (or could not be)
}

func (s *server) logf(format string, a ...any) {
	if s.opt.Logf != nil {
		s.opt.Logf(format, a...)
	}
}

func (s *server) handshake() error {
	if err := s.c.Send(MsgHello, &Hello{Role: RoleManager, Pid: os.Getpid()}); err != nil {
		return err
	}
	m, err := recvTimeout(s.c, handshakeTimeout)
	if err != nil {
		return fmt.Errorf("execmgr: handshake: %w", err)
	}
	closeFDs(m.FDs)
	h, ok := m.Body.(*Hello)
	if !ok || h.Role != RoleMonitor {
		return protoErr("handshake: got %s, want a hello from %s", m.Type, RoleMonitor)
	}
	return nil
}

func (s *server) loop() error {
	for {
		m, err := s.c.Recv()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return io.EOF
			}
			return err
		}
		switch b := m.Body.(type) {
		case *StartReq:
			s.start(b, m.FDs)
		case *StopReq:
			s.stop(b)
		case *Shutdown:
			return nil
		default:
			closeFDs(m.FDs)
			return protoErr("unexpected %s from %s", m.Type, RoleMonitor)
		}
	}
}

func (s *server) fail(req uint64, err error) {
	s.logf("request %d: %v", req, err)
	text := err.Error()
	if len(text) > maxTextLen {
		text = text[:maxTextLen]
	}
	if err := s.c.Send(MsgError, &ErrorResp{Req: req, Error: text}); err != nil {
		s.logf("send error: %v", err)
	}
}

func (s *server) start(r *StartReq, fds []int) {
	var stdio [3]*os.File
	k := 0
	for i, on := range r.Stdio {
		if on {
			stdio[i] = os.NewFile(uintptr(fds[k]), fmt.Sprintf("stdio-%d", i))
			k++
		}
	}
	defer func() {
		for _, f := range stdio {
			if f != nil {
				f.Close()
			}
		}
	}()
	requested, err := r.Launch.Filter.Spec()
	if err != nil {
		s.fail(r.Req, err)
		return
	}
	filter, source := requested, "FlowMonitor"
	if s.opt.Filter != nil {
		if filter, source, err = s.opt.Filter(r, requested); err != nil {
			s.fail(r.Req, fmt.Errorf("filter for %s: %w", r.Name, err))
			return
		}
	}
	spec := Spec{Name: r.Name, Path: r.Path, Argv: r.Argv, Env: r.Env, Dir: r.Dir,
		Stdin: stdio[0], Stdout: stdio[1], Stderr: stdio[2],
		Launch: LaunchOptions{Filter: filter, Mode: r.Launch.Mode, Sensitive: r.Launch.Sensitive, Ring: r.Launch.Ring,
			RingSlots: r.Launch.RingSlots, RingRecords: r.Launch.RingRecords,
			RingStall: time.Duration(r.Launch.RingStallMs) * time.Millisecond}}
	if spec.Env == nil {
		spec.Env = []string{}
	}
	inst, err := s.m.Start(spec)
	if err != nil {
		s.fail(r.Req, err)
		return
	}
	si := &servedInst{inst: inst, exited: make(chan struct{})}
	s.mu.Lock()
	s.insts[inst.ID] = si
	s.mu.Unlock()
	resp := &StartedResp{Req: r.Req, ID: inst.ID, Pid: inst.Pid, Pgid: inst.Pgid, Exe: inst.Exe, FilterSource: source}
	if filter != nil {
		resp.FilterRules = len(filter.Rules)
	}
	var out []int
	if inst.Listener != nil {
		resp.Listener = true
		resp.SyncWakeUp = inst.Listener.SyncWakeUp()
		out = append(out, inst.Listener.Fd())
	}
	if inst.Arena != nil {
		resp.Arena = true
		out = append(out, int(inst.Arena.File().Fd()))
	}
	sendErr := s.c.Send(MsgStarted, resp, out...)
	// FlowMonitor has its own copies now (or the channel is gone).
	if inst.Listener != nil {
		inst.Listener.Close()
		inst.Listener = nil
	}
	if inst.Arena != nil {
		inst.Arena.Close()
		inst.Arena = nil
	}
	if sendErr != nil {
		s.logf("started %s pid %d, but cannot tell FlowMonitor (%v): stopping it", r.Name, inst.Pid, sendErr)
	}
	s.logf("started %s pid=%d (instance %d; filter: %d rules from %s; seccomp listener: %s)", r.Name, inst.Pid, inst.ID,
		resp.FilterRules, source, wakeMode(resp))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(si.exited)
		st, err := s.m.Wait(inst)
		ev := &ExitedEvent{ID: inst.ID}
		switch {
		case err != nil:
			s.logf("wait for instance %d: %v", inst.ID, err)
			ev.Exited, ev.Code = true, 255
		case st.Exited:
			ev.Exited, ev.Code = true, st.Code
		default:
			ev.Signal = int(st.Signal)
		}
		s.logf("instance %d (%s pid %d) ended: %v", inst.ID, r.Name, inst.Pid, st)
		if err := s.c.Send(MsgExited, ev); err != nil && !errors.Is(err, net.ErrClosed) {
			s.logf("send exited: %v", err)
		}
	}()
	if sendErr != nil {
		s.m.Stop(inst, 0)
	}
}

func wakeMode(r *StartedResp) string {
	switch {
	case !r.Listener:
		return "none"
	case r.SyncWakeUp:
		return "synchronous wake-up"
	}
	return "no synchronous wake-up (kernel < 6.6), poll mode"
}

func (s *server) stop(r *StopReq) {
	s.mu.Lock()
	si := s.insts[r.ID]
	s.mu.Unlock()
	if si == nil {
		s.fail(r.Req, fmt.Errorf("no instance %d on this channel", r.ID))
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t0 := time.Now()
		if err := s.m.Stop(si.inst, time.Duration(r.GraceMs)*time.Millisecond); err != nil {
			s.fail(r.Req, err)
			return
		}
		<-si.exited // the exited event goes before stopped
		s.mu.Lock()
		delete(s.insts, r.ID)
		s.mu.Unlock()
		s.logf("stopped instance %d (pid %d) in %v", r.ID, si.inst.Pid, time.Since(t0).Round(time.Microsecond))
		if err := s.c.Send(MsgStopped, &StoppedResp{Req: r.Req, ID: r.ID}); err != nil {
			s.logf("send stopped: %v", err)
		}
	}()
}

// stopAll kills what this channel started and waits for the helpers.
func (s *server) stopAll() {
	s.mu.Lock()
	var left []*servedInst
	for _, si := range s.insts {
		left = append(left, si)
	}
	s.mu.Unlock()
	for _, si := range left {
		if err := s.m.Stop(si.inst, 0); err != nil {
			s.logf("stop instance %d: %v", si.inst.ID, err)
		} else {
			s.logf("stopped instance %d (pid %d): the channel ended", si.inst.ID, si.inst.Pid)
		}
	}
	s.c.Close()
	s.wg.Wait()
}

// handshakeTimeout bounds the wait for the peer's hello.
const handshakeTimeout = 10 * time.Second

// recvTimeout receives one message or fails after d (closing c).
func recvTimeout(c *PacketConn, d time.Duration) (Message, error) {
	type res struct {
		m   Message
		err error
	}
	ch := make(chan res, 1)
	go func() { m, err := c.Recv(); ch <- res{m, err} }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-t.C:
		c.Close()
		r := <-ch
		closeFDs(r.m.FDs)
		return Message{}, fmt.Errorf("no answer within %v", d)
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}
