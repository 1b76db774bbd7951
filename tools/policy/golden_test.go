package policy

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// testRestart is FlowMonitor's default restart policy (runtime/monitor
// DefaultBackoff*/DefaultCrashLoop*); tools/cmd/kcfm tests that the CLI
// reads the same values from the monitor package.
var testRestart = Restart{OnAnomaly: OnAnomalyRestart, Initial: 100 * time.Millisecond, Max: 10 * time.Second, Restarts: 5, Window: 60 * time.Second}

// renderAll produces every output of `kcfm policy` for a signature.
func renderAll(t *testing.T, p *Policy, r *Report) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var b bytes.Buffer
	if err := WritePSL(&b, p, PSLOptions{Source: p.Program + ".kcfm"}); err != nil {
		t.Fatal(err)
	}
	out["policy.psl"] = append([]byte(nil), b.Bytes()...)
	b.Reset()
	if err := WriteAudit(&b, p); err != nil {
		t.Fatal(err)
	}
	out["audit.yaml"] = append([]byte(nil), b.Bytes()...)
	b.Reset()
	if err := WriteOCI(&b, p, OCIOptions{}); err != nil {
		t.Fatal(err)
	}
	out["seccomp.json"] = append([]byte(nil), b.Bytes()...)
	b.Reset()
	if err := WriteSystemd(&b, p, SystemdOptions{Restart: testRestart, Source: p.Program + ".kcfm"}); err != nil {
		t.Fatal(err)
	}
	out["systemd.conf"] = append([]byte(nil), b.Bytes()...)
	b.Reset()
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out["report.txt"] = append([]byte(nil), b.Bytes()...)
	return out
}

func TestGoldenKcfmHello(t *testing.T) {
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		t.Run(string(arch), func(t *testing.T) {
			sig := helloSig(t, arch)
			p := mustCompute(t, sig, Options{Entity: "kcfm_hello"})
			r, err := BuildReport(sig, p, DefaultMapping())
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range renderAll(t, p, r) {
				golden(t, "kcfm_hello/"+string(arch)+"/"+name, data)
			}
			// The PSL parses and names only what the mapping lists.
			var b bytes.Buffer
			if err := WritePSL(&b, p, PSLOptions{}); err != nil {
				t.Fatal(err)
			}
			f, err := ParsePSL("kcfm_hello.psl", b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckPSL(f, DefaultMapping(), "kcfm_hello"); err != nil {
				t.Fatal(err)
			}
			// "why is openat allowed?": start-up and main's fopen in hello.c.
			var openat *SyscallUse
			for i := range r.Sensitive {
				if r.Sensitive[i].Syscall == "openat" {
					openat = &r.Sensitive[i]
				}
			}
			if openat == nil || !openat.Uses[0].Startup {
				t.Fatalf("openat should be sensitive and needed at start-up: %+v", r.Sensitive)
			}
			found := false
			for _, u := range openat.Uses {
				if u.Function == "main" && u.File == "examples/kcfm_hello/hello.c" {
					found = true
				}
			}
			if !found {
				t.Errorf("openat uses lack main in hello.c: %+v", openat.Uses)
			}
			if r.ProgramTransitions >= r.Allowlist || r.ProgramTransitions == 0 || r.Transitions < r.ProgramTransitions {
				t.Errorf("transitions %d (program %d) of %d: the program phase should allow fewer than the allowlist", r.Transitions, r.ProgramTransitions, r.Allowlist)
			}
			if !strings.Contains(string(renderAll(t, p, r)["report.txt"]), "why each is allowed") {
				t.Error("report lacks the sensitive section")
			}
		})
	}
}
