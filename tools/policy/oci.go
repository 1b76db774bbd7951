package policy

import (
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// OCI seccomp profile: the `linux.seccomp` object of the OCI runtime spec,
// which is also the file `docker run --security-opt seccomp=FILE` and
// `podman run --security-opt seccomp=FILE` take. Own types: the runtime-spec
// module is only used by the tests that decode what we write.

type ociProfile struct {
	DefaultAction   string       `json:"defaultAction"`
	DefaultErrnoRet *uint        `json:"defaultErrnoRet,omitempty"`
	Architectures   []string     `json:"architectures"`
	ListenerPath    string       `json:"listenerPath,omitempty"`
	Syscalls        []ociSyscall `json:"syscalls"`
}

type ociSyscall struct {
	Names  []string `json:"names"`
	Action string   `json:"action"`
	Args   []ociArg `json:"args,omitempty"`
}

type ociArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo"`
	Op       string `json:"op"`
}

// OCI action and operator spellings (runtime-spec config-linux.md).
const (
	ociAllow       = "SCMP_ACT_ALLOW"
	ociNotify      = "SCMP_ACT_NOTIFY"
	ociLog         = "SCMP_ACT_LOG"
	ociKillProcess = "SCMP_ACT_KILL_PROCESS"
	ociErrno       = "SCMP_ACT_ERRNO"
	ociMaskedEq    = "SCMP_CMP_MASKED_EQ"
)

// OCIArch returns the SCMP_ARCH_* name of an architecture.
func OCIArch(a sysnum.Arch) (string, error) {
	switch a {
	case sysnum.X86_64:
		return "SCMP_ARCH_X86_64", nil
	case sysnum.AArch64:
		return "SCMP_ARCH_AARCH64", nil
	}
	return "", fmt.Errorf("no OCI seccomp architecture for %q", a)
}

// OCIOptions control the OCI profile.
type OCIOptions struct {
	// ListenerPath, when set, makes the checked syscalls SCMP_ACT_NOTIFY
	// with this listenerPath (runc hands the notification fd to the agent
	// listening there, e.g. FlowMonitor). Without it they are SCMP_ACT_LOG:
	// allowed and recorded by the kernel's audit log, since Docker and a
	// plain runtime have no agent to ask.
	ListenerPath string
}

// bitsOf splits a mask into its single bits, lowest first.
func bitsOf(m uint64) []uint64 {
	var out []uint64
	for m != 0 {
		b := uint64(1) << bits.TrailingZeros64(m)
		out = append(out, b)
		m &^= b
	}
	return out
}

// WriteOCI writes the OCI/Docker seccomp profile of the policy.
//
// A condition (arg & M) != 0 cannot be one MASKED_EQ test, so a checked
// syscall with an any-set condition becomes one allow rule
// (arg & M) == 0 plus one notify rule per bit b of M, (arg & b) == b; a
// none-set condition the other way round. The rules of one syscall never
// overlap, so rule order and action precedence do not matter.
func WriteOCI(w io.Writer, p *Policy, opt OCIOptions) error {
	arch, err := OCIArch(p.Arch)
	if err != nil {
		return err
	}
	prof := ociProfile{Architectures: []string{arch}, ListenerPath: opt.ListenerPath}
	switch p.DefaultAction {
	case ActKill:
		prof.DefaultAction = ociKillProcess
	case ActErrno:
		prof.DefaultAction = ociErrno
		e := uint(p.Errno)
		prof.DefaultErrnoRet = &e
	default:
		return fmt.Errorf("default action %q has no OCI form", p.DefaultAction)
	}
	checkedAct := ociLog
	if opt.ListenerPath != "" {
		checkedAct = ociNotify
	}
	var plain, always []string
	type condKey struct {
		arg  int
		mask uint64
		op   CondOp
	}
	byCond := map[condKey][]string{}
	for _, nr := range p.Allowed {
		name := p.Name(nr)
		r, ok := p.CheckedRule(nr)
		switch {
		case !ok:
			plain = append(plain, name)
		case r.Cond == nil:
			always = append(always, name)
		default:
			k := condKey{r.Cond.Arg, r.Cond.Mask, r.Cond.Op}
			byCond[k] = append(byCond[k], name)
		}
	}
	sort.Strings(plain)
	sort.Strings(always)
	if len(plain) > 0 {
		prof.Syscalls = append(prof.Syscalls, ociSyscall{Names: plain, Action: ociAllow})
	}
	if len(always) > 0 {
		prof.Syscalls = append(prof.Syscalls, ociSyscall{Names: always, Action: checkedAct})
	}
	var keys []condKey
	for k := range byCond {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return strings.Join(byCond[keys[i]], ",") < strings.Join(byCond[keys[j]], ",")
	})
	for _, k := range keys {
		names := byCond[k]
		sort.Strings(names)
		whole := ociSyscall{Names: names, Args: []ociArg{{Index: uint(k.arg), Value: k.mask, ValueTwo: 0, Op: ociMaskedEq}}}
		split := ociAllow
		if k.op == AnySet {
			whole.Action = ociAllow
			split = checkedAct
		} else {
			whole.Action = checkedAct
		}
		prof.Syscalls = append(prof.Syscalls, whole)
		for _, b := range bitsOf(k.mask) {
			prof.Syscalls = append(prof.Syscalls, ociSyscall{Names: names, Action: split,
				Args: []ociArg{{Index: uint(k.arg), Value: b, ValueTwo: b, Op: ociMaskedEq}}})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "\t")
	return enc.Encode(prof)
}
