package execmgr

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// servePair starts Serve on one end of a socketpair (with the test
// process's Local, as the ExecutionManager entity would) and returns the
// Remote on the other end and Serve's result.
func servePair(t *testing.T, opt ServeOptions) (*Remote, chan error) {
	t.Helper()
	a, b, err := PacketPair()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(b, mgr, opt) }()
	r, err := NewRemote(a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Peer.Role != RoleManager || r.Peer.Pid != os.Getpid() {
		t.Fatalf("peer %+v", r.Peer)
	}
	return r, done
}

func waitServe(t *testing.T, done chan error, want error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, want) && err != want {
			t.Fatalf("Serve returned %v, want %v", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// A remote instance: stdio passed over the channel, the exit status comes
// back, and the leader's orphans are cleaned up by Stop.
func TestRemoteStartWaitStop(t *testing.T) {
	prog := buildC(t, "testdata/tree.c")
	file := filepath.Join(t.TempDir(), "pids")
	r, done := servePair(t, ServeOptions{})
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	inst, err := r.Start(Spec{Name: "tree", Path: "/bin/sh", Argv: []string{"/bin/sh", "-c", "echo out-$0; exec " + prog + " " + file + " exit >/dev/null", "x"},
		Env: []string{"PATH=/usr/bin:/bin"}, Stdout: pw})
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if inst.ID == 0 || inst.Pid < 2 || inst.Pgid != inst.Pid || inst.Exe != "/bin/sh" || inst.Listener != nil || inst.Arena != nil {
		t.Fatalf("instance %+v", inst)
	}
	out, _ := io.ReadAll(pr)
	if strings.TrimSpace(string(out)) != "out-x" {
		t.Errorf("the program's output through the passed stdout: %q", out)
	}
	st, err := r.Wait(inst)
	if err != nil || !st.Exited || st.Code != 7 {
		t.Fatalf("status %v, %v", st, err)
	}
	pids := waitFile(t, file)
	if err := r.Stop(inst, 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range pids[1:] {
		if alive(p) {
			t.Errorf("orphan %d survived Stop", p)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	waitServe(t, done, nil)
	assertClean(t, pids)
}

// The listener and the arena come back over the channel and work: the
// program's notified syscall waits until the test answers it through the
// received listener.
func TestRemoteListenerAndArena(t *testing.T) {
	rule, err := seccomp.RuleFor(sysnum.Host(), "getppid", seccomp.Notify)
	if err != nil {
		t.Fatal(err)
	}
	filter := &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow, Rules: []seccomp.Rule{rule}}
	r, done := servePair(t, ServeOptions{})
	inst, err := r.Start(Spec{Name: "sh", Path: "/bin/sh", Argv: []string{"/bin/sh", "-c", "exit $PPID"},
		Env: []string{}, Launch: LaunchOptions{Filter: filter, Mode: "default", Ring: true, RingSlots: 4, RingRecords: 64}})
	if err != nil {
		t.Fatal(err)
	}
	if inst.Listener == nil || inst.Arena == nil || inst.Arena.Slots() != 4 {
		t.Fatalf("listener %v arena %v", inst.Listener, inst.Arena)
	}
	info, err := r.Info(inst)
	if err != nil || !info.Listener || !info.Arena || info.FilterRules != 1 || info.FilterSource != "FlowMonitor" {
		t.Fatalf("info %+v %v", info, err)
	}
	var n seccomp.Notif
	if err := inst.Listener.Recv(&n); err != nil {
		t.Fatal(err)
	}
	if n.Pid != uint32(inst.Pid) {
		t.Errorf("notification from pid %d, want %d", n.Pid, inst.Pid)
	}
	if err := inst.Listener.Respond(n.ID, seccomp.Return(42)); err != nil {
		t.Fatal(err)
	}
	st, err := r.Wait(inst)
	if err != nil || !st.Exited || st.Code != 42 {
		t.Fatalf("status %v %v: the answer given through the received listener did not reach the program", st, err)
	}
	inst.Listener.Close()
	inst.Arena.Close()
	if err := r.Stop(inst, 0); err != nil {
		t.Fatal(err)
	}
	r.Close()
	waitServe(t, done, nil)
	assertClean(t, nil)
}

// The ExecutionManager's filter hook decides the filter (as the Klog merge
// does), and its errors reach FlowMonitor as start errors.
func TestRemoteFilterHookAndErrors(t *testing.T) {
	seen := make(chan *seccomp.Spec, 8)
	r, done := servePair(t, ServeOptions{Filter: func(req *StartReq, requested *seccomp.Spec) (*seccomp.Spec, string, error) {
		seen <- requested
		if req.Name == "refused" {
			return nil, "", errors.New("no audit rules for refused")
		}
		return nil, "test hook", nil
	}})
	rule, _ := seccomp.RuleFor(sysnum.Host(), "getppid", seccomp.Notify)
	filter := &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow, Rules: []seccomp.Rule{rule}}
	if _, err := r.Start(Spec{Name: "refused", Path: "/bin/true", Launch: LaunchOptions{Filter: filter}}); err == nil ||
		!strings.Contains(err.Error(), "no audit rules for refused") {
		t.Fatalf("start error %v", err)
	}
	if got := <-seen; got == nil || len(got.Rules) != 1 || got.Rules[0].Nr != rule.Nr {
		t.Fatalf("the hook saw %+v", got)
	}
	if len(seen) != 0 {
		t.Fatal("the hook ran more than once for one start")
	}
	if _, err := r.Start(Spec{Name: "missing", Path: "/nonexistent/prog"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/prog") {
		t.Fatalf("start error %v", err)
	}
	inst, err := r.Start(Spec{Name: "ok", Path: "/bin/true", Launch: LaunchOptions{Filter: filter}})
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := r.Info(inst); info.FilterSource != "test hook" || info.Listener {
		t.Fatalf("info %+v", info)
	}
	if st, err := r.Wait(inst); err != nil || !st.Success() {
		t.Fatalf("status %v %v", st, err)
	}
	r.Stop(inst, 0)
	r.Close()
	waitServe(t, done, nil)
	assertClean(t, nil)
}

// Fail closed: when FlowMonitor's end of the channel goes away, the entity
// kills the whole tree of every instance it started for it.
func TestRemoteChannelLossStopsPrograms(t *testing.T) {
	prog := buildC(t, "testdata/tree.c")
	file := filepath.Join(t.TempDir(), "pids")
	r, done := servePair(t, ServeOptions{})
	inst, err := r.Start(Spec{Name: "tree", Path: prog, Argv: []string{prog, file}})
	if err != nil {
		t.Fatal(err)
	}
	pids := waitFile(t, file)
	r.c.Close() // FlowMonitor dies
	waitServe(t, done, io.EOF)
	for _, p := range pids {
		if alive(p) {
			t.Errorf("process %d survived the loss of its FlowMonitor", p)
		}
	}
	if _, err := r.Wait(inst); !errors.Is(err, ErrManagerLost) {
		t.Fatalf("Wait after the loss: %v", err)
	}
	if _, err := r.Start(Spec{Path: "/bin/true"}); !errors.Is(err, ErrManagerLost) {
		t.Fatalf("Start after the loss: %v", err)
	}
	assertClean(t, pids)
}

// The entity going away ends the Remote: pending calls and Wait fail.
func TestRemoteEntityLoss(t *testing.T) {
	a, b, err := PacketPair()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		// A fake entity: hello, then it dies.
		b.Send(MsgHello, &Hello{Role: RoleManager, Pid: os.Getpid()})
		b.Recv()
		b.Recv() // the start request
		b.Close()
	}()
	r, err := NewRemote(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(Spec{Path: "/bin/true"}); !errors.Is(err, ErrManagerLost) {
		t.Fatalf("start: %v", err)
	}
	select {
	case <-r.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("not lost")
	}
}

// A peer that is not an ExecutionManager is refused at the handshake.
func TestRemoteHandshakeRole(t *testing.T) {
	a, b, err := PacketPair()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		b.Send(MsgHello, &Hello{Role: RoleAudit, Pid: os.Getpid()})
		b.Recv()
		b.Close()
	}()
	if _, err := NewRemote(a); !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v", err)
	}
}

// A stream socket is not a channel.
func TestPacketConnRejectsStream(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[1])
	if _, err := NewPacketConn(os.NewFile(uintptr(fds[0]), "s")); err == nil || !strings.Contains(err.Error(), "SOCK_SEQPACKET") {
		t.Fatalf("got %v", err)
	}
}

func TestOpenChannel(t *testing.T) {
	if ChannelEnv("exec-mgr.1") != "KCFM_CHANNEL_exec_mgr_1" {
		t.Fatal(ChannelEnv("exec-mgr.1"))
	}
	t.Setenv("KCFM_CHANNEL_x", "")
	if _, err := OpenChannel("x"); err == nil || !strings.Contains(err.Error(), "KCFM_CHANNEL_x is not set") {
		t.Fatalf("got %v", err)
	}
	t.Setenv("KCFM_CHANNEL_x", "abc")
	if _, err := OpenChannel("x"); err == nil {
		t.Fatal("accepted a bad fd number")
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[1])
	t.Setenv("KCFM_CHANNEL_x", strconv.Itoa(fds[0]))
	c, err := OpenChannel("x")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
