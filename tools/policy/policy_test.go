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
	rules := map[string]Rule{}
	for _, r := range p.Rules {
		rules[r.Syscall] = r
		if !p.IsAllowed(r.Nr) {
			t.Errorf("rule for %s, which is not allowed", r.Syscall)
		}
	}
	for _, n := range []string{"execve", "socket", "bind", "listen", "accept4", "connect", "fork"} {
		if r, ok := rules[n]; !ok || r.Cond != nil || r.Action != ActNotify {
			t.Errorf("%s should be checked unconditionally (got %+v, %v)", n, r, ok)
		}
	}
	if c := rules["openat"].Cond; c == nil || c.Arg != 2 || c.Mask != 0x400643 || c.Op != AnySet {
		t.Errorf("openat condition %+v", c)
	}
	if c := rules["clone"].Cond; c == nil || c.Arg != 0 || c.Mask != 0x10000 || c.Op != NoneSet {
		t.Errorf("clone condition %+v", c)
	}
	if r := rules["clone3"]; r.Action != ActErrno || r.Errno != 38 {
		t.Errorf("clone3 rule %+v", r)
	}
	for _, n := range []string{"read", "recvfrom", "sendto", "close"} {
		if _, ok := rules[n]; ok {
			t.Errorf("%s must stay in the kernel (per-request syscall)", n)
		}
	}
	if p.Checked() != len(p.Rules)-1 {
		t.Errorf("Checked() = %d of %d rules (all but clone3 notify)", p.Checked(), len(p.Rules))
	}
	// The meaning.
	var args [6]uint64
	if a := p.Action(nr("read"), args); a != ActAllow {
		t.Errorf("read: %s", a)
	}
	if a := p.Action(nr("getpgrp"), args); a != ActKill {
		t.Errorf("getpgrp (not in the signature): %s", a)
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
	if a, e := p.Decide(nr("clone3"), args); a != ActErrno || e != 38 {
		t.Errorf("clone3: %s %d", a, e)
	}
	// Full mode checks everything allowed.
	f := mustCompute(t, sig, Options{Mode: ModeFull})
	if f.Checked() != len(f.Allowed) {
		t.Errorf("full mode checks %d of %d", f.Checked(), len(f.Allowed))
	}
	// The aarch64 signature has no open/fork; the rules that name them are skipped.
	a := mustCompute(t, netdSig(t, sysnum.AArch64), Options{})
	for _, r := range a.Rules {
		if r.Syscall == "open" || r.Syscall == "fork" {
			t.Errorf("aarch64 policy has a rule for %s", r.Syscall)
		}
	}
}

// Several rules for one syscall (a configuration adding to the default
// set) are merged into one, or refused when no single rule can say it.
func TestComputeMergesRules(t *testing.T) {
	sig := netdSig(t, sysnum.X86_64)
	w := &ArgCond{Arg: 2, Mask: 0x3, Op: AnySet}
	c := &ArgCond{Arg: 2, Mask: 0x40, Op: AnySet}
	for _, tc := range []struct {
		name  string
		rules []SensitiveRule
		want  string // openat's rule, or the error
	}{
		{"unconditional absorbs", []SensitiveRule{{Syscall: "openat", Cond: w}, {Syscall: "openat"}}, "notify <nil>"},
		{"masks join", []SensitiveRule{{Syscall: "openat", Cond: w}, {Syscall: "openat", Cond: c}}, "notify arg2 & 0x43 != 0"},
		{"same rule twice", []SensitiveRule{{Syscall: "openat", Cond: w}, {Syscall: "openat", Cond: w}}, "notify arg2 & 0x3 != 0"},
		{"first unconditional wins", []SensitiveRule{{Syscall: "openat", Action: ActKill}, {Syscall: "openat", Cond: w}}, "kill-process <nil>"},
		{"overlap with another action", []SensitiveRule{{Syscall: "openat", Cond: w}, {Syscall: "openat", Action: ActKill}}, "different actions"},
		{"conditions on two arguments", []SensitiveRule{{Syscall: "openat", Cond: w}, {Syscall: "openat", Cond: &ArgCond{Arg: 3, Mask: 1, Op: AnySet}}}, "cannot be merged"},
		{"allow is no rule", []SensitiveRule{{Syscall: "openat", Action: ActAllow}}, "none"},
	} {
		p, err := Compute(sig, Options{Sensitive: tc.rules})
		got := "none"
		if err != nil {
			got = err.Error()
		} else if r, ok := p.RuleFor(257); ok {
			got = string(r.Action) + " <nil>"
			if r.Cond != nil {
				got = string(r.Action) + " " + r.Cond.String()
			}
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
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
		{Options{Sensitive: []SensitiveRule{{Syscall: "no_such_call"}}}, `"no_such_call" is not a syscall`},
		{Options{Sensitive: []SensitiveRule{{Syscall: "write", Cond: &ArgCond{Arg: 7, Mask: 1, Op: AnySet}}}}, "argument index 7"},
		{Options{Sensitive: []SensitiveRule{{Syscall: "write", Cond: &ArgCond{Arg: 1, Mask: 1 << 40, Op: AnySet}}}}, "wider than 32 bits"},
		{Options{Sensitive: []SensitiveRule{{Syscall: "write", Action: ActErrno}}}, "errno 0 out of range"},
		{Options{Sensitive: []SensitiveRule{{Syscall: "write", Action: "trace"}}}, `action "trace"`},
	} {
		if c.opt.Sensitive == nil {
			c.opt.Sensitive = testSensitive
		}
		_, err := Compute(sig, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opt, err, c.want)
		}
	}
	if _, err := Compute(sig, Options{}); err == nil || !strings.Contains(err.Error(), "no sensitive set") {
		t.Errorf("default mode without a sensitive set: %v", err)
	}
	noArch := *sig
	noArch.Arch = ""
	if _, err := Compute(&noArch, Options{Sensitive: testSensitive}); err == nil || !strings.Contains(err.Error(), "pass --arch") {
		t.Errorf("signature without arch: %v", err)
	}
	if p, err := Compute(&noArch, Options{Arch: "amd64", Sensitive: testSensitive}); err != nil || p.Arch != sysnum.X86_64 {
		t.Errorf("--arch amd64 for a signature without arch: %v", err)
	}
	bad := *sig
	bad.Syscalls = append([]int{}, sig.Syscalls...)
	bad.Syscalls = append(bad.Syscalls, 4000)
	if _, err := Compute(&bad, Options{Sensitive: testSensitive}); err == nil || !strings.Contains(err.Error(), "syscall 4000 is not a syscall of x86_64") {
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
		for _, opt := range []Options{{}, {DefaultAction: ActErrno, Errno: 38, Entity: "net.Daemon"}, {Mode: ModeFull},
			{Sensitive: append(without(testSensitive, "close"), SensitiveRule{Syscall: "close", Action: ActKill})}} {
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
	p := mustCompute(t, netdSig(t, sysnum.X86_64), Options{})
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
		{"  - syscall: execve", "  - syscall: getpgrp", "rule for getpgrp, which is not in allowed"},
		{"  - syscall: execve", "  - syscall: openat", "openat has two rules"},
		{"op: any-set", "op: sometimes", `op "sometimes"`},
		{"entity: netd", "entity: net d", "not a PSL process class name"},
		{"rules:", "surprise: 1\nrules:", "field surprise not found"},
		{"    action: errno\n    errno: 38", "    action: errno\n    errno: 0", "errno 0 out of range"},
		{"    action: errno\n    errno: 38", "    action: allow", `action "allow"`},
		{"    action: notify", "    action: notify\n    errno: 4", "only meaningful with action errno"},
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
