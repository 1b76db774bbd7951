package monitor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/ipc"
)

// CheckerHost is FlowChecker: it serves FlowMonitor connections, takes the
// program instances they hand over and checks them.
type CheckerHost struct {
	Loader    Loader
	Signature string // FC_GRAPH_FILENAME
	// Logf receives diagnostics (nil: standard error).
	Logf func(format string, a ...any)
	// DrainInterval is the longest pause of the background ring drain
	// (default 10ms); it decides how long a thread that fills its ring
	// without making a checked syscall waits.
	DrainInterval time.Duration
	// ExitPoll is how often threads are checked for having ended (default 50ms).
	ExitPoll time.Duration
}

func (h *CheckerHost) logf(format string, a ...any) {
	if h.Logf != nil {
		h.Logf(format, a...)
		return
	}
	fmt.Fprintf(os.Stderr, "FlowChecker: %s\n", fmt.Sprintf(format, a...))
}

// Serve handles one FlowMonitor connection until FlowMonitor shuts it down
// or goes away. Fail closed: when the connection ends for any reason, every
// program instance received on it is killed.
func (h *CheckerHost) Serve(conn *ipc.Conn) error {
	if h.Loader == nil {
		return errors.New("no model loader: this FlowChecker was built without the checker model")
	}
	defer conn.Close()
	m, err := conn.Recv()
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if hl, ok := m.Body.(*ipc.Hello); m.Type != ipc.THello || !ok || hl.Role != ipc.RoleMonitor {
		closeFDs(m.FDs)
		return fmt.Errorf("handshake: got %s, want a hello from %s", m.Type, ipc.RoleMonitor)
	}
	if err := conn.Send(ipc.THello, &ipc.Hello{Role: ipc.RoleChecker, Pid: os.Getpid(), Signature: h.Signature}); err != nil {
		return err
	}
	s := &session{h: h, conn: conn, insts: map[uint64]*instance{}}
	defer s.failClosed()
	for {
		m, err := conn.Recv()
		if err != nil {
			if err == io.EOF {
				return errors.New("FlowMonitor closed the connection")
			}
			return err
		}
		switch b := m.Body.(type) {
		case *ipc.Instance:
			if err := s.add(b, m.FDs); err != nil {
				return err
			}
		case *ipc.Ack:
			if m.Type != ipc.TRelease {
				return fmt.Errorf("%w: unexpected %s from FlowMonitor", ipc.ErrProtocol, m.Type)
			}
			s.release(b.ID)
			if err := conn.Send(ipc.TReleased, &ipc.Ack{ID: b.ID}); err != nil {
				return err
			}
		case *ipc.Shutdown:
			return nil
		default:
			closeFDs(m.FDs)
			return fmt.Errorf("%w: unexpected %s from FlowMonitor", ipc.ErrProtocol, m.Type)
		}
	}
}

// session is the state of one FlowMonitor connection.
type session struct {
	h     *CheckerHost
	conn  *ipc.Conn
	mu    sync.Mutex
	insts map[uint64]*instance
}

func (s *session) add(b *ipc.Instance, fds []int) error {
	s.mu.Lock()
	_, dup := s.insts[b.ID]
	s.mu.Unlock()
	if dup {
		closeFDs(fds)
		return fmt.Errorf("%w: instance %d handed over twice", ipc.ErrProtocol, b.ID)
	}
	model, err := s.h.Loader(s.h.Signature, b.Exe)
	if err != nil {
		closeFDs(fds)
		return s.conn.Send(ipc.TInstanceError, &ipc.InstanceError{ID: b.ID, Error: truncate(fmt.Sprintf("load signature %s: %v", s.h.Signature, err), 4000)})
	}
	spec, err := FilterSpec(s.h.Signature, sysnum.Host(), b.Mode, b.Sensitive)
	if err != nil {
		closeFDs(fds)
		return s.conn.Send(ipc.TInstanceError, &ipc.InstanceError{ID: b.ID, Error: truncate("filter: "+err.Error(), 4000)})
	}
	if fa, ok := model.(FilterAware); ok {
		fa.ObserveFilter(spec)
	}
	inst, err := newInstance(s, b, model, fds)
	if err != nil {
		return s.conn.Send(ipc.TInstanceError, &ipc.InstanceError{ID: b.ID, Error: truncate(err.Error(), 4000)})
	}
	s.mu.Lock()
	s.insts[b.ID] = inst
	s.mu.Unlock()
	// "ok" goes out before any anomaly of the instance can.
	if err := s.conn.Send(ipc.TInstanceOK, &ipc.Ack{ID: b.ID}); err != nil {
		return err
	}
	inst.start()
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// release ends checking an instance; every report of it was sent when it
// returns.
func (s *session) release(id uint64) {
	s.mu.Lock()
	inst := s.insts[id]
	delete(s.insts, id)
	s.mu.Unlock()
	if inst != nil {
		inst.close()
	}
}

// failClosed kills every instance of the session (FlowMonitor is gone or
// the connection broke) and releases them.
func (s *session) failClosed() {
	s.mu.Lock()
	all := s.insts
	s.insts = map[uint64]*instance{}
	s.mu.Unlock()
	for _, inst := range all {
		inst.killAll()
		inst.close()
	}
}

// report sends an anomaly to FlowMonitor.
func (s *session) report(r *ipc.AnomalyReport) {
	if err := ipc.ValidateAnomaly(&r.Anomaly); err != nil {
		// A model bug must not hide the anomaly: send what can be sent.
		s.h.logf("model produced an invalid anomaly (%v); sending a reduced one", err)
		r.Anomaly = Anomaly{Type: "anomaly", Pid: r.Anomaly.Pid, Tid: r.Anomaly.Tid, Event: truncate(r.Anomaly.Event, 1000),
			Reason: "anomaly report reduced: " + truncate(err.Error(), 1000)}
	}
	if err := s.conn.Send(ipc.TAnomaly, r); err != nil {
		s.h.logf("sending anomaly: %v", err)
	}
}
