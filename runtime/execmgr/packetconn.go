package execmgr

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// PacketConn is one end of an ExecutionManager channel: an AF_UNIX
// SOCK_SEQPACKET socket (an einit channel, or a socketpair in tests). Send
// may be called from several goroutines, Recv from one at a time.
type PacketConn struct {
	c   *net.UnixConn
	wmu sync.Mutex
	rmu sync.Mutex
	buf []byte
	oob []byte
}

// NewPacketConn takes over f, which must be a connected SOCK_SEQPACKET
// Unix socket (f is closed; the connection has its own descriptor).
func NewPacketConn(f *os.File) (*PacketConn, error) {
	defer f.Close()
	typ, err := unix.GetsockoptInt(int(f.Fd()), unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return nil, fmt.Errorf("execmgr: %s is not a socket: %w", f.Name(), err)
	}
	if typ != unix.SOCK_SEQPACKET {
		return nil, fmt.Errorf("execmgr: %s is a socket of type %d, not SOCK_SEQPACKET (an einit channel)", f.Name(), typ)
	}
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("execmgr: %s: %w", f.Name(), err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("execmgr: %s is not a Unix socket", f.Name())
	}
	return &PacketConn{c: uc, buf: make([]byte, WireHeaderSize+MaxPayload+1), oob: make([]byte, unix.CmsgSpace(4*(MaxFDs+1)))}, nil
}

// PacketPair returns two connected PacketConns (for tests and in-process use).
func PacketPair() (*PacketConn, *PacketConn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("execmgr: socketpair: %w", err)
	}
	a, err := NewPacketConn(os.NewFile(uintptr(fds[0]), "channel-a"))
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := NewPacketConn(os.NewFile(uintptr(fds[1]), "channel-b"))
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// ChannelEnv is the environment variable einit names channel id's
// descriptor with: KCFM_CHANNEL_<id>, characters outside [A-Za-z0-9_] as _.
func ChannelEnv(id string) string {
	var b strings.Builder
	b.WriteString("KCFM_CHANNEL_")
	for _, r := range id {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// OpenChannel opens the channel einit passed as KCFM_CHANNEL_<id>.
func OpenChannel(id string) (*PacketConn, error) {
	name := ChannelEnv(id)
	v := os.Getenv(name)
	if v == "" {
		return nil, fmt.Errorf("execmgr: channel %q: %s is not set (connect the entities in init.yaml)", id, name)
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 || fd > 1<<20 {
		return nil, fmt.Errorf("execmgr: channel %q: %s=%q is not a descriptor number", id, name, v)
	}
	unix.CloseOnExec(fd)
	return NewPacketConn(os.NewFile(uintptr(fd), name))
}

// Close closes the connection; a blocked Recv returns.
func (c *PacketConn) Close() error { return c.c.Close() }

// Send encodes and sends one message with fds (which stay the caller's).
func (c *PacketConn) Send(t MsgType, body any, fds ...int) error {
	b, err := EncodePacket(t, body, len(fds))
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, oobn, err := c.c.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return fmt.Errorf("execmgr: send %s: %w", t, err)
	}
	if n != len(b) || oobn != len(oob) {
		return fmt.Errorf("execmgr: send %s: short write", t)
	}
	return nil
}

// Recv receives one message. io.EOF: the peer closed the channel. A
// protocol error closes no descriptors of later messages (each packet
// carries its own) but the caller should close the connection.
func (c *PacketConn) Recv() (Message, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, oobn, flags, _, err := c.c.ReadMsgUnix(c.buf, c.oob)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return Message{}, err
		}
		return Message{}, fmt.Errorf("execmgr: receive: %w", err)
	}
	fds, perr := parseRights(c.oob[:oobn])
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if perr != nil {
		closeAll()
		return Message{}, perr
	}
	if n == 0 && oobn == 0 {
		return Message{}, io.EOF
	}
	if flags&unix.MSG_TRUNC != 0 || n > WireHeaderSize+MaxPayload {
		closeAll()
		return Message{}, protoErr("packet larger than %d bytes", WireHeaderSize+MaxPayload)
	}
	if flags&unix.MSG_CTRUNC != 0 {
		closeAll()
		return Message{}, protoErr("control message truncated (more than %d fds)", MaxFDs)
	}
	t, body, err := DecodePacket(c.buf[:n], len(fds))
	if err != nil {
		closeAll()
		return Message{}, err
	}
	return Message{Type: t, Body: body, FDs: fds}, nil
}

// parseRights returns the descriptors of SCM_RIGHTS messages; any other
// control message is an error (its descriptors are closed).
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, protoErr("control message: %v", err)
	}
	var fds []int
	var bad error
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_RIGHTS {
			r, err := unix.ParseUnixRights(&m)
			if err != nil {
				bad = protoErr("SCM_RIGHTS: %v", err)
				continue
			}
			fds = append(fds, r...)
			continue
		}
		bad = protoErr("unexpected control message level %d type %d", m.Header.Level, m.Header.Type)
	}
	if bad != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, bad
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	return fds, nil
}
