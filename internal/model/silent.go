package model

import (
	"slices"
	"sort"
	"strings"
)

// Silent functions
//
// A silent function can make no call and no system call: its automaton has
// no events at all, or only direct calls of other silent functions of the
// same TU. Its function events tell the monitor nothing (a hijack that
// jumps into it reaches no system call through it), so the build leaves it
// uninstrumented (kcfm graph --instrument-flags, GCC's
// -finstrument-functions-exclude-function-list) and the linker leaves it
// out of the signature: a call of it is an empty step of the caller. If a
// copy of it is instrumented after all (another compiler, a build without
// the flags), its events are those of a function that is not in the
// signature, which the checker passes through transparently - so both
// ways are sound.
//
// The rule uses only facts of the TU itself, so that `kcfm graph` (one TU)
// and `kcfm link` (all of them) decide alike:
//   - internal linkage (static), a plain function (not a method, lambda,
//     template, constructor or destructor), not noreturn, with a symbol;
//   - its address is not taken, it is not registered as a callback, not a
//     constructor/destructor, not stored into a pointer slot in this TU
//     (static functions cannot be named from other TUs);
//   - every edge of its automaton is a direct call of a silent function of
//     this TU (greatest fixpoint: self-recursion without other events is
//     silent).

// Silent reports, per function of g (same index), whether it is silent.
func (g *TUGraph) Silent() []bool {
	silent := make([]bool, len(g.Functions))
	byUSR := make(map[string]int, len(g.Functions))
	for i := range g.Functions {
		byUSR[g.Functions[i].USR] = i
	}
	escapes := map[string]bool{}
	for _, r := range g.AddressTaken {
		escapes[r.USR] = true
	}
	for _, c := range g.Callbacks {
		escapes[c.USR] = true
	}
	for _, s := range g.SlotStores {
		if s.USR != "" {
			escapes[s.USR] = true
		}
	}
	for _, u := range g.Ctors {
		escapes[u] = true
	}
	for _, u := range g.Dtors {
		escapes[u] = true
	}
	for i := range g.Functions {
		f := &g.Functions[i]
		silent[i] = f.Static && f.Kind == "function" && !f.NoReturn && f.Linkage != "" &&
			f.Name != "main" && !escapes[f.USR] && len(f.Automaton.States) > 0
	}
	for changed := true; changed; {
		changed = false
		for i := range g.Functions {
			if !silent[i] || g.quietEdges(i, byUSR, silent) {
				continue
			}
			silent[i] = false
			changed = true
		}
	}
	return silent
}

// quietEdges: every edge of function i is a direct call of a function that
// is (still) silent.
func (g *TUGraph) quietEdges(i int, byUSR map[string]int, silent []bool) bool {
	for _, st := range g.Functions[i].Automaton.States {
		for _, e := range st.Edges {
			if e.Label < 0 || int(e.Label) >= len(g.Labels) {
				return false
			}
			l := g.Labels[e.Label]
			if l.Kind != Call || l.Target == "" || l.NoReturn {
				return false
			}
			j, ok := byUSR[l.Target]
			if !ok || !silent[j] {
				return false
			}
		}
	}
	return true
}

// InstrumentExclusions returns the names of the silent functions of a C TU
// that can be left uninstrumented with GCC's
// -finstrument-functions-exclude-function-list, sorted. GCC excludes every
// function whose name contains a listed name, so a silent function is
// listed only when its name is not part of the name of any other function
// this TU defines or calls. C++ TUs get none (GCC matches C++ functions by
// their full printable name, which the TU graph does not carry).
func (g *TUGraph) InstrumentExclusions() []string {
	if g.Language != "c" {
		return nil
	}
	silent := g.Silent()
	var others []string
	for i := range g.Functions {
		if !silent[i] {
			others = append(others, g.Functions[i].Name)
		}
	}
	for _, l := range g.Labels {
		if l.Name != "" {
			others = append(others, l.Name)
		}
	}
	var out []string
	for i := range g.Functions {
		name := g.Functions[i].Name
		if !silent[i] || !cIdentifier(name) {
			continue
		}
		ok := true
		for _, o := range others {
			if o != name && strings.Contains(o, name) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func cIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}
