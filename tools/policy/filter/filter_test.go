package filter

import (
	"bytes"
	"sort"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/internal/testgraph"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"github.com/kcfm-linux/kcfm/tools/link"
	"github.com/kcfm-linux/kcfm/tools/policy"
)

type sums struct {
	by  map[string][]int
	all []int
}

func (s *sums) Lookup(fn string) ([]int, bool) { v, ok := s.by[fn]; return v, ok }
func (s *sums) All() []int                     { return s.all }
func (s *sums) Describe() string               { return "test libc summaries" }

// serverSig links a small server (threads, fork+exec, file writes,
// executable mappings) for arch.
func serverSig(t *testing.T, arch sysnum.Arch) *model.Signature {
	t.Helper()
	g := testgraph.MustBuild(t, `
worker: loop { ext recv; ext send }; ext close; ret
spawn: ext fork; ext execv; noret _exit
save: ext fopen; ext fwrite; ext fclose; ret
plugin: ext dlopen; ret
main: ext socket; ext bind; ext listen; loop { ext accept4; ext pthread_create }; call save; call plugin; call spawn
`)
	g.Callbacks = append(g.Callbacks, model.Callback{Registrar: "pthread_create", USR: "c:@F@worker", Linkage: "worker"})
	g.AddressTaken = append(g.AddressTaken, model.FuncRef{USR: "c:@F@worker", Linkage: "worker", Type: "void *(void *)"})
	tab := sysnum.For(arch)
	lib := map[string][]string{
		"recv": {"recvfrom"}, "send": {"sendto"}, "close": {"close"}, "fork": {"clone", "fork"}, "execv": {"execve"},
		"_exit": {"exit_group"}, "fopen": {"openat", "open", "brk"}, "fwrite": {"write"}, "fclose": {"close"},
		"dlopen": {"openat", "mmap", "mprotect", "munmap", "read"}, "socket": {"socket"}, "bind": {"bind"},
		"listen": {"listen"}, "accept4": {"accept4"}, "pthread_create": {"clone3", "clone", "mmap", "mprotect", "rt_sigprocmask"},
	}
	s := &sums{by: map[string][]int{}}
	all := map[int]bool{}
	for fn, names := range lib {
		s.by[fn] = []int{}
		for _, n := range names {
			if nr, ok := tab.Nr(n); ok {
				s.by[fn] = append(s.by[fn], nr)
				all[nr] = true
			}
		}
		sort.Ints(s.by[fn])
	}
	for nr := range all {
		s.all = append(s.all, nr)
	}
	sort.Ints(s.all)
	sig, _, err := link.Link([]*model.TUGraph{g}, nil, link.Options{Arch: arch, Program: "server", Summaries: s, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// argPatterns: zero, all ones, and each flag of interest alone.
func argPatterns() [][6]uint64 {
	out := [][6]uint64{{}, {^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}}
	for _, v := range []uint64{0x1, 0x2, 0x4, 0x40, 0x200, 0x400, 0x10000, 0x400000, 0x3d0f00, 0x1200011, 1 << 40} {
		for arg := 0; arg < 3; arg++ {
			var a [6]uint64
			a[arg] = v
			out = append(out, a)
		}
	}
	return out
}

func want(p *policy.Policy, nr int, args [6]uint64) seccomp.Action {
	a, e := p.Decide(nr, args)
	sa, err := ActionOf(a, e)
	if err != nil {
		panic(err)
	}
	return sa
}

// One truth: the policy computed with the runtime's sensitive set decides
// every syscall exactly like a filter made directly from the runtime's
// rules plus the signature's allowlist; and the launcher's Spec rendered
// from the policy (and its assembled program) agrees too.
func TestSpecAgreesWithPolicyAndRuntime(t *testing.T) {
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		t.Run(string(arch), func(t *testing.T) {
			sig := serverSig(t, arch)
			sens, err := Sensitive(arch, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := policy.Compute(sig, policy.Options{Sensitive: sens})
			if err != nil {
				t.Fatal(err)
			}
			spec, err := Spec(p)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := spec.Assemble()
			if err != nil {
				t.Fatal(err)
			}
			runtimeRules, err := seccomp.DefaultSensitive(arch)
			if err != nil {
				t.Fatal(err)
			}
			// The runtime's rules restricted to the allowlist (a sensitive
			// syscall the program never makes is refused like any other).
			direct := &seccomp.Spec{Arch: arch, Default: seccomp.KillProcess}
			for _, r := range runtimeRules {
				if p.IsAllowed(r.Nr) {
					direct.Rules = append(direct.Rules, r)
				}
			}
			for _, nr := range sig.Syscalls {
				direct.Rules = append(direct.Rules, seccomp.Rule{Nr: nr, Action: seccomp.Allow})
			}
			tab := sysnum.For(arch)
			for nr := 0; nr <= tab.Max()+4; nr++ {
				for _, args := range argPatterns() {
					d := &seccomp.Data{Nr: int32(nr), Arch: arch.AuditArch(), Args: args}
					w := want(p, nr, args)
					if got := spec.Decide(d); got != w {
						t.Fatalf("%s %x: Spec says %v, policy %v", tab.Name(nr), args, got, w)
					}
					if got := direct.Decide(d); got != w {
						t.Fatalf("%s %x: runtime rules say %v, policy %v", tab.Name(nr), args, got, w)
					}
					got, err := prog.Run(d)
					if err != nil {
						t.Fatal(err)
					}
					if got != w {
						t.Fatalf("%s %x: assembled filter says %v, policy %v", tab.Name(nr), args, got, w)
					}
				}
			}
			if !spec.Notifies() || p.Checked() == 0 {
				t.Error("the server's policy should notify")
			}
		})
	}
}

func TestSensitiveAddRemove(t *testing.T) {
	sens, err := Sensitive(sysnum.X86_64, []string{"read", "close=errno:EBADF", "openat"}, []string{"accept4", "execve"})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string][]policy.SensitiveRule{}
	for _, r := range sens {
		by[r.Syscall] = append(by[r.Syscall], r)
	}
	if len(by["accept4"]) != 0 || len(by["execve"]) != 0 {
		t.Error("removed syscalls still there")
	}
	if r := by["read"]; len(r) != 1 || r[0].Action != policy.ActNotify || r[0].Class != "added" {
		t.Errorf("read: %+v", r)
	}
	if r := by["close"]; len(r) != 1 || r[0].Action != policy.ActErrno || r[0].Errno != 9 {
		t.Errorf("close: %+v", r)
	}
	p, err := policy.Compute(serverSig(t, sysnum.X86_64), policy.Options{Sensitive: sens})
	if err != nil {
		t.Fatal(err)
	}
	// openat:write from the default and the added plain openat merge into
	// an unconditional check.
	if r, ok := p.RuleFor(257); !ok || r.Cond != nil || r.Action != policy.ActNotify {
		t.Errorf("openat rule %+v", r)
	}
	for _, c := range []struct {
		add, remove []string
		want        string
	}{
		{[]string{"nosuch"}, nil, `"nosuch" is not a system call`},
		{[]string{"read:write"}, nil, `condition "write" does not apply to read`},
		{[]string{"read=trap"}, nil, "has no counterpart"},
		{nil, []string{"nosuch"}, `remove: "nosuch"`},
	} {
		if _, err := Sensitive(sysnum.X86_64, c.add, c.remove); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("add %v remove %v: %v, want %q", c.add, c.remove, err, c.want)
		}
	}
}

func TestFromRulesRejectsWhatOutputsCannotSay(t *testing.T) {
	for _, r := range []seccomp.Rule{
		{Nr: 0, Name: "read", Action: seccomp.Notify, Conds: []seccomp.Cond{{Arg: 0, Op: seccomp.OpEq, Value: 3}}},
		{Nr: 0, Name: "read", Action: seccomp.Notify, Conds: []seccomp.Cond{{Arg: 0, Op: seccomp.OpMaskedNe, Mask: 1}, {Arg: 1, Op: seccomp.OpMaskedNe, Mask: 1}}},
		{Nr: 0, Name: "read", Action: seccomp.Trace(1)},
		{Nr: 0, Action: seccomp.Notify},
	} {
		if _, err := FromRules([]seccomp.Rule{r}); err == nil {
			t.Errorf("%v accepted", r)
		}
	}
}

// The audit config written by `kcfm policy --klog` gives back the policy,
// hence the same Spec: the launcher can build its filter from that file.
func TestSpecFromAuditConfig(t *testing.T) {
	sig := serverSig(t, sysnum.X86_64)
	sens, err := Sensitive(sysnum.X86_64, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compute(sig, policy.Options{Sensitive: sens, DefaultAction: policy.ActErrno})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := policy.WriteAudit(&b, p); err != nil {
		t.Fatal(err)
	}
	q, err := policy.ParseAudit("server.audit.yaml", b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	s1, err := Spec(p)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Spec(q)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Default != seccomp.Errno(1) || len(s1.Rules) != len(s2.Rules) {
		t.Fatalf("specs differ: %v %d/%d rules", s1.Default, len(s1.Rules), len(s2.Rules))
	}
	for i := range s1.Rules {
		if s1.Rules[i].String() != s2.Rules[i].String() {
			t.Fatalf("rule %d: %v vs %v", i, s1.Rules[i], s2.Rules[i])
		}
	}
}
