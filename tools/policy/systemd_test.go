package policy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// verifyUnit writes a service unit running /bin/true plus the drop-in and
// runs `systemd-analyze verify` on it. systemd-analyze exits 0 even when it
// ignores a bad line, so any diagnostic about our files is a failure.
func verifyUnit(t *testing.T, dropIn []byte) (string, error) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is missing: run scripts/setup.sh (installs the systemd package)")
	}
	dir := t.TempDir()
	unit := filepath.Join(dir, "kcfm-test.service")
	if err := os.WriteFile(unit, []byte("[Unit]\nDescription=kcfm policy test\n\n[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(unit+".d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unit+".d", "kcfm.conf"), dropIn, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, dir) {
			ours = append(ours, l)
		}
	}
	return strings.Join(ours, "\n"), err
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	host := sysnum.Host()
	for _, c := range []struct {
		name string
		opt  Options
		r    Restart
	}{
		{"defaults", Options{}, testRestart},
		{"errno-no-restart", Options{DefaultAction: ActErrno}, Restart{OnAnomaly: OnAnomalyStop, Restarts: 0, Window: 0}},
		{"crash-restart-unlimited-window", Options{}, Restart{OnAnomaly: OnAnomalyLogOnly, RestartOnCrash: true, Initial: 250 * time.Millisecond, Max: time.Minute, Restarts: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, mk := range []func(testing.TB, sysnum.Arch) *Policy{
				func(tb testing.TB, a sysnum.Arch) *Policy { return mustCompute(tb, helloSig(tb, a), c.opt) },
				func(tb testing.TB, a sysnum.Arch) *Policy { return mustCompute(tb, netdSig(tb, a), c.opt) },
			} {
				p := mk(t, host)
				var b bytes.Buffer
				if err := WriteSystemd(&b, p, SystemdOptions{Restart: c.r}); err != nil {
					t.Fatal(err)
				}
				diag, err := verifyUnit(t, b.Bytes())
				if err != nil || diag != "" {
					t.Fatalf("systemd-analyze verify rejects the drop-in (%v):\n%s\n--- drop-in:\n%s", err, diag, b.String())
				}
			}
		})
	}
	// The check is real: a broken drop-in is reported.
	diag, _ := verifyUnit(t, []byte("[Service]\nSystemCallFilter=read no_such_syscall\nRestartz=always\n"))
	if !strings.Contains(diag, "no_such_syscall") || !strings.Contains(diag, "Restartz") {
		t.Fatalf("systemd-analyze did not report a broken drop-in: %q", diag)
	}
}

func mustCompute(tb testing.TB, sig *model.Signature, opt Options) *Policy {
	tb.Helper()
	if opt.Sensitive == nil && opt.Mode != ModeFull {
		opt.Sensitive = testSensitive
	}
	p, err := Compute(sig, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
