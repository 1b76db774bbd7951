package monitor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/runtime/execmgr"
)

// FlowMonitor with the program started by an ExecutionManager entity (here
// execmgr.Serve in this process, as runtime/cmd/ExecutionManager runs it):
// the listener and the arena come over the channel, the anomaly stops the
// syscall, the restart goes through the entity, and cancelling stops
// everything.
func TestRemoteExecutionManager(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir, "flag openat arg2&0x40 after evil")
	e := entity(t, dir, sig, 3)
	sock := e.Args[0]
	a, b, err := execmgr.PacketPair()
	if err != nil {
		t.Fatal(err)
	}
	local, err := execmgr.NewLocal()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- execmgr.Serve(b, local, execmgr.ServeOptions{Logf: func(f string, a ...any) { t.Logf("ExecutionManager: "+f, a...) }})
	}()
	remote, err := execmgr.NewRemote(a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running := make(chan *execmgr.Instance, 10)
	done := make(chan int, 1)
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	go func() {
		done <- RunEntity(ctx, e, RunOptions{Manager: remote, Stdin: devnull, Stdout: devnull,
			Logf: func(f string, a ...any) { t.Logf("FlowMonitor: "+f, a...) }, OnRunning: func(i *execmgr.Instance) { running <- i }})
	}()
	next := func() *execmgr.Instance {
		select {
		case i := <-running:
			return i
		case code := <-done:
			t.Fatalf("FlowMonitor ended with %d", code)
		case <-time.After(20 * time.Second):
			t.Fatal("no instance within 20s")
		}
		return nil
	}
	first := next()
	if info, err := remote.Info(first); err != nil || !info.Listener || !info.Arena || info.FilterSource != "FlowMonitor" {
		t.Fatalf("instance info %+v %v", info, err)
	}
	serving(t, sock)
	victim := filepath.Join(dir, "created-by-attack")
	if ans, _ := request(sock, "create "+victim); ans != "" {
		t.Fatalf("create answered %q: the syscall ran", ans)
	}
	second := next()
	if second.Pid == first.Pid {
		t.Fatal("no new instance")
	}
	serving(t, sock)
	if _, err := os.Stat(victim); !os.IsNotExist(err) {
		t.Fatalf("%s exists: the flagged openat ran", victim)
	}
	waitGone(t, "first instance", first.Pid)
	cancel()
	select {
	case code := <-done:
		if code != 143 {
			t.Errorf("exit %d after cancel", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("FlowMonitor did not end")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v (FlowMonitor's Close should end it with a shutdown)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not end")
	}
	noLeftovers(t, first.Pid, second.Pid)
	if got := strings.Join(types(incidents(t, e.Incidents)), ","); got != "anomaly,restart" {
		t.Fatalf("incidents %s", got)
	}
}

// --execmgr-channel without the channel is a clear error.
func TestExecmgrChannelMissing(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir)
	cmd := exec.Command(self(t), roleMonitor, "--execmgr-channel", "execmgr", "--signature", sig, "--", server(t), filepath.Join(dir, "sock"))
	cmd.Env = append(os.Environ(), "KCFM_CHANNEL_execmgr=")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitError || !strings.Contains(string(out), "KCFM_CHANNEL_execmgr is not set") {
		t.Fatalf("exit %v, output %s", err, out)
	}
}
