package link

import (
	"fmt"
	"sort"

	"github.com/kcfm-linux/kcfm/tools/libcsum"
)

// LibcSummaries adapts a libc summary (tools/libcsum) to Summaries.
// Functions that can reach a syscall whose number the binary analysis could
// not determine, and the syscall() wrapper called with a non-constant
// number, are given every syscall the libc can make.
type LibcSummaries struct {
	S   *libcsum.Summary
	all []int
}

// FromLibc wraps a summary.
func FromLibc(s *libcsum.Summary) *LibcSummaries {
	set := map[int]bool{}
	for _, f := range s.Functions {
		for _, nr := range f.Syscalls {
			set[nr] = true
		}
	}
	l := &LibcSummaries{S: s}
	for nr := range set {
		l.all = append(l.all, nr)
	}
	sort.Ints(l.all)
	return l
}

// Lookup implements Summaries.
func (l *LibcSummaries) Lookup(fn string) ([]int, bool) {
	f, ok := l.S.Lookup(fn)
	if !ok {
		return nil, false
	}
	if f.UnknownSyscall || f.NrArg > 0 {
		return l.all, true
	}
	return f.Syscalls, true
}

// All implements Summaries.
func (l *LibcSummaries) All() []int { return l.all }

// Describe implements Summaries.
func (l *LibcSummaries) Describe() string {
	return fmt.Sprintf("%s %s %s (build id %s)", l.S.Libc, l.S.LibcVersion, l.S.Arch, l.S.BuildID)
}
