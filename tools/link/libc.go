package link

import (
	"fmt"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/tools/libcsum"
)

// LibcSummaries adapts a libc summary (tools/libcsum) to Summaries. Each
// function gets what it can do in this program (libcsum.Summary.Effective
// with Opts): its normal syscalls, the thread cancellation path if it is a
// cancellation point and the program can cancel threads, the crash paths'
// dying set if it can crash. Functions that can reach a syscall whose
// number the binary analysis could not determine, and the syscall()
// wrapper called with a non-constant number, are given every syscall the
// libc can make.
type LibcSummaries struct {
	S    *libcsum.Summary
	Opts libcsum.EffectiveOptions
	all  []int
}

// FromLibc wraps a summary without knowing the program: cancellation
// points get the cancellation path (sound for a program that cancels
// threads, imprecise for the others: prefer FromLibcFor).
func FromLibc(s *libcsum.Summary) *LibcSummaries {
	return &LibcSummaries{S: s, Opts: libcsum.EffectiveOptions{Cancellation: s.Cancellation != nil}, all: s.AllSyscalls()}
}

// FromLibcFor wraps a summary for the program made of units and libs:
// the cancellation path is added only if the program can cancel threads
// (it calls or takes the address of one of the summary's CancelTriggers,
// pthread_cancel).
func FromLibcFor(s *libcsum.Summary, units []*model.TUGraph, libs []*model.LibGraph) *LibcSummaries {
	var names []string
	add := func(u *model.TUGraph) {
		for _, l := range u.Labels {
			if l.Kind == model.Call {
				names = append(names, l.Name)
			}
		}
		for _, r := range u.AddressTaken {
			names = append(names, r.Linkage)
		}
		for _, c := range u.Callbacks {
			names = append(names, c.Linkage)
		}
	}
	for _, u := range units {
		add(u)
	}
	for _, lib := range libs {
		for i := range lib.Units {
			add(&lib.Units[i])
		}
	}
	return &LibcSummaries{S: s, Opts: libcsum.EffectiveOptions{Cancellation: s.UsesCancellation(names)}, all: s.AllSyscalls()}
}

// Lookup implements Summaries.
func (l *LibcSummaries) Lookup(fn string) ([]int, bool) {
	e, ok := l.S.Effective(fn, l.Opts)
	if !ok {
		return nil, false
	}
	if e.UnknownSyscall || e.NrArg > 0 {
		return l.all, true
	}
	return e.Syscalls, true
}

// All implements Summaries.
func (l *LibcSummaries) All() []int { return l.all }

// Describe implements Summaries.
func (l *LibcSummaries) Describe() string {
	return fmt.Sprintf("%s %s %s (build id %s)", l.S.Libc, l.S.LibcVersion, l.S.Arch, l.S.BuildID)
}
