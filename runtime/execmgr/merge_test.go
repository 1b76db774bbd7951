package execmgr

import (
	"syscall"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// auditLike is a filter like the audit config's (tools/policy/filter.Spec):
// an allowlist, default kill, a conditional notify rule, an errno rule.
func auditLike(t *testing.T, arch sysnum.Arch) *seccomp.Spec {
	t.Helper()
	tab := sysnum.For(arch)
	s := &seccomp.Spec{Arch: arch, Default: seccomp.KillProcess}
	add := func(name string, a seccomp.Action, conds ...seccomp.Cond) {
		r, err := seccomp.RuleFor(arch, name, a, conds...)
		if err != nil {
			t.Fatal(err)
		}
		s.Rules = append(s.Rules, r)
	}
	add("openat", seccomp.Notify, seccomp.Cond{Arg: 2, Op: seccomp.OpMaskedNe, Mask: 0x443, Low32: true})
	add("clone3", seccomp.Errno(syscall.ENOSYS))
	add("mprotect", seccomp.Notify, seccomp.Cond{Arg: 2, Op: seccomp.OpMaskedNe, Mask: 0x4, Low32: true})
	for _, n := range []string{"read", "write", "openat", "close", "mmap", "mprotect", "execve", "clone", "exit_group", "socket", "accept4", "getppid"} {
		if _, ok := tab.Nr(n); ok {
			add(n, seccomp.Allow)
		}
	}
	return s
}

func sensitiveFilter(t *testing.T, arch sysnum.Arch) *seccomp.Spec {
	t.Helper()
	rules, err := seccomp.ParseSensitive(arch, seccomp.DefaultSensitiveList)
	if err != nil {
		t.Fatal(err)
	}
	return &seccomp.Spec{Arch: arch, Default: seccomp.Allow, Rules: rules}
}

// argPatterns covers every condition of both filters: zero, each bit of
// each mask, the whole mask, all ones, and garbage in the upper half.
func argPatterns(specs ...*seccomp.Spec) [][6]uint64 {
	vals := map[uint64]bool{0: true, ^uint64(0): true, 0xffffffff00000000: true}
	for _, s := range specs {
		for _, r := range s.Rules {
			for _, c := range r.Conds {
				vals[c.Value] = true
				vals[c.Mask] = true
				vals[c.Mask|0xffffffff00000000] = true
				for b := uint64(1); b != 0 && b <= c.Mask; b <<= 1 {
					if c.Mask&b != 0 {
						vals[b] = true
					}
				}
				vals[c.Value+1] = true
			}
		}
	}
	var out [][6]uint64
	for v := range vals {
		for arg := 0; arg < 6; arg++ {
			var a [6]uint64
			a[arg] = v
			out = append(out, a)
		}
	}
	return out
}

func checkMerge(t *testing.T, a, b *seccomp.Spec) *seccomp.Spec {
	t.Helper()
	m, err := MergeFilters(a, b)
	if err != nil {
		t.Fatal(err)
	}
	pats := argPatterns(a, b)
	aa := a.Arch.AuditArch()
	for nr := int32(0); nr < 600; nr++ {
		for _, args := range pats {
			d := &seccomp.Data{Nr: nr, Arch: aa, Args: args}
			want := Stricter(a.Decide(d), b.Decide(d))
			if got := m.Decide(d); got != want {
				t.Fatalf("nr %d args %x: merged %v, want stricter(%v, %v) = %v", nr, args, got, a.Decide(d), b.Decide(d), want)
			}
		}
	}
	// The assembled program agrees too.
	prog, err := m.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	for nr := int32(0); nr < 600; nr += 7 {
		for _, args := range pats {
			d := &seccomp.Data{Nr: nr, Arch: aa, Args: args}
			got, err := prog.Run(d)
			if want := m.Decide(d); err != nil || got != want {
				t.Fatalf("nr %d: program %v (%v), spec %v", nr, got, err, want)
			}
		}
	}
	return m
}

func TestMergeFilters(t *testing.T) {
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		a, b := auditLike(t, arch), sensitiveFilter(t, arch)
		m := checkMerge(t, a, b)
		checkMerge(t, b, a)
		if m.Default != seccomp.KillProcess {
			t.Errorf("%s: merged default %v", arch, m.Default)
		}
		// What it means for the programs: a read-only open stays in the
		// kernel, a creating open is held for FlowChecker, an exec is held
		// (sensitive), a syscall outside the allowlist is killed.
		tab := sysnum.For(arch)
		nr := func(n string) int32 { v, _ := tab.Nr(n); return int32(v) }
		for _, c := range []struct {
			name string
			args [6]uint64
			want seccomp.Action
		}{
			{"openat", [6]uint64{0, 0, 0}, seccomp.Allow},
			{"openat", [6]uint64{0, 0, 0x41}, seccomp.Notify},
			{"execve", [6]uint64{}, seccomp.Notify},
			{"read", [6]uint64{}, seccomp.Allow},
			{"getpid", [6]uint64{}, seccomp.KillProcess},
			{"clone3", [6]uint64{}, seccomp.Errno(syscall.ENOSYS)},
		} {
			if got := m.Decide(&seccomp.Data{Nr: nr(c.name), Arch: arch.AuditArch(), Args: c.args}); got != c.want {
				t.Errorf("%s: %s%x -> %v, want %v", arch, c.name, c.args[:3], got, c.want)
			}
		}
	}
	if m, err := MergeFilters(nil, sensitiveFilter(t, sysnum.X86_64)); err != nil || m == nil {
		t.Fatal(err)
	}
	if _, err := MergeFilters(auditLike(t, sysnum.X86_64), sensitiveFilter(t, sysnum.AArch64)); err == nil {
		t.Fatal("merged filters of two architectures")
	}
}

func TestStricter(t *testing.T) {
	order := []seccomp.Action{seccomp.Allow, seccomp.Log, seccomp.Trace(1), seccomp.Notify, seccomp.Errno(1), seccomp.Trap, seccomp.KillThread, seccomp.KillProcess}
	for i, a := range order {
		for j, b := range order {
			want := a
			if j > i {
				want = b
			}
			if got := Stricter(a, b); got != want {
				t.Errorf("Stricter(%v, %v) = %v", a, b, got)
			}
		}
	}
}
