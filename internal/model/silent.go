package model

import (
	"slices"
	"sort"
	"strings"
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
