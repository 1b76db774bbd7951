// Package policy turns a program's signature into the policies that confine
// it (`kcfm policy`, DESIGN §1): a KasperskyOS PSL fragment with its audit
// profile, the audit config FlowMonitor's event source reads, an OCI/Docker
// seccomp profile, a systemd drop-in and a human report.
//
// Everything is derived from one neutral description, Policy (Compute): the
// static allowlist (every syscall the signature can make), the syscalls
// FlowChecker checks by seccomp user notification (with the register
// conditions that keep per-request calls in the kernel) and the default
// action for the rest. The writers only render it, and Policy.Action is the
// executable meaning every rendering must agree with (the tests compile the
// OCI profile to a kernel filter and compare it with Action).
package policy

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// Action is what the filter does with a syscall.
type Action string

// Actions.
const (
	// ActAllow runs the syscall without asking anyone.
	ActAllow Action = "allow"
	// ActNotify stops the syscall until FlowChecker has checked it against
	// the model (seccomp user notification).
	ActNotify Action = "notify"
	// ActKill kills the whole process (SECCOMP_RET_KILL_PROCESS).
	ActKill Action = "kill-process"
	// ActErrno fails the syscall with an errno.
	ActErrno Action = "errno"
	// ActLog runs the syscall and records it in the kernel's audit log.
	ActLog Action = "log"
)

// Modes (as in the FlowMonitor config).
const (
	ModeDefault = "default" // only the sensitive syscalls are checked
	ModeFull    = "full"    // every allowed syscall is checked
)

// CondOp is the test of an argument condition.
type CondOp string

// Condition tests.
const (
	AnySet  CondOp = "any-set"  // (arg & Mask) != 0
	NoneSet CondOp = "none-set" // (arg & Mask) == 0
)

// ArgCond restricts a rule to calls whose register argument Arg (0-5)
// passes the test. Only register values are inspected (seccomp cannot
// dereference pointers), and only their low 32 bits: the mask must fit in
// them, since flag arguments are ints whose upper register half the caller
// controls.
type ArgCond struct {
	Arg  int    `json:"arg" yaml:"arg"`
	Mask uint64 `json:"mask" yaml:"mask"`
	Op   CondOp `json:"op" yaml:"op"`
}

// Matches evaluates the condition on an argument value.
func (c ArgCond) Matches(v uint64) bool {
	if c.Op == AnySet {
		return v&c.Mask != 0
	}
	return v&c.Mask == 0
}

func (c ArgCond) validate() error {
	if c.Arg < 0 || c.Arg > 5 {
		return fmt.Errorf("argument index %d out of range 0..5", c.Arg)
	}
	if c.Mask == 0 {
		return fmt.Errorf("mask is 0 (the condition would be constant)")
	}
	if c.Mask>>32 != 0 {
		return fmt.Errorf("mask %#x is wider than 32 bits (flag arguments are read as int: only their low half is compared)", c.Mask)
	}
	if c.Op != AnySet && c.Op != NoneSet {
		return fmt.Errorf("op %q (expected %q or %q)", c.Op, AnySet, NoneSet)
	}
	return nil
}

// String renders the condition like "arg2 & 0x243 != 0".
func (c ArgCond) String() string {
	op := "!="
	if c.Op == NoneSet {
		op = "=="
	}
	return fmt.Sprintf("arg%d & %#x %s 0", c.Arg, c.Mask, op)
}

// Rule gives a syscall of the allowlist another action than allow:
// ActNotify (FlowChecker checks it), ActErrno (refused with Errno, e.g.
// clone3 with ENOSYS so that libc falls back to clone, whose flags the
// filter can read), ActKill or ActLog. With a Cond, the rule applies only
// when the condition holds, and the syscall is allowed otherwise.
type Rule struct {
	Syscall string
	Nr      int
	Cond    *ArgCond
	Action  Action
	Errno   int // ActErrno only
	Class   string
	Reason  string
}

// SensitiveRule is one entry of a sensitive set, before it is applied to a
// signature: a syscall name (of any architecture; names the target lacks
// are skipped), an optional condition and the action (ActNotify when
// empty).
type SensitiveRule struct {
	Syscall string
	Cond    *ArgCond
	Action  Action
	Errno   int
	Class   string
	Reason  string
}

// Policy is the neutral policy description every output is rendered from.
type Policy struct {
	Arch          sysnum.Arch
	Program       string
	Libc          string
	Entity        string // PSL process class of the program
	Mode          string
	DefaultAction Action // ActKill or ActErrno
	Errno         int    // errno of ActErrno
	// Allowed is the static allowlist (sorted): every syscall the program
	// can make, start-up included.
	Allowed []int
	// Startup are the syscalls of the dynamic loader and libc start-up and
	// exit (sorted).
	Startup []int
	// Rules are the syscalls of Allowed with another action (at most one
	// per syscall), sorted by number.
	Rules []Rule
	// Warnings about the inputs.
	Warnings []string
}

// Options control Compute.
type Options struct {
	// Arch must match the signature's architecture when set (x86_64,
	// aarch64 and their aliases).
	Arch string
	// Entity is the PSL process class of the program (default: derived
	// from the program's file name).
	Entity string
	// Mode is ModeDefault (default) or ModeFull.
	Mode string
	// DefaultAction for syscalls outside the allowlist: ActKill (default)
	// or ActErrno.
	DefaultAction Action
	// Errno for ActErrno (default 1, EPERM).
	Errno int
	// Sensitive is the sensitive set of the default mode, in order: the
	// first rule of a syscall wins where rules of the same action cannot be
	// merged. It comes from the runtime's filter package
	// (tools/policy/filter.Sensitive), so that the launcher's filter and
	// these outputs share one definition. Required in the default mode.
	Sensitive []SensitiveRule
}

// EPERM is the default errno of ActErrno.
const EPERM = 1

// ArchOf resolves a signature's architecture.
func ArchOf(sig *model.Signature, override string) (sysnum.Arch, *sysnum.Table, error) {
	var a sysnum.Arch
	if sig.Arch != "" {
		sa, err := sysnum.ParseArch(sig.Arch)
		if err != nil {
			return "", nil, fmt.Errorf("signature of %s: %v", sig.Program, err)
		}
		a = sa
	}
	if override != "" {
		oa, err := sysnum.ParseArch(override)
		if err != nil {
			return "", nil, err
		}
		if a != "" && oa != a {
			return "", nil, fmt.Errorf("--arch %s, but the signature of %s is for %s (a signature's syscall numbers belong to one architecture; link one per target)", oa, sig.Program, a)
		}
		a = oa
	}
	if a == "" {
		return "", nil, fmt.Errorf("the signature of %s names no architecture; pass --arch x86_64 or --arch aarch64", sig.Program)
	}
	return a, sysnum.For(a), nil
}

// EntityName derives a PSL class name from a program path
// ("build/kcfm-hello" → "kcfm_hello").
func EntityName(program string) string {
	b := filepath.Base(program)
	if b == "." || b == "/" {
		return "program"
	}
	if i := strings.IndexByte(b, '.'); i > 0 {
		b = b[:i]
	}
	var sb strings.Builder
	for i, r := range b {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			sb.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				sb.WriteByte('_')
			}
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	if sb.Len() == 0 {
		return "program"
	}
	return sb.String()
}

// ValidEntity reports whether s is a PSL process class name (dotted
// identifiers, e.g. hello.Hello).
func ValidEntity(s string) bool { return qnameRE.MatchString(s) }

// Compute derives the policy description from a signature.
func Compute(sig *model.Signature, opt Options) (*Policy, error) {
	if sig == nil {
		return nil, fmt.Errorf("no signature")
	}
	arch, t, err := ArchOf(sig, opt.Arch)
	if err != nil {
		return nil, err
	}
	p := &Policy{Arch: arch, Program: sig.Program, Libc: sig.Libc, Mode: opt.Mode, DefaultAction: opt.DefaultAction, Errno: opt.Errno}
	switch p.Mode {
	case "":
		p.Mode = ModeDefault
	case ModeDefault, ModeFull:
	default:
		return nil, fmt.Errorf("mode %q (expected %q or %q)", p.Mode, ModeDefault, ModeFull)
	}
	switch p.DefaultAction {
	case "":
		p.DefaultAction = ActKill
	case ActKill, ActErrno:
	default:
		return nil, fmt.Errorf("default action %q (expected %q or %q)", p.DefaultAction, ActKill, ActErrno)
	}
	if p.DefaultAction == ActErrno {
		if p.Errno == 0 {
			p.Errno = EPERM
		}
		if p.Errno < 1 || p.Errno > 4095 {
			return nil, fmt.Errorf("errno %d out of range 1..4095", p.Errno)
		}
	} else {
		p.Errno = 0
	}
	p.Entity = opt.Entity
	if p.Entity == "" {
		p.Entity = EntityName(sig.Program)
	}
	if !ValidEntity(p.Entity) {
		return nil, fmt.Errorf("entity %q is not a PSL process class name (dotted identifiers, like kcfm_hello or hello.Hello)", p.Entity)
	}
	for _, lst := range []struct {
		what string
		in   []int
		out  *[]int
	}{{"syscall", sig.Syscalls, &p.Allowed}, {"start-up syscall", sig.StartupSyscalls, &p.Startup}} {
		seen := map[int]bool{}
		for _, nr := range lst.in {
			if t.Name(nr) == "" {
				return nil, fmt.Errorf("the signature's %s %d is not a syscall of %s (signature linked for another kernel?)", lst.what, nr, arch)
			}
			if !seen[nr] {
				seen[nr] = true
				*lst.out = append(*lst.out, nr)
			}
		}
		sort.Ints(*lst.out)
	}
	allowed := map[int]bool{}
	for _, nr := range p.Allowed {
		allowed[nr] = true
	}
	for _, nr := range p.Startup {
		if !allowed[nr] {
			return nil, fmt.Errorf("start-up syscall %s is not in the signature's allowlist (invalid signature)", t.Name(nr))
		}
	}

	rules := map[int]*Rule{}
	if p.Mode == ModeFull {
		for _, nr := range p.Allowed {
			rules[nr] = &Rule{Syscall: t.Name(nr), Nr: nr, Action: ActNotify, Class: "full", Reason: "full mode: every syscall is checked"}
		}
	} else {
		if opt.Sensitive == nil {
			return nil, fmt.Errorf("no sensitive set given for the default mode (tools/policy/filter.Sensitive gives the runtime's)")
		}
		for _, sr := range opt.Sensitive {
			if !knownSyscall(sr.Syscall) {
				return nil, fmt.Errorf("sensitive set: %q is not a syscall of x86_64 or aarch64", sr.Syscall)
			}
			nr, ok := t.Nr(sr.Syscall)
			if !ok || !allowed[nr] {
				continue // not on this arch, or the program never makes it: refused anyway
			}
			r := Rule{Syscall: t.Name(nr), Nr: nr, Action: sr.Action, Errno: sr.Errno, Class: sr.Class, Reason: sr.Reason}
			if r.Action == "" {
				r.Action = ActNotify
			}
			switch r.Action {
			case ActNotify, ActKill, ActLog, ActAllow:
				r.Errno = 0
			case ActErrno:
				if r.Errno < 1 || r.Errno > 4095 {
					return nil, fmt.Errorf("sensitive rule for %s: errno %d out of range 1..4095", sr.Syscall, r.Errno)
				}
			default:
				return nil, fmt.Errorf("sensitive rule for %s: action %q (expected notify, errno, kill-process, log or allow)", sr.Syscall, r.Action)
			}
			if sr.Cond != nil {
				c := *sr.Cond
				if err := c.validate(); err != nil {
					return nil, fmt.Errorf("sensitive rule for %s: %v", sr.Syscall, err)
				}
				r.Cond = &c
			}
			prev := rules[nr]
			if prev == nil {
				rules[nr] = &r
				continue
			}
			merged, err := mergeRules(*prev, r)
			if err != nil {
				return nil, err
			}
			rules[nr] = &merged
		}
	}
	for _, r := range rules {
		if r.Action == ActAllow {
			continue // the syscall is allowed anyway
		}
		p.Rules = append(p.Rules, *r)
	}
	sort.Slice(p.Rules, func(i, j int) bool { return p.Rules[i].Nr < p.Rules[j].Nr })
	return p, nil
}

// Table returns the syscall table of the policy's architecture.
func (p *Policy) Table() *sysnum.Table { return sysnum.For(p.Arch) }

// Name returns the name of syscall nr on the policy's architecture.
func (p *Policy) Name(nr int) string {
	if t := p.Table(); t != nil {
		if n := t.Name(nr); n != "" {
			return n
		}
	}
	return strconv.Itoa(nr)
}

// AllowedNames returns the allowlist as sorted names.
func (p *Policy) AllowedNames() []string {
	out := make([]string, 0, len(p.Allowed))
	for _, nr := range p.Allowed {
		out = append(out, p.Name(nr))
	}
	sort.Strings(out)
	return out
}

// IsAllowed tells whether nr is in the allowlist.
func (p *Policy) IsAllowed(nr int) bool {
	i := sort.SearchInts(p.Allowed, nr)
	return i < len(p.Allowed) && p.Allowed[i] == nr
}

// mergeRules combines two rules of one syscall with the same action (a
// rule added to the default set): an unconditional rule absorbs a
// conditional one, any-set conditions on one argument join their masks.
// Anything else would need ordered rules, which the OCI profile and systemd
// cannot express.
func mergeRules(a, b Rule) (Rule, error) {
	if a.Action != b.Action || a.Errno != b.Errno {
		if a.Cond == nil {
			return a, nil // the first unconditional rule wins, as in the filter
		}
		return Rule{}, fmt.Errorf("sensitive set: %s has rules with different actions (%s, %s) that overlap; give one rule per syscall", a.Syscall, a.Action, b.Action)
	}
	switch {
	case a.Cond == nil:
		return a, nil
	case b.Cond == nil:
		return b, nil
	case *a.Cond == *b.Cond:
		return a, nil
	case a.Cond.Arg == b.Cond.Arg && a.Cond.Op == AnySet && b.Cond.Op == AnySet:
		c := *a.Cond
		c.Mask |= b.Cond.Mask
		a.Cond = &c
		return a, nil
	}
	return Rule{}, fmt.Errorf("sensitive set: the conditions %v and %v of %s cannot be merged into one", a.Cond, b.Cond, a.Syscall)
}

// RuleFor returns the rule of nr, if it has one.
func (p *Policy) RuleFor(nr int) (Rule, bool) {
	i := sort.Search(len(p.Rules), func(i int) bool { return p.Rules[i].Nr >= nr })
	if i < len(p.Rules) && p.Rules[i].Nr == nr {
		return p.Rules[i], true
	}
	return Rule{}, false
}

// Checked counts the syscalls FlowChecker checks (ActNotify rules).
func (p *Policy) Checked() int {
	n := 0
	for _, r := range p.Rules {
		if r.Action == ActNotify {
			n++
		}
	}
	return n
}

// Decide is the meaning of the policy: what happens to syscall nr with
// register arguments args, and the errno of an ActErrno answer. Every
// rendering (OCI profile, systemd filter, the launcher's filter) must agree
// with it.
func (p *Policy) Decide(nr int, args [6]uint64) (Action, int) {
	if !p.IsAllowed(nr) {
		return p.DefaultAction, p.Errno
	}
	if r, ok := p.RuleFor(nr); ok {
		if r.Cond == nil || r.Cond.Matches(args[r.Cond.Arg]) {
			return r.Action, r.Errno
		}
	}
	return ActAllow, 0
}

// Action is Decide without the errno.
func (p *Policy) Action(nr int, args [6]uint64) Action {
	a, _ := p.Decide(nr, args)
	return a
}
