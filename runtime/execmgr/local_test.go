package execmgr

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/runtime/launcher"
)

var mgr *Local

func TestMain(m *testing.M) {
	launcher.MaybeRunShim()
	var err error
	if mgr, err = NewLocal(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func buildC(t *testing.T, src string) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Fatalf("no C compiler (cc): run scripts/setup.sh")
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	if b, err := exec.Command(cc, "-O1", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("cc %s: %v\n%s", src, err, b)
	}
	return out
}

func waitFile(t *testing.T, path string) []int {
	t.Helper()
	for i := 0; i < 500; i++ {
		if b, err := os.ReadFile(path); err == nil {
			var pids []int
			for _, f := range strings.Fields(string(b)) {
				p, _ := strconv.Atoi(f)
				pids = append(pids, p)
			}
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
	return nil
}

func alive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z'
}

// assertClean checks that none of pids exists any more (not even as a
// zombie) and that this process has no child left but its helpers.
func assertClean(t *testing.T, pids []int) {
	t.Helper()
	for _, p := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(p)); err == nil {
			st, _ := readStat(p)
			t.Errorf("process %d still exists (state %c, ppid %d)", p, st.state, st.ppid)
		}
	}
	for _, c := range childrenOf(os.Getpid()) {
		st, _ := readStat(c)
		t.Errorf("leftover child %d (state %c)", c, st.state)
	}
}

func TestStopKillsWholeTree(t *testing.T) {
	prog := buildC(t, "testdata/tree.c")
	file := filepath.Join(t.TempDir(), "pids")
	inst, err := mgr.Start(Spec{Path: prog, Argv: []string{prog, file}})
	if err != nil {
		t.Fatal(err)
	}
	pids := waitFile(t, file)
	if len(pids) != 7 || pids[0] != inst.Pid {
		t.Fatalf("pids %v, leader %d", pids, inst.Pid)
	}
	members, err := mgr.Members(inst)
	if err != nil {
		t.Fatal(err)
	}
	in := map[int]bool{}
	for _, p := range members {
		in[p] = true
	}
	for _, p := range pids {
		if !in[p] {
			t.Errorf("process %d of the tree is not a member (members %v)", p, members)
		}
	}
	start := time.Now()
	if err := mgr.Stop(inst, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("stop took %v: the SIGTERM-ignoring child must have been waited for until the grace ended", d)
	}
	st, err := mgr.Wait(inst)
	if err != nil {
		t.Fatal(err)
	}
	if st.Exited || st.Signal != syscall.SIGTERM || st.ExitCode() != 143 {
		t.Errorf("leader status %v", st)
	}
	assertClean(t, pids)
}

func TestLeaderExitLeavesOrphansThatStopReaps(t *testing.T) {
	prog := buildC(t, "testdata/tree.c")
	file := filepath.Join(t.TempDir(), "pids")
	// A child of this process started by other code, before the instance,
	// in our own process group, is not an orphan of the instance.
	bystander := exec.Command("sleep", "60")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { bystander.Process.Kill(); bystander.Wait() }()
	time.Sleep(20 * time.Millisecond) // a later start time (clock ticks are 10ms)
	inst, err := mgr.Start(Spec{Path: prog, Argv: []string{prog, file, "exit"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := mgr.Wait(inst)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exited || st.Code != 7 {
		t.Fatalf("status %v", st)
	}
	pids := waitFile(t, file)
	// The orphans now belong to this subreaper, the daemon included.
	for _, p := range pids[1:] {
		if !alive(p) {
			t.Errorf("orphan %d died on its own", p)
		}
	}
	if err := mgr.Stop(inst, 0); err != nil {
		t.Fatal(err)
	}
	if !alive(bystander.Process.Pid) {
		t.Fatal("Stop killed an unrelated child")
	}
	bystander.Process.Kill()
	bystander.Wait()
	assertClean(t, pids)
}

func TestStartErrors(t *testing.T) {
	if _, err := mgr.Start(Spec{Path: "/nonexistent/prog"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/prog") {
		t.Fatalf("got %v", err)
	}
	assertClean(t, nil)
}

func TestParseStat(t *testing.T) {
	st, err := parseStat([]byte("42 (a (b) c) S 1 42 40 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 84002 3133440 396"))
	if err != nil || st.pid != 42 || st.ppid != 1 || st.pgrp != 42 || st.session != 40 || st.state != 'S' || st.start != 84002 {
		t.Fatalf("%+v %v", st, err)
	}
	for _, bad := range []string{"", "42", "42 (x)", "x (y) S 1 2 3", "42 (x) S a 2 3"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestKillSession(t *testing.T) {
	prog := buildC(t, "testdata/tree.c")
	file := filepath.Join(t.TempDir(), "pids")
	inst, err := mgr.Start(Spec{Path: prog, Argv: []string{prog, file}})
	if err != nil {
		t.Fatal(err)
	}
	pids := waitFile(t, file)
	// The daemon (setsid) left the process group: only the extra reference finds it.
	var daemon ProcRef
	for _, p := range pids {
		st, _ := readStat(p)
		if st.pgrp != inst.Pgid {
			if daemon, err = Ref(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if daemon.Pid == 0 {
		t.Fatal("no process outside the process group")
	}
	stale := ProcRef{Pid: os.Getpid(), Start: 1} // a reference that no longer matches must not be killed
	if err := KillSession(inst.Pgid, []ProcRef{daemon, stale}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, p := range pids {
		if alive(p) {
			t.Errorf("process %d survived", p)
		}
	}
	if err := mgr.Stop(inst, 0); err != nil {
		t.Fatal(err)
	}
	assertClean(t, pids)
}

func TestUptimeTicks(t *testing.T) {
	ref, err := Ref(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	now := uptimeTicks()
	if now == 0 || ref.Start > now {
		t.Fatalf("this process started at tick %d, now is %d", ref.Start, now)
	}
	c := exec.Command("sleep", "10")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	child, err := readStat(c.Process.Pid)
	c.Process.Kill()
	c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if child.start < now {
		t.Fatalf("a child started after tick %d has start %d", now, child.start)
	}
}
