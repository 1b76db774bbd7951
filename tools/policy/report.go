package policy

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/model"
)

// Use is one place that needs a syscall: a function of the program at a
// source location (the call of the libc function, or the raw syscall), or
// the program's start-up.
type Use struct {
	Function string `json:"function,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int32  `json:"line,omitempty"`
	Col      int32  `json:"col,omitempty"`
	Startup  bool   `json:"startup,omitempty"`
}

func (u Use) String() string {
	if u.Startup {
		return "start-up (dynamic loader, libc start-up and exit)"
	}
	if u.File == "" {
		return u.Function
	}
	return fmt.Sprintf("%s at %s:%d:%d", u.Function, u.File, u.Line, u.Col)
}

// SyscallUse lists where one allowed syscall is needed.
type SyscallUse struct {
	Syscall string   `json:"syscall"`
	Nr      int      `json:"nr"`
	Action  Action   `json:"action,omitempty"` // a rule's action (notify: checked by FlowChecker)
	Errno   int      `json:"errno,omitempty"`
	When    string   `json:"when,omitempty"`
	Class   string   `json:"class,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	Uses    []Use    `json:"uses"`
	Core    []string `json:"kasperskyos,omitempty"`
}

// Report is the human report (`kcfm policy --report`): counts, where each
// syscall is needed, and the model's transitions against an allowlist.
type Report struct {
	Program       string  `json:"program"`
	Arch          string  `json:"arch"`
	Entity        string  `json:"entity"`
	Libc          string  `json:"libc,omitempty"`
	Mode          string  `json:"mode"`
	DefaultAction Action  `json:"default_action"`
	Functions     int     `json:"functions"`
	TableSize     int     `json:"arch_syscalls"`
	Allowed       int     `json:"allowed"`
	StartupOnly   int     `json:"startup_only"`
	Checked       int     `json:"checked"` // syscalls FlowChecker checks
	Ruled         int     `json:"rules"`   // syscalls with a rule (checked, refused with an errno, ...)
	Denied        int     `json:"denied"`
	Transitions   int     `json:"transitions"`
	Allowlist     int     `json:"allowlist_transitions"`
	Reduction     float64 `json:"transition_reduction"`
	// Program-phase transitions (start-up and exit phases left out).
	ProgramTransitions int          `json:"program_transitions"`
	ProgramReduction   float64      `json:"program_transition_reduction"`
	Sensitive          []SyscallUse `json:"sensitive"`
	All                []SyscallUse `json:"allowed_syscalls"`
	Unmapped           []string     `json:"unmapped_for_psl,omitempty"`
	Warnings           []string     `json:"warnings,omitempty"`
}

// BuildReport gathers the report of a policy computed from sig. mapping
// may be nil (then the PSL columns are left out).
func BuildReport(sig *model.Signature, p *Policy, mapping *Mapping) (*Report, error) {
	tr, err := ComputeTransitions(sig, p.Allowed, p.Startup)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Program: sig.Program, Arch: string(p.Arch), Entity: p.Entity, Libc: sig.Libc, Mode: p.Mode,
		DefaultAction: p.DefaultAction, Functions: len(sig.Functions), TableSize: p.Table().Len(),
		Allowed: len(p.Allowed), Checked: p.Checked(), Ruled: len(p.Rules), Transitions: tr.Pairs, Allowlist: tr.Allowlist,
		Reduction: tr.Reduction(), ProgramTransitions: tr.ProgramPairs, ProgramReduction: tr.ProgramReduction(),
	}
	r.Denied = r.TableSize - r.Allowed
	uses := map[int][]Use{}
	type key struct {
		fn   int
		site int32
	}
	seen := map[int]map[key]bool{}
	for fi, f := range sig.Functions {
		for _, st := range f.States {
			for _, e := range st.Edges {
				nr, ok := e.Label.IsSyscall()
				if !ok {
					continue
				}
				k := key{fi, e.Site}
				if seen[nr] == nil {
					seen[nr] = map[key]bool{}
				}
				if seen[nr][k] {
					continue
				}
				seen[nr][k] = true
				u := Use{Function: f.Name}
				if e.Site >= 0 && int(e.Site) < len(sig.Sites) {
					s := sig.Sites[e.Site]
					if int(s.File) < len(sig.Files) {
						u.File = sig.Files[s.File]
					}
					u.Line, u.Col = s.Line, s.Col
				}
				uses[nr] = append(uses[nr], u)
			}
		}
	}
	startup := map[int]bool{}
	for _, nr := range p.Startup {
		startup[nr] = true
	}
	var ipc *pslPlan
	if mapping != nil {
		ipc = planIPC(p, mapping)
		r.Unmapped = ipc.unmapped
	}
	for _, nr := range p.Allowed {
		us := uses[nr]
		sort.Slice(us, func(i, j int) bool {
			a, b := us[i], us[j]
			if a.File != b.File {
				return a.File < b.File
			}
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			if a.Col != b.Col {
				return a.Col < b.Col
			}
			return a.Function < b.Function
		})
		if startup[nr] {
			us = append([]Use{{Startup: true}}, us...)
			if len(us) == 1 {
				r.StartupOnly++
			}
		}
		su := SyscallUse{Syscall: p.Name(nr), Nr: nr, Uses: us}
		if ipc != nil {
			su.Core = ipc.bySyscall[nr]
		}
		if rule, ok := p.RuleFor(nr); ok {
			su.Action, su.Errno, su.Class, su.Reason = rule.Action, rule.Errno, rule.Class, rule.Reason
			if rule.Cond != nil {
				su.When = rule.Cond.String()
			}
			r.Sensitive = append(r.Sensitive, su)
		}
		r.All = append(r.All, su)
	}
	sort.Slice(r.All, func(i, j int) bool { return r.All[i].Syscall < r.All[j].Syscall })
	sort.Slice(r.Sensitive, func(i, j int) bool { return r.Sensitive[i].Syscall < r.Sensitive[j].Syscall })
	r.Warnings = append(append(r.Warnings, sig.Warnings...), p.Warnings...)
	return r, nil
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "kcfm policy report: %s (%s), entity %s\n", r.Program, r.Arch, r.Entity)
	if r.Libc != "" {
		fmt.Fprintf(&b, "libc: %s\n", r.Libc)
	}
	fmt.Fprintf(&b, "mode: %s; syscalls outside the allowlist: %s\n\n", r.Mode, r.DefaultAction)
	fmt.Fprintf(&b, "allowed syscalls:   %d of %d on %s (%d only at start-up/exit)\n", r.Allowed, r.TableSize, r.Arch, r.StartupOnly)
	fmt.Fprintf(&b, "checked by FlowChecker: %d\n", r.Checked)
	if r.Ruled > r.Checked {
		fmt.Fprintf(&b, "other rules:        %d\n", r.Ruled-r.Checked)
	}
	fmt.Fprintf(&b, "denied:             %d\n", r.Denied)
	fmt.Fprintf(&b, "allowed transitions (syscall b right after a), a plain allowlist allows |S|² = %d:\n", r.Allowlist)
	fmt.Fprintf(&b, "  whole run:     %d (%.1f %% fewer; start-up and exit accept their syscalls in any order)\n", r.Transitions, 100*r.Reduction)
	fmt.Fprintf(&b, "  program phase: %d (%.1f %% fewer)\n\n", r.ProgramTransitions, 100*r.ProgramReduction)

	b.WriteString("sensitive syscalls: why each is allowed\n")
	if len(r.Sensitive) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, s := range r.Sensitive {
		when := "always"
		if s.When != "" {
			when = "when " + s.When
		}
		what := "checked"
		switch s.Action {
		case ActErrno:
			what = fmt.Sprintf("refused with errno %d", s.Errno)
		case ActKill:
			what = "kills the process"
		case ActLog:
			what = "logged"
		}
		fmt.Fprintf(&b, "  %s [%s: %s] %s %s\n", s.Syscall, s.Class, s.Reason, what, when)
		for _, u := range s.Uses {
			fmt.Fprintf(&b, "    - %s\n", u)
		}
	}
	b.WriteString("\nallowed syscalls and the functions that need them\n")
	for _, s := range r.All {
		fns := map[string]bool{}
		var names []string
		for _, u := range s.Uses {
			n := u.Function
			if u.Startup {
				n = "start-up"
			}
			if !fns[n] {
				fns[n] = true
				names = append(names, n)
			}
		}
		mark := ""
		switch s.Action {
		case ActNotify:
			mark = " (checked)"
		case "":
		default:
			mark = " (" + string(s.Action) + ")"
		}
		fmt.Fprintf(&b, "  %-20s %s%s\n", s.Syscall, strings.Join(names, ", "), mark)
	}
	if len(r.Unmapped) > 0 {
		fmt.Fprintf(&b, "\nno KasperskyOS IPC mapping (left out of the PSL grants): %s\n", strings.Join(r.Unmapped, " "))
	}
	for _, x := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", x)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
