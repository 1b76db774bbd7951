package execmgr

import (
	"fmt"
	"sort"

	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// precedence is the kernel's order of seccomp actions when several filters
// answer one system call: the higher one wins (seccomp(2)).
func precedence(a seccomp.Action) int {
	switch a.Kind() {
	case seccomp.KillProcess:
		return 7
	case seccomp.KillThread:
		return 6
	case seccomp.Trap:
		return 5
	case seccomp.Errno(0):
		return 4
	case seccomp.Notify:
		return 3
	case seccomp.Trace(0):
		return 2
	case seccomp.Log:
		return 1
	}
	return 0 // allow
}

// Stricter returns the action the kernel would apply if both filters were
// installed: the higher precedence, a on a tie.
func Stricter(a, b seccomp.Action) seccomp.Action {
	if precedence(b) > precedence(a) {
		return b
	}
	return a
}

// MergeFilters combines two filters for the same architecture into one whose
// decision for every system call and every argument value is
// Stricter(a.Decide, b.Decide) — what stacking both filters would do, in a
// single filter with a single notification listener.
//
// Construction, per system call number: the rules of a for that number
// followed by a's default as a rule without conditions (ra), the same for b
// (rb); the merged rules are every pair (i, j) in lexicographic order, with
// the conditions of both and the stricter action. The first pair whose
// conditions hold is (first rule of ra that holds, first rule of rb that
// holds), because a pair with an earlier i never holds. Rules after one
// without conditions can never match and are left out.
func MergeFilters(a, b *seccomp.Spec) (*seccomp.Spec, error) {
	if a == nil {
		return b, nil
	}
	if b == nil {
		return a, nil
	}
	if a.Arch != b.Arch {
		return nil, fmt.Errorf("execmgr: cannot merge a %s filter with a %s filter", a.Arch, b.Arch)
	}
	byNr := func(s *seccomp.Spec) map[int][]seccomp.Rule {
		m := map[int][]seccomp.Rule{}
		for _, r := range s.Rules {
			m[r.Nr] = append(m[r.Nr], r)
		}
		return m
	}
	ra, rb := byNr(a), byNr(b)
	var nrs []int
	seen := map[int]bool{}
	for _, s := range []*seccomp.Spec{a, b} {
		for _, r := range s.Rules {
			if !seen[r.Nr] {
				seen[r.Nr] = true
				nrs = append(nrs, r.Nr)
			}
		}
	}
	sort.Ints(nrs)
	out := &seccomp.Spec{Arch: a.Arch, Default: Stricter(a.Default, b.Default)}
	withDefault := func(rs []seccomp.Rule, def seccomp.Action, nr int) []seccomp.Rule {
		var l []seccomp.Rule
		for _, r := range rs {
			l = append(l, r)
			if len(r.Conds) == 0 {
				return l
			}
		}
		return append(l, seccomp.Rule{Nr: nr, Action: def})
	}
	for _, nr := range nrs {
		la := withDefault(ra[nr], a.Default, nr)
		lb := withDefault(rb[nr], b.Default, nr)
		name := ""
		for _, r := range append(append([]seccomp.Rule(nil), la...), lb...) {
			if r.Name != "" {
				name = r.Name
				break
			}
		}
		var rules []seccomp.Rule
		for _, x := range la {
			for _, y := range lb {
				conds := append(append([]seccomp.Cond(nil), x.Conds...), y.Conds...)
				rules = append(rules, seccomp.Rule{Nr: nr, Name: name, Action: Stricter(x.Action, y.Action), Conds: conds})
			}
		}
		// A trailing run of rules with the merged default's action adds nothing.
		for len(rules) > 0 && rules[len(rules)-1].Action == out.Default {
			rules = rules[:len(rules)-1]
		}
		out.Rules = append(out.Rules, rules...)
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("execmgr: merged filter: %w", err)
	}
	return out, nil
}
