package libcsum

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// vDSO functions: the libc calls the kernel's vDSO through a pointer it
// found at start-up (an indirect call the analysis cannot follow into the
// vDSO) and falls back to the real system call when there is no vDSO entry;
// the vDSO code itself also falls back to the system call. The fallback
// syscall is added explicitly to the functions below.
var vdsoFallback = map[string][]string{
	"clock_gettime":   {"clock_gettime"},
	"__clock_gettime": {"clock_gettime"},
	"clock_getres":    {"clock_getres"},
	"__clock_getres":  {"clock_getres"},
	"gettimeofday":    {"gettimeofday"},
	"__gettimeofday":  {"gettimeofday"},
	"time":            {"time"},
	"sched_getcpu":    {"getcpu"},
	"getcpu":          {"getcpu"},
}

// Entry points of dynamic loading. Functions that reach them get LoadsCode
// and the syscalls the dynamic loader makes while loading a library.
var loaderEntries = map[string]bool{
	"dlopen": true, "dlmopen": true, "__libc_dlopen_mode": true, "_dl_open": true,
}

// The loader also allocates with libc's malloc once libc is relocated
// (brk, mmap, munmap, mremap, madvise), takes its recursive load lock
// (futex), resolves $ORIGIN of the main program (readlink), and reports
// fatal errors (write, writev, exit_group).
var loaderSyscalls = []string{
	"open", "openat", "read", "pread64", "fstat", "newfstatat", "statx", "mmap", "mprotect",
	"munmap", "close", "brk", "access", "faccessat", "faccessat2", "getdents64", "lseek",
	"mremap", "madvise", "futex", "readlink", "write", "writev", "exit_group",
}

// Generate analyses the libc at path (an ELF shared library for arch) and
// returns its summary.
func Generate(path string, arch sysnum.Arch) (*Summary, error) {
	im, err := openImage(path, arch)
	if err != nil {
		return nil, err
	}
	if im.libc == "" {
		return nil, fmt.Errorf("%s: neither glibc nor musl (no GNU C Library version string, no musl libc marker, no GLIBC_ symbol versions)", path)
	}
	a, err := analyse(im)
	if err != nil {
		return nil, err
	}
	return a.summary(), nil
}

func analyse(im *image) (*analysis, error) {
	a := &analysis{im: im, table: sysnum.For(im.arch)}
	if im.arch == sysnum.X86_64 {
		a.info = x86Info
	} else {
		a.info = arm64Info
	}
	a.buildSegments()
	a.resolveThreaded()
	a.buildEdges()
	a.traceMemo = map[traceKey]traceRes{}
	a.applyRegistrars(true)
	a.resolveRegCalls()
	a.initVtableSlots()
	a.narrowAll()
	a.narrowGconv()
	a.narrowRegisteredTables()
	a.applyRegistrars(false)
	a.resolveRegistrarValues()
	a.special()
	a.cutCancellation()
	a.cutFatal()
	a.propagate()
	a.applySetxid()
	return a, nil
}

func (a *analysis) nrs(names []string) []int {
	var out []int
	for _, n := range names {
		if nr, ok := a.table.Nr(n); ok {
			out = append(out, nr)
		}
	}
	return out
}

// special applies the documented special cases to the graph.
func (a *analysis) special() {
	load := a.nrs(loaderSyscalls)
	for _, s := range a.im.syms {
		if loaderEntries[s.name] {
			if ni := a.segAt(s.value); ni >= 0 {
				a.nodes[ni].flags |= fLoads
				a.nodes[ni].localSys = append(a.nodes[ni].localSys, load...)
			}
		}
	}
	// Pointers loaded from the loader's data: its functions (loader
	// syscalls) or the vDSO (the fallback syscalls of the vDSO functions).
	// Pointers loaded from it inside the vDSO functions (clock_gettime, …)
	// are the vDSO's: its only syscalls are the fallbacks.
	a.nodes[a.rtldNode].localSys = append(a.nodes[a.rtldNode].localSys, load...)
	for cn, callee := range a.rtldCallee {
		a.nodes[cn].localSys = append(a.nodes[cn].localSys, a.nrs(loaderFuncs[callee].sys)...)
	}
	for _, fb := range vdsoFallback {
		a.nodes[a.vdsoNode].localSys = append(a.nodes[a.vdsoNode].localSys, a.nrs(fb)...)
	}
	// External functions (defined in ld.so for glibc: _dl_*, __tls_get_addr):
	// the dynamic loader's functions called from libc allocate TLS, find
	// objects, or report errors. Those in loaderFuncs have their own set;
	// the others get the loader's syscalls and call libc's allocator
	// (mallocFamily) back.
	var exts []string
	for name := range a.extOf {
		exts = append(exts, name)
	}
	sort.Strings(exts)
	alloc := a.symSegs(mallocFamily...)
	callsAlloc := func(ni int) {
		for _, t := range alloc {
			a.nodes[ni].out = append(a.nodes[ni].out, edge{to: t, site: -1})
			a.nodes[t].in = append(a.nodes[t].in, ni)
		}
	}
	callsAlloc(a.rtldNode)
	for _, name := range exts {
		ni := a.extOf[name]
		n := a.nodes[ni]
		if lf, ok := loaderFuncs[name]; ok {
			n.localSys = append(n.localSys, a.nrs(lf.sys)...)
			continue
		}
		if isLoaderSymbol(name) {
			n.localSys = append(n.localSys, load...)
			callsAlloc(ni)
		} else {
			n.unknown = append(n.unknown, 0)
			a.warnings = append(a.warnings, "call to external function "+name+": treated as unknown")
		}
	}
}

// loaderFunc is what a function of glibc's dynamic loader called by libc
// does (TestLoaderFunctions checks these against an analysis of ld.so).
type loaderFunc struct {
	sys   []string
	fatal bool // a crash path (rule fatal)
}

// ldDiag is what ld.so does to report a fatal error (_dl_fatal_printf:
// writev to stderr, the pid in debug output, _exit).
var ldDiag = []string{"writev", "getpid", "exit", "exit_group"}

var loaderFuncs = map[string]loaderFunc{
	"__tunable_get_val":        {},                          // reads a tunable; may call the callback it is given
	"__nptl_change_stack_perm": {sys: []string{"mprotect"}}, // makes a thread stack executable
	"_dl_find_dso_for_object":  {sys: ldDiag},               // looks up the link map (assertion failures)
	"_dl_fatal_printf":         {sys: ldDiag, fatal: true},
	"_dl_mcount":               {}, // profiling arc counters in a buffer mapped at start-up
}

// mallocFamily: the loader allocates with libc's malloc once libc is
// relocated (__rtld_malloc and friends point to them).
var mallocFamily = []string{"malloc", "calloc", "realloc", "free", "memalign", "aligned_alloc", "posix_memalign"}

func (a *analysis) summary() *Summary {
	c := a.close()
	s := &Summary{Format: Format, Version: Version, Libc: a.im.libc, LibcVersion: a.im.version, Arch: string(a.im.arch),
		BuildID: a.im.buildID, Soname: a.im.soname, Functions: map[string]Func{}}
	// default version of each name, plus name@VER for non-default versions
	type entry struct {
		key string
		sym symbol
	}
	var entries []entry
	defaults := map[string]bool{}
	for _, sy := range a.im.syms {
		if sy.def {
			defaults[sy.name] = true
		}
	}
	for _, sy := range a.im.syms {
		key := sy.name
		if !sy.def && defaults[sy.name] && sy.version != "" {
			key = sy.name + "@" + sy.version
		}
		entries = append(entries, entry{key, sy})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	for _, e := range entries {
		if _, dup := s.Functions[e.key]; dup {
			continue
		}
		var ni int
		if e.sym.ifunc {
			ni = a.ifuncNode(e.sym.value)
		} else {
			ni = a.segAt(e.sym.value)
		}
		if ni < 0 {
			continue
		}
		n := a.nodes[ni]
		f := a.funcOf(c, ni)
		if f.UnknownSyscall {
			f.Notes = append(f.Notes, fmt.Sprintf("reaches a syscall site with a non-constant number (e.g. at %#x)", c.unkSite[ni]))
		}
		if dep := n.dep; dep != 0 {
			for i, r := range a.info.argRegs {
				if dep&(1<<uint(r)) != 0 {
					if f.NrArg == 0 {
						f.NrArg = i + 1
						f.Notes = append(f.Notes, fmt.Sprintf("system call number taken from argument %d", i+1))
					} else {
						f.UnknownSyscall = true
					}
					dep &^= 1 << uint(r)
				}
			}
			if dep != 0 {
				f.UnknownSyscall = true
				f.Notes = append(f.Notes, "system call number depends on a register that is not an argument")
			}
		}
		for i, r := range a.info.argRegs {
			if n.callDep&(1<<uint(r)) != 0 {
				f.Notes = append(f.Notes, fmt.Sprintf("calls its argument %d (a callback in the program: its syscalls belong to the program's model)", i+1))
			}
		}
		if fb, ok := vdsoFallback[e.sym.name]; ok {
			f.Syscalls = mergeSorted(f.Syscalls, a.nrs(fb))
			f.Notes = append(f.Notes, "vDSO function: includes the fallback system call "+strings.Join(fb, ","))
		}
		if f.LoadsCode {
			f.Notes = append(f.Notes, "may load code with dlopen (NSS, iconv, unwinder): the loaded code's syscalls are not included")
		}
		s.Functions[e.key] = f
	}
	if a.cancelEntry >= 0 {
		p := a.funcOf(c, a.cancelEntry)
		p.Notes = append(p.Notes, fmt.Sprintf("thread cancellation: unwinding from %#x (%d call sites cut)", a.nodes[a.cancelEntry].lo, a.cancelCuts))
		s.Cancellation = &p
		for _, t := range cancelTriggers {
			if _, ok := s.Functions[t]; ok {
				s.CancelTriggers = append(s.CancelTriggers, t)
			}
		}
	}
	if a.fatalNode >= 0 {
		p := a.funcOf(c, a.fatalNode)
		p.Notes = append(p.Notes, fmt.Sprintf("crash paths: %s (%d call sites cut)", strings.Join(a.fatalNames(), ", "), a.fatalCuts))
		s.Fatal = &p
		d := a.funcOf(c, a.dyingNode)
		d.Notes = append(d.Notes, "dying: the crash paths without formatting assertion messages (malloc, write to stderr instead)")
		s.Dying = &d
	}
	return s
}

func (a *analysis) fatalNames() []string {
	var out []string
	for _, e := range a.nodes[a.fatalNode].out {
		name := fmt.Sprintf("%#x", a.nodes[e.to].lo)
		if a.nodes[e.to].kind == nExt {
			name = a.nodes[e.to].name
		}
		for _, sy := range a.im.syms {
			if a.segAt(sy.value) == e.to && !sy.ifunc {
				name = sy.name
				break
			}
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// funcOf is the closed summary of node ni (without the notes that depend
// on the exported symbol).
func (a *analysis) funcOf(c closure, ni int) Func {
	f := Func{Syscalls: c.sys[ni].list(), UnknownSyscall: c.unknown[ni], LoadsCode: c.flags[ni]&fLoads != 0,
		Cancellation: c.flags[ni]&fCancel != 0, Fatal: c.flags[ni]&fFatal != 0}
	if f.Syscalls == nil {
		f.Syscalls = []int{}
	}
	return f
}

func mergeSorted(a, b []int) []int {
	m := map[int]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		m[x] = true
	}
	out := make([]int, 0, len(m))
	for x := range m {
		out = append(out, x)
	}
	sort.Ints(out)
	return out
}
