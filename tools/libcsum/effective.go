package libcsum

import "sort"

// FatalMode says what a crash path (rule fatal) may do.
type FatalMode int

const (
	// FatalDying (default): the dying set (Summary.Dying): report the
	// error on stderr and abort. A crash inside libc whose message needs
	// more (a translated assertion message: gettext, iconv) makes
	// syscalls outside the model just before the process dies.
	FatalDying FatalMode = iota
	// FatalFull: everything the crash paths can do (Summary.Fatal).
	FatalFull
	// FatalNone: crash paths are not in the model at all.
	FatalNone
)

// EffectiveOptions say which of the cut paths (docs/libc-summaries.md,
// "Rules") apply to a program. The zero value is the default.
type EffectiveOptions struct {
	// Cancellation: the program can cancel threads (it calls one of
	// Summary.CancelTriggers, see UsesCancellation): cancellation points
	// get the cancellation path's syscalls.
	Cancellation bool
	// Fatal: what functions that can take a crash path get.
	Fatal FatalMode
}

// Effect is what a call of a libc function can do in a program, with the
// applicable cut paths added back.
type Effect struct {
	Syscalls       []int // sorted, unique
	UnknownSyscall bool  // some syscall number is unknown: allow every syscall
	LoadsCode      bool  // may run dynamically loaded code, whose syscalls are not included
	NrArg          int   // also the syscall numbered by argument NrArg (syscall())
}

// Effective returns what a call of fn can do under opt: Syscalls, plus the
// cancellation path if fn is a cancellation point and opt.Cancellation,
// plus the crash path's set chosen by opt.Fatal if fn can take one (and so on
// transitively: a crash path that is itself a cancellation point, …).
// ok is false if fn is not in the summary (names are looked up as by
// Lookup).
func (s *Summary) Effective(fn string, opt EffectiveOptions) (Effect, bool) {
	f, ok := s.Lookup(fn)
	if !ok {
		return Effect{}, false
	}
	return s.EffectOf(f, opt), true
}

// EffectOf is Effective for a function summary already looked up.
func (s *Summary) EffectOf(f Func, opt EffectiveOptions) Effect {
	e := Effect{UnknownSyscall: f.UnknownSyscall, LoadsCode: f.LoadsCode, NrArg: f.NrArg}
	set := map[int]bool{}
	for _, nr := range f.Syscalls {
		set[nr] = true
	}
	done := map[*Func]bool{}
	var add func(g Func)
	add = func(g Func) {
		for _, p := range []struct {
			on   bool
			path *Func
		}{{g.Cancellation && opt.Cancellation, s.Cancellation}, {g.Fatal && opt.Fatal == FatalDying, s.Dying},
			{g.Fatal && opt.Fatal == FatalFull, s.Fatal}} {
			if !p.on || p.path == nil || done[p.path] {
				continue
			}
			done[p.path] = true
			for _, nr := range p.path.Syscalls {
				set[nr] = true
			}
			e.UnknownSyscall = e.UnknownSyscall || p.path.UnknownSyscall
			e.LoadsCode = e.LoadsCode || p.path.LoadsCode
			add(*p.path)
		}
	}
	add(f)
	e.Syscalls = make([]int, 0, len(set))
	for nr := range set {
		e.Syscalls = append(e.Syscalls, nr)
	}
	sort.Ints(e.Syscalls)
	return e
}

// UsesCancellation reports whether a program calling the external
// functions named (versioned names accepted) can cancel threads, i.e.
// calls one of s.CancelTriggers. A summary without the cancellation rule
// (Cancellation == nil) needs no such check: nothing was cut.
func (s *Summary) UsesCancellation(called []string) bool {
	trig := map[string]bool{}
	for _, t := range s.CancelTriggers {
		trig[t] = true
	}
	for _, c := range called {
		if i := indexByte(c, '@'); i > 0 {
			c = c[:i]
		}
		if trig[c] {
			return true
		}
	}
	return false
}

// AllSyscalls returns every syscall any function or path of the summary
// can make (what an unknown function or an unknown number is given).
func (s *Summary) AllSyscalls() []int {
	set := map[int]bool{}
	for _, f := range s.Functions {
		for _, nr := range f.Syscalls {
			set[nr] = true
		}
	}
	for _, p := range []*Func{s.Cancellation, s.Fatal, s.Dying} {
		if p != nil {
			for _, nr := range p.Syscalls {
				set[nr] = true
			}
		}
	}
	out := make([]int, 0, len(set))
	for nr := range set {
		out = append(out, nr)
	}
	sort.Ints(out)
	return out
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
