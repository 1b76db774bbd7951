package model

import (
	"slices"
	"sort"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/automaton"
)

// Silent functions
//
// A silent function can make no system call and call no program function
// that could: its automaton has no events, or only direct calls of other
// silent functions of the same TU and of libc functions that never make a
// system call nor call back (PureLibc). Its function events tell the
// monitor nothing a hijack could use (no system call is reachable through
// it), so the build may leave it uninstrumented (kcfm graph
// --instrument-flags, GCC's -finstrument-functions-exclude-function-list).
//
// The linker makes every call of a silent function optional: the caller
// may or may not report it (the signature keeps the function, so an
// instrumented copy - another compiler, a build without the flags, a
// header function compiled in several TUs - is checked as usual). A
// silent function that runs without events is harmless wherever it runs:
// it makes no system call, so a thread, a signal handler or an exit
// handler whose function is silent makes the same system calls as one
// that reports its entry and return.
//
// The rule uses only facts of the TU itself, so that `kcfm graph` (one TU)
// and `kcfm link` (all of them) agree:
//   - a plain function (not a method, lambda, template, constructor or
//     destructor), not noreturn, with a symbol, not main;
//   - every edge of its automaton is a direct call of a silent function of
//     this TU or of a PureLibc function (greatest fixpoint:
//     self-recursion without other events is silent).

// PureLibc are C library functions that make no system call and call no
// user code in every libc the project supports (glibc, musl): string and
// memory functions and the ctype table accessors.
var PureLibc = map[string]bool{
	"memcpy": true, "memmove": true, "memset": true, "memcmp": true, "memchr": true, "memrchr": true,
	"strlen": true, "strnlen": true, "strcmp": true, "strncmp": true, "strchr": true, "strrchr": true,
	"strcpy": true, "strncpy": true, "strcat": true, "strncat": true, "strstr": true, "strspn": true,
	"strcspn": true, "strpbrk": true, "strcasecmp": true, "strncasecmp": true, "stpcpy": true,
	"__ctype_b_loc": true, "__ctype_tolower_loc": true, "__ctype_toupper_loc": true,
	"tolower": true, "toupper": true, "isalpha": true, "isdigit": true, "isalnum": true, "isspace": true,
	"isupper": true, "islower": true, "isxdigit": true, "isprint": true, "ispunct": true, "iscntrl": true,
	"abs": true, "labs": true, "llabs": true,
}

// Silent reports, per function of g (same index), whether it is silent.
func (g *TUGraph) Silent() []bool {
	silent := make([]bool, len(g.Functions))
	byUSR := make(map[string]int, len(g.Functions))
	for i := range g.Functions {
		byUSR[g.Functions[i].USR] = i
	}
	for i := range g.Functions {
		f := &g.Functions[i]
		silent[i] = f.Kind == "function" && !f.NoReturn && f.Linkage != "" && f.Name != "main" &&
			len(f.Automaton.States) > 0
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
// is (still) silent, or of a pure libc function.
func (g *TUGraph) quietEdges(i int, byUSR map[string]int, silent []bool) bool {
	for _, st := range g.Functions[i].Automaton.States {
		for _, e := range st.Edges {
			if e.Label < 0 || int(e.Label) >= len(g.Labels) {
				return false
			}
			l := g.Labels[e.Label]
			if l.Kind != Call || l.NoReturn {
				return false
			}
			if j, ok := byUSR[l.Target]; ok && l.Target != "" {
				if !silent[j] {
					return false
				}
				continue
			}
			if !PureLibc[l.Name] {
				return false
			}
		}
	}
	return true
}

// InstrumentExclusions returns the names of the silent and flat functions of a C TU
// that can be left uninstrumented with GCC's
// -finstrument-functions-exclude-function-list, sorted. GCC excludes every
// function whose name contains a listed name, so a silent function is
// listed only when its name is not part of the name of any other function
// this TU defines or calls. C++ TUs get none (GCC matches C++ functions by
// their full printable name, which the TU graph does not carry).
func (g *TUGraph) InstrumentExclusions() []string {
	return g.ExclusionNames(g.excludable())
}

// excludable: the silent and flat functions of g (same index).
func (g *TUGraph) excludable() []bool {
	silent := g.Silent()
	ex := g.flat(false, silent)
	for i, s := range silent {
		ex[i] = ex[i] || s
	}
	return ex
}

// MarkUninstrumented records in g.Uninstrumented the functions an
// exclusion list from InstrumentExclusions may leave uninstrumented: every
// silent and flat function (GCC's substring match excludes no other).
func (g *TUGraph) MarkUninstrumented() {
	g.Uninstrumented = nil
	if g.Language != "c" {
		return
	}
	for i, ex := range g.excludable() {
		if ex {
			g.Uninstrumented = append(g.Uninstrumented, g.Functions[i].USR)
		}
	}
}

// ExclusionNames returns the names to pass to GCC's
// -finstrument-functions-exclude-function-list for the functions of g
// marked in excluded (same index), sorted: those whose name is not part of
// the name of a function this TU defines and does not exclude, or calls.
// Nothing for C++ TUs.
func (g *TUGraph) ExclusionNames(excluded []bool) []string {
	if g.Language != "c" || len(excluded) != len(g.Functions) {
		return nil
	}
	var others []string
	for i := range g.Functions {
		if !excluded[i] {
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
		if !excluded[i] || !cIdentifier(name) {
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

// Flat functions
//
// A flat function is a small static function with no indirect call, no
// noreturn call and no setjmp landing point, whose address does not escape
// its TU and which is not recursive. The build leaves it uninstrumented
// too, and the linker inlines its automaton into its callers (besides the
// call event, for an instrumented copy): the pushdown model accepts the
// same system call sequences as before, without the function's call and
// return events. Only its own call and return are given up, and a
// function whose address is never taken cannot be the target of an
// indirect call the model allows anyway. Because it is static, every fact
// that could make this unsound - its address taken, its registration as a
// signal handler or thread start, recursion - is visible in its TU.

// MaxFlatStates bounds the automaton of a flat function.
const MaxFlatStates = 64

// Flat reports, per function of g, whether it is flat (and not silent:
// silent functions need no inlining).
func (g *TUGraph) Flat() []bool { return g.flat(false, g.Silent()) }

// FlatCandidates is Flat without the condition of internal linkage: the
// functions that are flat as far as this TU can tell. Only a link of the
// whole program can confirm one with external linkage (its address taken,
// a callback registered, recursion, in another TU); kcfm link then writes
// the exclusion lists of the program's TUs itself.
func (g *TUGraph) FlatCandidates() []bool { return g.flat(true, g.Silent()) }

// flat: the flat functions of g (with external linkage too if external),
// given its silent ones.
func (g *TUGraph) flat(external bool, silent []bool) []bool {
	flat := make([]bool, len(g.Functions))
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
	callees := make([][]int, len(g.Functions))
	for i := range g.Functions {
		f := &g.Functions[i]
		ok := !silent[i] && (f.Static || external) && f.Kind == "function" && !f.NoReturn && f.Linkage != "" &&
			f.Name != "main" && !escapes[f.USR] && len(f.Automaton.States) > 0 &&
			len(f.Automaton.States) <= MaxFlatStates
		for _, st := range f.Automaton.States {
			if !ok {
				break
			}
			if st.Flags&automaton.Landing != 0 {
				ok = false
				break
			}
			for _, e := range st.Edges {
				if e.Label < 0 || int(e.Label) >= len(g.Labels) {
					ok = false
					break
				}
				l := g.Labels[e.Label]
				switch {
				case l.Kind == Syscall:
				case l.Kind == Call && !l.NoReturn:
					if j, in := byUSR[l.Target]; in && l.Target != "" {
						callees[i] = append(callees[i], j)
					}
				default:
					ok = false
				}
			}
		}
		flat[i] = ok
	}
	// No recursion among flat functions: drop every flat function that
	// reaches itself through calls of flat functions.
	for i := range g.Functions {
		if flat[i] && RecursiveThrough(i, callees, flat) {
			flat[i] = false
		}
	}
	return flat
}

// RecursiveThrough reports whether function id calls itself along a path
// of calls whose intermediate functions all have flat[j] set (callees[j]:
// the functions j calls, by index). The compile-time decision (Flat) and
// the link's (whole-program facts) both rule out such recursion among
// functions to inline.
func RecursiveThrough[T ~int | ~int32](id T, callees [][]T, flat []bool) bool {
	seen := map[T]bool{}
	stack := append([]T(nil), callees[id]...)
	for len(stack) > 0 {
		j := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if j == id {
			return true
		}
		if seen[j] || !flat[j] {
			continue
		}
		seen[j] = true
		stack = append(stack, callees[j]...)
	}
	return false
}
