// Package filter joins the policy description (tools/policy) and the kernel
// filter FlowMonitor's launcher installs (runtime/seccomp), so that there is
// one truth: the sensitive set is the runtime's (seccomp.DefaultSensitiveList
// with the FlowMonitor config's additions and removals), and the launcher's
// seccomp.Spec is rendered from the same policy.Policy as the OCI profile,
// the systemd drop-in and the audit config.
package filter

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"github.com/kcfm-linux/kcfm/tools/policy"
)

// classes name the groups of the default sensitive set for the report
// (runtime/seccomp DefaultSensitiveList's comments); display only.
var classes = map[string][2]string{}

func init() {
	for _, g := range []struct {
		class, reason string
		names         string
	}{
		{"exec", "runs a new program or makes a process", "execve execveat fork vfork clone clone3"},
		{"network", "opens or accepts a network endpoint", "socket connect bind listen accept accept4"},
		{"file-write", "writes, creates or renames files", "open openat openat2 creat unlink unlinkat rename renameat renameat2 rmdir mkdir mkdirat link linkat symlink symlinkat mknod mknodat truncate"},
		{"exec-memory", "maps or makes memory executable", "mmap mprotect pkey_mprotect"},
		{"other-process", "reads, writes or signals another process", "ptrace process_vm_readv process_vm_writev kill tkill tgkill pidfd_send_signal rt_sigqueueinfo rt_tgsigqueueinfo"},
		{"privilege", "changes credentials or permissions", "setuid setgid setreuid setregid setresuid setresgid setfsuid setfsgid setgroups capset chmod fchmod fchmodat chown fchown lchown fchownat"},
		{"system", "changes mounts, name spaces or the kernel", "mount umount2 pivot_root chroot move_mount fsopen fsmount fsconfig open_tree mount_setattr setns unshare init_module finit_module delete_module kexec_load kexec_file_load reboot bpf"},
	} {
		for _, n := range strings.Fields(g.names) {
			classes[n] = [2]string{g.class, g.reason}
		}
	}
}

// Entries is the runtime's default sensitive list with additions
// ("name[:cond][=action]", seccomp.ParseSensitive syntax) and removals
// (syscall names: every entry of that name goes), as FlowMonitor applies a
// config's sensitive.add/remove.
func Entries(add, remove []string) ([]string, error) {
	drop := map[string]bool{}
	for _, name := range remove {
		name = strings.TrimSpace(name)
		if !known(name) {
			return nil, fmt.Errorf("sensitive remove: %q is not a system call of x86_64 or aarch64", name)
		}
		drop[name] = true
	}
	var out []string
	for _, e := range append(append([]string(nil), seccomp.DefaultSensitiveList...), add...) {
		name := e
		if i := strings.IndexAny(name, ":="); i >= 0 {
			name = name[:i]
		}
		if !drop[strings.TrimSpace(name)] {
			out = append(out, e)
		}
	}
	return out, nil
}

func known(name string) bool {
	for _, a := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		if _, ok := sysnum.For(a).Nr(name); ok {
			return true
		}
	}
	return false
}

// Sensitive returns the sensitive set for arch as policy rules: the
// runtime's default with the additions and removals (see Entries).
func Sensitive(arch sysnum.Arch, add, remove []string) ([]policy.SensitiveRule, error) {
	entries, err := Entries(add, remove)
	if err != nil {
		return nil, err
	}
	rules, err := seccomp.ParseSensitive(arch, entries)
	if err != nil {
		return nil, err
	}
	added := map[string]bool{}
	for _, e := range add {
		n := e
		if i := strings.IndexAny(n, ":="); i >= 0 {
			n = n[:i]
		}
		added[strings.TrimSpace(n)] = true
	}
	out, err := FromRules(rules)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if added[out[i].Syscall] && out[i].Class == "sensitive" {
			out[i].Class, out[i].Reason = "added", "added to the sensitive set by configuration"
		}
	}
	return out, nil
}

// FromRules converts runtime rules into policy rules. Only what every
// output can express is accepted: at most one condition, of the forms
// (arg & mask) != 0 and (arg & mask) == 0 on the low 32 bits, and the
// actions notify, errno, kill-process, log and allow.
func FromRules(rules []seccomp.Rule) ([]policy.SensitiveRule, error) {
	var out []policy.SensitiveRule
	for _, r := range rules {
		sr := policy.SensitiveRule{Syscall: r.Name, Class: "sensitive", Reason: "in the runtime's sensitive set"}
		if c, ok := classes[r.Name]; ok {
			sr.Class, sr.Reason = c[0], c[1]
		}
		if sr.Syscall == "" {
			return nil, fmt.Errorf("rule %v has no syscall name", r)
		}
		switch k := r.Action.Kind(); k {
		case seccomp.Notify:
			sr.Action = policy.ActNotify
		case seccomp.Allow:
			sr.Action = policy.ActAllow
		case seccomp.KillProcess:
			sr.Action = policy.ActKill
		case seccomp.Log:
			sr.Action = policy.ActLog
		case seccomp.Errno(0):
			sr.Action, sr.Errno = policy.ActErrno, int(r.Action.Data())
		default:
			return nil, fmt.Errorf("rule %v: action %v has no counterpart in the OCI profile and systemd (use notify, errno, kill-process, log or allow)", r, r.Action)
		}
		switch len(r.Conds) {
		case 0:
		case 1:
			c := r.Conds[0]
			if c.Value != 0 || c.Mask == 0 || c.Mask>>32 != 0 || (c.Op != seccomp.OpMaskedNe && c.Op != seccomp.OpMaskedEq) {
				return nil, fmt.Errorf("rule %v: only the conditions arg&mask != 0 and arg&mask == 0 (32-bit mask) can be expressed in every output", r)
			}
			op := policy.AnySet
			if c.Op == seccomp.OpMaskedEq {
				op = policy.NoneSet
			}
			sr.Cond = &policy.ArgCond{Arg: c.Arg, Mask: c.Mask, Op: op}
		default:
			return nil, fmt.Errorf("rule %v: more than one condition cannot be expressed in every output", r)
		}
		out = append(out, sr)
	}
	return out, nil
}

// ActionOf is the runtime action of a policy action.
func ActionOf(a policy.Action, errno int) (seccomp.Action, error) {
	switch a {
	case policy.ActAllow:
		return seccomp.Allow, nil
	case policy.ActNotify:
		return seccomp.Notify, nil
	case policy.ActKill:
		return seccomp.KillProcess, nil
	case policy.ActLog:
		return seccomp.Log, nil
	case policy.ActErrno:
		if errno < 1 || errno > 0xffff {
			return 0, fmt.Errorf("errno %d out of range", errno)
		}
		return seccomp.Errno(syscall.Errno(errno)), nil
	}
	return 0, fmt.Errorf("unknown policy action %q", a)
}

// Spec renders the policy as the launcher's filter: the rules first (a
// conditional rule falls through to the next rule of its syscall), then
// one allow rule per syscall of the allowlist, and the default action for
// everything else. Spec.Decide agrees with Policy.Decide on every call.
func Spec(p *policy.Policy) (*seccomp.Spec, error) {
	def, err := ActionOf(p.DefaultAction, p.Errno)
	if err != nil {
		return nil, err
	}
	s := &seccomp.Spec{Arch: p.Arch, Default: def}
	for _, r := range p.Rules {
		a, err := ActionOf(r.Action, r.Errno)
		if err != nil {
			return nil, fmt.Errorf("rule for %s: %v", r.Syscall, err)
		}
		sr := seccomp.Rule{Nr: r.Nr, Action: a, Name: r.Syscall}
		if r.Cond != nil {
			c := seccomp.Cond{Arg: r.Cond.Arg, Op: seccomp.OpMaskedNe, Mask: r.Cond.Mask, Low32: true}
			if r.Cond.Op == policy.NoneSet {
				c.Op = seccomp.OpMaskedEq
			}
			sr.Conds = []seccomp.Cond{c}
		}
		s.Rules = append(s.Rules, sr)
	}
	for _, nr := range p.Allowed {
		s.Rules = append(s.Rules, seccomp.Rule{Nr: nr, Action: seccomp.Allow, Name: p.Name(nr)})
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}
