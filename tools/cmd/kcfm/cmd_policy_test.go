package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/internal/testgraph"
	"github.com/kcfm-linux/kcfm/tools/link"
	"github.com/kcfm-linux/kcfm/tools/policy"
)

type policyTestSums struct {
	by  map[string][]int
	all []int
}

func (s *policyTestSums) Lookup(fn string) ([]int, bool) { v, ok := s.by[fn]; return v, ok }
func (s *policyTestSums) All() []int                     { return s.all }
func (s *policyTestSums) Describe() string               { return "test libc summaries" }

// writePolicyTestSig links a small program and writes its signature.
func writePolicyTestSig(t *testing.T, dir string) string {
	t.Helper()
	g := testgraph.MustBuild(t, `
main: ext fopen; loop { ext fputs }; ext fclose; ext socket; ext connect; ret
`)
	tab := sysnum.For(sysnum.X86_64)
	s := &policyTestSums{by: map[string][]int{}}
	all := map[int]bool{}
	for fn, names := range map[string][]string{"fopen": {"openat", "brk"}, "fputs": {"write"}, "fclose": {"close"}, "socket": {"socket"}, "connect": {"connect"}} {
		for _, n := range names {
			nr, _ := tab.Nr(n)
			s.by[fn] = append(s.by[fn], nr)
			all[nr] = true
		}
		sort.Ints(s.by[fn])
	}
	for nr := range all {
		s.all = append(s.all, nr)
	}
	sort.Ints(s.all)
	sig, _, err := link.Link([]*model.TUGraph{g}, nil, link.Options{Arch: sysnum.X86_64, Program: "client", Summaries: s, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "client.kcfm")
	if err := model.WriteSignature(path, sig); err != nil {
		t.Fatal(err)
	}
	return path
}

func runKcfm(args ...string) error {
	return newApp().Run(append([]string{"kcfm"}, args...))
}

func TestPolicyCommandWritesEveryOutput(t *testing.T) {
	dir := t.TempDir()
	sig := writePolicyTestSig(t, dir)
	out := filepath.Join(dir, "out")
	err := runKcfm("policy", "--signature", sig, "--entity", "client.Client",
		"--psl", filepath.Join(out, "client.psl"), "--klog", filepath.Join(out, "client.audit.yaml"),
		"--seccomp", filepath.Join(out, "client.seccomp.json"), "--systemd", filepath.Join(out, "client.service.d", "kcfm.conf"),
		"--report", filepath.Join(out, "client.report.json"), "--vfs-filesystem", "kl.VfsSdCardFs")
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	psl := read("client.psl")
	f, err := policy.ParsePSL("client.psl", psl)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := policy.DefaultMapping().WithVFSClass("filesystem", "kl.VfsSdCardFs")
	if err := policy.CheckPSL(f, m, "client.Client"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(psl), "match dst=kl.VfsNet { grant () }") {
		t.Error("connect/socket should grant the network VFS")
	}
	p, err := policy.ParseAudit("client.audit.yaml", read("client.audit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// execve is allowed as the program's own start (a start-up syscall) and
	// checked like every sensitive syscall.
	for _, n := range []string{"socket", "connect", "execve"} {
		nr, _ := sysnum.For(sysnum.X86_64).Nr(n)
		if r, ok := p.RuleFor(nr); !ok || r.Action != policy.ActNotify {
			t.Errorf("%s should be checked (runtime's default sensitive set)", n)
		}
	}
	var prof map[string]any
	if err := json.Unmarshal(read("client.seccomp.json"), &prof); err != nil || prof["defaultAction"] != "SCMP_ACT_KILL_PROCESS" {
		t.Errorf("seccomp profile: %v %v", err, prof["defaultAction"])
	}
	if !strings.Contains(string(read("client.service.d/kcfm.conf")), "StartLimitBurst=6") {
		t.Error("drop-in lacks FlowMonitor's default crash-loop guard (5 restarts)")
	}
	var rep policy.Report
	if err := json.Unmarshal(read("client.report.json"), &rep); err != nil || rep.Allowed != len(p.Allowed) || rep.Entity != "client.Client" {
		t.Errorf("report: %v %+v", err, rep)
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left over %s", e.Name())
		}
	}
}

func TestPolicyCommandReadsFlowMonitorConfig(t *testing.T) {
	dir := t.TempDir()
	sig := writePolicyTestSig(t, dir)
	cfg := filepath.Join(dir, "fm.yaml")
	if err := os.WriteFile(cfg, []byte(`version: 1
entities:
  client:
    path: /usr/bin/client
    on_anomaly: stop
    restart_on_crash: true
    backoff: {initial: 250ms, max: 5s}
    crash_loop: {restarts: 2, window: 30s}
    sensitive:
      remove: [connect]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dropIn, audit := filepath.Join(dir, "kcfm.conf"), filepath.Join(dir, "a.yaml")
	if err := runKcfm("policy", "--signature", sig, "--monitor-config", cfg, "--systemd", dropIn, "--klog", audit); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dropIn)
	for _, want := range []string{"Restart=on-failure", "RestartSec=250ms", "StartLimitBurst=3", "StartLimitIntervalSec=30s"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("drop-in lacks %s:\n%s", want, b)
		}
	}
	p, err := policy.ReadAudit(audit)
	if err != nil {
		t.Fatal(err)
	}
	nr, _ := sysnum.For(sysnum.X86_64).Nr("connect")
	if _, ok := p.RuleFor(nr); ok {
		t.Error("sensitive.remove of the config not applied")
	}
}

func TestPolicyCommandDefaultsMirrorFlowMonitor(t *testing.T) {
	r, err := defaultRestart()
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Restart{OnAnomaly: "restart", Initial: 100 * time.Millisecond, Max: 10 * time.Second, Restarts: 5, Window: time.Minute}
	if r != want {
		t.Errorf("FlowMonitor defaults %+v, tools/policy tests assume %+v", r, want)
	}
}

func TestPolicyCommandErrors(t *testing.T) {
	dir := t.TempDir()
	sig := writePolicyTestSig(t, dir)
	o := filepath.Join(dir, "x")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--signature", sig}, "nothing to write"},
		{[]string{"--signature", filepath.Join(dir, "none.kcfm"), "--psl", o}, "none.kcfm"},
		{[]string{"--signature", sig, "--psl", "-", "--klog", "-"}, "only one output"},
		{[]string{"--signature", sig, "--seccomp", o, "--report", o}, "--seccomp and --report name the same file"},
		{[]string{"--signature", sig, "--psl", o, "--errno", "5"}, "--errno needs --default-action errno"},
		{[]string{"--signature", sig, "--psl", o, "--arch", "aarch64"}, "signature of client is for x86_64"},
		{[]string{"--signature", sig, "--psl", o, "--vfs-filesystem", "not a class"}, "not a PSL class name"},
		{[]string{"--signature", sig, "--psl", o, "--entity", "a b"}, "not a PSL process class name"},
		{[]string{"--signature", sig, "--psl", o, "--add-sensitive", "frob"}, `"frob" is not a system call`},
		{[]string{"--signature", sig, "--psl", o, "--default-action", "allow"}, `default action "allow"`},
		{[]string{"--signature", sig, "--psl", o, "--monitor-entity", "x"}, "--monitor-entity needs --monitor-config"},
		{[]string{"--signature", sig, "--psl", o, "extra"}, "unexpected arguments"},
	} {
		err := runKcfm(append([]string{"policy"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(o); err == nil {
		t.Error("a failed run wrote an output")
	}
}
