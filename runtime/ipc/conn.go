package ipc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Conn is one end of a FlowChecker↔FlowMonitor connection. Send may be
// called from several goroutines; Recv from one at a time.
type Conn struct {
	c       *net.UnixConn
	wmu     sync.Mutex
	rmu     sync.Mutex
	pending []int // fds received with the bytes of the message being read
	oob     []byte
}

// NewConn wraps a connected Unix stream socket.
func NewConn(c *net.UnixConn) *Conn {
	return &Conn{c: c, oob: make([]byte, unix.CmsgSpace(4*MaxFDs))}
}

// FileConn makes a Conn from an inherited socket (for example fd 3 of a
// FlowChecker started by FlowMonitor). f is closed; the Conn has its own fd.
func FileConn(f *os.File) (*Conn, error) {
	defer f.Close()
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("ipc: %s: %w", f.Name(), err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("ipc: %s is not a Unix socket", f.Name())
	}
	return NewConn(uc), nil
}

// Dial connects to a FlowChecker listening on a Unix socket path.
func Dial(path string) (*Conn, error) {
	uc, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ipc: connect to FlowChecker at %s: %w", path, err)
	}
	return NewConn(uc), nil
}

// Pair returns a connected pair: a Conn for this process and an *os.File
// for the peer (to pass as an ExtraFiles entry, or to FileConn in-process).
func Pair() (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: socketpair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "ipc-monitor")
	peer := os.NewFile(uintptr(fds[1]), "ipc-checker")
	c, err := FileConn(mine)
	if err != nil {
		peer.Close()
		return nil, nil, err
	}
	return c, peer, nil
}

// Close closes the connection; a blocked Recv returns an error.
func (c *Conn) Close() error { return c.c.Close() }

// Send encodes and writes one message with its fds (which stay owned by
// the caller; the peer gets duplicates).
func (c *Conn) Send(t Type, body any, fds ...int) error {
	b, err := Encode(t, body, len(fds))
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	n, _, err := c.c.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return fmt.Errorf("ipc: send %s: %w", t, err)
	}
	for n < len(b) { // a stream socket may take the bytes in pieces
		m, err := c.c.Write(b[n:])
		if err != nil {
			return fmt.Errorf("ipc: send %s: %w", t, err)
		}
		n += m
	}
	return nil
}

// Recv reads, checks and decodes the next message. It returns io.EOF when
// the peer closed the connection between messages. Any error other than
// io.EOF means the stream can no longer be trusted: close the connection.
func (c *Conn) Recv() (Message, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	hb := make([]byte, HeaderSize)
	if err := c.readFull(hb, true); err != nil {
		c.dropPending()
		return Message{}, err
	}
	h, err := ParseHeader(hb)
	if err != nil {
		c.dropPending()
		return Message{}, err
	}
	payload := make([]byte, h.Len)
	if err := c.readFull(payload, false); err != nil {
		c.dropPending()
		return Message{}, err
	}
	if len(c.pending) != h.NFDs {
		n := len(c.pending)
		c.dropPending()
		return Message{}, protoErr("%s message: header announces %d fds, %d arrived", h.Type, h.NFDs, n)
	}
	body, err := DecodeBody(h, payload)
	if err != nil {
		c.dropPending()
		return Message{}, err
	}
	m := Message{Type: h.Type, Body: body, FDs: c.pending}
	c.pending = nil
	return m, nil
}

func (c *Conn) dropPending() {
	for _, fd := range c.pending {
		unix.Close(fd)
	}
	c.pending = nil
}

// readFull reads exactly len(b) bytes, collecting passed fds. Reading exact
// lengths never consumes bytes of the next message, so fds attached to the
// next message cannot be taken for this one.
func (c *Conn) readFull(b []byte, atStart bool) error {
	got := 0
	for got < len(b) {
		n, oobn, flags, _, err := c.c.ReadMsgUnix(b[got:], c.oob)
		if oobn > 0 {
			if perr := c.collect(c.oob[:oobn]); perr != nil {
				return perr
			}
		}
		if flags&unix.MSG_CTRUNC != 0 {
			return protoErr("control data truncated (more than %d fds sent)", MaxFDs)
		}
		got += n
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				if got == 0 && atStart {
					return io.EOF
				}
				return fmt.Errorf("ipc: connection closed inside a message: %w", io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("ipc: receive: %w", err)
		}
		if n == 0 {
			if got == 0 && atStart {
				return io.EOF
			}
			return fmt.Errorf("ipc: connection closed inside a message: %w", io.ErrUnexpectedEOF)
		}
	}
	return nil
}

func (c *Conn) collect(oob []byte) error {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return protoErr("control data: %v", err)
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			return protoErr("unexpected control message level %d type %d", m.Header.Level, m.Header.Type)
		}
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return protoErr("SCM_RIGHTS: %v", err)
		}
		c.pending = append(c.pending, fds...)
		if len(c.pending) > MaxFDs {
			return protoErr("more than %d fds arrived with one message", MaxFDs)
		}
	}
	return nil
}
