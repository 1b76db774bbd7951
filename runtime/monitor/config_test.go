package monitor

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig("/etc/kcfm/fm.yaml", []byte(`
version: 1
entities:
  web:
    path: bin/server
    args: ["-p", "80"]
    env: {A: "1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.Entity("")
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "web" || e.Path != "/etc/kcfm/bin/server" || e.Signature != "/etc/kcfm/bin/server.kcfm" {
		t.Fatalf("paths: %+v", e)
	}
	if e.Mode != ModeDefault || e.OnAnomaly != ActionRestart || !*e.InheritEnv || e.RestartOnCrash {
		t.Fatalf("defaults: %+v", e)
	}
	if e.Backoff.Initial.D() != DefaultBackoffInitial || e.Backoff.Max.D() != DefaultBackoffMax ||
		*e.CrashLoop.Restarts != DefaultCrashLoopRestart || e.CrashLoop.Window.D() != DefaultCrashLoopWindow ||
		e.StopTimeout.D() != DefaultStopTimeout {
		t.Fatalf("supervision defaults: %+v", e)
	}
}

func TestParseConfigFull(t *testing.T) {
	c, err := ParseConfig("fm.yaml", []byte(`
version: 1
entities:
  a:
    path: /bin/a
    mode: full
    on_anomaly: log-only
    restart_on_crash: true
    sensitive: {add: ["sendto", "openat:write=errno:EPERM"], remove: [clone, kill]}
    backoff: {initial: 10ms, max: 80ms}
    crash_loop: {restarts: 0, window: 0s}
    inherit_env: false
    checker: {socket: /run/fc.sock}
  b:
    path: /bin/b
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Entity(""); err == nil || !strings.Contains(err.Error(), "FM_ENTITY_NAME") {
		t.Fatalf("ambiguous entity: %v", err)
	}
	if _, err := c.Entity("zz"); err == nil || !strings.Contains(err.Error(), "a, b") {
		t.Fatalf("unknown entity: %v", err)
	}
	a, _ := c.Entity("a")
	if a.Mode != ModeFull || a.OnAnomaly != ActionLogOnly || *a.CrashLoop.Restarts != 0 || a.CrashLoop.Window != 0 ||
		a.Backoff.Max.D() != 80*time.Millisecond || *a.InheritEnv || a.Checker.Socket != "/run/fc.sock" {
		t.Fatalf("%+v", a)
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct{ text, want string }{
		{"", "empty config"},
		{"version: 2\nentities: {a: {path: /x}}", "fm.yaml:1: version is 2"},
		{"version: 1\n", "no entities"},
		{"version: 1\nentities:\n  a:\n    path: /x\n    bogus: 1\n", "line 5: field bogus not found"},
		{"version: 1\nentities:\n  a:\n    path: /x\n    mode: fast\n", "fm.yaml:5: entity \"a\": mode \"fast\""},
		{"version: 1\nentities:\n  a:\n    path: /x\n    on_anomaly: reboot\n", "fm.yaml:5: entity \"a\": on_anomaly"},
		{"version: 1\nentities:\n  a:\n    path: /x\n    sensitive:\n      add: [nosuchcall]\n", "fm.yaml:5: entity \"a\": add: sensitive set entry \"nosuchcall\""},
		{"version: 1\nentities:\n  a:\n    path: /x\n    backoff: {initial: 2s, max: 1s}\n", "initial 2s is larger than max 1s"},
		{"version: 1\nentities:\n  a:\n    path: /x\n    backoff: {initial: soon}\n", "line 5: \"soon\" is not a non-negative duration"},
		{"version: 1\nentities:\n  a:\n    path: /x\n    crash_loop: {restarts: -1}\n", "restarts -1 is negative"},
		{"version: 1\nentities:\n  a:\n    args: [x]\n", "path is missing"},
		{"version: 1\nentities:\n  a:\n    path: /x\n    checker: {path: /fc, socket: /s}\n", "not both"},
	}
	for _, c := range cases {
		_, err := ParseConfig("fm.yaml", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.text, err, c.want)
		}
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "fm.yaml")
	os.WriteFile(p, []byte("version: 1\nentities:\n  x:\n    path: prog\n"), 0o644)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Entities["x"].Path != filepath.Join(dir, "prog") {
		t.Fatal(c.Entities["x"].Path)
	}
	if _, err := LoadConfig(filepath.Join(dir, "none.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestRestartPolicy(t *testing.T) {
	two := 3
	e := &Entity{Backoff: Backoff{Initial: Duration(10 * time.Millisecond), Max: Duration(50 * time.Millisecond)},
		CrashLoop: CrashLoop{Restarts: &two, Window: Duration(time.Second)}}
	p := newRestartPolicy(e)
	t0 := time.Unix(1000, 0)
	var delays []time.Duration
	for i := 0; i < 3; i++ {
		d, n, ok := p.next(t0.Add(time.Duration(i)*10*time.Millisecond), time.Millisecond)
		if !ok || n != i+1 {
			t.Fatalf("restart %d refused (n=%d)", i, n)
		}
		delays = append(delays, d)
	}
	if delays[0] != 10*time.Millisecond || delays[1] != 20*time.Millisecond || delays[2] != 40*time.Millisecond {
		t.Fatalf("delays %v", delays)
	}
	if _, n, ok := p.next(t0.Add(50*time.Millisecond), time.Millisecond); ok || n != 3 {
		t.Fatalf("4th restart in the window allowed (n=%d)", n)
	}
	// After the window the old restarts no longer count; a stable run resets the back-off.
	d, n, ok := p.next(t0.Add(3*time.Second), 2*time.Second)
	if !ok || n != 1 || d != 10*time.Millisecond {
		t.Fatalf("after window: d=%v n=%d ok=%v", d, n, ok)
	}
	// The back-off is capped at max.
	for i := 0; i < 2; i++ {
		d, _, _ = p.next(t0.Add(3*time.Second+time.Duration(i+1)*time.Millisecond), 0)
	}
	if d != 40*time.Millisecond {
		t.Fatalf("third delay %v", d)
	}
	zero := 0
	p0 := newRestartPolicy(&Entity{CrashLoop: CrashLoop{Restarts: &zero}})
	if _, _, ok := p0.next(t0, 0); ok {
		t.Fatal("restarts 0 allowed a restart")
	}
	big := 100
	pc := newRestartPolicy(&Entity{Backoff: Backoff{Initial: Duration(10 * time.Millisecond), Max: Duration(50 * time.Millisecond)},
		CrashLoop: CrashLoop{Restarts: &big}})
	for i := 0; i < 10; i++ {
		d, _, _ = pc.next(t0, 0)
	}
	if d != 50*time.Millisecond {
		t.Fatalf("cap: %v", d)
	}
}

func TestIncidentLog(t *testing.T) {
	var buf bytes.Buffer
	l := NewIncidentLog(&buf, "web")
	nr := 257
	l.Write(Incident{Type: IncidentAnomaly, Pid: 5, Action: ActionRestart, Verdict: "kill", Syscall: &nr,
		Event: "syscall openat", Expected: []string{"syscall read"}, Stack: []Frame{{Function: "main", File: "m.c", Line: 3}}})
	l.Write(Incident{Type: IncidentGiveUp, Restarts: new(int)})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "type", "time", "entity", "pid", "action", "event", "expected", "stack", "syscall"} {
		if _, ok := m[k]; !ok {
			t.Errorf("anomaly record lacks %q: %s", k, lines[0])
		}
	}
	if m["type"] != "anomaly" || m["entity"] != "web" {
		t.Fatal(lines[0])
	}
	if !strings.Contains(lines[1], `"restarts":0`) {
		t.Fatal(lines[1])
	}
}
