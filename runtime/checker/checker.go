// Package checker runs the pushdown model of a signature against the events
// of a running program: function enter/exit events from the instrumentation
// and the syscalls the kernel-side source reports. Each thread keeps a stack
// of frames; a frame is a function and the set of its automaton states the
// program may be in. A call event must match an edge of the caller's states
// (so the check is context-sensitive: a syscall is only accepted where the
// function that is running can make it), a return pops the frame.
//
// Syscalls the event source does not report (in the default mode only the
// sensitive ones are reported) are treated as silent moves: their edges are
// folded into epsilon closures when a function is first used.
package checker

import (
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"unsafe"

	"github.com/kcfm-linux/kcfm/internal/automaton"
	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// Anomaly is an event the model does not accept.
type Anomaly struct {
	Type     string   `json:"type"` // "anomaly"
	Pid      int      `json:"pid"`
	Tid      int      `json:"tid"`
	Event    string   `json:"event"`
	Expected []string `json:"expected"`
	Stack    []Frame  `json:"stack"`
	Reason   string   `json:"reason,omitempty"`
}

// Frame is one entry of a reported call stack, innermost first.
type Frame struct {
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

// Special frame kinds (negative function ids).
const (
	rootProcess = -2 // before/after the entry function
	rootThread  = -3 // a thread before/after its start routine
	unknownFn   = -1 // an instrumented function that is not in the signature
)

// Unknown is the function id the symbolizer returns for an address that is
// not a function of the signature.
const Unknown int32 = unknownFn

type frame struct {
	fn     int32
	states []int32 // closed under silent moves; sorted
	async  bool    // entered asynchronously (signal handler)
	site   int32   // call site of the last call made from this frame
}

type thread struct {
	stack []frame
}

// Model is a loaded signature prepared for checking.
type Model struct {
	Sig      *model.Signature
	observed [model.MaxSyscallNr + 1]bool // the event source may report it
	silent   [model.MaxSyscallNr + 1]bool // it may happen without a report
	table    *sysnum.Table
	closures [][][]int32 // per function, per state, lazily
	startup  [model.MaxSyscallNr + 1]bool
	anywhere [model.MaxSyscallNr + 1]bool
	escaping []bool
	fnFlags  []uint32  // per function: Sig.Functions[i].Flags
	stFlags  [][]uint8 // per function, per state: its flags

	// Transition cache of step: a canonical state set (a closure, or an
	// interned merge) is identified by its first element's address.
	stepCache []stepEntry
	canon     map[*int32]bool
	interned  map[string][]int32

	symOnce      sync.Once
	symIdx       map[symbolKey]int32
	staticByName map[string]int32 // -1: several static functions share the name
}

// RuntimeSyscalls are made by the runtime library itself at any point of
// a thread (claiming a ring slot in a new thread or a forked child, waiting
// on a full ring); they are accepted everywhere. None of them is in the
// default sensitive set.
var RuntimeSyscalls = []string{"gettid", "getpid", "getppid", "sched_yield", "nanosleep", "clock_nanosleep"}

// escapeFlags mark functions that library code may call back.
const escapeFlags = model.FnAddressTaken | model.FnSyncCallback | model.FnThreadStart | model.FnSignalHandler | model.FnExitHandler | model.FnCtor

// Observation says how the event source reports one syscall.
type Observation uint8

const (
	// Silent: never reported (allowed in the kernel).
	Silent Observation = iota
	// Reported: always reported.
	Reported
	// Sometimes: reported for some arguments only (e.g. openat with write
	// flags): its edges are both silent moves and observable events.
	Sometimes
)

// New prepares a signature. observed tells which syscalls the event source
// reports (nil: all of them, the "full" mode).
func New(sig *model.Signature, observed func(nr int) bool) *Model {
	return NewObserving(sig, func(nr int) Observation {
		if observed == nil || observed(nr) {
			return Reported
		}
		return Silent
	})
}

// NewObserving prepares a signature for an event source that reports
// syscalls as obs says.
func NewObserving(sig *model.Signature, obs func(nr int) Observation) *Model {
	m := &Model{Sig: sig, closures: make([][][]int32, len(sig.Functions)),
		stepCache: make([]stepEntry, stepCacheSize), canon: map[*int32]bool{}, interned: map[string][]int32{}}
	if a, err := sysnum.ParseArch(sig.Arch); err == nil {
		m.table = sysnum.For(a)
	}
	for nr := range m.observed {
		o := obs(nr)
		m.observed[nr] = o != Silent
		m.silent[nr] = o != Reported
	}
	for _, nr := range sig.StartupSyscalls {
		m.startup[nr] = true
	}
	if m.table != nil {
		for _, name := range RuntimeSyscalls {
			if nr, ok := m.table.Nr(name); ok {
				m.anywhere[nr] = true
			}
		}
	}
	m.escaping = make([]bool, len(sig.Functions))
	m.fnFlags = make([]uint32, len(sig.Functions))
	m.stFlags = make([][]uint8, len(sig.Functions))
	for i, f := range sig.Functions {
		m.escaping[i] = f.Flags&escapeFlags != 0
		m.fnFlags[i] = f.Flags
		fl := make([]uint8, len(f.States))
		for j, st := range f.States {
			fl[j] = st.Flags
		}
		m.stFlags[i] = fl
	}
	return m
}

// ObservedFunc returns the observed-syscall predicate the model was made
// with, for models of programs the process executes later.
func (m *Model) ObservedFunc() func(int) bool {
	return func(nr int) bool { return nr >= 0 && nr <= model.MaxSyscallNr && m.observed[nr] }
}

// Observing returns how the model expects each syscall to be reported.
func (m *Model) Observing() func(nr int) Observation {
	return func(nr int) Observation {
		switch {
		case nr < 0 || nr > model.MaxSyscallNr || !m.observed[nr]:
			return Silent
		case m.silent[nr]:
			return Sometimes
		}
		return Reported
	}
}

// closure returns the states reachable from s by silent moves.
func (m *Model) closure(fn int32, s int32) []int32 {
	c := m.closures[fn]
	if c == nil {
		c = make([][]int32, len(m.Sig.Functions[fn].States))
		m.closures[fn] = c
	}
	if c[s] != nil {
		return c[s]
	}
	states := m.Sig.Functions[fn].States
	seen := map[int32]bool{s: true}
	stack := []int32{s}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range states[x].Edges {
			if nr, ok := e.Label.IsSyscall(); ok && m.silent[nr] && !seen[e.To] {
				seen[e.To] = true
				stack = append(stack, e.To)
			}
		}
	}
	out := make([]int32, 0, len(seen))
	for x := range seen {
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	c[s] = out
	m.canon[&out[0]] = true
	return out
}

// stepEntry caches one transition of a canonical state set.
type stepEntry struct {
	set  *int32 // &set[0]
	n    int32
	fn   int32
	lbl  model.SigLabel
	site int32
	out  []int32
}

const (
	stepCacheSize = 1 << 12
	// maxInterned bounds the interned merged sets (beyond it merges are
	// recomputed on every step instead of cached).
	maxInterned = 1 << 18
)

// intern returns the canonical copy of a merged set of fn.
func (m *Model) intern(fn int32, set []int32) []int32 {
	key := make([]byte, 0, 4*(len(set)+1))
	key = binary.LittleEndian.AppendUint32(key, uint32(fn))
	for _, x := range set {
		key = binary.LittleEndian.AppendUint32(key, uint32(x))
	}
	if c, ok := m.interned[string(key)]; ok {
		return c
	}
	if len(m.interned) >= maxInterned {
		return set
	}
	m.interned[string(key)] = set
	m.canon[&set[0]] = true
	return set
}

// step returns the closed set of states reached from set by label, and
// the call site of the edge taken. Edges of a state are sorted by label, so
// the matching ones are found by binary search; the common case (one state,
// one matching edge) returns the cached closure without allocating.
func (m *Model) step(fn int32, set []int32, lbl model.SigLabel) ([]int32, int32) {
	if len(set) == 0 {
		return nil, -1
	}
	key := &set[0]
	h := (uint(fn)*0x9E3779B1 ^ uint(lbl)*0x85EBCA77 ^ uint(uintptr(unsafe.Pointer(key)))>>3) & (stepCacheSize - 1)
	e := &m.stepCache[h]
	if e.set == key && e.n == int32(len(set)) && e.lbl == lbl && e.fn == fn {
		return e.out, e.site
	}
	out, site := m.stepSlow(fn, set, lbl)
	if len(out) > 0 && !m.canon[&out[0]] {
		out = m.intern(fn, out)
	}
	if m.canon[key] && (len(out) == 0 || m.canon[&out[0]]) {
		*e = stepEntry{set: key, n: int32(len(set)), fn: fn, lbl: lbl, site: site, out: out}
	}
	return out, site
}

// stepSlow computes step without the cache.
func (m *Model) stepSlow(fn int32, set []int32, lbl model.SigLabel) ([]int32, int32) {
	var out []int32
	site := int32(-1)
	states := m.Sig.Functions[fn].States
	shared := false // out aliases a cached closure
	for _, s := range set {
		edges := states[s].Edges
		// sort.Search, inlined (this is the checker's hot path)
		i, hi := 0, len(edges)
		for i < hi {
			h := int(uint(i+hi) >> 1)
			if edges[h].Label < lbl {
				i = h + 1
			} else {
				hi = h
			}
		}
		for ; i < len(edges) && edges[i].Label == lbl; i++ {
			e := edges[i]
			if site < 0 {
				site = e.Site
			}
			c := m.closure(fn, e.To)
			switch {
			case out == nil:
				out, shared = c, true
			case shared:
				out, shared = mergeSet(append([]int32(nil), out...), c), false
			default:
				out = mergeSet(out, c)
			}
		}
	}
	return out, site
}

func mergeSet(a, b []int32) []int32 {
	if len(a) == 0 {
		return append([]int32(nil), b...)
	}
	out := make([]int32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i >= len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func (m *Model) hasFlag(fn int32, set []int32, f automaton.Flags) bool {
	fl := m.stFlags[fn]
	for _, s := range set {
		if automaton.Flags(fl[s])&f != 0 {
			return true
		}
	}
	return false
}

// landing returns the closed set of the function's landing states.
func (m *Model) landing(fn int32) []int32 {
	var out []int32
	for i, st := range m.Sig.Functions[fn].States {
		if automaton.Flags(st.Flags)&automaton.Landing != 0 {
			out = mergeSet(out, m.closure(fn, int32(i)))
		}
	}
	return out
}

// Process checks the events of one process (all its threads).
type Process struct {
	m       *Model
	Pid     int
	threads map[int]*thread
	forks   map[int][]frame // snapshot of the forking thread, by parent tid
	// Unmodelled is set after the process executed another program that
	// has no signature: its events are no longer checked.
	Unmodelled bool
	stats      Stats
	statsOn    bool
}

// Stats are precision statistics of a run.
type Stats struct {
	Events int
	// Branching is the sum over checked events of the number of distinct
	// events the model would have accepted at that point.
	Branching int
}

// ABF is the average branching factor of the run.
func (s Stats) ABF() float64 {
	if s.Events == 0 {
		return 0
	}
	return float64(s.Branching) / float64(s.Events)
}

// NewProcess starts checking a process whose main thread is tid == pid.
func (m *Model) NewProcess(pid int) *Process {
	p := &Process{m: m, Pid: pid, threads: map[int]*thread{}, forks: map[int][]frame{}}
	p.threads[pid] = &thread{stack: []frame{{fn: rootProcess}}}
	return p
}

// EnableStats turns on branching-factor accounting (costs time per event).
func (p *Process) EnableStats() { p.statsOn = true }

// Stats returns the statistics so far.
func (p *Process) Stats() Stats { return p.stats }

func (p *Process) thread(tid int) *thread {
	t := p.threads[tid]
	if t == nil {
		t = &thread{stack: []frame{{fn: rootThread}}}
		p.threads[tid] = t
	}
	return t
}

// NewThread registers a thread created inside this process.
func (p *Process) NewThread(tid int) {
	if _, ok := p.threads[tid]; !ok {
		p.threads[tid] = &thread{stack: []frame{{fn: rootThread}}}
	}
}

// ExitThread forgets a thread.
func (p *Process) ExitThread(tid int) { delete(p.threads, tid) }

// ForkChild returns the process model of a child forked by parentTid: its
// only thread continues with a copy of the parent's stack as it was at the
// fork.
func (p *Process) ForkChild(parentTid, childPid int) *Process {
	c := &Process{m: p.m, Pid: childPid, threads: map[int]*thread{}, forks: map[int][]frame{}, Unmodelled: p.Unmodelled, statsOn: p.statsOn}
	snap, ok := p.forks[parentTid]
	if ok {
		delete(p.forks, parentTid)
	} else if t := p.threads[parentTid]; t != nil {
		snap = t.stack
	} else {
		snap = []frame{{fn: rootProcess}}
	}
	c.threads[childPid] = &thread{stack: cloneStack(snap)}
	return c
}

func cloneStack(s []frame) []frame {
	out := make([]frame, len(s))
	for i, f := range s {
		out[i] = f // state sets are never modified in place: shared
	}
	return out
}

// Exec records that the process replaced its program. If next is non-nil
// the new program is checked against it from its start; otherwise the
// process is no longer modelled.
func (p *Process) Exec(next *Model) {
	p.threads = map[int]*thread{}
	p.forks = map[int][]frame{}
	if next == nil {
		p.Unmodelled = true
		return
	}
	p.m = next
	p.Unmodelled = false
	p.threads[p.Pid] = &thread{stack: []frame{{fn: rootProcess}}}
}

// topKnown returns the index of the innermost frame that is not an
// unknown function.
func topKnown(st []frame) int {
	for i := len(st) - 1; i >= 0; i-- {
		if st[i].fn != unknownFn {
			return i
		}
	}
	return 0
}

// Enter checks the entry of function fn (Unknown for a function outside
// the signature) in thread tid.
func (p *Process) Enter(tid int, fn int32) *Anomaly {
	if p.Unmodelled {
		return nil
	}
	return p.enter(tid, p.thread(tid), fn)
}

// Event is one function event for Events.
type Event struct {
	Fn   int32 // function id (Unknown for a function outside the signature)
	Exit bool  // false: entry, true: return
}

// Events checks a run of function events of thread tid in order (cheaper
// than one Enter/Exit each: the thread is looked up once). It returns how
// many events it checked: all of them, or up to and including the one that
// raised the returned anomaly.
func (p *Process) Events(tid int, evs []Event) (int, *Anomaly) {
	if p.Unmodelled {
		return len(evs), nil
	}
	t := p.thread(tid)
	for i, e := range evs {
		var a *Anomaly
		if e.Exit {
			a = p.exit(tid, t, e.Fn)
		} else {
			a = p.enter(tid, t, e.Fn)
		}
		if a != nil {
			return i + 1, a
		}
	}
	return len(evs), nil
}

func (p *Process) enter(tid int, t *thread, fn int32) *Anomaly {
	if fn == unknownFn {
		t.stack = append(t.stack, frame{fn: unknownFn, site: -1})
		return nil
	}
	if fn < 0 || int(fn) >= len(p.m.Sig.Functions) {
		return p.anomaly(tid, t, fmt.Sprintf("call of function #%d", fn), "function id out of range")
	}
	m := p.m
	flags := m.fnFlags[fn]
	start := m.closure(fn, 0)
	top := &t.stack[len(t.stack)-1]
	if p.statsOn {
		p.account(t)
	}
	switch top.fn {
	case unknownFn:
		// Called from code outside the model (a library, an inline
		// function from a system header): only functions whose address
		// escaped can be reached from there.
		if m.escaping[fn] {
			t.stack = append(t.stack, frame{fn: fn, states: start, site: -1})
			return nil
		}
	case rootProcess:
		if flags&(model.FnEntry|model.FnCtor|model.FnExitHandler) != 0 {
			t.stack = append(t.stack, frame{fn: fn, states: start, site: -1})
			return nil
		}
	case rootThread:
		if flags&(model.FnThreadStart|model.FnExitHandler) != 0 {
			t.stack = append(t.stack, frame{fn: fn, states: start, site: -1})
			return nil
		}
	default:
		if next, site := m.step(top.fn, top.states, model.CallLabel(fn)); len(next) > 0 {
			top.states = next
			top.site = site
			t.stack = append(t.stack, frame{fn: fn, states: start, site: -1})
			return nil
		}
	}
	if flags&model.FnSignalHandler != 0 {
		t.stack = append(t.stack, frame{fn: fn, states: start, async: true, site: -1})
		return nil
	}
	if p.unwindTo(t, model.CallLabel(fn)) {
		top := &t.stack[len(t.stack)-1]
		top.states, top.site = m.step(top.fn, top.states, model.CallLabel(fn))
		t.stack = append(t.stack, frame{fn: fn, states: start, site: -1})
		return nil
	}
	return p.anomaly(tid, t, "call "+p.m.Sig.Functions[fn].Name, "")
}

// Exit checks the return of function fn.
func (p *Process) Exit(tid int, fn int32) *Anomaly {
	if p.Unmodelled {
		return nil
	}
	return p.exit(tid, p.thread(tid), fn)
}

func (p *Process) exit(tid int, t *thread, fn int32) *Anomaly {
	n := len(t.stack)
	top := t.stack[n-1]
	if top.fn == fn && fn != rootProcess && fn != rootThread {
		if fn == unknownFn || p.m.hasFlag(fn, top.states, automaton.Return) {
			t.stack = t.stack[:n-1]
			return nil
		}
		if p.m.Sig.Flags&model.SigExceptions != 0 {
			// An exception may leave this frame from any call in it: the
			// instrumentation reports the return of every frame it
			// unwinds. The handler's events are then checked against the
			// landing states of the catching frame (unwindTo).
			t.stack = t.stack[:n-1]
			return nil
		}
		name := p.m.Sig.Functions[fn].Name
		return p.anomaly(tid, t, "return from "+name, name+" cannot return from its current state")
	}
	// The frames above fn were left without a return event: longjmp or
	// an exception unwound them. Accept if fn is on the stack.
	for i := n - 2; i >= 1; i-- {
		if t.stack[i].fn == fn {
			t.stack = t.stack[:i]
			return nil
		}
	}
	if fn == unknownFn {
		return nil // an unknown function's exit whose entry we never saw
	}
	name := "?"
	if fn >= 0 && int(fn) < len(p.m.Sig.Functions) {
		name = p.m.Sig.Functions[fn].Name
	}
	return p.anomaly(tid, t, "return from "+name, name+" is not on the call stack")
}

// Syscall checks a reported syscall.
func (p *Process) Syscall(tid int, nr int) *Anomaly {
	if p.Unmodelled {
		return nil
	}
	if nr < 0 || nr > model.MaxSyscallNr {
		t := p.thread(tid)
		return p.anomaly(tid, t, fmt.Sprintf("syscall %d", nr), "syscall number out of range")
	}
	t := p.thread(tid)
	if p.m.anywhere[nr] {
		return nil
	}
	if p.statsOn {
		p.account(t)
	}
	i := topKnown(t.stack)
	f := &t.stack[i]
	if f.fn < 0 {
		if p.m.startup[nr] {
			return nil
		}
	} else if next, _ := p.m.step(f.fn, f.states, model.SyscallLabel(nr)); len(next) > 0 {
		f.states = next
		return nil
	}
	if p.unwindTo(t, model.SyscallLabel(nr)) {
		top := &t.stack[len(t.stack)-1]
		top.states, _ = p.m.step(top.fn, top.states, model.SyscallLabel(nr))
		return nil
	}
	return p.anomaly(tid, t, "syscall "+p.syscallName(nr), "")
}

// SnapshotFork records the state of tid at a fork/clone syscall that was
// just accepted; the child started by it continues from there.
func (p *Process) SnapshotFork(tid int) {
	if t := p.threads[tid]; t != nil {
		p.forks[tid] = cloneStack(t.stack)
	}
}

// unwindTo handles control transfers that skip return events (longjmp,
// exceptions): it looks down the stack for a frame whose landing states
// (after setjmp, catch handlers) accept lbl and pops the frames above it.
func (p *Process) unwindTo(t *thread, lbl model.SigLabel) bool {
	for i := len(t.stack) - 1; i >= 1; i-- {
		f := t.stack[i]
		if f.fn < 0 {
			continue
		}
		land := p.m.landing(f.fn)
		if len(land) == 0 {
			continue
		}
		if next, _ := p.m.step(f.fn, land, lbl); len(next) > 0 {
			t.stack = t.stack[:i+1]
			t.stack[i].states = land
			return true
		}
	}
	return false
}

func (p *Process) syscallName(nr int) string {
	if p.m.table != nil {
		if n := p.m.table.Name(nr); n != "" {
			return fmt.Sprintf("%s (%d)", n, nr)
		}
	}
	return fmt.Sprint(nr)
}

// expected lists the events the top frame would accept.
func (p *Process) expected(t *thread) []string {
	i := topKnown(t.stack)
	f := t.stack[i]
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if f.fn < 0 {
		add("call of the entry, a constructor or an exit handler")
		return out
	}
	for _, s := range f.states {
		for _, e := range p.m.Sig.Functions[f.fn].States[s].Edges {
			if nr, ok := e.Label.IsSyscall(); ok {
				if p.m.observed[nr] {
					add("syscall " + p.syscallName(nr))
				}
			} else {
				add("call " + p.m.Sig.Functions[e.Label].Name)
			}
		}
	}
	if p.m.hasFlag(f.fn, f.states, automaton.Return) {
		add("return from " + p.m.Sig.Functions[f.fn].Name)
	}
	sort.Strings(out)
	return out
}

// account adds the branching factor at the current point to the stats.
func (p *Process) account(t *thread) {
	p.stats.Events++
	i := topKnown(t.stack)
	f := t.stack[i]
	if f.fn < 0 {
		p.stats.Branching++
		return
	}
	labels := map[model.SigLabel]bool{}
	for _, s := range f.states {
		for _, e := range p.m.Sig.Functions[f.fn].States[s].Edges {
			if nr, ok := e.Label.IsSyscall(); !ok || p.m.observed[nr] {
				labels[e.Label] = true
			}
		}
	}
	n := len(labels)
	if p.m.hasFlag(f.fn, f.states, automaton.Return) {
		n++
	}
	p.stats.Branching += n
}

// Stack renders the call stack of a thread, innermost first.
func (p *Process) Stack(tid int) []Frame {
	t := p.threads[tid]
	if t == nil {
		return nil
	}
	return p.stack(t)
}

func (p *Process) stack(t *thread) []Frame {
	var out []Frame
	for i := len(t.stack) - 1; i >= 0; i-- {
		f := t.stack[i]
		switch f.fn {
		case rootProcess:
			out = append(out, Frame{Function: "<process start/exit>"})
		case rootThread:
			out = append(out, Frame{Function: "<thread start/exit>"})
		case unknownFn:
			out = append(out, Frame{Function: "<function outside the signature>"})
		default:
			sf := p.m.Sig.Functions[f.fn]
			fr := Frame{Function: sf.Name, File: sf.File, Line: int(sf.Line)}
			if f.site >= 0 && int(f.site) < len(p.m.Sig.Sites) {
				s := p.m.Sig.Sites[f.site]
				fr.File, fr.Line = p.m.Sig.Files[s.File], int(s.Line)
			}
			out = append(out, fr)
		}
	}
	return out
}

func (p *Process) anomaly(tid int, t *thread, event, reason string) *Anomaly {
	return &Anomaly{Type: "anomaly", Pid: p.Pid, Tid: tid, Event: event, Expected: p.expected(t), Stack: p.stack(t), Reason: reason}
}
