package monitor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kcfm-linux/kcfm/runtime/execmgr"
	"github.com/kcfm-linux/kcfm/runtime/launcher"
	"github.com/kcfm-linux/kcfm/runtime/librt/ctest"
)

// The test binary plays every role: the launcher's shim, FlowChecker (with
// the test double as its model) and FlowMonitor.
const (
	roleChecker = "-kcfm-test-role=checker"
	roleMonitor = "-kcfm-test-role=monitor"
)

func TestMain(m *testing.M) {
	launcher.MaybeRunShim()
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case roleChecker:
			os.Exit(CheckerMain(os.Args[2:], doubleLoader))
		case roleMonitor:
			os.Exit(MonitorMain(os.Args[2:]))
		}
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string
	serverBin string
	buildErr  error
)

// server returns the instrumented test server (built once, -no-pie so the
// double can resolve function addresses from the symbol table).
func server(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "kcfm-monitor-test"); buildErr != nil {
			return
		}
		src, err := os.ReadFile("testdata/server.c")
		if err != nil {
			buildErr = err
			return
		}
		serverBin, buildErr = ctest.BuildIn(buildDir, "server", string(src), ctest.Options{Instrument: true, Flags: []string{"-no-pie", "-O1"}})
	})
	if buildErr != nil {
		t.Fatalf("building testdata/server.c (run scripts/setup.sh if the compiler is missing): %v", buildErr)
	}
	return serverBin
}

func self(t testing.TB) string {
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeSig writes a double "signature"; the double logs its events to the
// returned log file.
func writeSig(t testing.TB, dir string, lines ...string) (sig, log string) {
	t.Helper()
	log = filepath.Join(dir, "model.log")
	sig = filepath.Join(dir, "double.kcfm")
	text := strings.Join(append([]string{"log " + log}, lines...), "\n") + "\n"
	if err := os.WriteFile(sig, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return sig, log
}

// entity is the test server as an entity with fast back-off.
func entity(t testing.TB, dir, sig string, restarts int) *Entity {
	e := &Entity{Name: "server", Path: server(t), Args: []string{filepath.Join(dir, "sock")}, Signature: sig,
		OnAnomaly: ActionRestart, Backoff: Backoff{Initial: Duration(10 * time.Millisecond), Max: Duration(200 * time.Millisecond)},
		CrashLoop: CrashLoop{Restarts: &restarts}, StopTimeout: Duration(time.Second), Incidents: filepath.Join(dir, "incidents.jsonl"),
		Checker: CheckerConfig{Path: self(t), Args: []string{roleChecker}}}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	return e
}

// run is FlowMonitor running in this process.
type run struct {
	t       testing.TB
	e       *Entity
	cancel  context.CancelFunc
	done    chan int
	running chan *execmgr.Instance
}

func startRun(t testing.TB, e *Entity) *run {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{t: t, e: e, cancel: cancel, done: make(chan int, 1), running: make(chan *execmgr.Instance, 100)}
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	go func() {
		defer devnull.Close()
		r.done <- RunEntity(ctx, e, RunOptions{Stdin: devnull, Stdout: devnull, Logf: func(f string, a ...any) { t.Logf("FlowMonitor: "+f, a...) },
			OnRunning: func(inst *execmgr.Instance) { r.running <- inst }})
	}()
	return r
}

// instance waits for the next instance FlowChecker accepted.
func (r *run) instance() *execmgr.Instance {
	r.t.Helper()
	select {
	case inst := <-r.running:
		return inst
	case code := <-r.done:
		r.t.Fatalf("FlowMonitor ended with %d before the program ran", code)
	case <-time.After(20 * time.Second):
		r.t.Fatal("no instance started within 20s")
	}
	return nil
}

func (r *run) wait() int {
	r.t.Helper()
	select {
	case code := <-r.done:
		return code
	case <-time.After(30 * time.Second):
		r.t.Fatal("FlowMonitor did not end within 30s")
	}
	return -1
}

// request sends one line to the server and returns its answer ("" when the
// connection closed without one).
func request(sock, line string) (string, error) {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	ans, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && ans == "" {
		return "", nil
	}
	return strings.TrimSpace(ans), nil
}

// serving waits until the server answers ping.
func serving(t testing.TB, sock string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ans, err := request(sock, "ping"); err == nil && ans == "pong" {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("server at %s is not serving", sock)
}

func incidents(t testing.TB, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("incident line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func types(in []map[string]any) []string {
	var s []string
	for _, m := range in {
		s = append(s, fmt.Sprint(m["type"]))
	}
	return s
}

func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// gone reports a process that no longer runs (absent or a zombie).
func gone(pid int) bool { s := procState(pid); return s == 0 || s == 'Z' || s == 'X' }

func waitGone(t testing.TB, what string, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range pids {
		for !gone(p) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: process %d is still running (state %c)", what, p, procState(p))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, tk := range tasks {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + tk.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// noLeftovers checks that this process has no child left (no zombie, no
// orphan it adopted as subreaper) and that none of pids exists.
func noLeftovers(t testing.TB, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := children(os.Getpid())
		var bad []string
		for _, c := range left {
			bad = append(bad, fmt.Sprintf("%d(%c)", c, procState(c)))
		}
		for _, p := range pids {
			if procState(p) != 0 {
				bad = append(bad, fmt.Sprintf("%d(%c, still exists)", p, procState(p)))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %s", strings.Join(bad, " "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func modelLog(t testing.TB, path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestAnomalyRestartsAndServesAgain: the double flags openat(O_CREAT) after
// evil() was entered. The syscall must not run (the file never exists), the
// whole tree (with a forked child and grandchild) must be stopped, an
// incident written, and the restarted server must serve again.
func TestAnomalyRestartsAndServesAgain(t *testing.T) {
	dir := t.TempDir()
	sig, log := writeSig(t, dir, "flag openat arg2&0x40 after evil")
	e := entity(t, dir, sig, 3)
	sock := e.Args[0]
	r := startRun(t, e)
	first := r.instance()
	serving(t, sock)

	ans, err := request(sock, "spawn")
	if err != nil {
		t.Fatal(err)
	}
	var child, grandchild int
	if _, err := fmt.Sscan(ans, &child, &grandchild); err != nil || gone(child) || gone(grandchild) {
		t.Fatalf("spawn answered %q", ans)
	}
	// A file opened read-only is not flagged.
	if ans, _ := request(sock, "read "+sig); ans != "read" {
		t.Fatalf("read answered %q", ans)
	}
	victim := filepath.Join(dir, "created-by-attack")
	if ans, _ := request(sock, "create "+victim); ans != "" {
		t.Fatalf("create answered %q: the syscall ran", ans)
	}
	second := r.instance()
	if second.Pid == first.Pid {
		t.Fatal("no new instance")
	}
	serving(t, sock)
	if _, err := os.Stat(victim); !os.IsNotExist(err) {
		t.Fatalf("%s exists: the flagged openat ran (%v)", victim, err)
	}
	waitGone(t, "old tree", first.Pid, child, grandchild)

	r.cancel()
	if code := r.wait(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %d after cancel", code)
	}
	noLeftovers(t, first.Pid, second.Pid, child, grandchild)

	in := incidents(t, e.Incidents)
	if got := strings.Join(types(in), ","); got != "anomaly,restart" {
		t.Fatalf("incidents %s", got)
	}
	a := in[0]
	if a["event"] != "syscall openat" || a["action"] != "restart" || a["verdict"] != "kill" || a["entity"] != "server" ||
		int(a["pid"].(float64)) != first.Pid || a["v"].(float64) != 1 {
		t.Errorf("anomaly record %v", a)
	}
	if st, ok := a["stack"].([]any); !ok || len(st) == 0 || st[0].(map[string]any)["function"] != "evil" {
		t.Errorf("stack %v", a["stack"])
	}
	if ex, ok := a["expected"].([]any); !ok || len(ex) != 2 {
		t.Errorf("expected %v", a["expected"])
	}
	if in[1]["reason"] != "anomaly" || in[1]["attempt"].(float64) != 1 || in[1]["delay_ms"].(float64) != 10 {
		t.Errorf("restart record %v", in[1])
	}
	// The ring was drained before the syscall was checked: the double saw evil() first.
	l := modelLog(t, log)
	iFunc := strings.Index(l, fmt.Sprintf("func %d %d evil", first.Pid, first.Pid))
	iSys := strings.Index(l, fmt.Sprintf("syscall %d %d openat", first.Pid, first.Pid))
	if iFunc < 0 || iSys < 0 || iFunc > iSys {
		t.Errorf("model log does not show evil() before openat:\n%s", l)
	}
	// The forked child was introduced with its parent (the fork was let through).
	if !strings.Contains(l, fmt.Sprintf("newthread %d %d %d %d", child, child, first.Pid, first.Pid)) {
		t.Errorf("model log lacks the child's newthread with parent %d:\n%s", first.Pid, l)
	}
}

// TestRestartsZeroStops: with no restart left the first anomaly ends
// FlowMonitor with status 3, before the syscall ran.
func TestRestartsZeroStops(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir, "flag openat arg2&0x40")
	e := entity(t, dir, sig, 0)
	sock := e.Args[0]
	r := startRun(t, e)
	inst := r.instance()
	serving(t, sock)
	victim := filepath.Join(dir, "victim")
	request(sock, "create "+victim)
	if code := r.wait(); code != ExitAnomaly {
		t.Fatalf("exit %d, want %d", code, ExitAnomaly)
	}
	if _, err := os.Stat(victim); !os.IsNotExist(err) {
		t.Fatalf("%s exists: the flagged openat ran", victim)
	}
	noLeftovers(t, inst.Pid)
	in := incidents(t, e.Incidents)
	if got := strings.Join(types(in), ","); got != "anomaly,giveup" {
		t.Fatalf("incidents %s", got)
	}
	if in[1]["restarts"].(float64) != 0 {
		t.Errorf("giveup %v", in[1])
	}
}

// TestLogOnly lets the flagged syscall run and keeps the program.
func TestLogOnly(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir, "flag openat arg2&0x40")
	e := entity(t, dir, sig, 0)
	e.OnAnomaly = ActionLogOnly
	sock := e.Args[0]
	r := startRun(t, e)
	inst := r.instance()
	serving(t, sock)
	victim := filepath.Join(dir, "victim")
	if ans, _ := request(sock, "create "+victim); ans != "created" {
		t.Fatalf("create answered %q", ans)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatal(err)
	}
	serving(t, sock)
	if ans, _ := request(sock, "exit 7"); ans != "" {
		t.Fatalf("exit answered %q", ans)
	}
	if code := r.wait(); code != 7 {
		t.Fatalf("exit %d, want the program's 7", code)
	}
	noLeftovers(t, inst.Pid)
	in := incidents(t, e.Incidents)
	if len(in) != 1 || in[0]["verdict"] != "allow" || in[0]["action"] != "log-only" {
		t.Fatalf("incidents %v", in)
	}
}

// TestCrashLoop: a program that crashes at start is restarted with growing
// delays, then given up.
func TestCrashLoop(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir)
	e := entity(t, dir, sig, 3)
	e.Args = []string{"--crash"}
	e.RestartOnCrash = true
	e.Backoff = Backoff{Initial: Duration(20 * time.Millisecond), Max: Duration(time.Second)}
	e.CrashLoop.Window = Duration(time.Minute)
	start := time.Now()
	r := startRun(t, e)
	if code := r.wait(); code != ExitCrashLoop {
		t.Fatalf("exit %d, want %d", code, ExitCrashLoop)
	}
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Errorf("3 restarts took %v, less than the 20+40+80ms back-off", d)
	}
	noLeftovers(t)
	in := incidents(t, e.Incidents)
	if got := strings.Join(types(in), ","); got != "crash,restart,crash,restart,crash,restart,crash,giveup" {
		t.Fatalf("incidents %s", got)
	}
	var delays []float64
	var times []time.Time
	for _, m := range in {
		if m["type"] == "restart" {
			delays = append(delays, m["delay_ms"].(float64))
		}
		if m["type"] == "crash" {
			tm, _ := time.Parse(time.RFC3339Nano, m["time"].(string))
			times = append(times, tm)
			if !strings.HasPrefix(m["status"].(string), "signal 6") {
				t.Errorf("crash status %v", m["status"])
			}
		}
	}
	if fmt.Sprint(delays) != "[20 40 80]" {
		t.Errorf("delays %v, want [20 40 80]", delays)
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < time.Duration(delays[i-1])*time.Millisecond {
			t.Errorf("crash %d came %v after the previous one, before the %vms back-off ended", i, gap, delays[i-1])
		}
	}
	if in[7]["restarts"].(float64) != 3 || in[7]["reason"] != "crash" {
		t.Errorf("giveup %v", in[7])
	}
}

// TestNormalExit: a program that ends by itself ends FlowMonitor with its status.
func TestNormalExit(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir)
	e := entity(t, dir, sig, 3)
	sock := e.Args[0]
	r := startRun(t, e)
	inst := r.instance()
	serving(t, sock)
	request(sock, "exit 0")
	if code := r.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	noLeftovers(t, inst.Pid)
	if b, _ := os.ReadFile(e.Incidents); len(b) != 0 {
		t.Fatalf("incidents written: %s", b)
	}
}

// TestCheckError: a signature FlowChecker cannot load stops the program.
func TestCheckError(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir, "fail")
	e := entity(t, dir, sig, 3)
	r := startRun(t, e)
	if code := r.wait(); code != ExitError {
		t.Fatalf("exit %d, want %d", code, ExitError)
	}
	noLeftovers(t)
	in := incidents(t, e.Incidents)
	if len(in) != 1 || in[0]["type"] != "check-error" || !strings.Contains(in[0]["reason"].(string), "broken on purpose") {
		t.Fatalf("incidents %v", in)
	}
}

// checkerPid finds the FlowChecker child of pid.
func checkerPid(t testing.TB, pid int) int {
	t.Helper()
	for _, c := range children(pid) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/cmdline")
		if strings.Contains(string(b), roleChecker) {
			return c
		}
	}
	t.Fatalf("no FlowChecker child of %d", pid)
	return 0
}

// TestCheckerKilled: FlowChecker dies → the program is killed, FlowMonitor
// ends with status 5.
func TestCheckerKilled(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir)
	e := entity(t, dir, sig, 3)
	sock := e.Args[0]
	r := startRun(t, e)
	inst := r.instance()
	serving(t, sock)
	ans, _ := request(sock, "spawn")
	var child, grandchild int
	fmt.Sscan(ans, &child, &grandchild)
	fc := checkerPid(t, os.Getpid())
	syscall.Kill(fc, syscall.SIGKILL)
	if code := r.wait(); code != ExitCheckerLost {
		t.Fatalf("exit %d, want %d", code, ExitCheckerLost)
	}
	noLeftovers(t, inst.Pid, child, grandchild, fc)
	in := incidents(t, e.Incidents)
	if len(in) != 1 || in[0]["type"] != "checker-lost" {
		t.Fatalf("incidents %v", in)
	}
}

// monitorProcess starts this test binary as a FlowMonitor process with a
// config file.
func monitorProcess(t *testing.T, dir string, e *Entity) *exec.Cmd {
	t.Helper()
	cfg := fmt.Sprintf(`version: 1
entities:
  srv:
    path: %s
    args: [%q]
    signature: %s
    backoff: {initial: 10ms, max: 100ms}
    stop_timeout: 1s
    incidents: %s
    checker: {path: %s, args: [%q]}
`, e.Path, e.Args[0], e.Signature, e.Incidents, self(t), roleChecker)
	p := filepath.Join(dir, "fm.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self(t), roleMonitor, "--config", p)
	cmd.Env = append(os.Environ(), EnvEntityName+"=srv")
	cmd.Stderr = os.Stderr
	startChild(t, cmd)
	return cmd
}

// startChild starts a child of this process through the process's
// execmgr.Local (whose orphan reaper would otherwise reap it).
func startChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	mgr, err := execmgr.NewLocal()
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.StartAux(cmd, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.AuxDone(cmd.Process.Pid) })
}

// programOf finds the monitored program among the children of fm.
func programOf(t testing.TB, fm int, exe string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range children(fm) {
			if p, _ := os.Readlink("/proc/" + strconv.Itoa(c) + "/exe"); p == exe {
				return c
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no program child of %d", fm)
	return 0
}

// TestMonitorKilled: kill -9 of FlowMonitor → the program (with its forked
// children) and FlowChecker die too.
func TestMonitorKilled(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir)
	e := entity(t, dir, sig, 3)
	fm := monitorProcess(t, dir, e)
	serving(t, e.Args[0])
	prog := programOf(t, fm.Process.Pid, e.Path)
	fc := checkerPid(t, fm.Process.Pid)
	ans, _ := request(e.Args[0], "spawn")
	var child, grandchild int
	if _, err := fmt.Sscan(ans, &child, &grandchild); err != nil {
		t.Fatalf("spawn answered %q", ans)
	}
	fm.Process.Kill()
	fm.Wait()
	waitGone(t, "after kill -9 of FlowMonitor", prog, fc, child, grandchild)
	if _, err := request(e.Args[0], "ping"); err == nil {
		t.Fatal("the server still answers")
	}
}

// TestSigtermStopsCleanly: SIGTERM to FlowMonitor stops the program, its
// children and FlowChecker, and FlowMonitor exits 143.
func TestSigtermStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir)
	e := entity(t, dir, sig, 3)
	fm := monitorProcess(t, dir, e)
	serving(t, e.Args[0])
	prog := programOf(t, fm.Process.Pid, e.Path)
	fc := checkerPid(t, fm.Process.Pid)
	ans, _ := request(e.Args[0], "spawn")
	var child, grandchild int
	fmt.Sscan(ans, &child, &grandchild)
	fm.Process.Signal(syscall.SIGTERM)
	err := fm.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
		t.Fatalf("FlowMonitor ended with %v, want exit 143", err)
	}
	// FlowMonitor reaped everything itself: nothing was left for this
	// process (their subreaper) to adopt.
	for _, p := range []int{prog, fc, child, grandchild} {
		if procState(p) != 0 {
			t.Errorf("process %d still exists (state %c)", p, procState(p))
		}
	}
	noLeftovers(t)
}

// waitLog waits until the double's log contains s.
func waitLog(t testing.TB, log, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(modelLog(t, log), s) {
		if time.Now().After(deadline) {
			t.Fatalf("model log lacks %q:\n%s", s, modelLog(t, log))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestThreadsAndExec: a thread is introduced (from the ring) and ended;
// an exec of the program is told to the model after the old image's
// events, and the new image serves.
func TestThreadsAndExec(t *testing.T) {
	dir := t.TempDir()
	sig, log := writeSig(t, dir)
	e := entity(t, dir, sig, 0)
	sock := e.Args[0]
	r := startRun(t, e)
	inst := r.instance()
	serving(t, sock)
	if ans, _ := request(sock, "thread"); ans != "thread" {
		t.Fatalf("thread answered %q", ans)
	}
	// The thread's first function event introduces it, as a thread of the
	// process (its creator is not known in default mode: clone of a thread
	// is not notified).
	var tid int
	deadline := time.Now().Add(10 * time.Second)
	for tid == 0 && time.Now().Before(deadline) {
		for _, line := range strings.Split(modelLog(t, log), "\n") {
			var p, tt, pp, pt int
			if n, _ := fmt.Sscanf(line, "newthread %d %d %d %d", &p, &tt, &pp, &pt); n == 4 && p == inst.Pid && tt != inst.Pid {
				if pp != inst.Pid {
					t.Errorf("thread %d introduced with parent process %d", tt, pp)
				}
				tid = tt
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if tid == 0 {
		t.Fatalf("no newthread for the thread:\n%s", modelLog(t, log))
	}
	waitLog(t, log, fmt.Sprintf("exit %d %d", inst.Pid, tid))

	request(sock, "exec "+e.Path)
	waitLog(t, log, fmt.Sprintf("exec %d %s", inst.Pid, e.Path))
	serving(t, sock)
	l := modelLog(t, log)
	if i, j := strings.Index(l, fmt.Sprintf("syscall %d %d execve", inst.Pid, inst.Pid)), strings.Index(l, fmt.Sprintf("exec %d ", inst.Pid)); i < 0 || i > j {
		t.Errorf("exec not after the execve:\n%s", l)
	}
	request(sock, "exit 3")
	if code := r.wait(); code != 3 {
		t.Fatalf("exit %d", code)
	}
	noLeftovers(t, inst.Pid)
}

// TestFullMode: every syscall reaches the model, the program works.
func TestFullMode(t *testing.T) {
	dir := t.TempDir()
	sig, log := writeSig(t, dir)
	e := entity(t, dir, sig, 0)
	e.Mode = ModeFull
	sock := e.Args[0]
	r := startRun(t, e)
	inst := r.instance()
	serving(t, sock)
	if ans, _ := request(sock, "read "+sig); ans != "read" {
		t.Fatalf("read answered %q", ans)
	}
	request(sock, "exit 0")
	if code := r.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	noLeftovers(t, inst.Pid)
	l := modelLog(t, log)
	for _, sc := range []string{"read", "write", "close", "openat", "exit_group"} {
		if !strings.Contains(l, fmt.Sprintf("syscall %d %d %s ", inst.Pid, inst.Pid, sc)) {
			t.Errorf("full mode: the model did not see %s:\n%s", sc, l)
		}
	}
}

// TestMonitorKilledDaemon: a process that left the program's process group
// still dies with FlowMonitor (FlowChecker kills every process it saw).
func TestMonitorKilledDaemon(t *testing.T) {
	dir := t.TempDir()
	sig, log := writeSig(t, dir)
	e := entity(t, dir, sig, 3)
	fm := monitorProcess(t, dir, e)
	serving(t, e.Args[0])
	prog := programOf(t, fm.Process.Pid, e.Path)
	ans, _ := request(e.Args[0], "daemon")
	d, err := strconv.Atoi(ans)
	if err != nil || gone(d) {
		t.Fatalf("daemon answered %q", ans)
	}
	waitLog(t, log, fmt.Sprintf("newthread %d %d %d", d, d, prog))
	fm.Process.Kill()
	fm.Wait()
	waitGone(t, "after kill -9 of FlowMonitor", prog, d)
}

// TestTerminalForeground: on a terminal, the program (in its own process
// group) gets the foreground, so it can read the terminal instead of being
// stopped by SIGTTIN.
func TestTerminalForeground(t *testing.T) {
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptm.Close()
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	dir := t.TempDir()
	sig, _ := writeSig(t, dir)
	cfg := fmt.Sprintf("version: 1\nentities:\n  sh:\n    path: /bin/sh\n    args: [\"-c\", \"read x; exit $x\"]\n    signature: %s\n    incidents: %s\n    checker: {path: %s, args: [%q]}\n",
		sig, filepath.Join(dir, "incidents"), self(t), roleChecker)
	p := filepath.Join(dir, "fm.yaml")
	os.WriteFile(p, []byte(cfg), 0o644)
	cmd := exec.Command(self(t), roleMonitor, "--config", p)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	startChild(t, cmd)
	go func() { // drain the terminal's output
		b := make([]byte, 4096)
		for {
			if _, err := ptm.Read(b); err != nil {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond) // let sh block in read (stopped, without the hand-over)
	ptm.Write([]byte("5\n"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
			t.Fatalf("FlowMonitor ended with %v, want exit 5", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		t.Fatal("the program did not read the terminal (stopped in the background?)")
	}
}

// TestListenMode: FlowMonitor connects to a FlowChecker serving a socket;
// when the connection drops, FlowChecker kills the program (fail closed).
func TestListenMode(t *testing.T) {
	dir := t.TempDir()
	sig, _ := writeSig(t, dir, "flag openat arg2&0x40")
	sockFC := filepath.Join(dir, "fc.sock")
	fc := exec.Command(self(t), roleChecker, "--listen", sockFC)
	fc.Env = append(os.Environ(), EnvGraphFilename+"="+sig)
	fc.Stderr = os.Stderr
	startChild(t, fc)
	stopFC := func() {
		fc.Process.Signal(syscall.SIGTERM)
		if err := fc.Wait(); err != nil {
			t.Errorf("FlowChecker: %v", err)
		}
	}
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(sockFC); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	e := entity(t, dir, sig, 1)
	e.Checker = CheckerConfig{Socket: sockFC}
	sock := e.Args[0]
	r := startRun(t, e)
	first := r.instance()
	serving(t, sock)
	request(sock, "create "+filepath.Join(dir, "victim"))
	second := r.instance()
	serving(t, sock)
	if _, err := os.Stat(filepath.Join(dir, "victim")); !os.IsNotExist(err) {
		t.Fatal("the flagged openat ran")
	}
	r.cancel()
	if code := r.wait(); code != 143 {
		t.Fatalf("exit %d", code)
	}
	if gone(fc.Process.Pid) {
		t.Fatal("stopping the instance killed the FlowChecker it connected to")
	}
	if got := strings.Join(types(incidents(t, e.Incidents)), ","); got != "anomaly,restart" {
		t.Fatalf("incidents %s", got)
	}

	// A FlowMonitor whose entity names another signature is refused.
	e2 := entity(t, dir, filepath.Join(dir, "other.kcfm"), 1)
	os.WriteFile(e2.Signature, []byte("log /dev/null\n"), 0o644)
	e2.Checker = CheckerConfig{Socket: sockFC}
	if code := startRun(t, e2).wait(); code != ExitError {
		t.Fatalf("mismatched signature: exit %d", code)
	}
	stopFC()
	noLeftovers(t, first.Pid, second.Pid)
}
