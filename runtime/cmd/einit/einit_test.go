package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var einitBin string

// TestMain builds einit once; the tests run it in host mode (pid != 1),
// where it does everything but mounting and powering off.
func TestMain(m *testing.M) {
	if os.Getenv("EINIT_TEST_HELPER") != "" {
		helperMain()
		return
	}
	dir, err := os.MkdirTemp("", "einit-test")
	if err != nil {
		panic(err)
	}
	einitBin = filepath.Join(dir, "einit")
	out, err := exec.Command("go", "build", "-race", "-o", einitBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building einit: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// helperMain is an entity implemented by the test binary itself.
func helperMain() {
	switch mode := os.Args[len(os.Args)-1]; mode {
	case "chan-server":
		f := chanFile("ping")
		buf := make([]byte, 64)
		n, err := f.Read(buf)
		if err != nil {
			fmt.Println("server read:", err)
			os.Exit(1)
		}
		fmt.Printf("server got %q\n", buf[:n])
		f.Write([]byte("pong:" + string(buf[:n])))
		fmt.Println("server done")
		time.Sleep(30 * time.Second) // a service: runs until stopped
	case "chan-client":
		f := chanFile("ping")
		f.Write([]byte("hello"))
		buf := make([]byte, 64)
		n, err := f.Read(buf)
		if err != nil || string(buf[:n]) != "pong:hello" {
			fmt.Printf("client: got %q, %v\n", buf[:n], err)
			os.Exit(4)
		}
		fmt.Printf("client got %q as %s\n", buf[:n], os.Getenv("KCFM_ENTITY"))
	default:
		fmt.Println("unknown helper mode", mode)
		os.Exit(9)
	}
	os.Exit(0)
}

func chanFile(id string) *os.File {
	v := os.Getenv("KCFM_CHANNEL_" + id)
	fd, err := strconv.Atoi(v)
	if err != nil {
		fmt.Printf("KCFM_CHANNEL_%s=%q: %v\n", id, v, err)
		os.Exit(3)
	}
	return os.NewFile(uintptr(fd), id)
}

type result struct {
	out  string
	code int
}

func runEinit(t *testing.T, initYAML string, extra ...string) result {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "init.yaml")
	if err := os.WriteFile(cfg, []byte(initYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(einitBin, append([]string{"-config", cfg, "-grace", "500ms"}, extra...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "EINIT_TEST_HELPER=")
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), code}
}

func (r result) must(t *testing.T, code int, patterns ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d", r.code, code)
	}
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(r.out) {
			t.Errorf("output lacks /%s/", p)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", r.out)
	}
}

// before checks that pattern a first matches before pattern b.
func (r result) before(t *testing.T, a, b string) {
	t.Helper()
	ia := regexp.MustCompile(a).FindStringIndex(r.out)
	ib := regexp.MustCompile(b).FindStringIndex(r.out)
	if ia == nil || ib == nil || ia[0] > ib[0] {
		t.Errorf("/%s/ should appear before /%s/\n%s", a, b, r.out)
	}
}

func TestLinuxDaemonAndDriverPass(t *testing.T) {
	r := runEinit(t, `style: linux
timeout: 20s
entities:
- name: daemon
  path: /bin/sh
  args: [-c, 'echo "daemon up $KCFM_ENTITY $GREETING"; exec sleep 30']
  env: {GREETING: "hello world"}
  ready: daemon up
- name: test
  path: /bin/sh
  args: [-c, 'echo "driver in $(pwd)"; printf "no newline"']
  role: driver
  workdir: /tmp
`)
	r.must(t, exitPass,
		`(?m)^\[daemon\] daemon up daemon hello world$`,
		`(?m)^KCFM-EINIT: ready daemon uptime=`,
		`(?m)^\[test\] driver in /tmp$`,
		`(?m)^\[test\] no newline$`,
		`(?m)^KCFM-DRIVER-EXIT: name=test status=0$`,
		`(?m)^KCFM-EINIT: stopped 1 entities \(SIGTERM\)$`,
		`(?m)^KCFM-RESULT: PASS driver=test status=0 uptime=[0-9.]+s$`)
	r.before(t, `ready daemon`, `started test`)
	r.before(t, `\[test\] no newline`, `KCFM-DRIVER-EXIT`)
}

func TestDriverFailureAndSignal(t *testing.T) {
	r := runEinit(t, `style: linux
entities:
- {name: t, path: /bin/sh, args: [-c, 'exit 3'], role: driver}
`)
	r.must(t, exitFail, `(?m)^KCFM-DRIVER-EXIT: name=t status=3$`, `(?m)^KCFM-RESULT: FAIL driver=t status=3`)

	r = runEinit(t, `style: linux
entities:
- {name: t, path: /bin/sh, args: [-c, 'kill -SEGV $$'], role: driver}
`)
	r.must(t, exitFail, `(?m)^KCFM-DRIVER-EXIT: name=t status=139 signal=SIGSEGV$`)
}

func TestTimeoutKillsStubbornEntities(t *testing.T) {
	start := time.Now()
	r := runEinit(t, `style: linux
timeout: 1s
entities:
- {name: stubborn, path: /bin/sh, args: [-c, 'trap "" TERM; while :; do sleep 0.1; done']}
- {name: t, path: /bin/sleep, args: ["30"], role: driver}
`)
	r.must(t, exitTimeout, `(?m)^KCFM-RESULT: TIMEOUT \(after 1s; still running: stubborn, t\)`,
		`(?m)^KCFM-EINIT: stopped 2 entities \(SIGKILL after 500ms\)$`)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

func TestKasperskyOSChannelsAndOrder(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := runEinit(t, fmt.Sprintf(`style: kasperskyos
timeout: 30s
entities:
- name: kl.test.Client
  task: Client
  path: %[1]s
  args: [chan-client]
  env: {EINIT_TEST_HELPER: "1"}
  role: driver
  connections:
  - {target: Server, id: ping}
- name: Server
  path: %[1]s
  args: [chan-server]
  env: {EINIT_TEST_HELPER: "1"}
`, self))
	r.must(t, exitPass,
		`(?m)^\[Server\] server got "hello"$`,
		`(?m)^\[Client\] client got "pong:hello" as Client$`,
		`(?m)^KCFM-RESULT: PASS driver=Client`)
	// The connection target starts first although it comes later in the file.
	r.before(t, `started Server`, `started Client`)
}

func TestOrphansAreReaped(t *testing.T) {
	r := runEinit(t, `style: linux
entities:
- {name: t, path: /bin/sh, args: [-c, '(sleep 0.2 &); (sleep 0.2 &); sleep 0.6'], role: driver}
`)
	r.must(t, exitPass, `(?m)^KCFM-EINIT: reaped [2-9] orphaned processes$`)
}

func TestNoDriverAllMustSucceed(t *testing.T) {
	r := runEinit(t, `style: linux
entities:
- {name: a, path: /bin/true}
- {name: b, path: /bin/sh, args: [-c, 'exit 0']}
`)
	r.must(t, exitPass, `(?m)^KCFM-RESULT: PASS \(all 2 entities exited with status 0\)`)
	r = runEinit(t, `style: linux
entities:
- {name: a, path: /bin/true}
- {name: b, path: /bin/false}
`)
	r.must(t, exitFail, `(?m)^KCFM-RESULT: FAIL \(entities failed: b\)`)
}

func TestBootFailures(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"entities:\n- name: a\n  pth: /x\n", `(?m)^KCFM-RESULT: FAIL \(invalid init.yaml: .*init.yaml:3:3: unknown key "pth"`},
		{"style: linux\nentities:\n- {name: a, path: /nonexistent/prog, role: driver}\n", `(?m)^KCFM-RESULT: FAIL \(cannot start a: .*no such file`},
		{"style: linux\nentities:\n- {name: setup, path: /bin/false, role: oneshot}\n- {name: t, path: /bin/true, role: driver}\n", `(?m)^KCFM-RESULT: FAIL \(oneshot setup failed: status=1\)`},
		{"style: linux\nentities:\n- {name: d, path: /bin/sleep, args: ['5'], ready: never, ready_timeout: 300ms}\n- {name: t, path: /bin/true, role: driver}\n", `(?m)^KCFM-RESULT: FAIL \(d did not print its ready line "never" within 300ms\)`},
		{"style: linux\nentities:\n- {name: d, path: /bin/true, ready: never}\n- {name: t, path: /bin/true, role: driver}\n", `(?m)^KCFM-RESULT: FAIL \(d exited before printing its ready line "never": status=0\)`},
	}
	for _, c := range cases {
		r := runEinit(t, c.yaml)
		r.must(t, exitFail, c.want)
		if strings.Contains(r.out, "started t ") {
			t.Errorf("driver started after a boot failure:\n%s", r.out)
		}
	}
}

func TestLongLinesAreSplit(t *testing.T) {
	r := runEinit(t, `style: linux
entities:
- {name: t, path: /bin/sh, args: [-c, 'head -c 10000 /dev/zero | tr "\0" x; echo'], role: driver}
`)
	r.must(t, exitPass)
	for _, n := range []int{4096, 4096, 1808} {
		want := "\n[t] " + strings.Repeat("x", n) + "\n"
		if !strings.Contains(r.out, want) {
			t.Errorf("no line of %d x", n)
		}
	}
}
