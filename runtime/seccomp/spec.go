package seccomp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// MaxNr is the first system call number the filter refuses outright: every
// nr >= MaxNr (x32 system calls carry bit 30, __X32_SYSCALL_BIT; -1 reads as
// 0xffffffff) is killed before any rule is looked at, on both architectures.
const MaxNr = 0x40000000

// Data mirrors struct seccomp_data: what a filter (and a notification) sees
// of a system call.
type Data struct {
	Nr   int32
	Arch uint32 // AUDIT_ARCH_*
	IP   uint64 // instruction pointer after the syscall instruction
	Args [6]uint64
}

// Op is the comparison of a Cond.
type Op uint8

// Comparison operators. Comparisons are unsigned. The masked forms compare
// Arg&Mask with Value.
const (
	OpEq       Op = iota + 1 // arg == Value
	OpNe                     // arg != Value
	OpLt                     // arg < Value
	OpLe                     // arg <= Value
	OpGt                     // arg > Value
	OpGe                     // arg >= Value
	OpMaskedEq               // arg&Mask == Value
	OpMaskedNe               // arg&Mask != Value; with Value 0: "any bit of Mask set"
)

var opNames = map[Op]string{OpEq: "==", OpNe: "!=", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">=", OpMaskedEq: "&==", OpMaskedNe: "&!="}

// String returns the operator's symbol.
func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Cond is a condition on one system call argument.
//
// Low32 compares only the low 32 bits of the argument. Use it for arguments
// the kernel reads as int (open flags, clone flags, prot): the upper half of
// the register is then garbage the caller controls, and a 64-bit comparison
// could be fooled by setting it.
type Cond struct {
	Arg   int // 0..5
	Op    Op
	Value uint64
	Mask  uint64 // OpMaskedEq / OpMaskedNe only
	Low32 bool
}

// String renders the condition, e.g. "arg2&0x4 != 0".
func (c Cond) String() string {
	w := ""
	if c.Low32 {
		w = "(u32)"
	}
	switch c.Op {
	case OpMaskedEq:
		return fmt.Sprintf("%sarg%d&%#x == %#x", w, c.Arg, c.Mask, c.Value)
	case OpMaskedNe:
		return fmt.Sprintf("%sarg%d&%#x != %#x", w, c.Arg, c.Mask, c.Value)
	}
	return fmt.Sprintf("%sarg%d %s %#x", w, c.Arg, c.Op, c.Value)
}

// holds evaluates the condition on an argument value.
func (c Cond) holds(v uint64) bool {
	if c.Low32 {
		v &= 0xffffffff
	}
	switch c.Op {
	case OpEq:
		return v == c.Value
	case OpNe:
		return v != c.Value
	case OpLt:
		return v < c.Value
	case OpLe:
		return v <= c.Value
	case OpGt:
		return v > c.Value
	case OpGe:
		return v >= c.Value
	case OpMaskedEq:
		return v&c.Mask == c.Value
	case OpMaskedNe:
		return v&c.Mask != c.Value
	}
	return false
}

func (c Cond) validate() error {
	if c.Arg < 0 || c.Arg > 5 {
		return fmt.Errorf("argument index %d out of range 0..5", c.Arg)
	}
	if _, ok := opNames[c.Op]; !ok {
		return fmt.Errorf("unknown comparison operator %d", c.Op)
	}
	if c.Low32 && (c.Value>>32 != 0 || c.Mask>>32 != 0) {
		return fmt.Errorf("%v: Low32 condition with a value or mask wider than 32 bits", c)
	}
	if c.Op == OpMaskedEq || c.Op == OpMaskedNe {
		if c.Value&^c.Mask != 0 {
			return fmt.Errorf("%v: value has bits outside the mask (the comparison could never be true)", c)
		}
	} else if c.Mask != 0 {
		return fmt.Errorf("%v: Mask is only meaningful for OpMaskedEq/OpMaskedNe", c)
	}
	return nil
}

// Rule gives Action to system call Nr when all Conds hold. Rules for the
// same Nr are tried in Spec order; the first whose conditions hold wins, and
// when none does the Spec's Default applies.
type Rule struct {
	Nr     int
	Action Action
	Conds  []Cond
	Name   string // optional, for messages and String (e.g. "openat")
}

// String renders the rule, e.g. "openat(257) if (u32)arg2&0x443 != 0 -> notify".
func (r Rule) String() string {
	var b strings.Builder
	if r.Name != "" {
		fmt.Fprintf(&b, "%s(%d)", r.Name, r.Nr)
	} else {
		fmt.Fprintf(&b, "nr %d", r.Nr)
	}
	for i, c := range r.Conds {
		if i == 0 {
			b.WriteString(" if ")
		} else {
			b.WriteString(" && ")
		}
		b.WriteString(c.String())
	}
	fmt.Fprintf(&b, " -> %v", r.Action)
	return b.String()
}

// Spec is a complete filter: the architecture it is for, the action for
// system calls no rule matches, and the rules.
type Spec struct {
	Arch    sysnum.Arch
	Default Action
	Rules   []Rule
}

// ErrInvalidSpec wraps every Spec.Validate failure.
var ErrInvalidSpec = errors.New("invalid seccomp spec")

// Validate checks that the architecture is supported, the actions are real
// kernel actions, every Nr is a system call of the architecture and every
// condition is well-formed.
func (s *Spec) Validate() error {
	tab := sysnum.For(s.Arch)
	if tab == nil || s.Arch.AuditArch() == 0 {
		return fmt.Errorf("%w: unsupported architecture %q (expected %s or %s)", ErrInvalidSpec, s.Arch, sysnum.X86_64, sysnum.AArch64)
	}
	if !s.Default.valid() {
		return fmt.Errorf("%w: default action %#x is not a seccomp action", ErrInvalidSpec, uint32(s.Default))
	}
	for i, r := range s.Rules {
		if r.Nr < 0 || r.Nr >= MaxNr || tab.Name(r.Nr) == "" {
			return fmt.Errorf("%w: rule %d (%v): %d is not a %s system call number", ErrInvalidSpec, i, r, r.Nr, s.Arch)
		}
		if r.Name != "" && tab.Name(r.Nr) != r.Name {
			if n, ok := tab.Nr(r.Name); !ok || n != r.Nr {
				return fmt.Errorf("%w: rule %d: name %q does not match %s system call %d (%s)", ErrInvalidSpec, i, r.Name, s.Arch, r.Nr, tab.Name(r.Nr))
			}
		}
		if !r.Action.valid() {
			return fmt.Errorf("%w: rule %d (%v): action %#x is not a seccomp action", ErrInvalidSpec, i, r, uint32(r.Action))
		}
		for j, c := range r.Conds {
			if err := c.validate(); err != nil {
				return fmt.Errorf("%w: rule %d (%v), condition %d: %v", ErrInvalidSpec, i, r, j, err)
			}
		}
	}
	return nil
}

// Decide is the reference semantics of the filter: the action the
// assembled program returns for d. The wrong architecture and nr >= MaxNr
// give KillProcess.
func (s *Spec) Decide(d *Data) Action {
	if d.Arch != s.Arch.AuditArch() || uint32(d.Nr) >= MaxNr {
		return KillProcess
	}
rules:
	for _, r := range s.Rules {
		if r.Nr != int(d.Nr) {
			continue
		}
		for _, c := range r.Conds {
			if !c.holds(d.Args[c.Arg]) {
				continue rules
			}
		}
		return r.Action
	}
	return s.Default
}

// Notifies reports whether any rule (or the default) can return Notify, i.e.
// whether the filter needs a notification listener.
func (s *Spec) Notifies() bool {
	if s.Default.Kind() == Notify {
		return true
	}
	for _, r := range s.Rules {
		if r.Action.Kind() == Notify {
			return true
		}
	}
	return false
}

// RuleFor builds a rule from a system call name of arch.
func RuleFor(arch sysnum.Arch, name string, a Action, conds ...Cond) (Rule, error) {
	tab := sysnum.For(arch)
	if tab == nil {
		return Rule{}, fmt.Errorf("unsupported architecture %q", arch)
	}
	nr, ok := tab.Nr(name)
	if !ok {
		return Rule{}, fmt.Errorf("%q is not a %s system call", name, arch)
	}
	return Rule{Nr: nr, Action: a, Conds: conds, Name: name}, nil
}
