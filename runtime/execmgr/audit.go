package execmgr

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// The audit entity (Klog) owns the kernel-side audit configuration of the
// programs: which system calls the kernel refuses, lets through, or holds
// for FlowChecker (seccomp user notification). The ExecutionManager entity
// asks it for a program's rules before every start (AuditClient) and
// installs them, merged with what FlowMonitor asked for (MergeFilters).

// AuditClient asks the audit entity for audit rules, one request at a time.
type AuditClient struct {
	c    *PacketConn
	Peer Hello
	mu   sync.Mutex
	next uint64
}

// auditTimeout bounds one audit request.
const auditTimeout = 10 * time.Second

// NewAuditClient greets the audit entity on c (which it then owns).
func NewAuditClient(c *PacketConn) (*AuditClient, error) {
	if err := c.Send(MsgHello, &Hello{Role: RoleManager, Pid: os.Getpid()}); err != nil {
		c.Close()
		return nil, err
	}
	m, err := recvTimeout(c, handshakeTimeout)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("execmgr: handshake with the audit entity: %w", err)
	}
	closeFDs(m.FDs)
	h, ok := m.Body.(*Hello)
	if !ok || h.Role != RoleAudit {
		c.Close()
		return nil, protoErr("handshake: got %s, want a hello from %s", m.Type, RoleAudit)
	}
	return &AuditClient{c: c, Peer: *h}, nil
}

// Rules returns the audit rules of entity (whose program is exe) for the
// architecture this process runs on.
func (a *AuditClient) Rules(entity, exe string) (*seccomp.Spec, *AuditRules, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	req := &AuditReq{Req: a.next, Entity: entity, Exe: exe, Arch: string(sysnum.Host())}
	if err := a.c.Send(MsgAuditReq, req); err != nil {
		return nil, nil, err
	}
	m, err := recvTimeout(a.c, auditTimeout)
	if err != nil {
		return nil, nil, fmt.Errorf("audit entity: %w", err)
	}
	closeFDs(m.FDs)
	switch b := m.Body.(type) {
	case *AuditRules:
		if b.Req != req.Req {
			return nil, nil, protoErr("audit-rules answer request %d, not %d", b.Req, req.Req)
		}
		spec, err := b.Filter.Spec()
		if err != nil {
			return nil, nil, err
		}
		if spec.Arch != sysnum.Host() {
			return nil, nil, fmt.Errorf("the audit rules of %s are for %s, this system is %s", entity, spec.Arch, sysnum.Host())
		}
		return spec, b, nil
	case *ErrorResp:
		return nil, nil, fmt.Errorf("audit entity: %s", b.Error)
	}
	return nil, nil, protoErr("audit-request answered by %s", m.Type)
}

// Close ends the conversation.
func (a *AuditClient) Close() error { return a.c.Close() }

// ServeAudit is the audit entity's side of one channel: it answers the
// ExecutionManager's hello and then every audit request with lookup's
// rules (or its error), until the channel ends (it then returns nil) or a
// protocol error.
func ServeAudit(c *PacketConn, lookup func(*AuditReq) (*AuditRules, error), logf func(string, ...any)) error {
	defer c.Close()
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := c.Send(MsgHello, &Hello{Role: RoleAudit, Pid: os.Getpid()}); err != nil {
		return err
	}
	m, err := recvTimeout(c, handshakeTimeout)
	if err != nil {
		return fmt.Errorf("execmgr: audit handshake: %w", err)
	}
	closeFDs(m.FDs)
	if h, ok := m.Body.(*Hello); !ok || h.Role != RoleManager {
		return protoErr("audit handshake: got %s, want a hello from %s", m.Type, RoleManager)
	}
	for {
		m, err := c.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		closeFDs(m.FDs)
		req, ok := m.Body.(*AuditReq)
		if !ok {
			return protoErr("unexpected %s from %s", m.Type, RoleManager)
		}
		rules, err := lookup(req)
		if err != nil {
			logf("audit request %d for %s: %v", req.Req, req.Entity, err)
			text := err.Error()
			if len(text) > maxTextLen {
				text = text[:maxTextLen]
			}
			if err := c.Send(MsgError, &ErrorResp{Req: req.Req, Error: text}); err != nil {
				return err
			}
			continue
		}
		rules.Req = req.Req
		if err := c.Send(MsgAuditRules, rules); err != nil {
			return err
		}
	}
}
