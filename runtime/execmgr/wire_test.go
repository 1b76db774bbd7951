package execmgr

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

func validStart() *StartReq {
	rule, _ := seccomp.RuleFor(sysnum.X86_64, "openat", seccomp.Notify,
		seccomp.Cond{Arg: 2, Op: seccomp.OpMaskedNe, Mask: 0x443, Low32: true})
	return &StartReq{Req: 1, Name: "web", Path: "/bin/server", Argv: []string{"/bin/server", "--port", "80"},
		Env: []string{"PATH=/bin"}, Stdio: [3]bool{false, true, true},
		Launch: WireLaunch{Filter: FilterToWire(&seccomp.Spec{Arch: sysnum.X86_64, Default: seccomp.Allow, Rules: []seccomp.Rule{rule}}),
			Mode: "default", Sensitive: []string{"openat:write"}, Ring: true}}
}

func TestWireRoundTrip(t *testing.T) {
	msgs := []struct {
		t    MsgType
		body any
		nfds int
	}{
		{MsgHello, &Hello{Role: RoleMonitor, Pid: 7}, 0},
		{MsgStart, validStart(), 2},
		{MsgStarted, &StartedResp{Req: 1, ID: 3, Pid: 100, Pgid: 100, Exe: "/bin/server", Listener: true, Arena: true, FilterRules: 12, FilterSource: "FlowMonitor + Klog"}, 2},
		{MsgError, &ErrorResp{Req: 2, Error: "no such file"}, 0},
		{MsgExited, &ExitedEvent{ID: 3, Signal: 9}, 0},
		{MsgExited, &ExitedEvent{ID: 3, Exited: true, Code: 3}, 0},
		{MsgStop, &StopReq{Req: 4, ID: 3, GraceMs: 2000}, 0},
		{MsgStopped, &StoppedResp{Req: 4, ID: 3}, 0},
		{MsgShutdown, &Shutdown{}, 0},
		{MsgAuditReq, &AuditReq{Req: 1, Entity: "web", Exe: "/bin/server", Arch: "aarch64"}, 0},
		{MsgAuditRules, &AuditRules{Req: 1, Entity: "web", Source: "/etc/kcfm/web.audit.yaml", Profile: "web_audit",
			Filter: validStart().Launch.Filter}, 0},
	}
	for _, m := range msgs {
		b, err := EncodePacket(m.t, m.body, m.nfds)
		if err != nil {
			t.Fatalf("%s: %v", m.t, err)
		}
		typ, body, err := DecodePacket(b, m.nfds)
		if err != nil || typ != m.t {
			t.Fatalf("%s: decoded %s, %v", m.t, typ, err)
		}
		b2, err := EncodePacket(typ, body, m.nfds)
		if err != nil || string(b2) != string(b) {
			t.Fatalf("%s: re-encoding differs: %v\n%s\n%s", m.t, err, b, b2)
		}
	}
	spec, err := validStart().Launch.Filter.Spec()
	if err != nil || len(spec.Rules) != 1 || spec.Rules[0].Conds[0].Mask != 0x443 || !spec.Rules[0].Conds[0].Low32 {
		t.Fatalf("filter round trip: %+v %v", spec, err)
	}
}

func TestWireRejects(t *testing.T) {
	enc := func(t MsgType, body any, nfds int) []byte {
		b, err := EncodePacket(t, body, nfds)
		if err != nil {
			panic(err)
		}
		return b
	}
	good := enc(MsgHello, &Hello{Role: RoleMonitor, Pid: 7}, 0)
	mut := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	raw := func(t MsgType, nfds int, payload string) []byte {
		b := make([]byte, WireHeaderSize+len(payload))
		b[0], b[1], b[2], b[3], b[4] = 'K', 'E', 1, byte(t), byte(nfds)
		binary.LittleEndian.PutUint32(b[8:], uint32(len(payload)))
		copy(b[WireHeaderSize:], payload)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		nfds int
		want string
	}{
		{"short", good[:5], 0, "shorter than"},
		{"magic", mut(func(b []byte) []byte { b[0] = 'X'; return b }), 0, "bad magic"},
		{"version", mut(func(b []byte) []byte { b[2] = 2; return b }), 0, "version 2"},
		{"type", mut(func(b []byte) []byte { b[3] = 99; return b }), 0, "unknown message type"},
		{"reserved", mut(func(b []byte) []byte { b[6] = 1; return b }), 0, "reserved"},
		{"length", mut(func(b []byte) []byte { return b[:len(b)-1] }), 0, "the packet has"},
		{"fds announced", mut(func(b []byte) []byte { b[4] = 1; return b }), 0, "announces 1 fds, 0 arrived"},
		{"too many fds", mut(func(b []byte) []byte { b[4] = 9; return b }), 9, "max 4"},
		{"unknown field", raw(MsgHello, 0, `{"role":"FlowMonitor","pid":7,"x":1}`), 0, "unknown field"},
		{"trailing", raw(MsgHello, 0, `{"role":"FlowMonitor","pid":7} {}`), 0, "trailing data"},
		{"utf8", raw(MsgError, 0, "{\"req\":1,\"error\":\"\xff\"}"), 0, "UTF-8"},
		{"role", raw(MsgHello, 0, `{"role":"root","pid":7}`), 0, "unknown role"},
		{"relative path", raw(MsgStart, 0, `{"req":1,"name":"a","path":"bin/x","argv":["x"],"env":[],"dir":"","stdio":[false,false,false],"launch":{"filter":null,"mode":"","sensitive":null,"ring":false,"ring_slots":0,"ring_records":0,"ring_stall_ms":0}}`), 0, "clean absolute path"},
		{"no argv", raw(MsgStart, 0, `{"req":1,"name":"a","path":"/bin/x","argv":[],"env":[],"dir":"","stdio":[false,false,false],"launch":{"filter":null,"mode":"","sensitive":null,"ring":false,"ring_slots":0,"ring_records":0,"ring_stall_ms":0}}`), 0, "0 arguments"},
		{"env", raw(MsgStart, 0, `{"req":1,"name":"a","path":"/bin/x","argv":["x"],"env":["=1"],"dir":"","stdio":[false,false,false],"launch":{"filter":null,"mode":"","sensitive":null,"ring":false,"ring_slots":0,"ring_records":0,"ring_stall_ms":0}}`), 0, "NAME=value"},
		{"nul", raw(MsgStart, 0, `{"req":1,"name":"a","path":"/bin/x","argv":["x\u0000y"],"env":[],"dir":"","stdio":[false,false,false],"launch":{"filter":null,"mode":"","sensitive":null,"ring":false,"ring_slots":0,"ring_records":0,"ring_stall_ms":0}}`), 0, "NUL"},
		{"stdio fds", raw(MsgStart, 1, `{"req":1,"name":"a","path":"/bin/x","argv":["x"],"env":[],"dir":"","stdio":[false,false,false],"launch":{"filter":null,"mode":"","sensitive":null,"ring":false,"ring_slots":0,"ring_records":0,"ring_stall_ms":0}}`), 1, "expected 0"},
		{"bad filter", raw(MsgStart, 0, `{"req":1,"name":"a","path":"/bin/x","argv":["x"],"env":[],"dir":"","stdio":[false,false,false],"launch":{"filter":{"arch":"x86_64","default":2147418112,"rules":[{"nr":9999,"action":2147418112}]},"mode":"","sensitive":null,"ring":false,"ring_slots":0,"ring_records":0,"ring_stall_ms":0}}`), 0, "not a x86_64 system call"},
		{"bad action", raw(MsgStart, 0, `{"req":1,"name":"a","path":"/bin/x","argv":["x"],"env":[],"dir":"","stdio":[false,false,false],"launch":{"filter":{"arch":"x86_64","default":1,"rules":[]},"mode":"","sensitive":null,"ring":false,"ring_slots":0,"ring_records":0,"ring_stall_ms":0}}`), 0, "not a seccomp action"},
		{"mode", raw(MsgStart, 0, `{"req":1,"name":"a","path":"/bin/x","argv":["x"],"env":[],"dir":"","stdio":[false,false,false],"launch":{"filter":null,"mode":"off","sensitive":null,"ring":false,"ring_slots":0,"ring_records":0,"ring_stall_ms":0}}`), 0, "mode"},
		{"pid 1", raw(MsgStarted, 0, `{"req":1,"id":1,"pid":1,"pgid":1,"exe":"/bin/x","listener":false,"arena":false,"sync_wake_up":false,"filter_rules":0}`), 0, "out of range"},
		{"listener fd missing", raw(MsgStarted, 0, `{"req":1,"id":1,"pid":5,"pgid":5,"exe":"/bin/x","listener":true,"arena":false,"sync_wake_up":false,"filter_rules":0}`), 0, "expected 1"},
		{"exit code", raw(MsgExited, 0, `{"id":1,"exited":true,"code":300,"signal":0}`), 0, "exit code"},
		{"signal", raw(MsgExited, 0, `{"id":1,"exited":false,"code":0,"signal":0}`), 0, "signal 0"},
		{"grace", raw(MsgStop, 0, `{"req":1,"id":1,"grace_ms":-1}`), 0, "grace"},
		{"arch", raw(MsgAuditReq, 0, `{"req":1,"entity":"a","exe":"/bin/x","arch":"mips"}`), 0, "architecture"},
		{"no filter", raw(MsgAuditRules, 0, `{"req":1,"entity":"a","source":"s","profile":"p","filter":null}`), 0, "no filter"},
		{"empty error", raw(MsgError, 0, `{"req":1,"error":""}`), 0, "empty"},
	}
	for _, c := range cases {
		_, _, err := DecodePacket(c.b, c.nfds)
		if err == nil || !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a protocol error containing %q", c.name, err, c.want)
		}
	}
	if _, err := EncodePacket(MsgHello, &Hello{Role: "x", Pid: 1}, 0); err == nil || !strings.Contains(err.Error(), "refusing to send") {
		t.Errorf("an invalid message was encoded: %v", err)
	}
}
