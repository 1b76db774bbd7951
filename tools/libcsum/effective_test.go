package libcsum

import (
	"reflect"
	"testing"
)

func TestEffective(t *testing.T) {
	s := sample()
	for _, c := range []struct {
		fn      string
		opt     EffectiveOptions
		want    []int
		unknown bool
		loads   bool
	}{
		// default: the dying set for functions with a crash path, no
		// cancellation path
		{"pread", EffectiveOptions{}, []int{1, 17, 62, 202, 234}, false, false},
		// cancellation: its path, and transitively its crash path's dying set
		{"pread", EffectiveOptions{Cancellation: true}, []int{1, 17, 60, 62, 202, 234}, false, false},
		{"pthread_cancel", EffectiveOptions{Cancellation: true}, []int{1, 60, 62, 200, 202, 234}, false, false},
		{"pthread_cancel", EffectiveOptions{}, []int{200}, false, false},
		// the full crash paths carry their flags
		{"pread", EffectiveOptions{Fatal: FatalFull}, []int{1, 2, 17, 62, 202}, false, true},
		{"pread", EffectiveOptions{Fatal: FatalNone}, []int{17, 202}, false, false},
		{"read", EffectiveOptions{Cancellation: true}, []int{0}, false, false},
		{"memcpy", EffectiveOptions{}, []int{1, 2}, true, false},
	} {
		e, ok := s.Effective(c.fn, c.opt)
		if !ok {
			t.Fatalf("%s: not found", c.fn)
		}
		if !reflect.DeepEqual(e.Syscalls, c.want) || e.UnknownSyscall != c.unknown || e.LoadsCode != c.loads {
			t.Errorf("%s %+v: %+v, want %v unknown=%v loads=%v", c.fn, c.opt, e, c.want, c.unknown, c.loads)
		}
	}
	if _, ok := s.Effective("nope", EffectiveOptions{}); ok {
		t.Error("unknown function found")
	}
	if e, _ := s.Effective("syscall", EffectiveOptions{}); e.NrArg != 1 {
		t.Errorf("syscall: NrArg %d", e.NrArg)
	}
	if !s.UsesCancellation([]string{"printf", "pthread_cancel@@GLIBC_2.34"}) || s.UsesCancellation([]string{"printf", "pthread_create"}) {
		t.Error("UsesCancellation")
	}
	all := s.AllSyscalls()
	for _, nr := range []int{0, 60, 234, 257} {
		if !contains(all, nr) {
			t.Errorf("AllSyscalls %v lacks %d", all, nr)
		}
	}
}
