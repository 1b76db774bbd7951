package execmgr

import (
	"testing"
)

// FuzzDecodePacket: any packet either decodes into a message that
// re-encodes to a packet that decodes again, or is a protocol error; it
// never panics.
func FuzzDecodePacket(f *testing.F) {
	seeds := []struct {
		t    MsgType
		body any
		nfds int
	}{
		{MsgHello, &Hello{Role: RoleManager, Pid: 42}, 0},
		{MsgStart, validStart(), 2},
		{MsgStarted, &StartedResp{Req: 1, ID: 1, Pid: 9, Pgid: 9, Exe: "/bin/x", Listener: true}, 1},
		{MsgExited, &ExitedEvent{ID: 1, Signal: 9}, 0},
		{MsgStop, &StopReq{Req: 2, ID: 1}, 0},
		{MsgAuditRules, &AuditRules{Req: 1, Entity: "e", Filter: validStart().Launch.Filter}, 0},
	}
	for _, s := range seeds {
		b, err := EncodePacket(s.t, s.body, s.nfds)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, s.nfds)
	}
	f.Add([]byte("KE\x01\x01\x00\x00\x00\x00\x02\x00\x00\x00{}"), 0)
	f.Fuzz(func(t *testing.T, b []byte, nfds int) {
		if nfds < 0 || nfds > MaxFDs {
			nfds = 0
		}
		typ, body, err := DecodePacket(b, nfds)
		if err != nil {
			return
		}
		b2, err := EncodePacket(typ, body, nfds)
		if err != nil {
			t.Fatalf("decoded %s %+v does not re-encode: %v", typ, body, err)
		}
		if _, _, err := DecodePacket(b2, nfds); err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", typ, err)
		}
	})
}
