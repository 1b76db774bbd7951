package checker

import (
	"testing"
)

// benchProcess: a program that calls f (which calls g) in a loop, in the
// default mode, entered into main.
func benchProcess(b *testing.B) (p *Process, f, g int32) {
	t := &testing.T{}
	sig, ids := build(t, "main: loop { call f; ext write }; ret\nf: call g; ret\ng: ret", nil)
	p = New(sig, func(nr int) bool { return nr == nrOpenat }).NewProcess(1)
	p.Enter(1, ids["main"])
	return p, ids["f"], ids["g"]
}

// BenchmarkEnterExit measures one call of f (enter f, enter g, exit g,
// exit f) through Enter and Exit.
func BenchmarkEnterExit(b *testing.B) {
	p, f, g := benchProcess(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if a := p.Enter(1, f); a != nil {
			b.Fatal(a)
		}
		p.Enter(1, g)
		p.Exit(1, g)
		if a := p.Exit(1, f); a != nil {
			b.Fatal(a)
		}
	}
}

// BenchmarkEvents is BenchmarkEnterExit through the batch entry point
// (Events, as FlowChecker drains a ring): ns/op is per call pair (4 events).
func BenchmarkEvents(b *testing.B) {
	p, f, g := benchProcess(b)
	const pairs = 64
	evs := make([]Event, 0, 4*pairs)
	for i := 0; i < pairs; i++ {
		evs = append(evs, Event{Fn: f}, Event{Fn: g}, Event{Fn: g, Exit: true}, Event{Fn: f, Exit: true})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += pairs {
		if n, a := p.Events(1, evs); a != nil || n != len(evs) {
			b.Fatal(n, a)
		}
	}
}
