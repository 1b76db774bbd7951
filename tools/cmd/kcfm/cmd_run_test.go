package main

// End-to-end tests of `kcfm run` and of the FlowMonitor and FlowChecker
// binaries with the real model: the test server (runtime/monitor/testdata)
// gets a real signature from kcfm graph + kcfm link. A legitimate run is
// accepted and ends with the program's status; against the signature of a
// variant whose serve() never calls evil(), the request that makes the real
// server call it is an anomaly: the server is killed before its
// openat(O_CREAT) runs.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	runOnce  sync.Once
	runErr   error
	runDir   string
	runBins  struct{ kcfm, fm, fc, server, sig, sigNoCreate string }
	repoRoot = filepath.Clean(filepath.Join("..", "..", ".."))
)

func runSetup(t *testing.T) {
	t.Helper()
	runOnce.Do(func() {
		runDir, runErr = os.MkdirTemp("", "kcfm-run-test-")
		if runErr != nil {
			return
		}
		step := func(dir, name string, args ...string) {
			if runErr != nil {
				return
			}
			cmd := exec.Command(name, args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				runErr = fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
			}
		}
		root, _ := filepath.Abs(repoRoot)
		b := &runBins
		b.kcfm, b.fm, b.fc = filepath.Join(runDir, "kcfm"), filepath.Join(runDir, "FlowMonitor"), filepath.Join(runDir, "FlowChecker")
		step(root, "go", "build", "-o", b.kcfm, "./tools/cmd/kcfm")
		step(root, "go", "build", "-o", b.fm, "./runtime/cmd/FlowMonitor")
		step(root, "go", "build", "-o", b.fc, "./runtime/cmd/FlowChecker")
		src := filepath.Join(root, "runtime/monitor/testdata/server.c")
		inc := "-I" + filepath.Join(root, "sysroot-overlay/include")
		step(runDir, "cc", "-O1", "-fPIC", inc, "-c", filepath.Join(root, "runtime/librt/kcfm_rt.c"), "-o", "kcfm_rt.o")
		step(runDir, "cc", "-O1", "-finstrument-functions", src, "kcfm_rt.o", "-lpthread", "-o", "server")
		b.server = filepath.Join(runDir, "server")
		step(runDir, b.kcfm, "graph", "-o", "server.kcfmtu", src, "--")
		step(runDir, b.kcfm, "link", "--quiet", "-o", "server.kcfm", "server.kcfmtu")
		b.sig = filepath.Join(runDir, "server.kcfm")
		step(runDir, b.kcfm, "graph", "-o", "nocreate.kcfmtu", src, "--", "-DKCFM_TEST_NO_CREATE")
		step(runDir, b.kcfm, "link", "--quiet", "-o", "nocreate.kcfm", "nocreate.kcfmtu")
		b.sigNoCreate = filepath.Join(runDir, "nocreate.kcfm")
	})
	if runErr != nil {
		t.Fatalf("setup (run scripts/setup.sh if a tool is missing): %v", runErr)
	}
}

func ask(sock, line string) (string, error) {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	ans, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(ans), nil
}

func waitServing(t *testing.T, sock string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ans, err := ask(sock, "ping"); err == nil && ans == "pong" {
			return
		}
	}
	t.Fatalf("the server at %s does not answer", sock)
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

func waitCmd(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitCode(t, err)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("did not end within 60s")
	}
	return -1
}

func TestRunLegitimate(t *testing.T) {
	runSetup(t)
	dir := t.TempDir()
	sock, inc := filepath.Join(dir, "sock"), filepath.Join(dir, "incidents")
	cmd := exec.Command(runBins.kcfm, "run", "--signature", runBins.sig, "--restarts", "0", "--incidents", inc, "--", runBins.server, sock)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitServing(t, sock)
	for _, req := range []string{"read /etc/hostname", "thread", "spawn", "create " + filepath.Join(dir, "legit")} {
		if ans, err := ask(sock, req); err != nil || ans == "" {
			t.Fatalf("%s: %q %v (incidents: %s)", req, ans, err, readFile(inc))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "legit")); err != nil {
		t.Fatal(err)
	}
	ask(sock, "exit 7")
	if code := waitCmd(t, cmd); code != 7 {
		t.Fatalf("kcfm run exited %d, want the program's 7; incidents: %s", code, readFile(inc))
	}
	if s := readFile(inc); s != "" {
		t.Fatalf("incidents for a legitimate run: %s", s)
	}
}

func readFile(p string) string { b, _ := os.ReadFile(p); return strings.TrimSpace(string(b)) }

func TestRunAnomalyExit3(t *testing.T) {
	runSetup(t)
	dir := t.TempDir()
	sock, inc := filepath.Join(dir, "sock"), filepath.Join(dir, "incidents")
	cmd := exec.Command(runBins.kcfm, "run", "--signature", runBins.sigNoCreate, "--restarts", "0", "--incidents", inc, "--", runBins.server, sock)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitServing(t, sock)
	victim := filepath.Join(dir, "victim")
	if ans, _ := ask(sock, "create "+victim); ans != "" {
		t.Fatalf("create answered %q", ans)
	}
	if code := waitCmd(t, cmd); code != 3 {
		t.Fatalf("kcfm run exited %d, want 3", code)
	}
	if _, err := os.Stat(victim); !os.IsNotExist(err) {
		t.Fatalf("%s exists: the openat ran", victim)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(strings.Split(readFile(inc), "\n")[0]), &first); err != nil {
		t.Fatalf("incidents %q: %v", readFile(inc), err)
	}
	if first["type"] != "anomaly" || first["event"] == "" || first["stack"] == nil || first["expected"] == nil {
		t.Fatalf("anomaly record %v", first)
	}
}

// TestBinaries runs the FlowMonitor binary with the FlowChecker binary
// (config file, FM_ENTITY_NAME) and stops it with SIGTERM.
func TestBinaries(t *testing.T) {
	runSetup(t)
	dir := t.TempDir()
	sock, inc := filepath.Join(dir, "sock"), filepath.Join(dir, "incidents")
	cfg := fmt.Sprintf("version: 1\nentities:\n  srv:\n    path: %s\n    args: [%q]\n    signature: %s\n    incidents: %s\n    checker: {path: %s}\n",
		runBins.server, sock, runBins.sigNoCreate, inc, runBins.fc)
	cfgPath := filepath.Join(dir, "fm.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	cmd := exec.Command(runBins.fm, "--config", cfgPath)
	cmd.Env = append(os.Environ(), "FM_ENTITY_NAME=srv")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitServing(t, sock)
	// An anomaly restarts it (default on_anomaly: restart).
	ask(sock, "create "+filepath.Join(dir, "victim"))
	waitServing(t, sock)
	if _, err := os.Stat(filepath.Join(dir, "victim")); !os.IsNotExist(err) {
		t.Fatal("the openat ran")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitCmd(t, cmd); code != 143 {
		t.Fatalf("FlowMonitor exited %d, want 143", code)
	}
	if s := readFile(inc); !strings.Contains(s, `"type":"anomaly"`) || !strings.Contains(s, `"type":"restart"`) {
		t.Fatalf("incidents: %s", s)
	}
	// FlowChecker on its own: usage errors are clear.
	fc := exec.Command(runBins.fc, "--ipc-fd", "3")
	fc.Env = []string{}
	out, err := fc.CombinedOutput()
	if code := exitCode(t, err); code != 2 || !strings.Contains(string(out), "FC_GRAPH_FILENAME") {
		t.Fatalf("FlowChecker without FC_GRAPH_FILENAME: %d %s", code, out)
	}
}

// BenchmarkRestartToRunningBinaries is BenchmarkRestartToRunning of
// runtime/monitor with the production pieces: the FlowMonitor and
// FlowChecker binaries, the real model (runtime/livemodel) and a real
// signature. Per iteration: the request that makes the server call evil()
// (not in the signature) until the restarted server answers ping.
//
//	go test -run '^$' -bench RestartToRunningBinaries -benchtime 30x ./tools/cmd/kcfm
func BenchmarkRestartToRunningBinaries(b *testing.B) {
	t := &testing.T{}
	runSetup(t)
	if runErr != nil {
		b.Fatal(runErr)
	}
	dir := b.TempDir()
	sock := filepath.Join(dir, "sock")
	cfg := fmt.Sprintf("version: 1\nentities:\n  srv:\n    path: %s\n    args: [%q]\n    signature: %s\n    incidents: %s\n"+
		"    backoff: {initial: 0s, max: 1ms}\n    crash_loop: {restarts: %d, window: 0s}\n    checker: {path: %s}\n",
		runBins.server, sock, runBins.sigNoCreate, filepath.Join(dir, "incidents"), b.N+1, runBins.fc)
	cfgPath := filepath.Join(dir, "fm.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	cmd := exec.Command(runBins.fm, "--config", cfgPath)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	ping := func() bool { ans, err := ask(sock, "ping"); return err == nil && ans == "pong" }
	for deadline := time.Now().Add(30 * time.Second); !ping(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("not serving")
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if ans, _ := ask(sock, "create "+filepath.Join(dir, "x")); ans != "" {
			b.Fatalf("create answered %q", ans)
		}
		for !ping() {
			time.Sleep(100 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "ms-p90")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "ms-max")
}
