package monitor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/kcfm-linux/kcfm/runtime/ipc"
)

// Environment variables of the entities.
const (
	EnvGraphFilename = "FC_GRAPH_FILENAME" // FlowChecker: the signature file
	EnvEntityName    = "FM_ENTITY_NAME"    // FlowMonitor: the entity to run
	EnvConfig        = "FM_CONFIG"         // FlowMonitor: the config file (default DefaultConfigPath)
)

// DefaultConfigPath is FlowMonitor's config file when neither --config nor
// FM_CONFIG names one.
const DefaultConfigPath = "/etc/kcfm/flowmonitor.yaml"

// handshakeTimeout bounds the wait for the peer's Hello.
const handshakeTimeout = 10 * time.Second

// CheckerLink is FlowMonitor's connection to FlowChecker: messages from the
// checker arrive on Msgs; Lost is closed when the connection (or the
// checker process FlowMonitor started) is gone, after which Err says why.
type CheckerLink struct {
	conn   *ipc.Conn
	Msgs   chan ipc.Message
	lost   chan struct{}
	once   sync.Once
	err    error
	cmd    *exec.Cmd // nil when connected to a running FlowChecker
	exited chan struct{}
	Peer   ipc.Hello // the checker's hello
}

// AuxStarter starts a helper process with a parent-death signal and is
// told when it was reaped (execmgr.Local).
type AuxStarter interface {
	StartAux(cmd *exec.Cmd, pdeathsig syscall.Signal) error
	AuxDone(pid int)
}

// FindChecker resolves the FlowChecker binary: path if set, else a
// FlowChecker next to this executable, else $PATH.
func FindChecker(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "FlowChecker")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath("FlowChecker")
	if err != nil {
		return "", fmt.Errorf("FlowChecker not found next to this program nor in $PATH (set checker.path in the config)")
	}
	return p, nil
}

// StartChecker starts FlowChecker (path with args) with FC_GRAPH_FILENAME =
// signature and the IPC socket as fd 3 (--ipc-fd 3 is appended to args).
// The checker gets SIGTERM if this process dies (it then kills every
// program it checks). stderr receives its diagnostics.
func StartChecker(starter AuxStarter, path string, args []string, signature string, stderr io.Writer) (*CheckerLink, error) {
	conn, peer, err := ipc.Pair()
	if err != nil {
		return nil, err
	}
	defer peer.Close()
	cmd := exec.Command(path, append(append([]string(nil), args...), "--ipc-fd", "3")...)
	cmd.Env = append(os.Environ(), EnvGraphFilename+"="+signature)
	cmd.ExtraFiles = []*os.File{peer}
	cmd.Stderr = stderr
	// Its own process group: a terminal's Ctrl-C reaches FlowMonitor, which
	// then stops the program before the checker.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := starter.StartAux(cmd, syscall.SIGTERM); err != nil {
		conn.Close()
		return nil, fmt.Errorf("start FlowChecker %s: %w", path, err)
	}
	l := newLink(conn)
	l.cmd = cmd
	l.exited = make(chan struct{})
	go func() {
		err := cmd.Wait()
		starter.AuxDone(cmd.Process.Pid)
		l.fail(fmt.Errorf("FlowChecker (pid %d) ended: %v", cmd.Process.Pid, exitText(err)))
		close(l.exited)
	}()
	if err := l.handshake(); err != nil {
		l.Close()
		return nil, err
	}
	go l.read()
	return l, nil
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// DialChecker connects to a FlowChecker serving a Unix socket.
func DialChecker(socket string) (*CheckerLink, error) {
	conn, err := ipc.Dial(socket)
	if err != nil {
		return nil, err
	}
	l := newLink(conn)
	if err := l.handshake(); err != nil {
		l.Close()
		return nil, err
	}
	go l.read()
	return l, nil
}

// ConnChecker uses an already connected IPC connection (e.g. to a checker
// served in this process).
func ConnChecker(conn *ipc.Conn) (*CheckerLink, error) {
	l := newLink(conn)
	if err := l.handshake(); err != nil {
		l.Close()
		return nil, err
	}
	go l.read()
	return l, nil
}

func newLink(conn *ipc.Conn) *CheckerLink {
	return &CheckerLink{conn: conn, Msgs: make(chan ipc.Message, 16), lost: make(chan struct{})}
}

func (l *CheckerLink) handshake() error {
	if err := l.conn.Send(ipc.THello, &ipc.Hello{Role: ipc.RoleMonitor, Pid: os.Getpid()}); err != nil {
		return err
	}
	type res struct {
		m   ipc.Message
		err error
	}
	ch := make(chan res, 1)
	go func() { m, err := l.conn.Recv(); ch <- res{m, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			if l.err != nil {
				return fmt.Errorf("FlowChecker handshake: %v (%v)", r.err, l.err)
			}
			return fmt.Errorf("FlowChecker handshake: %w", r.err)
		}
		h, ok := r.m.Body.(*ipc.Hello)
		if r.m.Type != ipc.THello || !ok || h.Role != ipc.RoleChecker {
			return fmt.Errorf("FlowChecker handshake: got %s, want a hello from %s", r.m.Type, ipc.RoleChecker)
		}
		l.Peer = *h
		return nil
	case <-time.After(handshakeTimeout):
		return fmt.Errorf("FlowChecker handshake: no hello within %v", handshakeTimeout)
	case <-l.lost:
		return fmt.Errorf("FlowChecker handshake: %v", l.err)
	}
}

func (l *CheckerLink) read() {
	for {
		m, err := l.conn.Recv()
		if err != nil {
			if err == io.EOF {
				err = errors.New("FlowChecker closed the connection")
			}
			l.fail(err)
			return
		}
		select {
		case l.Msgs <- m:
		case <-l.lost:
			for _, fd := range m.FDs {
				syscall.Close(fd)
			}
			return
		}
	}
}

func (l *CheckerLink) fail(err error) {
	l.once.Do(func() {
		l.err = err
		close(l.lost)
		l.conn.Close()
	})
}

// Lost is closed when FlowChecker is gone.
func (l *CheckerLink) Lost() <-chan struct{} { return l.lost }

// Err says why the link was lost (nil while it is up).
func (l *CheckerLink) Err() error {
	select {
	case <-l.lost:
		return l.err
	default:
		return nil
	}
}

// Pid is the checker's pid (from its hello).
func (l *CheckerLink) Pid() int { return l.Peer.Pid }

// Send sends a message to the checker.
func (l *CheckerLink) Send(t ipc.Type, body any, fds ...int) error {
	return l.conn.Send(t, body, fds...)
}

// Close asks the checker to shut down, and waits for it (up to a few
// seconds) if this process started it.
func (l *CheckerLink) Close() error {
	if l.Err() == nil {
		l.conn.Send(ipc.TShutdown, &ipc.Shutdown{})
	}
	if l.cmd != nil {
		select {
		case <-l.exited:
		case <-time.After(3 * time.Second):
			l.cmd.Process.Kill()
			<-l.exited
		}
	}
	l.fail(errors.New("closed"))
	return nil
}
