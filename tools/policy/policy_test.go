package policy

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

func TestComputeSensitiveSet(t *testing.T) {
	sig := netdSig(t, sysnum.X86_64)
	p := mustCompute(t, sig, Options{})
	tab := sysnum.For(sysnum.X86_64)
	nr := func(n string) int {
		v, ok := tab.Nr(n)
		if !ok {
			t.Fatalf("no %s", n)
		}
		return v
	}
	checked := map[string]*ArgCond{}
	for _, r := range p.Checked {
		checked[r.Syscall] = r.Cond
		if !p.IsAllowed(r.Nr) {
			t.Errorf("checked %s is not allowed", r.Syscall)
		}
	}
	for _, n := range []string{"execve", "socket", "bind", "listen", "accept4", "connect", "clone3", "fork"} {
		if c, ok := checked[n]; !ok || c != nil {
			t.Errorf("%s should be checked unconditionally (got %v, %v)", n, c, ok)
		}
	}
	if c := checked["openat"]; c == nil || c.Arg != 2 || c.Mask != 0x243 || c.Op != AnySet {
		t.Errorf("openat condition %+v", c)
	}
	if c := checked["clone"]; c == nil || c.Arg != 0 || c.Mask != 0x10000 || c.Op != NoneSet {
		t.Errorf("clone condition %+v", c)
	}
	for _, n := range []string{"read", "recvfrom", "sendto", "close"} {
		if _, ok := checked[n]; ok {
			t.Errorf("%s must stay in the kernel (per-request syscall)", n)
		}
	}
	// The meaning.
	var args [6]uint64
	if a := p.Action(nr("read"), args); a != ActAllow {
		t.Errorf("read: %s", a)
	}
	if a := p.Action(nr("getppid"), args); a != ActKill {
		t.Errorf("getppid (not in the signature): %s", a)
	}
	args[2] = 0 // O_RDONLY
	if a := p.Action(nr("openat"), args); a != ActAllow {
		t.Errorf("openat O_RDONLY: %s", a)
	}
	args[2] = 0o1101 // O_WRONLY|O_CREAT|O_TRUNC
	if a := p.Action(nr("openat"), args); a != ActNotify {
		t.Errorf("openat O_WRONLY|O_CREAT: %s", a)
	}
	args = [6]uint64{0x3d0f00} // pthread_create's clone flags (CLONE_THREAD set)
	if a := p.Action(nr("clone"), args); a != ActAllow {
		t.Errorf("clone of a thread: %s", a)
	}
	args = [6]uint64{0x1200011} // fork's clone flags
	if a := p.Action(nr("clone"), args); a != ActNotify {
		t.Errorf("clone of a process: %s", a)
	}

	// Adjustments like the FlowMonitor config's sensitive.add/remove.
	q := mustCompute(t, sig, Options{AddSensitive: []string{"read", "0"}, RemoveSensitive: []string{"accept4", "openat"}})
	if _, ok := q.CheckedRule(nr("read")); !ok {
		t.Error("read not added")
	}
	for _, n := range []string{"accept4", "openat"} {
		if _, ok := q.CheckedRule(nr(n)); ok {
			t.Errorf("%s not removed", n)
		}
	}
	q = mustCompute(t, sig, Options{AddSensitive: []string{"ptrace"}})
	if len(q.Warnings) != 1 || !strings.Contains(q.Warnings[0], "ptrace") {
		t.Errorf("adding a syscall the program never makes should warn: %v", q.Warnings)
	}
	// Full mode checks everything allowed.
	f := mustCompute(t, sig, Options{Mode: ModeFull})
	if len(f.Checked) != len(f.Allowed) {
		t.Errorf("full mode checks %d of %d", len(f.Checked), len(f.Allowed))
	}
	// The aarch64 signature has no open/fork; the rules that name them are skipped.
	a := mustCompute(t, netdSig(t, sysnum.AArch64), Options{})
	for _, r := range a.Checked {
		if r.Syscall == "open" || r.Syscall == "fork" {
			t.Errorf("aarch64 policy checks %s", r.Syscall)
		}
	}
}

func TestComputeErrors(t *testing.T) {
	sig := helloSig(t, sysnum.X86_64)
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Arch: "aarch64"}, "--arch aarch64, but the signature of kcfm_hello is for x86_64"},
		{Options{Arch: "sparc"}, "unknown architecture"},
		{Options{Entity: "bad name"}, "not a PSL process class name"},
		{Options{Entity: "1x"}, "not a PSL process class name"},
		{Options{Mode: "paranoid"}, `mode "paranoid"`},
		{Options{DefaultAction: ActAllow}, `default action "allow"`},
		{Options{DefaultAction: ActErrno, Errno: 5000}, "errno 5000 out of range"},
		{Options{AddSensitive: []string{"no_such_call"}}, `unknown syscall "no_such_call" on x86_64`},
		{Options{RemoveSensitive: []string{"9999"}}, "9999 is not a syscall of x86_64"},
		{Options{Sensitive: []SensitiveRule{{Syscall: "write", Cond: &ArgCond{Arg: 7, Mask: 1, Op: AnySet}}}}, "argument index 7"},
	} {
		_, err := Compute(sig, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opt, err, c.want)
		}
	}
	noArch := *sig
	noArch.Arch = ""
	if _, err := Compute(&noArch, Options{}); err == nil || !strings.Contains(err.Error(), "pass --arch") {
		t.Errorf("signature without arch: %v", err)
	}
	if p, err := Compute(&noArch, Options{Arch: "amd64"}); err != nil || p.Arch != sysnum.X86_64 {
		t.Errorf("--arch amd64 for a signature without arch: %v", err)
	}
	bad := *sig
	bad.Syscalls = append([]int{}, sig.Syscalls...)
	bad.Syscalls = append(bad.Syscalls, 4000)
	if _, err := Compute(&bad, Options{}); err == nil || !strings.Contains(err.Error(), "syscall 4000 is not a syscall of x86_64") {
		t.Errorf("foreign syscall number: %v", err)
	}
}

func TestEntityName(t *testing.T) {
	for in, want := range map[string]string{
		"build/kcfm_hello": "kcfm_hello", "/x/kcfm-hello": "kcfm_hello", "9lives": "_9lives",
		"a.out": "a", "": "program", "/": "program", "-": "_",
	} {
		if got := EntityName(in); got != want || !ValidEntity(got) {
			t.Errorf("EntityName(%q) = %q, want %q", in, got, want)
		}
	}
	p := mustCompute(t, helloSig(t, sysnum.X86_64), Options{})
	if p.Entity != "kcfm_hello" {
		t.Errorf("default entity %q", p.Entity)
	}
}

// The audit config is the policy, written out: reading it back gives the
// same Policy, so the launcher can build its filter from it.
func TestAuditRoundTrip(t *testing.T) {
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		for _, opt := range []Options{{}, {DefaultAction: ActErrno, Errno: 38, Entity: "net.Daemon"}, {Mode: ModeFull}} {
			p := mustCompute(t, netdSig(t, arch), opt)
			var b bytes.Buffer
			if err := WriteAudit(&b, p); err != nil {
				t.Fatal(err)
			}
			q, err := ParseAudit("netd.audit.yaml", b.Bytes())
			if err != nil {
				t.Fatalf("%v\n%s", err, b.String())
			}
			p.Warnings = nil
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("round trip differs:\n%+v\n%+v", p, q)
			}
		}
	}
}

func TestParseAuditErrors(t *testing.T) {
	p := mustCompute(t, helloSig(t, sysnum.X86_64), Options{})
	var b bytes.Buffer
	if err := WriteAudit(&b, p); err != nil {
		t.Fatal(err)
	}
	good := b.String()
	for _, c := range []struct{ from, to, want string }{
		{"format: kcfm-audit", "format: other", `a.yaml:5: format is "other"`},
		{"version: 1", "version: 2", "a.yaml:6: version 2"},
		{"arch: x86_64", "arch: mips", "a.yaml:9: unknown architecture"},
		{"mode: default", "mode: fast", `mode "fast"`},
		{"default_action: kill-process", "default_action: allow", `default_action "allow"`},
		{"default_action: kill-process", "default_action: kill-process\nerrno: 3", "errno is only meaningful"},
		{"allowed: [", "allowed: [frobnicate, ", `"frobnicate" is not a syscall of x86_64`},
		{"allowed: [", "allowed: [read, ", "read listed twice"},
		{"  - syscall: execve", "  - syscall: getppid", "checked syscall getppid is not in allowed"},
		{"op: any-set", "op: sometimes", `op "sometimes"`},
		{"entity: kcfm_hello", "entity: kcfm hello", "not a PSL process class name"},
		{"checked:", "surprise: 1\nchecked:", "field surprise not found"},
	} {
		if !strings.Contains(good, c.from) {
			t.Fatalf("test input lacks %q", c.from)
		}
		_, err := ParseAudit("a.yaml", []byte(strings.Replace(good, c.from, c.to, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: error %v, want %q", c.from, c.to, err, c.want)
		}
	}
	if _, err := ParseAudit("a.yaml", nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty input: %v", err)
	}
}

func TestMappingAndSensitiveData(t *testing.T) {
	m := DefaultMapping()
	if !m.HasCoreMethod("vmm.VMM", "Allocate") || m.HasCoreMethod("vmm.VMM", "Free") {
		t.Error("core method lookup")
	}
	for _, e := range m.Core.Endpoints {
		if !strings.HasPrefix(m.Sources[e.Source], "KasperskyOS CE") {
			t.Errorf("endpoint %s: source %q is not a Developer's Guide page", e.Endpoint, e.Source)
		}
	}
	// Every syscall a linked program makes at start-up is classified.
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		p := mustCompute(t, helloSig(t, arch), Options{})
		if pl := planIPC(p, m); len(pl.unmapped) > 0 {
			t.Errorf("%s: start-up syscalls without a mapping entry: %v", arch, pl.unmapped)
		}
	}
	good := string(defaultMappingYAML)
	for _, c := range []struct{ from, to, want string }{
		{"core: [vmm.VMM.Protect]", "core: [vmm.VMM.Free]", `core call "vmm.VMM.Free" is not a method listed`},
		{"vfs: network", "vfs: radio", `VFS role "radio" is not listed`},
		{"source: kce-sync\n  - names: [clone", "source: nowhere\n  - names: [clone", `source "nowhere" is not listed`},
		{"names: [getrandom]", "names: [getrandom, read]", "syscall read is already mapped"},
		{"names: [getrandom]", "names: [get_random]", `"get_random" is not a syscall`},
		{"format: kcfm-endpoints", "format: x", `format is "x"`},
		{"    vfs: filesystem\n", "    vfs: filesystem\n    service: entropy\n", "exactly one of core, vfs or service"},
		{"endpoint: vmm.VMM", "endpoint: VMM", "not a qualified endpoint name"},
	} {
		if !strings.Contains(good, c.from) {
			t.Fatalf("mapping lacks %q", c.from)
		}
		_, err := ParseMapping("e.yaml", []byte(strings.Replace(good, c.from, c.to, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.to, err, c.want)
		}
	}
	rules := DefaultSensitive()
	if len(rules) < 20 {
		t.Errorf("%d sensitive rules", len(rules))
	}
	sgood := string(defaultSensitiveYAML)
	for _, c := range []struct{ from, to, want string }{
		{"op: none-set", "op: maybe", `op "maybe"`},
		{"mask: 0x4", "mask: 0", "mask is 0"},
		{"syscalls: [execve, execveat]", "syscalls: [execve, execve]", "execve has two rules"},
		{"syscalls: [execve, execveat]", "syscalls: [exec]", `"exec" is not a syscall`},
	} {
		_, err := ParseSensitive("s.yaml", []byte(strings.Replace(sgood, c.from, c.to, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.to, err, c.want)
		}
	}
}

func TestReportJSON(t *testing.T) {
	sig := netdSig(t, sysnum.X86_64)
	p := mustCompute(t, sig, Options{})
	r, err := BuildReport(sig, p, DefaultMapping())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"allowed": `, `"transitions": `, `"program_transitions": `, `"syscall": "execve"`, `"function": "spawn"`, `"file": "netd.c"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON report lacks %s", want)
		}
	}
	// "why is execve allowed?": spawn's execv call, and start-up.
	for _, s := range r.Sensitive {
		if s.Syscall != "execve" {
			continue
		}
		if len(s.Uses) != 2 || !s.Uses[0].Startup || s.Uses[1].Function != "spawn" {
			t.Errorf("execve uses %+v", s.Uses)
		}
	}
}
