// Package ipc is the FlowChecker↔FlowMonitor protocol (version 1): typed,
// length-prefixed messages over a Unix stream socket, with file descriptors
// (the seccomp listener and the function-event arena) passed as SCM_RIGHTS.
//
// Every message is treated as untrusted input on receipt: the 12-byte header
// is checked (magic, version, type, fd count, reserved bytes, length bound),
// the payload is decoded strictly (one JSON object, no unknown fields, no
// trailing data) and each body is validated (ranges, string lengths, enums)
// before it is returned. File descriptors received with a message that fails
// any check are closed.
//
// Wire format (all integers little-endian):
//
//	offset size field
//	0      2    magic 'K' 'F'
//	2      1    version (1)
//	3      1    type (see Type)
//	4      1    number of fds attached to the first byte of this message (0..MaxFDs)
//	5      3    reserved, zero
//	8      4    payload length (0..MaxPayload)
//	12     n    payload: one JSON object, the body of Type
//
// The full description is in docs/monitor.md, "Format: FlowChecker↔FlowMonitor IPC v1".
package ipc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Version is the protocol version this package speaks.
const Version = 1

// Limits of one message.
const (
	HeaderSize = 12
	MaxPayload = 256 << 10 // 256 KiB: room for a 1024-frame stack with long names
	MaxFDs     = 4

	maxPath      = 4096
	maxText      = 4096
	maxName      = 1024
	maxExpected  = 1024
	maxFrames    = 1024
	maxSensitive = 1024
	maxEntry     = 128
)

var magic = [2]byte{'K', 'F'}

// Type is the message type.
type Type uint8

// Message types. The direction is part of the contract: a peer that receives
// a type it does not expect from its role treats it as a protocol error.
const (
	THello         Type = 1 // both ways, first message: Hello
	TInstance      Type = 2 // FM→FC, fds [listener, arena?]: Instance
	TInstanceOK    Type = 3 // FC→FM: Ack
	TInstanceError Type = 4 // FC→FM: InstanceError
	TAnomaly       Type = 5 // FC→FM: AnomalyReport
	TEnded         Type = 6 // FC→FM: Ended (the listener hung up: no task left)
	TRelease       Type = 7 // FM→FC: Ack (forget the instance, close its fds)
	TReleased      Type = 8 // FC→FM: Ack (all reports of the instance were sent before it)
	TShutdown      Type = 9 // FM→FC: Shutdown
)

func (t Type) String() string {
	switch t {
	case THello:
		return "hello"
	case TInstance:
		return "instance"
	case TInstanceOK:
		return "instance-ok"
	case TInstanceError:
		return "instance-error"
	case TAnomaly:
		return "anomaly"
	case TEnded:
		return "ended"
	case TRelease:
		return "release"
	case TReleased:
		return "released"
	case TShutdown:
		return "shutdown"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Roles carried in Hello.
const (
	RoleMonitor = "FlowMonitor"
	RoleChecker = "FlowChecker"
)

// Hello opens a connection in both directions.
type Hello struct {
	Role string `json:"role"` // RoleMonitor or RoleChecker
	Pid  int    `json:"pid"`  // the sender's process id
	// Signature is the checker's signature file (FC_GRAPH_FILENAME); empty from FlowMonitor.
	Signature string `json:"signature,omitempty"`
}

// Verdicts: what FlowChecker does with the syscall that revealed an anomaly.
const (
	VerdictKill  = "kill"  // SIGKILL the process group, then refuse the syscall: it never runs
	VerdictAllow = "allow" // let the syscall run (log-only)
)

// Instance hands one started program instance to FlowChecker. The message
// carries the seccomp listener fd and, when Arena is true, the memfd of the
// function-event arena as a second fd.
type Instance struct {
	ID        uint64 `json:"id"`         // FlowMonitor's instance number, > 0, unique per connection
	Pid       int    `json:"pid"`        // the program's first process
	Pgid      int    `json:"pgid"`       // its process group (the whole tree)
	Exe       string `json:"exe"`        // absolute path of the program
	OnAnomaly string `json:"on_anomaly"` // VerdictKill or VerdictAllow
	Arena     bool   `json:"arena"`      // a second fd (the arena) is attached
	// The filter the program runs under: Mode "default" (the Sensitive
	// entries are notified) or "full" (every syscall is notified).
	Mode      string   `json:"mode"`
	Sensitive []string `json:"sensitive,omitempty"` // entries "name[:cond][=action]"
}

// Ack names an instance (instance-ok, release, released).
type Ack struct {
	ID uint64 `json:"id"`
}

// InstanceError says FlowChecker cannot check an instance (e.g. the
// signature did not load); FlowMonitor must stop it (fail closed).
type InstanceError struct {
	ID    uint64 `json:"id"`
	Error string `json:"error"`
}

// Ended says the listener of an instance hung up (no task is left).
type Ended struct {
	ID     uint64 `json:"id"`
	Reason string `json:"reason"`
}

// Shutdown asks FlowChecker to stop every instance and exit.
type Shutdown struct{}

// Frame is one frame of the monitored program's call stack.
type Frame struct {
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

// Anomaly is a deviation of the program from its signature, as the model
// reports it.
type Anomaly struct {
	Type     string   `json:"type"` // always "anomaly"
	Pid      int      `json:"pid"`
	Tid      int      `json:"tid"`
	Event    string   `json:"event"`            // the event that did not fit, e.g. "syscall openat" or "call f"
	Expected []string `json:"expected"`         // events the model would have accepted instead
	Stack    []Frame  `json:"stack"`            // innermost first
	Reason   string   `json:"reason,omitempty"` // free text from the model
}

// AnomalyReport is FlowChecker's report of one anomaly, sent after the
// verdict was applied.
type AnomalyReport struct {
	ID      uint64  `json:"id"`
	Verdict string  `json:"verdict"` // VerdictKill or VerdictAllow
	Syscall int     `json:"syscall"` // number of the held syscall, -1 when found in the function events only
	Anomaly Anomaly `json:"anomaly"`
}

// Message is one decoded message: Body is a pointer to the body type of
// Type (*Hello, *Instance, *Ack, ...). FDs are the descriptors that came
// with it (owned by the receiver, O_CLOEXEC).
type Message struct {
	Type Type
	Body any
	FDs  []int
}

// ErrProtocol wraps every validation failure of received data.
var ErrProtocol = errors.New("ipc: protocol error")

func protoErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, a...))
}

// Header is a decoded message header.
type Header struct {
	Type Type
	NFDs int
	Len  int
}

// ParseHeader checks and decodes a message header.
func ParseHeader(b []byte) (Header, error) {
	if len(b) != HeaderSize {
		return Header{}, protoErr("header is %d bytes, want %d", len(b), HeaderSize)
	}
	if b[0] != magic[0] || b[1] != magic[1] {
		return Header{}, protoErr("bad magic %#02x%02x (want 'KF')", b[0], b[1])
	}
	if b[2] != Version {
		return Header{}, protoErr("unsupported protocol version %d (this side speaks %d)", b[2], Version)
	}
	t := Type(b[3])
	if t < THello || t > TShutdown {
		return Header{}, protoErr("unknown message type %d", b[3])
	}
	n := int(b[4])
	if n > MaxFDs {
		return Header{}, protoErr("%s message claims %d fds (max %d)", t, n, MaxFDs)
	}
	if b[5] != 0 || b[6] != 0 || b[7] != 0 {
		return Header{}, protoErr("reserved header bytes are not zero")
	}
	l := binary.LittleEndian.Uint32(b[8:])
	if l > MaxPayload {
		return Header{}, protoErr("%s payload of %d bytes exceeds the limit of %d", t, l, MaxPayload)
	}
	return Header{Type: t, NFDs: n, Len: int(l)}, nil
}

// DecodeBody decodes and validates the payload of a message whose header was
// h. It does not own any fds; it only checks that h.NFDs is what the body
// requires.
func DecodeBody(h Header, payload []byte) (any, error) {
	if len(payload) != h.Len {
		return nil, protoErr("payload is %d bytes, header says %d", len(payload), h.Len)
	}
	var body any
	switch h.Type {
	case THello:
		body = new(Hello)
	case TInstance:
		body = new(Instance)
	case TInstanceOK, TRelease, TReleased:
		body = new(Ack)
	case TInstanceError:
		body = new(InstanceError)
	case TAnomaly:
		body = new(AnomalyReport)
	case TEnded:
		body = new(Ended)
	case TShutdown:
		body = new(Shutdown)
	default:
		return nil, protoErr("unknown message type %d", uint8(h.Type))
	}
	if !utf8.Valid(payload) {
		return nil, protoErr("%s payload is not valid UTF-8", h.Type)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(body); err != nil {
		return nil, protoErr("%s payload: %v", h.Type, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, protoErr("%s payload: trailing data after the JSON object", h.Type)
	}
	if err := validate(h, body); err != nil {
		return nil, err
	}
	return body, nil
}

func wantFDs(h Header, n int) error {
	if h.NFDs != n {
		return protoErr("%s message carries %d fds, want %d", h.Type, h.NFDs, n)
	}
	return nil
}

func checkString(what, s string, max int) error {
	if len(s) > max {
		return protoErr("%s is %d bytes (max %d)", what, len(s), max)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return protoErr("%s contains a NUL byte", what)
	}
	return nil
}

func checkPid(what string, p int, zeroOK bool) error {
	if p < 0 || p > 1<<22 || (!zeroOK && p == 0) { // PID_MAX_LIMIT is 2^22
		return protoErr("%s %d out of range", what, p)
	}
	return nil
}

func checkID(t Type, id uint64) error {
	if id == 0 {
		return protoErr("%s: instance id 0", t)
	}
	return nil
}

func validate(h Header, body any) error {
	switch b := body.(type) {
	case *Hello:
		if err := wantFDs(h, 0); err != nil {
			return err
		}
		if b.Role != RoleMonitor && b.Role != RoleChecker {
			return protoErr("hello: unknown role %q", b.Role)
		}
		if err := checkPid("hello: pid", b.Pid, false); err != nil {
			return err
		}
		return checkString("hello: signature", b.Signature, maxPath)
	case *Instance:
		n := 1
		if b.Arena {
			n = 2
		}
		if err := wantFDs(h, n); err != nil {
			return err
		}
		if err := checkID(h.Type, b.ID); err != nil {
			return err
		}
		if err := checkPid("instance: pid", b.Pid, false); err != nil {
			return err
		}
		if err := checkPid("instance: pgid", b.Pgid, false); err != nil {
			return err
		}
		if b.Pid == 1 || b.Pgid == 1 {
			return protoErr("instance: pid/pgid 1 (init) cannot be a monitored program")
		}
		if err := checkString("instance: exe", b.Exe, maxPath); err != nil {
			return err
		}
		if !strings.HasPrefix(b.Exe, "/") {
			return protoErr("instance: exe %q is not an absolute path", b.Exe)
		}
		if b.OnAnomaly != VerdictKill && b.OnAnomaly != VerdictAllow {
			return protoErr("instance: on_anomaly %q (want %q or %q)", b.OnAnomaly, VerdictKill, VerdictAllow)
		}
		if b.Mode != "default" && b.Mode != "full" {
			return protoErr("instance: mode %q (want \"default\" or \"full\")", b.Mode)
		}
		if len(b.Sensitive) > maxSensitive {
			return protoErr("instance: %d sensitive entries (max %d)", len(b.Sensitive), maxSensitive)
		}
		for i, e := range b.Sensitive {
			if e == "" {
				return protoErr("instance: sensitive[%d] is empty", i)
			}
			if err := checkString(fmt.Sprintf("instance: sensitive[%d]", i), e, maxEntry); err != nil {
				return err
			}
		}
	case *Ack:
		if err := wantFDs(h, 0); err != nil {
			return err
		}
		return checkID(h.Type, b.ID)
	case *InstanceError:
		if err := wantFDs(h, 0); err != nil {
			return err
		}
		if err := checkID(h.Type, b.ID); err != nil {
			return err
		}
		return checkString("instance-error: error", b.Error, maxText)
	case *Ended:
		if err := wantFDs(h, 0); err != nil {
			return err
		}
		if err := checkID(h.Type, b.ID); err != nil {
			return err
		}
		return checkString("ended: reason", b.Reason, maxText)
	case *Shutdown:
		return wantFDs(h, 0)
	case *AnomalyReport:
		if err := wantFDs(h, 0); err != nil {
			return err
		}
		if err := checkID(h.Type, b.ID); err != nil {
			return err
		}
		if b.Verdict != VerdictKill && b.Verdict != VerdictAllow {
			return protoErr("anomaly: verdict %q", b.Verdict)
		}
		if b.Syscall < -1 || b.Syscall > 4095 {
			return protoErr("anomaly: syscall %d out of range", b.Syscall)
		}
		return ValidateAnomaly(&b.Anomaly)
	}
	return nil
}

// ValidateAnomaly checks the bounds of an anomaly (also used before sending).
func ValidateAnomaly(a *Anomaly) error {
	if a.Type != "anomaly" {
		return protoErr("anomaly: type %q (want \"anomaly\")", a.Type)
	}
	if err := checkPid("anomaly: pid", a.Pid, true); err != nil {
		return err
	}
	if err := checkPid("anomaly: tid", a.Tid, true); err != nil {
		return err
	}
	if err := checkString("anomaly: event", a.Event, maxName); err != nil {
		return err
	}
	if err := checkString("anomaly: reason", a.Reason, maxText); err != nil {
		return err
	}
	if len(a.Expected) > maxExpected {
		return protoErr("anomaly: %d expected events (max %d)", len(a.Expected), maxExpected)
	}
	for i, e := range a.Expected {
		if err := checkString(fmt.Sprintf("anomaly: expected[%d]", i), e, maxName); err != nil {
			return err
		}
	}
	if len(a.Stack) > maxFrames {
		return protoErr("anomaly: %d stack frames (max %d)", len(a.Stack), maxFrames)
	}
	for i, f := range a.Stack {
		if err := checkString(fmt.Sprintf("anomaly: stack[%d].function", i), f.Function, maxName); err != nil {
			return err
		}
		if err := checkString(fmt.Sprintf("anomaly: stack[%d].file", i), f.File, maxPath); err != nil {
			return err
		}
		if f.Line < 0 || f.Line > 1<<30 {
			return protoErr("anomaly: stack[%d].line %d out of range", i, f.Line)
		}
	}
	return nil
}

// TypeOf returns the message type of a body pointer; for *Ack, which serves
// three types, the caller has to say which (ok is false).
func TypeOf(body any) (t Type, ok bool) {
	switch body.(type) {
	case *Hello:
		return THello, true
	case *Instance:
		return TInstance, true
	case *InstanceError:
		return TInstanceError, true
	case *AnomalyReport:
		return TAnomaly, true
	case *Ended:
		return TEnded, true
	case *Shutdown:
		return TShutdown, true
	}
	return 0, false
}

// Encode builds the bytes of one message (header + payload). The body is
// validated with the same rules the receiver applies, so a bug on the
// sending side shows up there.
func Encode(t Type, body any, nfds int) ([]byte, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("ipc: encode %s: %w", t, err)
	}
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("ipc: %s payload of %d bytes exceeds the limit of %d", t, len(payload), MaxPayload)
	}
	if nfds < 0 || nfds > MaxFDs {
		return nil, fmt.Errorf("ipc: %d fds (max %d)", nfds, MaxFDs)
	}
	h := Header{Type: t, NFDs: nfds, Len: len(payload)}
	// Validate a decoded copy exactly as the peer will.
	if _, err := DecodeBody(h, payload); err != nil {
		return nil, fmt.Errorf("ipc: refusing to send an invalid %s: %w", t, err)
	}
	b := make([]byte, HeaderSize+len(payload))
	b[0], b[1], b[2], b[3], b[4] = magic[0], magic[1], Version, byte(t), byte(nfds)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(payload)))
	copy(b[HeaderSize:], payload)
	return b, nil
}
