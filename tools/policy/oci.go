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
	Names    []string `json:"names"`
	Action   string   `json:"action"`
	ErrnoRet *uint    `json:"errnoRet,omitempty"`
	Args     []ociArg `json:"args,omitempty"`
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
// A condition (arg & M) != 0 cannot be one MASKED_EQ test, so a rule with
// an any-set condition becomes one allow rule (arg & M) == 0 plus one rule
// per bit b of M, (arg & b) == b, with the rule's action; a none-set
// condition the other way round. The rules of one syscall never overlap,
// so rule order and action precedence do not matter. Notify becomes
// SCMP_ACT_LOG without a listener.
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
	notifyAct := ociLog
	if opt.ListenerPath != "" {
		notifyAct = ociNotify
	}
	type act struct {
		name  string
		errno int
	}
	actOf := func(r Rule) act {
		switch r.Action {
		case ActNotify:
			return act{name: notifyAct}
		case ActErrno:
			return act{name: ociErrno, errno: r.Errno}
		case ActKill:
			return act{name: ociKillProcess}
		case ActLog:
			return act{name: ociLog}
		}
		return act{name: ociAllow}
	}
	type condKey struct {
		arg  int
		mask uint64
		op   CondOp
		act  act
	}
	var plain []string
	always := map[act][]string{}
	byCond := map[condKey][]string{}
	for _, nr := range p.Allowed {
		name := p.Name(nr)
		r, ok := p.RuleFor(nr)
		switch {
		case !ok || actOf(r).name == ociAllow:
			plain = append(plain, name)
		case r.Cond == nil:
			always[actOf(r)] = append(always[actOf(r)], name)
		default:
			k := condKey{r.Cond.Arg, r.Cond.Mask, r.Cond.Op, actOf(r)}
			byCond[k] = append(byCond[k], name)
		}
	}
	rule := func(names []string, a act, args ...ociArg) ociSyscall {
		sort.Strings(names)
		sc := ociSyscall{Names: names, Action: a.name, Args: args}
		if a.name == ociErrno {
			e := uint(a.errno)
			sc.ErrnoRet = &e
		}
		return sc
	}
	if len(plain) > 0 {
		prof.Syscalls = append(prof.Syscalls, rule(plain, act{name: ociAllow}))
	}
	var acts []act
	for a := range always {
		acts = append(acts, a)
	}
	sort.Slice(acts, func(i, j int) bool {
		return strings.Join(always[acts[i]], ",") < strings.Join(always[acts[j]], ",")
	})
	for _, a := range acts {
		prof.Syscalls = append(prof.Syscalls, rule(always[a], a))
	}
	var keys []condKey
	for k := range byCond {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return strings.Join(byCond[keys[i]], ",") < strings.Join(byCond[keys[j]], ",")
	})
	allow := act{name: ociAllow}
	for _, k := range keys {
		names := byCond[k]
		// whole: (arg & mask) == 0; split: (arg & bit) == bit for each bit.
		wholeAct, splitAct := allow, k.act
		if k.op == NoneSet {
			wholeAct, splitAct = k.act, allow
		}
		prof.Syscalls = append(prof.Syscalls, rule(append([]string(nil), names...), wholeAct, ociArg{Index: uint(k.arg), Value: k.mask, ValueTwo: 0, Op: ociMaskedEq}))
		for _, b := range bitsOf(k.mask) {
			prof.Syscalls = append(prof.Syscalls, rule(append([]string(nil), names...), splitAct, ociArg{Index: uint(k.arg), Value: b, ValueTwo: b, Op: ociMaskedEq}))
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "\t")
	return enc.Encode(prof)
}
