package qemu

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/tools/image/kernel"
)

func TestArgs(t *testing.T) {
	a, err := Args(Options{Arch: kernel.AArch64, Kernel: "K", Initrd: "I", Append: "-- -timeout 5s"})
	if err != nil {
		t.Fatal(err)
	}
	want := "qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2 -m 512 -nographic -nic none -accel tcg -no-reboot -kernel K -initrd I -append console=ttyAMA0 panic=-1 quiet -- -timeout 5s"
	if got := strings.Join(a, " "); got != want {
		t.Errorf("aarch64\n got %s\nwant %s", got, want)
	}
	a, _ = Args(Options{Arch: kernel.X86_64, Kernel: "K", Initrd: "I", Verbose: true, SMP: 1, MemoryMB: 256})
	want = "qemu-system-x86_64 -M pc -smp 1 -m 256 -display none -serial stdio -monitor none -nic none -accel tcg -no-reboot -kernel K -initrd I -append console=ttyS0 panic=-1"
	if got := strings.Join(a, " "); got != want {
		t.Errorf("x86_64\n got %s\nwant %s", got, want)
	}
	if _, err := Args(Options{Arch: "mips", Kernel: "K", Initrd: "I"}); err == nil {
		t.Error("mips accepted")
	}
}

// fakeQEMU writes a shell script that plays a guest's console.
func fakeQEMU(t *testing.T, script string) Options {
	t.Helper()
	dir := t.TempDir()
	q := filepath.Join(dir, "qemu")
	if err := os.WriteFile(q, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	k, i := filepath.Join(dir, "k"), filepath.Join(dir, "i")
	os.WriteFile(k, nil, 0o644)
	os.WriteFile(i, nil, 0o644)
	return Options{Arch: kernel.AArch64, Kernel: k, Initrd: i, QEMU: q, Timeout: 10 * time.Second, PowerOffGrace: 2 * time.Second}
}

func TestRunVerdicts(t *testing.T) {
	cases := []struct {
		name, script string
		expect       []string
		verdict      Verdict
		reason       string
		uptime       string
	}{
		{"pass", `echo "KCFM-EINIT: start"; printf '\033[2J\033[0;1mKCFM-RESULT: PASS driver=t status=0 uptime=1.85s\r\n'`, nil, Pass, "", "1.85s"},
		{"fail marker", `echo "[t] boom"; echo "KCFM-RESULT: FAIL driver=t status=3 uptime=2.00s"`, nil, Fail, "console: KCFM-RESULT: FAIL driver=t status=3", "2.00s"},
		{"guest timeout", `echo "KCFM-RESULT: TIMEOUT (after 5s; still running: x)"`, nil, Timeout, "console: KCFM-RESULT: TIMEOUT", ""},
		{"panic", `echo "Kernel panic - not syncing: Attempted to kill init!"`, nil, Fail, "Kernel panic", ""},
		{"no verdict", `echo "booting"; echo "qemu: something" >&2; exit 1`, nil, Fail, `QEMU exit status 1 before the guest printed "KCFM-RESULT: PASS"; QEMU said: qemu: something`, ""},
		{"several markers", `echo "hello from C"; echo "KCFM-RESULT: PASS"`, []string{"hello from C", "KCFM-RESULT: PASS"}, Pass, "", ""},
		{"missing one", `echo "KCFM-RESULT: PASS"`, []string{"hello from C", "KCFM-RESULT: PASS"}, Fail, `before the guest printed "hello from C"`, ""},
		{"no newline at end", `printf "KCFM-RESULT: PASS"`, nil, Pass, "", ""},
	}
	for _, c := range cases {
		o := fakeQEMU(t, c.script)
		o.Expect = c.expect
		var con bytes.Buffer
		o.Console = &con
		r, err := Run(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Verdict != c.verdict || !strings.Contains(r.Reason, c.reason) || r.GuestUptime != c.uptime {
			t.Errorf("%s: verdict %s reason %q uptime %q; want %s %q %q", c.name, r.Verdict, r.Reason, r.GuestUptime, c.verdict, c.reason, c.uptime)
		}
		if r.Verdict == Pass && (r.BootToVerdict <= 0 || r.BootToVerdict > r.Total) {
			t.Errorf("%s: boot-to-verdict %v, total %v", c.name, r.BootToVerdict, r.Total)
		}
		if c.name == "pass" && !strings.Contains(con.String(), "\033[2J") {
			t.Errorf("console output not passed through raw: %q", con.String())
		}
	}
}

func TestRunHostTimeoutAndGrace(t *testing.T) {
	o := fakeQEMU(t, `echo "booting"; exec sleep 60`)
	o.Timeout = 500 * time.Millisecond
	start := time.Now()
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Timeout || !strings.Contains(r.Reason, "no verdict within 500ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("%+v after %v", r, time.Since(start))
	}

	// The verdict is kept when the guest does not power off afterwards.
	o = fakeQEMU(t, `echo "KCFM-RESULT: PASS"; exec sleep 60`)
	o.PowerOffGrace = 300 * time.Millisecond
	r, err = Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Pass || !strings.Contains(r.Reason, "was killed") {
		t.Fatalf("%+v", r)
	}
}

func TestRunMissingFiles(t *testing.T) {
	o := fakeQEMU(t, "true")
	o.Kernel = "/nonexistent/vmlinuz"
	if _, err := Run(context.Background(), o); err == nil {
		t.Fatal("missing kernel accepted")
	}
	o = fakeQEMU(t, "true")
	o.QEMU = "/nonexistent/qemu-system-aarch64"
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "scripts/setup.sh") {
		t.Fatalf("missing qemu: %v", err)
	}
}
