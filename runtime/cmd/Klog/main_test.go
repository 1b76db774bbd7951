package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/execmgr"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

func auditFile(t *testing.T, arch sysnum.Arch) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("../../../tools/policy/testdata/kcfm_hello", string(arch), "audit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Klog serves the filter of its audit config to an ExecutionManager on the
// channel, refuses unknown entities, and ends with the channel.
func TestKlogServesAuditRules(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KCFM_CHANNEL_klog", strconv.Itoa(fds[1]))
	done := make(chan int, 1)
	go func() { done <- run([]string{"--audit", auditFile(t, sysnum.Host())}) }()
	conn, err := execmgr.NewPacketConn(os.NewFile(uintptr(fds[0]), "em"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := execmgr.NewAuditClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	spec, rules, err := c.Rules("kcfm_hello", "/bin/kcfm_hello")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Arch != sysnum.Host() || spec.Default != seccomp.KillProcess || len(spec.Rules) < 10 ||
		rules.Profile != "kcfm_hello_audit" || rules.Source != auditFile(t, sysnum.Host()) {
		t.Fatalf("rules %+v, spec default %v, %d rules", rules, spec.Default, len(spec.Rules))
	}
	if _, _, err := c.Rules("other", "/bin/other"); err == nil || !strings.Contains(err.Error(), "no audit config for entity other") {
		t.Fatalf("got %v", err)
	}
	c.Close()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestKlogRefusesBadConfigs(t *testing.T) {
	other := sysnum.AArch64
	if sysnum.Host() == sysnum.AArch64 {
		other = sysnum.X86_64
	}
	t.Setenv("KCFM_CHANNEL_klog", "")
	for _, c := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"--audit", auditFile(t, other)}, 1},              // another architecture
		{[]string{"--audit", "/nonexistent/audit.yaml"}, 1},        // missing
		{[]string{"--audit", auditFile(t, sysnum.Host())}, 1},      // no channel
		{[]string{"--audit", auditFile(t, sysnum.Host()), "x"}, 2}, // extra argument
	} {
		if code := run(c.args); code != c.code {
			t.Errorf("%v: exit %d, want %d", c.args, code, c.code)
		}
	}
}
