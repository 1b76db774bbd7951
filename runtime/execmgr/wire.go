package execmgr

// The ExecutionManager channel protocol (version 1): FlowMonitor ↔ the
// ExecutionManager entity, and the ExecutionManager entity ↔ the audit
// entity (Klog), over the static channels einit creates (AF_UNIX
// SOCK_SEQPACKET socket pairs). One message is one packet:
//
//	offset size field
//	0      2    magic 'K' 'E'
//	2      1    version (1)
//	3      1    type (see MsgType)
//	4      1    number of fds attached to the packet (0..MaxFDs)
//	5      3    reserved, zero
//	8      4    payload length, little-endian (0..MaxPayload); header + payload = the packet
//	12     n    payload: one JSON object, the body of the type
//
// Every packet is untrusted input: a truncated packet or control message,
// a header that does not check out, descriptors that do not match the
// header, a payload that is not exactly one JSON object of the type's body
// (no unknown members, valid UTF-8, no trailing data) or a body that fails
// validation is a protocol error; its descriptors are closed and the
// connection is closed. docs/images.md, "Format: ExecutionManager channel
// protocol v1", is the reference.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// WireVersion is the protocol version.
const WireVersion = 1

// Limits of the protocol.
const (
	WireHeaderSize = 12
	MaxPayload     = 256 << 10
	MaxFDs         = 4

	maxPathLen   = 4096
	maxArgs      = 1024
	maxArgLen    = 32 << 10
	maxEnv       = 1024
	maxTextLen   = 4096
	maxNameLen   = 256
	maxRules     = 4096
	maxConds     = 6
	maxSensitive = 1024
	maxEntryLen  = 128
	maxPid       = 1 << 22
)

var wireMagic = [2]byte{'K', 'E'}

// MsgType is the type of a message.
type MsgType uint8

// Message types and their directions (C = the client: FlowMonitor, or the
// ExecutionManager asking Klog; S = the serving entity).
const (
	MsgHello      MsgType = 1  // both, first: Hello
	MsgStart      MsgType = 2  // C→S: StartReq, fds: the program's stdio (Stdio flags, in order)
	MsgStarted    MsgType = 3  // S→C: StartedResp, fds: seccomp listener (if Listener), arena memfd (if Arena)
	MsgError      MsgType = 4  // S→C: ErrorResp (a request failed)
	MsgExited     MsgType = 5  // S→C, unsolicited: ExitedEvent (an instance's first process ended)
	MsgStop       MsgType = 6  // C→S: StopReq
	MsgStopped    MsgType = 7  // S→C: StoppedResp
	MsgShutdown   MsgType = 8  // C→S: Shutdown (stop every instance of this connection, then close)
	MsgAuditReq   MsgType = 9  // C→S (ExecutionManager→Klog): AuditReq
	MsgAuditRules MsgType = 10 // S→C (Klog→ExecutionManager): AuditRules
)

var msgNames = map[MsgType]string{MsgHello: "hello", MsgStart: "start", MsgStarted: "started", MsgError: "error",
	MsgExited: "exited", MsgStop: "stop", MsgStopped: "stopped", MsgShutdown: "shutdown",
	MsgAuditReq: "audit-request", MsgAuditRules: "audit-rules"}

func (t MsgType) String() string {
	if s, ok := msgNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Roles in Hello.
const (
	RoleMonitor = "FlowMonitor"
	RoleManager = "ExecutionManager"
	RoleAudit   = "Klog"
)

// Hello opens a conversation (both sides send one first).
type Hello struct {
	Role string `json:"role"`
	Pid  int    `json:"pid"`
}

// WireFilter is a seccomp.Spec on the wire.
type WireFilter struct {
	Arch    string     `json:"arch"`
	Default uint32     `json:"default"`
	Rules   []WireRule `json:"rules"`
}

// WireRule is a seccomp.Rule on the wire.
type WireRule struct {
	Nr     int        `json:"nr"`
	Name   string     `json:"name,omitempty"`
	Action uint32     `json:"action"`
	Conds  []WireCond `json:"conds,omitempty"`
}

// WireCond is a seccomp.Cond on the wire.
type WireCond struct {
	Arg   int    `json:"arg"`
	Op    uint8  `json:"op"`
	Value uint64 `json:"value"`
	Mask  uint64 `json:"mask,omitempty"`
	Low32 bool   `json:"low32,omitempty"`
}

// FilterToWire converts a spec (nil → nil).
func FilterToWire(s *seccomp.Spec) *WireFilter {
	if s == nil {
		return nil
	}
	w := &WireFilter{Arch: string(s.Arch), Default: uint32(s.Default), Rules: make([]WireRule, 0, len(s.Rules))}
	for _, r := range s.Rules {
		wr := WireRule{Nr: r.Nr, Name: r.Name, Action: uint32(r.Action)}
		for _, c := range r.Conds {
			wr.Conds = append(wr.Conds, WireCond{Arg: c.Arg, Op: uint8(c.Op), Value: c.Value, Mask: c.Mask, Low32: c.Low32})
		}
		w.Rules = append(w.Rules, wr)
	}
	return w
}

// Spec converts back and validates (seccomp.Spec.Validate).
func (w *WireFilter) Spec() (*seccomp.Spec, error) {
	if w == nil {
		return nil, nil
	}
	if len(w.Rules) > maxRules {
		return nil, fmt.Errorf("filter has %d rules (max %d)", len(w.Rules), maxRules)
	}
	s := &seccomp.Spec{Arch: sysnum.Arch(w.Arch), Default: seccomp.Action(w.Default), Rules: make([]seccomp.Rule, 0, len(w.Rules))}
	for i, r := range w.Rules {
		if len(r.Conds) > maxConds {
			return nil, fmt.Errorf("filter rule %d has %d conditions (max %d)", i, len(r.Conds), maxConds)
		}
		if len(r.Name) > maxNameLen {
			return nil, fmt.Errorf("filter rule %d: name too long", i)
		}
		sr := seccomp.Rule{Nr: r.Nr, Name: r.Name, Action: seccomp.Action(r.Action)}
		for _, c := range r.Conds {
			sr.Conds = append(sr.Conds, seccomp.Cond{Arg: c.Arg, Op: seccomp.Op(c.Op), Value: c.Value, Mask: c.Mask, Low32: c.Low32})
		}
		s.Rules = append(s.Rules, sr)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// WireLaunch is LaunchOptions on the wire.
type WireLaunch struct {
	Filter      *WireFilter `json:"filter"`
	Mode        string      `json:"mode"`
	Sensitive   []string    `json:"sensitive"`
	Ring        bool        `json:"ring"`
	RingSlots   int         `json:"ring_slots"`
	RingRecords int         `json:"ring_records"`
	RingStallMs int64       `json:"ring_stall_ms"`
}

// StartReq asks to start a program instance. The program's standard input,
// output and error are the descriptors attached to the message, in this
// order, for each Stdio flag that is true (false: /dev/null).
type StartReq struct {
	Req    uint64     `json:"req"`
	Name   string     `json:"name"`
	Path   string     `json:"path"`
	Argv   []string   `json:"argv"`
	Env    []string   `json:"env"`
	Dir    string     `json:"dir"`
	Stdio  [3]bool    `json:"stdio"`
	Launch WireLaunch `json:"launch"`
}

// StartedResp answers a start: the instance, with the seccomp listener and
// the arena attached when the flags say so (listener first).
type StartedResp struct {
	Req          uint64 `json:"req"`
	ID           uint64 `json:"id"`
	Pid          int    `json:"pid"`
	Pgid         int    `json:"pgid"`
	Exe          string `json:"exe"`
	Listener     bool   `json:"listener"`
	Arena        bool   `json:"arena"`
	SyncWakeUp   bool   `json:"sync_wake_up"`            // the kernel has SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (6.6+)
	FilterRules  int    `json:"filter_rules"`            // rules of the filter actually installed
	FilterSource string `json:"filter_source,omitempty"` // where its rules came from (e.g. "FlowMonitor + Klog …")
}

// ErrorResp is the failure of the request Req.
type ErrorResp struct {
	Req   uint64 `json:"req"`
	Error string `json:"error"`
}

// ExitedEvent reports that the first process of instance ID ended (sent
// once per instance, also when Stop ended it).
type ExitedEvent struct {
	ID     uint64 `json:"id"`
	Exited bool   `json:"exited"`
	Code   int    `json:"code"`
	Signal int    `json:"signal"`
}

// StopReq stops instance ID's whole tree (SIGTERM, SIGKILL after GraceMs).
type StopReq struct {
	Req     uint64 `json:"req"`
	ID      uint64 `json:"id"`
	GraceMs int64  `json:"grace_ms"`
}

// StoppedResp confirms a stop: no process of the tree is left.
type StoppedResp struct {
	Req uint64 `json:"req"`
	ID  uint64 `json:"id"`
}

// Shutdown ends the conversation; the server stops what is left.
type Shutdown struct{}

// AuditReq asks the audit entity for the kernel-side audit rules of an
// entity (the seccomp filter its program is started under).
type AuditReq struct {
	Req    uint64 `json:"req"`
	Entity string `json:"entity"`
	Exe    string `json:"exe"`
	Arch   string `json:"arch"`
}

// AuditRules are the audit rules: the filter and where it came from.
type AuditRules struct {
	Req     uint64      `json:"req"`
	Entity  string      `json:"entity"`
	Source  string      `json:"source"`  // the audit config file
	Profile string      `json:"profile"` // its PSL audit profile
	Filter  *WireFilter `json:"filter"`
}

// Message is a received message.
type Message struct {
	Type MsgType
	Body any
	FDs  []int // received descriptors, owned by the receiver
}

// ErrProtocol wraps every protocol violation.
var ErrProtocol = errors.New("execmgr protocol error")

func protoErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, a...))
}

// wireHeader is a parsed header.
type wireHeader struct {
	Type MsgType
	NFDs int
	Len  int
}

func parseWireHeader(b []byte) (wireHeader, error) {
	if len(b) < WireHeaderSize {
		return wireHeader{}, protoErr("packet of %d bytes is shorter than the %d-byte header", len(b), WireHeaderSize)
	}
	if b[0] != wireMagic[0] || b[1] != wireMagic[1] {
		return wireHeader{}, protoErr("bad magic %q", b[:2])
	}
	if b[2] != WireVersion {
		return wireHeader{}, protoErr("version %d, this side speaks %d", b[2], WireVersion)
	}
	t := MsgType(b[3])
	if _, ok := msgNames[t]; !ok {
		return wireHeader{}, protoErr("unknown message type %d", b[3])
	}
	if int(b[4]) > MaxFDs {
		return wireHeader{}, protoErr("%s announces %d fds (max %d)", t, b[4], MaxFDs)
	}
	if b[5] != 0 || b[6] != 0 || b[7] != 0 {
		return wireHeader{}, protoErr("reserved header bytes are not zero")
	}
	n := binary.LittleEndian.Uint32(b[8:12])
	if n > MaxPayload {
		return wireHeader{}, protoErr("%s payload of %d bytes exceeds %d", t, n, MaxPayload)
	}
	if int(n) != len(b)-WireHeaderSize {
		return wireHeader{}, protoErr("%s header says %d payload bytes, the packet has %d", t, n, len(b)-WireHeaderSize)
	}
	return wireHeader{Type: t, NFDs: int(b[4]), Len: int(n)}, nil
}

// DecodePacket decodes and validates one packet whose nfds descriptors
// arrived with it (the caller closes them on error).
func DecodePacket(b []byte, nfds int) (MsgType, any, error) {
	h, err := parseWireHeader(b)
	if err != nil {
		return 0, nil, err
	}
	if h.NFDs != nfds {
		return 0, nil, protoErr("%s announces %d fds, %d arrived", h.Type, h.NFDs, nfds)
	}
	body, err := decodeBody(h.Type, b[WireHeaderSize:])
	if err != nil {
		return 0, nil, err
	}
	if err := validateMsg(h.Type, body, nfds); err != nil {
		return 0, nil, err
	}
	return h.Type, body, nil
}

func newBody(t MsgType) any {
	switch t {
	case MsgHello:
		return new(Hello)
	case MsgStart:
		return new(StartReq)
	case MsgStarted:
		return new(StartedResp)
	case MsgError:
		return new(ErrorResp)
	case MsgExited:
		return new(ExitedEvent)
	case MsgStop:
		return new(StopReq)
	case MsgStopped:
		return new(StoppedResp)
	case MsgShutdown:
		return new(Shutdown)
	case MsgAuditReq:
		return new(AuditReq)
	case MsgAuditRules:
		return new(AuditRules)
	}
	return nil
}

func decodeBody(t MsgType, payload []byte) (any, error) {
	body := newBody(t)
	if body == nil {
		return nil, protoErr("unknown message type %d", uint8(t))
	}
	if !utf8.Valid(payload) {
		return nil, protoErr("%s payload is not valid UTF-8", t)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(body); err != nil {
		return nil, protoErr("%s payload: %v", t, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, protoErr("%s payload: trailing data after the JSON object", t)
	}
	return body, nil
}

// EncodePacket encodes a message, validating it exactly as the peer will.
func EncodePacket(t MsgType, body any, nfds int) ([]byte, error) {
	if nfds < 0 || nfds > MaxFDs {
		return nil, fmt.Errorf("execmgr: %d fds (max %d)", nfds, MaxFDs)
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("execmgr: encode %s: %w", t, err)
	}
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("execmgr: %s payload of %d bytes exceeds %d", t, len(payload), MaxPayload)
	}
	b := make([]byte, WireHeaderSize+len(payload))
	b[0], b[1], b[2], b[3], b[4] = wireMagic[0], wireMagic[1], WireVersion, byte(t), byte(nfds)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(payload)))
	copy(b[WireHeaderSize:], payload)
	if _, _, err := DecodePacket(b, nfds); err != nil {
		return nil, fmt.Errorf("execmgr: refusing to send an invalid %s: %w", t, err)
	}
	return b, nil
}

func checkText(what, s string, max int) error {
	if len(s) > max {
		return protoErr("%s is %d bytes (max %d)", what, len(s), max)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return protoErr("%s contains a NUL byte", what)
	}
	return nil
}

func checkAbsPath(what, p string) error {
	if err := checkText(what, p, maxPathLen); err != nil {
		return err
	}
	if p == "" || !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return protoErr("%s %q is not a clean absolute path", what, p)
	}
	return nil
}

func checkPid(what string, p int) error {
	if p < 2 || p > maxPid {
		return protoErr("%s %d out of range 2..%d", what, p, maxPid)
	}
	return nil
}

func validateMsg(t MsgType, body any, nfds int) error {
	want := func(n int) error {
		if nfds != n {
			return protoErr("%s carries %d fds, expected %d", t, nfds, n)
		}
		return nil
	}
	switch b := body.(type) {
	case *Hello:
		if b.Role != RoleMonitor && b.Role != RoleManager && b.Role != RoleAudit {
			return protoErr("hello: unknown role %q", b.Role)
		}
		if b.Pid < 1 || b.Pid > maxPid {
			return protoErr("hello: pid %d out of range", b.Pid)
		}
		return want(0)
	case *StartReq:
		if b.Req == 0 {
			return protoErr("start: request number 0")
		}
		if err := checkText("start: name", b.Name, maxNameLen); err != nil {
			return err
		}
		if err := checkAbsPath("start: path", b.Path); err != nil {
			return err
		}
		if len(b.Argv) == 0 || len(b.Argv) > maxArgs {
			return protoErr("start: %d arguments (1..%d)", len(b.Argv), maxArgs)
		}
		for i, a := range b.Argv {
			if err := checkText(fmt.Sprintf("start: argv[%d]", i), a, maxArgLen); err != nil {
				return err
			}
		}
		if len(b.Env) > maxEnv {
			return protoErr("start: %d environment entries (max %d)", len(b.Env), maxEnv)
		}
		for i, kv := range b.Env {
			if err := checkText(fmt.Sprintf("start: env[%d]", i), kv, maxArgLen); err != nil {
				return err
			}
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return protoErr("start: env[%d] %q is not NAME=value", i, kv)
			}
		}
		if b.Dir != "" {
			if err := checkAbsPath("start: dir", b.Dir); err != nil {
				return err
			}
		}
		l := b.Launch
		if l.Mode != "" && l.Mode != "default" && l.Mode != "full" {
			return protoErr("start: mode %q (expected default or full)", l.Mode)
		}
		if len(l.Sensitive) > maxSensitive {
			return protoErr("start: %d sensitive entries (max %d)", len(l.Sensitive), maxSensitive)
		}
		for i, e := range l.Sensitive {
			if err := checkText(fmt.Sprintf("start: sensitive[%d]", i), e, maxEntryLen); err != nil {
				return err
			}
		}
		if l.RingSlots < 0 || l.RingSlots > 1<<16 || l.RingRecords < 0 || l.RingRecords > 1<<24 {
			return protoErr("start: ring geometry %d×%d out of range", l.RingSlots, l.RingRecords)
		}
		if l.RingStallMs < 0 || l.RingStallMs > 24*3600*1000 {
			return protoErr("start: ring stall %d ms out of range", l.RingStallMs)
		}
		if _, err := l.Filter.Spec(); err != nil {
			return protoErr("start: filter: %v", err)
		}
		n := 0
		for _, s := range b.Stdio {
			if s {
				n++
			}
		}
		return want(n)
	case *StartedResp:
		if b.Req == 0 || b.ID == 0 {
			return protoErr("started: request or instance number 0")
		}
		if err := checkPid("started: pid", b.Pid); err != nil {
			return err
		}
		if err := checkPid("started: pgid", b.Pgid); err != nil {
			return err
		}
		if err := checkAbsPath("started: exe", b.Exe); err != nil {
			return err
		}
		if b.FilterRules < 0 || b.FilterRules > maxRules*64 {
			return protoErr("started: filter_rules %d out of range", b.FilterRules)
		}
		if err := checkText("started: filter_source", b.FilterSource, maxTextLen); err != nil {
			return err
		}
		n := 0
		if b.Listener {
			n++
		}
		if b.Arena {
			n++
		}
		return want(n)
	case *ErrorResp:
		if b.Req == 0 {
			return protoErr("error: request number 0")
		}
		if b.Error == "" {
			return protoErr("error: empty text")
		}
		if err := checkText("error: text", b.Error, maxTextLen); err != nil {
			return err
		}
		return want(0)
	case *ExitedEvent:
		if b.ID == 0 {
			return protoErr("exited: instance number 0")
		}
		if b.Exited && (b.Code < 0 || b.Code > 255 || b.Signal != 0) {
			return protoErr("exited: exit code %d / signal %d", b.Code, b.Signal)
		}
		if !b.Exited && (b.Signal < 1 || b.Signal > 64 || b.Code != 0) {
			return protoErr("exited: signal %d / code %d", b.Signal, b.Code)
		}
		return want(0)
	case *StopReq:
		if b.Req == 0 || b.ID == 0 {
			return protoErr("stop: request or instance number 0")
		}
		if b.GraceMs < 0 || b.GraceMs > 3600*1000 {
			return protoErr("stop: grace %d ms out of range", b.GraceMs)
		}
		return want(0)
	case *StoppedResp:
		if b.Req == 0 || b.ID == 0 {
			return protoErr("stopped: request or instance number 0")
		}
		return want(0)
	case *Shutdown:
		return want(0)
	case *AuditReq:
		if b.Req == 0 {
			return protoErr("audit-request: request number 0")
		}
		if b.Entity == "" {
			return protoErr("audit-request: no entity")
		}
		if err := checkText("audit-request: entity", b.Entity, maxNameLen); err != nil {
			return err
		}
		if err := checkAbsPath("audit-request: exe", b.Exe); err != nil {
			return err
		}
		if sysnum.For(sysnum.Arch(b.Arch)) == nil {
			return protoErr("audit-request: unsupported architecture %q", b.Arch)
		}
		return want(0)
	case *AuditRules:
		if b.Req == 0 {
			return protoErr("audit-rules: request number 0")
		}
		for what, s := range map[string]string{"entity": b.Entity, "source": b.Source, "profile": b.Profile} {
			if err := checkText("audit-rules: "+what, s, maxTextLen); err != nil {
				return err
			}
		}
		if b.Filter == nil {
			return protoErr("audit-rules: no filter")
		}
		if _, err := b.Filter.Spec(); err != nil {
			return protoErr("audit-rules: filter: %v", err)
		}
		return want(0)
	}
	return protoErr("no validation for %s", t)
}
