package ipc

import (
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder as one message (the fd
// count comes from the header, as on the wire). It must never panic, and whatever it accepts must
// re-encode to a message it accepts again (validation is stable).
func FuzzDecode(f *testing.F) {
	an := Anomaly{Type: "anomaly", Pid: 1, Tid: 2, Event: "syscall execve", Expected: []string{"syscall read"},
		Stack: []Frame{{Function: "main", File: "m.c", Line: 7}}}
	seeds := []struct {
		t    Type
		body any
		nfds int
	}{
		{THello, &Hello{Role: RoleMonitor, Pid: 1}, 0},
		{TInstance, &Instance{ID: 1, Pid: 2, Pgid: 2, Exe: "/bin/x", OnAnomaly: VerdictKill, Arena: true, Mode: "default", Sensitive: []string{"execve", "openat:write"}}, 2},
		{TInstanceOK, &Ack{ID: 3}, 0},
		{TInstanceError, &InstanceError{ID: 3, Error: "no signature"}, 0},
		{TAnomaly, &AnomalyReport{ID: 3, Verdict: VerdictKill, Syscall: 59, Anomaly: an}, 0},
		{TEnded, &Ended{ID: 3, Reason: "hangup"}, 0},
		{TShutdown, &Shutdown{}, 0},
	}
	for _, s := range seeds {
		b, err := Encode(s.t, s.body, s.nfds)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("KF\x01\x05\x00\x00\x00\x00\x02\x00\x00\x00{}"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < HeaderSize {
			if _, err := ParseHeader(b); err == nil {
				t.Fatal("short header accepted")
			}
			return
		}
		h, err := ParseHeader(b[:HeaderSize])
		if err != nil {
			return
		}
		body, err := DecodeBody(h, b[HeaderSize:])
		if err != nil {
			return
		}
		if h.Len > MaxPayload || h.NFDs > MaxFDs {
			t.Fatalf("accepted out-of-bounds header %+v", h)
		}
		re, err := Encode(h.Type, body, h.NFDs)
		if err != nil {
			t.Fatalf("accepted %s body does not re-encode: %v", h.Type, err)
		}
		h2, err := ParseHeader(re[:HeaderSize])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeBody(h2, re[HeaderSize:]); err != nil {
			t.Fatalf("re-encoded %s rejected: %v", h.Type, err)
		}
	})
}
