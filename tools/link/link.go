// Package link merges TU graphs, library graphs and libc summaries into a
// program signature: the pushdown model of DESIGN §2. Calls of program
// functions stay call events (the monitor sees them through the
// instrumentation); calls of external functions are replaced by a loop over
// the syscalls their summary allows (and the program functions they may call
// back); indirect and virtual calls become calls of their resolved targets.
package link

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/automaton"
	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// Summaries answers which syscalls an external (uninstrumented) function
// can make.
type Summaries interface {
	// Lookup returns the syscalls of fn; ok is false when fn is unknown.
	Lookup(fn string) (syscalls []int, ok bool)
	// All returns every syscall any function of the library can make.
	All() []int
	// Describe names the summaries (libc, version, build id).
	Describe() string
}

// Options control a link.
type Options struct {
	Arch      sysnum.Arch
	Entry     string // default "main"
	Program   string
	Summaries Summaries
	// Strict makes unknown external functions an error.
	Strict bool
	// NoNarrowing disables narrowing of indirect-call targets by the
	// functions stored into each pointer slot.
	NoNarrowing bool
	// DecideExclusions: the link decides which functions of the program's
	// own units the build leaves uninstrumented (silent and flat ones,
	// with the facts of the whole program) and returns the exclusion lists
	// in Report.Exclusions; the caller writes them for the compile (kcfm
	// link --instrument-flags). Otherwise those units, like library units,
	// are modelled by what their graph records (TUGraph.Uninstrumented:
	// nothing unless the graph step wrote an exclusion list).
	DecideExclusions bool
}

// Report tells what the link did, for `kcfm link` and `kcfm show`.
type Report struct {
	Warnings []string
	// UnknownExternals maps external functions without a summary to the
	// functions calling them.
	UnknownExternals map[string][]string
	IndirectCalls    int // icall edges
	IndirectTargets  int // sum of resolved targets over icall edges
	NarrowedCalls    int // icall edges narrowed by slot stores
	VirtualCalls     int
	VirtualTargets   int
	// Silent counts the silent functions (model.TUGraph.Silent): calls of
	// them are optional events.
	Silent int
	// Flat counts the flat functions (model.TUGraph.Flat): their automata
	// are inlined into their callers.
	Flat int
	// Exclusions are, per program unit (the units argument of Link, same
	// order), the names GCC may leave uninstrumented
	// (-finstrument-functions-exclude-function-list): its silent and flat
	// functions, decided with the facts of the whole program.
	Exclusions [][]string
}

// AvgIndirectTargets is the average number of targets per indirect call.
func (r *Report) AvgIndirectTargets() float64 {
	if r.IndirectCalls == 0 {
		return 0
	}
	return float64(r.IndirectTargets) / float64(r.IndirectCalls)
}

type fnInfo struct {
	id      int32
	unit    *model.TUGraph
	unitIdx int // index into linker.units
	fn      *model.Function
}

type linker struct {
	opt   Options
	rep   *Report
	table *sysnum.Table
	units []*model.TUGraph

	fns   []*fnInfo
	byUSR map[string]*fnInfo
	// bySymbol maps a linkage name of a defined function (for calls whose
	// USR differs across TUs, e.g. a declaration without prototype).
	bySymbol map[string]*fnInfo
	flags    []uint32
	silent   []bool // by id: calls of it are optional events
	flat     []bool // by id: calls of it may be its inlined automaton
	decided  []bool // by id: the link decides whether it is flat
	nProgram int    // units[:nProgram] are the program's own TUs

	addrTaken  map[string]string   // USR -> type
	extAddr    map[string]string   // external address-taken: linkage -> type
	callbacks  map[string][]int32  // registrar -> function ids
	exitFns    []int32             // exit handlers
	forkFns    []int32             // atfork handlers
	slotStores map[string][]string // slot -> USRs ("" = unknown)
	escaped    map[string]bool
	overriders map[string][]string // method USR -> direct overriders
	bases      map[string][]string // class USR -> bases
	methodCls  map[string]string   // method USR -> class USR

	files   []string
	fileIdx map[string]int32
	sites   []model.SigSite

	unknown map[string]map[string]bool
}

// Link builds the signature.
func Link(units []*model.TUGraph, libs []*model.LibGraph, opt Options) (*model.Signature, *Report, error) {
	if opt.Entry == "" {
		opt.Entry = "main"
	}
	if opt.Summaries == nil {
		return nil, nil, fmt.Errorf("link: no libc summaries given")
	}
	l := &linker{
		opt: opt, rep: &Report{UnknownExternals: map[string][]string{}}, table: sysnum.For(opt.Arch),
		byUSR: map[string]*fnInfo{}, bySymbol: map[string]*fnInfo{}, addrTaken: map[string]string{}, extAddr: map[string]string{},
		callbacks: map[string][]int32{}, slotStores: map[string][]string{}, escaped: map[string]bool{},
		overriders: map[string][]string{}, bases: map[string][]string{}, methodCls: map[string]string{},
		fileIdx: map[string]int32{}, unknown: map[string]map[string]bool{},
	}
	if l.table == nil {
		return nil, nil, fmt.Errorf("link: unknown architecture %q", opt.Arch)
	}
	l.units = append(l.units, units...)
	l.nProgram = len(units)
	for _, lib := range libs {
		for i := range lib.Units {
			l.units = append(l.units, &lib.Units[i])
		}
	}
	if len(l.units) == 0 {
		return nil, nil, fmt.Errorf("link: no graphs given")
	}
	l.collect()
	entry, ok := l.bySymbol[opt.Entry]
	if !ok {
		return nil, nil, fmt.Errorf("link: entry function %q is not defined in any graph (%d functions linked); pass ENTRY/--entry", opt.Entry, len(l.fns))
	}
	l.flags[entry.id] |= model.FnEntry
	l.decideFlat()
	sig := &model.Signature{Arch: string(opt.Arch), Program: opt.Program, Libc: opt.Summaries.Describe(), Entry: entry.id}
	for _, u := range l.units {
		if u.Language == "c++" {
			sig.Flags |= model.SigExceptions
		}
	}
	sig.Functions = make([]model.SigFunction, len(l.fns))
	all := map[int]bool{}
	for _, f := range l.fns {
		sf, err := l.expand(f)
		if err != nil {
			return nil, nil, err
		}
		for _, st := range sf.States {
			for _, e := range st.Edges {
				if nr, ok := e.Label.IsSyscall(); ok {
					all[nr] = true
				}
			}
		}
		sig.Functions[f.id] = sf
	}
	for i := range sig.Functions {
		sig.Functions[i].Flags = l.flags[i]
	}
	for _, name := range loaderSyscalls {
		if nr, ok := l.table.Nr(name); ok {
			sig.StartupSyscalls = append(sig.StartupSyscalls, nr)
			all[nr] = true
		}
	}
	sort.Ints(sig.StartupSyscalls)
	for nr := range all {
		sig.Syscalls = append(sig.Syscalls, nr)
	}
	sort.Ints(sig.Syscalls)
	sig.Files = l.files
	sig.Sites = l.sites

	var names []string
	for name := range l.unknown {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var callers []string
		for c := range l.unknown[name] {
			callers = append(callers, c)
		}
		sort.Strings(callers)
		l.rep.UnknownExternals[name] = callers
		l.rep.Warnings = append(l.rep.Warnings, fmt.Sprintf("external function %s has no summary (called from %s): any syscall of %s allowed there", name, strings.Join(callers, ", "), opt.Summaries.Describe()))
	}
	if opt.Strict && len(names) > 0 {
		return nil, l.rep, fmt.Errorf("link: %d external functions without summary (--strict): %s", len(names), strings.Join(names, ", "))
	}
	sig.Warnings = l.rep.Warnings
	if err := sig.Validate(); err != nil {
		return nil, nil, fmt.Errorf("link: internal error: %v", err)
	}
	return sig, l.rep, nil
}

func (l *linker) file(path string) int32 {
	if i, ok := l.fileIdx[path]; ok {
		return i
	}
	i := int32(len(l.files))
	l.files = append(l.files, path)
	l.fileIdx[path] = i
	return i
}

func (l *linker) collect() {
	// Silent functions (model.TUGraph.Silent): their calls are optional
	// events, because the build may have left them uninstrumented. A
	// function defined in several TUs (a function of a header) counts as
	// silent when any of its TUs found it silent, as that TU's compile may
	// have left its copy uninstrumented.
	// Silent and flat functions: of the program's own units, when the link
	// decides, every candidate (confirmed with the facts of the whole
	// program in decideFlat); of the other units, those their graph step
	// recorded as left uninstrumented (static flat ones and silent ones,
	// decided with the TU's own facts - enough for them).
	silent, flat, decided := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for k, u := range l.units {
		sil := u.Silent()
		var fl []bool
		if k < l.nProgram && l.opt.DecideExclusions && u.Language == "c" {
			// (GCC's exclusion list is written for C sources only.)
			fl = u.FlatCandidates()
			for i := range u.Functions {
				decided[u.Functions[i].USR] = true
			}
		} else {
			rec := map[string]bool{}
			for _, usr := range u.Uninstrumented {
				rec[usr] = true
			}
			fl = u.Flat()
			for i := range u.Functions {
				in := rec[u.Functions[i].USR]
				sil[i] = sil[i] && in
				fl[i] = fl[i] && in
			}
		}
		for i := range u.Functions {
			if sil[i] {
				silent[u.Functions[i].USR] = true
			}
			if fl[i] {
				flat[u.Functions[i].USR] = true
			}
		}
	}
	for k, u := range l.units {
		for i := range u.Functions {
			f := &u.Functions[i]
			if _, dup := l.byUSR[f.USR]; dup {
				continue // inline/template definitions seen in several TUs
			}
			fi := &fnInfo{id: int32(len(l.fns)), unit: u, unitIdx: k, fn: f}
			l.fns = append(l.fns, fi)
			l.silent = append(l.silent, silent[f.USR])
			l.flat = append(l.flat, flat[f.USR] && !silent[f.USR])
			l.decided = append(l.decided, decided[f.USR])
			l.byUSR[f.USR] = fi
			if f.Linkage != "" && !f.Static {
				if _, ok := l.bySymbol[f.Linkage]; !ok {
					l.bySymbol[f.Linkage] = fi
				}
			}
		}
	}
	l.flags = make([]uint32, len(l.fns))
	for _, f := range l.fns {
		if f.fn.Static {
			l.flags[f.id] |= model.FnStatic
		}
	}
	for _, u := range l.units {
		for _, r := range u.AddressTaken {
			if fi := l.resolve(r.USR, r.Linkage); fi != nil {
				l.addrTaken[fi.fn.USR] = r.Type
				l.flags[fi.id] |= model.FnAddressTaken
			} else if r.Linkage != "" {
				l.extAddr[r.Linkage] = r.Type
			}
		}
		for _, c := range u.Callbacks {
			fi := l.resolve(c.USR, c.Linkage)
			if fi == nil {
				continue // a library function passed as callback: its syscalls are in the registrar's loop via extAddr
			}
			kind := registrars[c.Registrar]
			l.flags[fi.id] |= kindFlag(kind) | model.FnAddressTaken
			switch c.Registrar {
			case "pthread_atfork":
				l.forkFns = appendID(l.forkFns, fi.id)
			}
			if kind == cbExit || kind == cbThreadExit {
				l.exitFns = appendID(l.exitFns, fi.id)
			}
			l.callbacks[c.Registrar] = appendID(l.callbacks[c.Registrar], fi.id)
		}
		for _, s := range u.SlotStores {
			l.slotStores[s.Slot] = append(l.slotStores[s.Slot], s.USR)
		}
		for _, s := range u.EscapedSlots {
			l.escaped[s] = true
		}
		for _, c := range u.Classes {
			if _, ok := l.bases[c.USR]; !ok {
				l.bases[c.USR] = c.Bases
			}
			for _, m := range c.Methods {
				l.methodCls[m.USR] = c.USR
				for _, o := range m.Overrides {
					l.overriders[o] = appendStr(l.overriders[o], m.USR)
				}
				// Virtual methods are reachable through vtables from library code.
				if fi := l.byUSR[m.USR]; fi != nil {
					l.flags[fi.id] |= model.FnAddressTaken
				}
			}
		}
		for _, c := range u.Ctors {
			if fi := l.byUSR[c]; fi != nil {
				l.flags[fi.id] |= model.FnCtor
			}
		}
		for _, c := range u.Dtors {
			if fi := l.byUSR[c]; fi != nil {
				l.flags[fi.id] |= model.FnExitHandler
				l.exitFns = appendID(l.exitFns, fi.id)
			}
		}
	}
}

// decideFlat confirms the flat candidates the link decides on with the
// facts of the whole program: a function with external linkage whose address is taken, that
// is registered as a callback or handler, that is the entry or a
// constructor/destructor anywhere, a function that is recursive through
// other flat functions, and a function of the program that can make a
// HijackTargets syscall stay instrumented. (Functions of library units
// were decided by their TU: static ones only, and not by HijackTargets.)
// Then it computes the exclusion list of every program unit.
func (l *linker) decideFlat() {
	// A silent function's TU took the PureLibc names it calls for libc; if
	// the program defines such a function itself (and it is not silent),
	// the caller is not silent either.
	for changed := true; changed; {
		changed = false
		for _, f := range l.fns {
			if l.silent[f.id] && l.decided[f.id] && !l.quietInProgram(f) {
				l.silent[f.id] = false
				changed = true
			}
		}
	}
	const escapes = model.FnAddressTaken | model.FnSyncCallback | model.FnThreadStart | model.FnSignalHandler |
		model.FnExitHandler | model.FnCtor | model.FnEntry
	for _, f := range l.fns {
		if l.flat[f.id] && l.decided[f.id] && !f.fn.Static && l.flags[f.id]&escapes != 0 {
			l.flat[f.id] = false
		}
	}
	callees := make([][]int32, len(l.fns))
	for _, f := range l.fns {
		if !l.flat[f.id] {
			continue
		}
		for _, st := range f.fn.Automaton.States {
			for _, e := range st.Edges {
				lbl := f.unit.Labels[e.Label]
				if lbl.Kind != model.Call {
					continue
				}
				if c := l.resolve(lbl.Target, lbl.Name); c != nil {
					callees[f.id] = append(callees[f.id], c.id)
				}
			}
		}
	}
	worthy := map[int]bool{}
	for _, name := range HijackTargets {
		if nr, ok := l.table.Nr(name); ok {
			worthy[nr] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, f := range l.fns {
			if !l.flat[f.id] {
				continue
			}
			if !l.decided[f.id] {
				continue // compiled already as its graph step decided
			}
			if model.RecursiveThrough(f.id, callees, l.flat) || l.makesWorthy(f.id, worthy, map[int32]bool{}) {
				l.flat[f.id] = false
				changed = true
			}
		}
	}
	for _, f := range l.fns {
		if l.silent[f.id] {
			l.rep.Silent++
		} else if l.flat[f.id] {
			l.rep.Flat++
		}
	}
	if !l.opt.DecideExclusions {
		return
	}
	l.rep.Exclusions = make([][]string, l.nProgram)
	for k, u := range l.units[:l.nProgram] {
		ex := make([]bool, len(u.Functions))
		for i := range u.Functions {
			if fi := l.byUSR[u.Functions[i].USR]; fi != nil {
				ex[i] = l.silent[fi.id] || l.flat[fi.id]
			}
		}
		l.rep.Exclusions[k] = u.ExclusionNames(ex)
	}
}

// HijackTargets are the system calls an attacker hijacking control flow
// is after (run a program, create processes, open files, talk to the
// network, change identities or permissions, signal other processes). A
// function of the program that can make one of them (itself, through libc,
// or through flat functions it calls) stays instrumented, so that a jump
// into it is seen - and named in the incident - at its entry, not only at
// the system call.
var HijackTargets = []string{
	"execve", "execveat", "fork", "vfork", "clone", "clone3", "socket", "socketpair", "connect", "bind", "listen",
	"accept", "accept4", "ptrace", "process_vm_writev", "kill", "tkill", "tgkill", "setuid", "setgid", "setreuid",
	"setregid", "setresuid", "setresgid", "setgroups", "open", "openat", "openat2", "creat", "unlink", "unlinkat",
	"rename", "renameat", "renameat2", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "lchown",
	"mount", "umount2", "chroot", "pivot_root", "init_module", "finit_module", "memfd_create", "link", "linkat",
	"symlink", "symlinkat", "mkdir", "mkdirat", "truncate", "ftruncate",
}

// hijackLibc are the C library functions whose purpose is one of the
// HijackTargets operations. (The summaries of many more libc functions
// contain such a syscall incidentally - malloc reading a /proc file,
// strftime loading the time zone - which does not make their callers
// interesting targets.)
var hijackLibc = map[string]bool{}

func init() {
	for _, n := range []string{
		"open", "open64", "openat", "openat64", "creat", "creat64", "fopen", "fopen64", "freopen", "freopen64",
		"execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle", "fexecve", "system", "popen",
		"posix_spawn", "posix_spawnp", "fork", "vfork", "clone", "daemon", "socket", "socketpair", "connect",
		"bind", "listen", "accept", "accept4", "ptrace", "kill", "killpg", "setuid", "setgid", "seteuid",
		"setegid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "unlink", "unlinkat", "remove",
		"rename", "renameat", "renameat2", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat",
		"lchown", "mount", "umount", "umount2", "chroot", "dlopen", "dlmopen", "mkdir", "mkdirat", "symlink",
		"symlinkat", "link", "linkat", "truncate", "ftruncate", "mkstemp", "mkostemp", "tmpfile", "shm_open",
		"memfd_create",
	} {
		hijackLibc[n] = true
	}
}

// makesWorthy: flat function id can make a HijackTargets syscall itself,
// call a hijackLibc function or unknown code, or do so through the flat
// functions it calls.
func (l *linker) makesWorthy(id int32, worthy map[int]bool, seen map[int32]bool) bool {
	if seen[id] {
		return false
	}
	seen[id] = true
	f := l.fns[id]
	for _, st := range f.fn.Automaton.States {
		for _, e := range st.Edges {
			lbl := f.unit.Labels[e.Label]
			switch lbl.Kind {
			case model.Syscall:
				if worthy[lbl.Nr] {
					return true
				}
			case model.Call:
				if c := l.resolve(lbl.Target, lbl.Name); c != nil {
					if l.flat[c.id] && l.makesWorthy(c.id, worthy, seen) {
						return true
					}
					continue
				}
				name := baseName(lbl.Name)
				if _, ok := l.opt.Summaries.Lookup(name); !ok || hijackLibc[name] {
					return true // unknown code may do anything
				}
			}
		}
	}
	return false
}

// quietInProgram: every call of f resolves to libc or to a silent
// function of the program.
func (l *linker) quietInProgram(f *fnInfo) bool {
	for _, st := range f.fn.Automaton.States {
		for _, e := range st.Edges {
			lbl := f.unit.Labels[e.Label]
			if lbl.Kind != model.Call {
				return false
			}
			if c := l.resolve(lbl.Target, lbl.Name); c != nil && !l.silent[c.id] {
				return false
			}
		}
	}
	return true
}

func appendID(s []int32, id int32) []int32 {
	for _, x := range s {
		if x == id {
			return s
		}
	}
	return append(s, id)
}

func appendStr(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func (l *linker) resolve(usr, linkage string) *fnInfo {
	if fi := l.byUSR[usr]; fi != nil {
		return fi
	}
	if linkage != "" {
		return l.bySymbol[linkage]
	}
	return nil
}

// maxInlineStates bounds a function's automaton grown by inlining flat
// functions; beyond it, flat callees become a loop over their events (a
// sound over-approximation: they are uninstrumented either way). Inlined
// libc summary loops make closures cover most of such an automaton, and
// determinising it costs about states x closure x edges: 400 keeps the
// link of kcfm_http_server under a second.
var maxInlineStates = 400

// expansion builds the signature automaton of one function: its own
// automaton with external calls replaced by their summary loops, and the
// automata of the flat functions it calls inlined.
type expansion struct {
	l        *linker
	b        *automaton.Builder
	inlining []int32 // flat functions being inlined (recursion guard)
	inlined  bool    // some flat function was inlined
}

// inlineDFAFactor: the determinisation budget of a function with inlined
// flat functions, in DFA states per NFA state.
const inlineDFAFactor = 2

func (e *expansion) site(u *model.TUGraph, infos []int32) int32 {
	if len(infos) == 0 {
		return -1
	}
	l := e.l
	loc := u.Sites[infos[0]]
	file := ""
	if int(loc.File) < len(u.Files) {
		file = u.Files[loc.File]
	}
	l.sites = append(l.sites, model.SigSite{File: l.file(file), Line: loc.Line, Col: loc.Col})
	return int32(len(l.sites) - 1)
}

// call adds the event of calling function id from -> to. A silent
// function's call may also be unreported; a flat function's may be
// replaced by its inlined automaton (the build left it uninstrumented).
func (e *expansion) call(from, to int, id int32, si int32) error {
	l, b := e.l, e.b
	b.Edge(from, to, automaton.Label(callBase+int(id)), si)
	switch {
	case l.silent[id]:
		b.Epsilon(from, to)
	case l.flat[id]:
		if slices.Contains(e.inlining, id) || b.NumStates() > maxInlineStates {
			e.flatLoop(from, to, id)
			return nil
		}
		callee := l.fns[id]
		states := callee.fn.Automaton.States
		m := make([]int, len(states))
		for i := range m {
			m[i] = b.State()
		}
		b.Epsilon(from, m[0])
		for i, st := range states {
			if st.Flags&automaton.Return != 0 {
				b.Epsilon(m[i], to)
			}
		}
		e.inlining = append(e.inlining, id)
		e.inlined = true
		err := e.body(callee, m)
		e.inlining = e.inlining[:len(e.inlining)-1]
		return err
	}
	return nil
}

// flatLoop replaces a call of flat function id by a loop over every event
// it and the flat functions it calls can make, in any order.
func (e *expansion) flatLoop(from, to int, id int32) {
	l, b := e.l, e.b
	loop := b.State()
	b.Epsilon(from, loop)
	b.Epsilon(loop, to)
	seen := map[int32]bool{}
	var add func(id int32)
	add = func(id int32) {
		if seen[id] {
			return
		}
		seen[id] = true
		f := l.fns[id]
		u := f.unit
		for _, st := range f.fn.Automaton.States {
			for _, ed := range st.Edges {
				lbl := u.Labels[ed.Label]
				si := e.site(u, ed.Infos)
				switch lbl.Kind {
				case model.Syscall:
					b.Edge(loop, loop, automaton.Label(lbl.Nr), si)
				case model.Call:
					if c := l.resolve(lbl.Target, lbl.Name); c != nil {
						b.Edge(loop, loop, automaton.Label(callBase+int(c.id)), si)
						if l.flat[c.id] || l.silent[c.id] {
							add(c.id)
						}
					} else {
						l.external(b, loop, loop, lbl.Name, f.fn.Name, si)
					}
				}
			}
		}
	}
	add(id)
}

// body adds the edges of f's automaton between the builder states m.
func (e *expansion) body(f *fnInfo, m []int) error {
	l, b := e.l, e.b
	u, fn := f.unit, f.fn
	for s, st := range fn.Automaton.States {
		for _, ed := range st.Edges {
			lbl := u.Labels[ed.Label]
			si := e.site(u, ed.Infos)
			from, to := m[s], m[ed.To]
			switch lbl.Kind {
			case model.Syscall:
				b.Edge(from, to, automaton.Label(lbl.Nr), si)
			case model.Call:
				if callee := l.resolve(lbl.Target, lbl.Name); callee != nil {
					if err := e.call(from, to, callee.id, si); err != nil {
						return err
					}
				} else if ids := l.dependent(lbl); len(ids) > 0 {
					// A call in a template recorded by name: any function
					// or method of that name.
					for _, id := range ids {
						if err := e.call(from, to, id, si); err != nil {
							return err
						}
					}
				} else {
					l.external(b, from, to, lbl.Name, fn.Name, si)
				}
			case model.ICall:
				targets, ext := l.icallTargets(lbl, fn.Name)
				l.rep.IndirectCalls++
				l.rep.IndirectTargets += len(targets) + len(ext)
				for _, t := range targets {
					if err := e.call(from, to, t, si); err != nil {
						return err
					}
				}
				for _, name := range ext {
					l.external(b, from, to, name, fn.Name, si)
				}
			case model.VCall:
				targets := l.vcallTargets(lbl)
				l.rep.VirtualCalls++
				l.rep.VirtualTargets += len(targets)
				if len(targets) == 0 {
					l.rep.Warnings = append(l.rep.Warnings, fmt.Sprintf("%s: virtual call %s has no defined target in the linked graphs (library class?): treated as an external call", fn.Name, lbl.Name))
					l.external(b, from, to, lbl.Name, fn.Name, si)
				}
				for _, t := range targets {
					if err := e.call(from, to, t, si); err != nil {
						return err
					}
				}
			default:
				return fmt.Errorf("link: %s: unknown label kind %q", fn.Name, lbl.Kind)
			}
		}
	}
	return nil
}

// Builder labels: syscall nr n -> n; call of function id -> callBase+id.
const callBase = model.MaxSyscallNr + 1

func (l *linker) expand(f *fnInfo) (model.SigFunction, error) {
	u, fn := f.unit, f.fn
	b := automaton.NewBuilder()
	for i := 1; i < len(fn.Automaton.States); i++ {
		b.State()
	}
	top := make([]int, len(fn.Automaton.States))
	for i := range top {
		top[i] = i
		b.Mark(i, fn.Automaton.States[i].Flags)
	}
	e := &expansion{l: l, b: b}
	if err := e.body(f, top); err != nil {
		return model.SigFunction{}, err
	}
	if e.inlined {
		// Inlined automata with their libc summary loops can blow the
		// subset construction up; past a modest budget keep the
		// epsilon-free NFA (the checker works on state sets either way).
		b.DFALimit = inlineDFAFactor * b.NumStates()
	}
	a := b.Finish()
	sf := model.SigFunction{Name: fn.Name, Symbol: fn.Linkage, File: u.Files[fn.Loc.File], Line: fn.Loc.Line}
	if len(u.Files) == 0 {
		sf.File = ""
	}
	sf.States = make([]model.SigState, len(a.States))
	for i, st := range a.States {
		ss := model.SigState{Flags: uint8(st.Flags)}
		for _, e := range st.Edges {
			var lbl model.SigLabel
			if int(e.Label) >= callBase {
				lbl = model.CallLabel(int32(int(e.Label) - callBase))
			} else {
				lbl = model.SyscallLabel(int(e.Label))
			}
			s := int32(-1)
			if len(e.Infos) > 0 {
				s = e.Infos[0]
			}
			ss.Edges = append(ss.Edges, model.SigEdge{Label: lbl, To: e.To, Site: s})
		}
		sort.Slice(ss.Edges, func(i, j int) bool {
			if ss.Edges[i].Label != ss.Edges[j].Label {
				return ss.Edges[i].Label < ss.Edges[j].Label
			}
			return ss.Edges[i].To < ss.Edges[j].To
		})
		sf.States[i] = ss
	}
	return sf, nil
}

// dependent returns the functions a call recorded by name only (a
// dependent call in a template: empty Target) may reach: every defined
// function or method with that unqualified name.
func (l *linker) dependent(lbl model.Label) []int32 {
	if lbl.Target != "" || lbl.Name == "" {
		return nil
	}
	want := unqualified(lbl.Name)
	var ids []int32
	for _, f := range l.fns {
		if unqualified(f.fn.Name) == want {
			ids = append(ids, f.id)
		}
	}
	return ids
}

// unqualified turns "ns::C::f(int) const" into "f".
func unqualified(name string) string {
	if i := strings.IndexByte(name, '('); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndex(name, "::"); i >= 0 {
		name = name[i+2:]
	}
	return strings.TrimSpace(name)
}

// external replaces a call of an uninstrumented function by a loop state
// over its syscalls and the program functions it may call back.
func (l *linker) external(b *automaton.Builder, from, to int, name, caller string, site int32) {
	loop := b.State()
	b.Epsilon(from, loop)
	b.Epsilon(loop, to)
	base := baseName(name)
	nrs, ok := l.opt.Summaries.Lookup(base)
	if !ok {
		if l.unknown[base] == nil {
			l.unknown[base] = map[string]bool{}
		}
		l.unknown[base][caller] = true
		nrs = l.opt.Summaries.All()
		// Unknown code may call back anything whose address escaped.
		for _, f := range l.fns {
			if l.flags[f.id]&(model.FnAddressTaken|model.FnSyncCallback) != 0 {
				b.Edge(loop, loop, automaton.Label(callBase+int(f.id)), site)
			}
		}
	}
	for _, nr := range nrs {
		b.Edge(loop, loop, automaton.Label(nr), site)
	}
	if registrars[base] == cbSync {
		for _, id := range l.callbacks[base] {
			b.Edge(loop, loop, automaton.Label(callBase+int(id)), site)
		}
	}
	if exitInvokers[base] {
		for _, id := range l.exitFns {
			b.Edge(loop, loop, automaton.Label(callBase+int(id)), site)
		}
	}
	if forkInvokers[base] {
		for _, id := range l.forkFns {
			b.Edge(loop, loop, automaton.Label(callBase+int(id)), site)
		}
	}
}

// baseName strips symbol versions (memcpy@@GLIBC_2.14).
func baseName(name string) string {
	if i := strings.IndexByte(name, '@'); i > 0 {
		return name[:i]
	}
	return name
}

// typeCompatible reports whether a function of type have can be called
// through a pointer of type want (canonical clang spellings).
func typeCompatible(want, have string) bool {
	if want == have || want == "" {
		return true
	}
	norm := func(s string) string { return strings.ReplaceAll(s, " ", "") }
	w, h := norm(want), norm(have)
	if w == h {
		return true
	}
	// An unprototyped pointer "int ()" accepts any function with that
	// return type (C only).
	if strings.HasSuffix(w, "()") {
		ret := strings.TrimSuffix(w, "()")
		if i := strings.IndexByte(h, '('); i >= 0 && h[:i] == ret {
			return true
		}
	}
	return false
}

func (l *linker) icallTargets(lbl model.Label, caller string) ([]int32, []string) {
	if !l.opt.NoNarrowing && lbl.Slot != "" && l.narrowable(lbl.Slot) {
		var ids []int32
		var ext []string
		for _, usr := range l.slotStores[lbl.Slot] {
			if fi := l.byUSR[usr]; fi != nil {
				ids = appendID(ids, fi.id)
			} else {
				ext = appendStr(ext, usr)
			}
		}
		if len(ext) == 0 && len(ids) > 0 {
			l.rep.NarrowedCalls++
			return ids, nil
		}
	}
	var ids []int32
	for usr, typ := range l.addrTaken {
		if typeCompatible(lbl.Type, typ) {
			ids = append(ids, l.byUSR[usr].id)
		}
	}
	var ext []string
	for name, typ := range l.extAddr {
		if typeCompatible(lbl.Type, typ) {
			ext = append(ext, name)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	sort.Strings(ext)
	if len(ids) == 0 && len(ext) == 0 {
		l.rep.Warnings = append(l.rep.Warnings, fmt.Sprintf("%s: indirect call %s has no address-taken target of a compatible type: all address-taken functions allowed", caller, lbl.String()))
		for usr := range l.addrTaken {
			ids = append(ids, l.byUSR[usr].id)
		}
		for name := range l.extAddr {
			ext = append(ext, name)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		sort.Strings(ext)
	}
	return ids, ext
}

// narrowable: only globals and struct fields whose every store is a known
// function and whose address never escapes. Locals and parameters (USRs
// inside a function, "@F@") get values the analysis does not see.
func (l *linker) narrowable(slot string) bool {
	if l.escaped[slot] || len(l.slotStores[slot]) == 0 {
		return false
	}
	if strings.HasPrefix(slot, "var:") && strings.Contains(slot, "@F@") {
		return false
	}
	for _, usr := range l.slotStores[slot] {
		if usr == "" {
			return false
		}
	}
	return true
}

func (l *linker) vcallTargets(lbl model.Label) []int32 {
	// Classes derived from the static class.
	derived := map[string]bool{}
	if lbl.Class != "" {
		derived[lbl.Class] = true
		for changed := true; changed; {
			changed = false
			for c, bases := range l.bases {
				if derived[c] {
					continue
				}
				for _, b := range bases {
					if derived[b] {
						derived[c] = true
						changed = true
						break
					}
				}
			}
		}
	}
	seen := map[string]bool{}
	var ids []int32
	var walk func(m string)
	walk = func(m string) {
		if seen[m] {
			return
		}
		seen[m] = true
		if fi := l.byUSR[m]; fi != nil {
			cls := l.methodCls[m]
			if lbl.Class == "" || cls == "" || derived[cls] || m == lbl.Target {
				ids = appendID(ids, fi.id)
			}
		}
		for _, o := range l.overriders[m] {
			walk(o)
		}
	}
	walk(lbl.Target)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
