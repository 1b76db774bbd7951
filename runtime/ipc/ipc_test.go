package ipc

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	a, f, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRoundTripAllTypes(t *testing.T) {
	a, b := pair(t)
	an := Anomaly{Type: "anomaly", Pid: 10, Tid: 11, Event: "syscall openat", Expected: []string{"call g", "syscall read"},
		Stack: []Frame{{Function: "f", File: "a.c", Line: 3}, {Function: "main"}}, Reason: "not in signature"}
	msgs := []struct {
		t    Type
		body any
	}{
		{THello, &Hello{Role: RoleChecker, Pid: 5, Signature: "/x.kcfm"}},
		{TInstanceOK, &Ack{ID: 1}},
		{TInstanceError, &InstanceError{ID: 1, Error: "bad"}},
		{TAnomaly, &AnomalyReport{ID: 1, Verdict: VerdictKill, Syscall: 257, Anomaly: an}},
		{TEnded, &Ended{ID: 2, Reason: "hangup"}},
		{TRelease, &Ack{ID: 2}},
		{TReleased, &Ack{ID: 2}},
		{TShutdown, &Shutdown{}},
	}
	for _, m := range msgs {
		if err := a.Send(m.t, m.body); err != nil {
			t.Fatalf("send %s: %v", m.t, err)
		}
		got, err := b.Recv()
		if err != nil {
			t.Fatalf("recv %s: %v", m.t, err)
		}
		if got.Type != m.t || len(got.FDs) != 0 {
			t.Fatalf("got %v fds %v, want %v", got.Type, got.FDs, m.t)
		}
	}
	r, _ := func() (Message, error) {
		a.Send(TAnomaly, &AnomalyReport{ID: 9, Verdict: VerdictAllow, Syscall: -1, Anomaly: an})
		return b.Recv()
	}()
	ar := r.Body.(*AnomalyReport)
	if ar.ID != 9 || ar.Anomaly.Stack[0].File != "a.c" || ar.Anomaly.Expected[1] != "syscall read" {
		t.Fatalf("anomaly did not survive: %+v", ar)
	}
}

func TestFDPassing(t *testing.T) {
	a, b := pair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	inst := &Instance{ID: 1, Pid: 100, Pgid: 100, Exe: "/bin/true", OnAnomaly: VerdictKill, Arena: true, Mode: "default", Sensitive: []string{"execve", "openat:write"}}
	if err := a.Send(TInstance, inst, int(r.Fd()), int(w.Fd())); err != nil {
		t.Fatal(err)
	}
	// A second message right behind it must not steal or lose fds.
	if err := a.Send(TRelease, &Ack{ID: 1}); err != nil {
		t.Fatal(err)
	}
	m, err := b.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.FDs) != 2 {
		t.Fatalf("got %d fds", len(m.FDs))
	}
	// The fds are the pipe: write through the received write end.
	if _, err := unix.Write(m.FDs[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := r.Read(buf); err != nil || buf[0] != 'x' {
		t.Fatalf("read %q %v", buf, err)
	}
	for _, fd := range m.FDs {
		unix.Close(fd)
	}
	m2, err := b.Recv()
	if err != nil || m2.Type != TRelease || len(m2.FDs) != 0 {
		t.Fatalf("second message %+v %v", m2, err)
	}
	// The instance requires a listener fd: sending none is refused locally.
	if err := a.Send(TInstance, &Instance{ID: 2, Pid: 1, Pgid: 1, Exe: "/x", OnAnomaly: VerdictKill}); err == nil {
		t.Fatal("instance without fds was sent")
	}
}

func TestEOF(t *testing.T) {
	a, b := pair(t)
	a.Close()
	if _, err := b.Recv(); err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
}

func TestTruncatedMessage(t *testing.T) {
	a, b := pair(t)
	raw, _ := Encode(TEnded, &Ended{ID: 1, Reason: "x"}, 0)
	a.c.Write(raw[:len(raw)-2])
	a.Close()
	_, err := b.Recv()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
}

func TestFDCountMismatchClosesFDs(t *testing.T) {
	a, b := pair(t)
	r, w, _ := os.Pipe()
	defer r.Close()
	// Header says 0 fds, but one is attached.
	raw, _ := Encode(TRelease, &Ack{ID: 1}, 0)
	if _, _, err := a.c.WriteMsgUnix(raw, unix.UnixRights(int(w.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := b.Recv(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v", err)
	}
	// The received duplicate of w was closed: the pipe reads EOF.
	buf := make([]byte, 1)
	if n, err := r.Read(buf); err != io.EOF {
		t.Fatalf("pipe still open: n=%d err=%v", n, err)
	}
}

func hdr(t Type, nfds, l int) []byte {
	b := []byte{'K', 'F', Version, byte(t), byte(nfds), 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[8:], uint32(l))
	return b
}

func TestHeaderValidation(t *testing.T) {
	bad := map[string][]byte{
		"magic":    append([]byte{'X', 'F'}, hdr(THello, 0, 2)[2:]...),
		"version":  func() []byte { b := hdr(THello, 0, 2); b[2] = 2; return b }(),
		"type0":    hdr(0, 0, 2),
		"type99":   hdr(99, 0, 2),
		"fds":      hdr(TInstance, MaxFDs+1, 2),
		"reserved": func() []byte { b := hdr(THello, 0, 2); b[6] = 1; return b }(),
		"length":   hdr(THello, 0, MaxPayload+1),
	}
	for name, b := range bad {
		if _, err := ParseHeader(b); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if _, err := ParseHeader(hdr(TShutdown, 0, 2)); err != nil {
		t.Fatal(err)
	}
}

func TestBodyValidation(t *testing.T) {
	cases := []struct {
		name    string
		t       Type
		nfds    int
		payload string
		want    string
	}{
		{"unknown field", THello, 0, `{"role":"FlowChecker","pid":1,"x":1}`, "unknown field"},
		{"bad role", THello, 0, `{"role":"root","pid":1}`, "unknown role"},
		{"pid 0", THello, 0, `{"role":"FlowChecker","pid":0}`, "out of range"},
		{"trailing", THello, 0, `{"role":"FlowChecker","pid":1} {}`, "trailing"},
		{"fds on hello", THello, 1, `{"role":"FlowChecker","pid":1}`, "carries 1 fds"},
		{"relative exe", TInstance, 1, `{"id":1,"pid":2,"pgid":2,"exe":"bin/x","on_anomaly":"kill","arena":false,"mode":"default"}`, "absolute"},
		{"arena without fd", TInstance, 1, `{"id":1,"pid":2,"pgid":2,"exe":"/x","on_anomaly":"kill","arena":true,"mode":"default"}`, "want 2"},
		{"bad verdict", TInstance, 1, `{"id":1,"pid":2,"pgid":2,"exe":"/x","on_anomaly":"maybe","arena":false,"mode":"default"}`, "on_anomaly"},
		{"pgid 1", TInstance, 1, `{"id":1,"pid":2,"pgid":1,"exe":"/x","on_anomaly":"kill","arena":false,"mode":"default"}`, "init"},
		{"bad mode", TInstance, 1, `{"id":1,"pid":2,"pgid":2,"exe":"/x","on_anomaly":"kill","arena":false,"mode":"half"}`, "mode"},
		{"empty entry", TInstance, 1, `{"id":1,"pid":2,"pgid":2,"exe":"/x","on_anomaly":"kill","arena":false,"mode":"full","sensitive":[""]}`, "empty"},
		{"id 0", TRelease, 0, `{"id":0}`, "instance id 0"},
		{"not anomaly", TAnomaly, 0, `{"id":1,"verdict":"kill","syscall":1,"anomaly":{"type":"x"}}`, "type"},
		{"nul", TEnded, 0, `{"id":1,"reason":"a\u0000b"}`, "NUL"},
		{"syscall range", TAnomaly, 0, `{"id":1,"verdict":"kill","syscall":99999,"anomaly":{"type":"anomaly"}}`, "out of range"},
		{"too many frames", TAnomaly, 0, `{"id":1,"verdict":"kill","syscall":1,"anomaly":{"type":"anomaly","stack":[` +
			strings.Repeat(`{"function":"f"},`, maxFrames) + `{"function":"f"}]}}`, "stack frames"},
		{"not an object", TShutdown, 0, `[]`, "cannot unmarshal"},
		{"invalid utf8", TEnded, 0, "{\"id\":1,\"reason\":\"\xff\"}", "UTF-8"},
	}
	for _, c := range cases {
		_, err := DecodeBody(Header{Type: c.t, NFDs: c.nfds, Len: len(c.payload)}, []byte(c.payload))
		if err == nil || !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an ErrProtocol containing %q", c.name, err, c.want)
		}
	}
}
