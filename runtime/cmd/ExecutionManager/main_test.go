package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/execmgr"
	"github.com/kcfm-linux/kcfm/runtime/launcher"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

func TestMain(m *testing.M) {
	launcher.MaybeRunShim() // the test binary is the launcher's shim, as the entity is
	os.Exit(m.Run())
}

func channel(t *testing.T, id string) *execmgr.PacketConn {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(execmgr.ChannelEnv(id), strconv.Itoa(fds[1]))
	c, err := execmgr.NewPacketConn(os.NewFile(uintptr(fds[0]), id))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The entity with an audit entity: the program runs under Klog's rules
// merged with FlowMonitor's filter — here Klog's kill rule for uname kills
// /bin/uname with SIGSYS although FlowMonitor's filter allows everything.
func TestExecutionManagerWithKlog(t *testing.T) {
	fm := channel(t, "execmgr")
	klog := channel(t, "klog")
	uname, err := seccomp.RuleFor(sysnum.Host(), "uname", seccomp.KillProcess)
	if err != nil {
		t.Fatal(err)
	}
	asked := make(chan *execmgr.AuditReq, 4)
	go execmgr.ServeAudit(klog, func(r *execmgr.AuditReq) (*execmgr.AuditRules, error) {
		asked <- r
		return &execmgr.AuditRules{Entity: r.Entity, Source: "/etc/kcfm/test.audit.yaml", Profile: "test_audit",
			Filter: execmgr.FilterToWire(&seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow, Rules: []seccomp.Rule{uname}})}, nil
	}, nil)
	done := make(chan int, 1)
	go func() { done <- run([]string{"--channel", "execmgr", "--klog-channel", "klog"}) }()
	r, err := execmgr.NewRemote(fm)
	if err != nil {
		t.Fatal(err)
	}
	allowAll := &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow}
	inst, err := r.Start(execmgr.Spec{Name: "uname", Path: "/bin/uname", Launch: execmgr.LaunchOptions{Filter: allowAll}})
	if err != nil {
		t.Fatal(err)
	}
	if a := <-asked; a.Entity != "uname" || a.Exe != "/bin/uname" || a.Arch != string(sysnum.Host()) {
		t.Fatalf("audit request %+v", a)
	}
	if info, _ := r.Info(inst); !strings.Contains(info.FilterSource, "Klog /etc/kcfm/test.audit.yaml") {
		t.Fatalf("filter source %q", info.FilterSource)
	}
	st, err := r.Wait(inst)
	if err != nil || st.Exited || st.Signal != syscall.SIGSYS {
		t.Fatalf("status %v %v: Klog's rule was not installed", st, err)
	}
	if err := r.Stop(inst, 0); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// Without its FlowMonitor's shutdown the entity ends with 1; without the
// channel it cannot start.
func TestExecutionManagerChannelEnds(t *testing.T) {
	fm := channel(t, "execmgr")
	done := make(chan int, 1)
	go func() { done <- run(nil) }()
	r, err := execmgr.NewRemote(fm)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := r.Start(execmgr.Spec{Name: "sleep", Path: "/bin/sleep", Argv: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	fm.Close() // FlowMonitor dies
	if code := <-done; code != 1 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(inst.Pid)); err == nil {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(inst.Pid) + "/stat"); !strings.Contains(string(b), ") Z ") {
			t.Fatalf("the program survived its FlowMonitor: %s", b)
		}
	}
	t.Setenv("KCFM_CHANNEL_execmgr", "")
	if code := run(nil); code != 1 {
		t.Fatalf("no channel: exit %d", code)
	}
	if code := run([]string{"extra"}); code != 2 {
		t.Fatalf("extra argument: exit %d", code)
	}
}
