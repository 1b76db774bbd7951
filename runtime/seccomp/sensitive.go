package seccomp

import (
	"fmt"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// Flag values used by the sensitive-set conditions. They are the same on
// x86_64 and aarch64 (asm-generic/fcntl.h, mman-common.h, sched.h).
const (
	oWronly    = 0x1
	oRdwr      = 0x2
	oCreat     = 0x40
	oTrunc     = 0x200
	oAppend    = 0x400
	oTmpfile   = 0x400000 // __O_TMPFILE
	protExec   = 0x4
	cloneThrd  = 0x10000
	openWrites = oWronly | oRdwr | oCreat | oTrunc | oAppend | oTmpfile
)

// Conditions a sensitive-set entry can carry ("name:cond").
//
//	write     open/openat: flags & (O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND|O_TMPFILE) != 0
//	          (creat and openat2 are always sensitive: creat always writes, openat2 keeps its
//	          flags in memory the filter cannot read)
//	exec      mmap/mprotect/pkey_mprotect: prot & PROT_EXEC != 0
//	nothread  clone: flags & CLONE_THREAD == 0 (a new process, not a thread)
var condArg = map[string]map[string]int{
	"write":    {"open": 1, "openat": 2},
	"exec":     {"mmap": 2, "mprotect": 2, "pkey_mprotect": 2},
	"nothread": {"clone": 0},
}

var alwaysFor = map[string]map[string]bool{
	"write": {"creat": true, "openat2": true},
}

// DefaultSensitiveList is the documented default sensitive set, in the
// syntax ParseSensitive accepts. clone3 keeps its flags in memory, so the
// filter cannot tell a thread from a process: it fails with ENOSYS, which
// makes glibc and musl fall back to clone, whose flags the filter reads.
var DefaultSensitiveList = []string{
	// program execution and new processes
	"execve", "execveat", "fork", "vfork", "clone:nothread", "clone3=errno:ENOSYS",
	// network
	"socket", "connect", "bind", "listen", "accept", "accept4",
	// files opened for writing, and changes to the file system name space
	"open:write", "openat:write", "openat2", "creat",
	"unlink", "unlinkat", "rename", "renameat", "renameat2", "rmdir", "mkdir", "mkdirat",
	"link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "truncate",
	// executable memory
	"mmap:exec", "mprotect:exec", "pkey_mprotect:exec",
	// other processes
	"ptrace", "process_vm_readv", "process_vm_writev",
	"kill", "tkill", "tgkill", "pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
	// credentials and permissions
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
	"setgroups", "capset",
	"chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat",
	// mounts, name spaces, kernel
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "fsopen", "fsmount", "fsconfig",
	"open_tree", "mount_setattr", "setns", "unshare",
	"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "bpf",
}

// DefaultSensitive returns the rules of DefaultSensitiveList for arch:
// Notify rules (conditional where the entry has a condition) and the clone3
// ENOSYS rule. Entries the architecture does not have (open, fork … on
// aarch64) are left out. Put these rules before the allow rules of a Spec:
// a conditional Notify rule falls through to the next rule of the same nr.
func DefaultSensitive(arch sysnum.Arch) ([]Rule, error) {
	return ParseSensitive(arch, DefaultSensitiveList)
}

// ParseSensitive builds rules from entries of the form
// "name[:cond][=action]": name is a system call, cond one of write, exec,
// nothread (see condArg), action anything ParseAction accepts (default
// notify). A name no supported architecture knows is an error; a name only
// the other architecture has is skipped.
func ParseSensitive(arch sysnum.Arch, entries []string) ([]Rule, error) {
	tab := sysnum.For(arch)
	if tab == nil {
		return nil, fmt.Errorf("sensitive set: unsupported architecture %q", arch)
	}
	var rules []Rule
	for _, e := range entries {
		spec, actStr, hasAct := strings.Cut(strings.TrimSpace(e), "=")
		act := Notify
		if hasAct {
			a, err := ParseAction(actStr)
			if err != nil {
				return nil, fmt.Errorf("sensitive set entry %q: %v", e, err)
			}
			act = a
		}
		name, cond, hasCond := strings.Cut(spec, ":")
		if name == "" {
			return nil, fmt.Errorf("sensitive set entry %q: empty system call name", e)
		}
		known := false
		for _, a := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
			if _, ok := sysnum.For(a).Nr(name); ok {
				known = true
			}
		}
		if !known {
			return nil, fmt.Errorf("sensitive set entry %q: %q is not a system call of %s or %s", e, name, sysnum.X86_64, sysnum.AArch64)
		}
		var conds []Cond
		if hasCond {
			args, ok := condArg[cond]
			if !ok {
				return nil, fmt.Errorf("sensitive set entry %q: unknown condition %q (expected write, exec or nothread)", e, cond)
			}
			if i, ok := args[name]; ok {
				switch cond {
				case "write":
					conds = []Cond{{Arg: i, Op: OpMaskedNe, Mask: openWrites, Low32: true}}
				case "exec":
					conds = []Cond{{Arg: i, Op: OpMaskedNe, Mask: protExec, Low32: true}}
				case "nothread":
					conds = []Cond{{Arg: i, Op: OpMaskedEq, Mask: cloneThrd, Value: 0, Low32: true}}
				}
			} else if !alwaysFor[cond][name] {
				return nil, fmt.Errorf("sensitive set entry %q: condition %q does not apply to %s", e, cond, name)
			}
		}
		nr, ok := tab.Nr(name)
		if !ok {
			continue // only the other architecture has it
		}
		rules = append(rules, Rule{Nr: nr, Action: act, Conds: conds, Name: name})
	}
	return rules, nil
}
