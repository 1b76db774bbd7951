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

var loaderSyscalls = []string{
	"open", "openat", "read", "pread64", "fstat", "newfstatat", "statx", "mmap", "mprotect",
	"munmap", "close", "brk", "access", "faccessat", "faccessat2", "getdents64", "lseek",
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
	a.buildEdges()
	a.traceMemo = map[traceKey]traceRes{}
	a.resolveRegCalls()
	a.special()
	a.propagate()
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
				a.nodes[ni].loads = true
				a.nodes[ni].localSys = append(a.nodes[ni].localSys, load...)
			}
		}
	}
	// External functions (defined in ld.so for glibc: _dl_*, __tls_get_addr):
	// the dynamic loader's functions called from libc allocate TLS, find
	// objects, or report errors; give them the loader's syscalls.
	var exts []string
	for name := range a.extOf {
		exts = append(exts, name)
	}
	sort.Strings(exts)
	for _, name := range exts {
		n := a.nodes[a.extOf[name]]
		if strings.HasPrefix(name, "_dl_") || name == "__tls_get_addr" || strings.HasPrefix(name, "__rtld_") {
			n.localSys = append(n.localSys, load...)
		} else {
			n.unknown = append(n.unknown, 0)
			a.warnings = append(a.warnings, "call to external function "+name+": treated as unknown")
		}
	}
}

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
		f := Func{Syscalls: c.sys[ni].list(), UnknownSyscall: c.unknown[ni], LoadsCode: c.loads[ni]}
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
		if f.Syscalls == nil {
			f.Syscalls = []int{}
		}
		s.Functions[e.key] = f
	}
	return s
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
