// Package libcsum computes and loads libc summaries: for every function a
// libc exports, the system calls it can make (directly or through the
// functions it calls), computed from the libc binary itself (ELF symbols,
// relocations, .eh_frame and disassembly with golang.org/x/arch).
//
// Summaries for the libcs KCFM is tested on (glibc and musl, x86_64 and
// aarch64, from Debian 12) are checked in under data/ and embedded in the
// kcfm binary; `kcfm libc generate` computes one for any other libc.
// The method, its special cases and the file format are documented in
// docs/libc-summaries.md.
package libcsum

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// Format and Version identify the on-disk summary format.
const (
	Format  = "kcfm-libc-summary"
	Version = 2
)

// Limits enforced by Load on untrusted summary files.
const (
	MaxFileSize    = 16 << 20
	MaxFunctions   = 100000
	MaxNameLen     = 512
	MaxNotes       = 16
	MaxNoteLen     = 512
	MaxSets        = 100000
	maxStringField = 256
)

// Summary is the set of function summaries of one libc binary.
type Summary struct {
	Format      string
	Version     int
	Libc        string // "glibc" or "musl"
	LibcVersion string // e.g. "2.36", "1.2.3"
	Arch        string // sysnum.Arch: "x86_64" or "aarch64"
	BuildID     string // hex GNU build id of the analysed binary
	Soname      string // "libc.so.6"; musl has none: "libc.so" (its DT_NEEDED name)
	Functions   map[string]Func
	// Cancellation is what unwinding a cancelled thread can do (rule
	// "cancellation"): the syscalls of the cut cancellation path. nil when
	// the rule did not apply (then nothing was cut).
	Cancellation *Func
	// CancelTriggers are the exported functions through which a program
	// cancels threads: a program calling none of them never runs the
	// cancellation path.
	CancelTriggers []string
	// Fatal is what a crash path can do (rule "fatal"): abort, failed
	// assertions, stack-protector and fortify failures, libc's fatal
	// errors. nil when the rule did not apply.
	Fatal *Func
	// Dying is the crash paths without the formatting of assertion
	// messages (gettext, stdio), which is replaced by the measured
	// syscalls of writing the message: what the default Effective allows.
	Dying *Func
}

// Func is the summary of one exported function.
type Func struct {
	// Syscalls: numbers (for Arch) of every system call the function can
	// make, directly or through callees, sorted and unique.
	Syscalls []int
	// UnknownSyscall: the function can reach a syscall site whose number is
	// not a constant the analysis could determine.
	UnknownSyscall bool
	// LoadsCode: the function can reach dlopen (NSS modules, iconv gconv
	// modules, libgcc_s for unwinding, explicit dlopen). Syscalls includes
	// the dynamic loader's own syscalls, not those of the loaded code.
	LoadsCode bool
	// NrArg > 0: the function also makes the system call whose number is
	// its NrArg-th integer argument (the syscall() wrapper: NrArg == 1).
	// Callers with a constant argument make exactly that syscall.
	NrArg int
	// Cancellation: the function is a cancellation point. If the calling
	// thread has been cancelled (pthread_cancel), the call can unwind and
	// end the thread; that path's syscalls are Summary.Cancellation's, not
	// included in Syscalls.
	Cancellation bool
	// Fatal: the function can take a crash path (see Summary.Fatal); that
	// path's syscalls are not included in Syscalls.
	Fatal bool
	// Notes explain special cases (vDSO, indirect calls, unknown sites).
	Notes []string
}

// on-disk form: identical sets are stored once.
type fileSummary struct {
	Format      string              `json:"format"`
	Version     int                 `json:"version"`
	Libc        string              `json:"libc"`
	LibcVersion string              `json:"libc_version"`
	Arch        string              `json:"arch"`
	BuildID     string              `json:"build_id"`
	Soname      string              `json:"soname"`
	Sets        [][]int             `json:"sets"`
	Functions   map[string]fileFunc `json:"functions"`
	// version 2
	Cancellation   *fileFunc `json:"cancellation,omitempty"`
	CancelTriggers []string  `json:"cancel_triggers,omitempty"`
	Fatal          *fileFunc `json:"fatal,omitempty"`
	Dying          *fileFunc `json:"dying,omitempty"`
}

type fileFunc struct {
	Set            int      `json:"set"`
	UnknownSyscall bool     `json:"unknown_syscall,omitempty"`
	LoadsCode      bool     `json:"loads_code,omitempty"`
	NrArg          int      `json:"nr_arg,omitempty"`
	Cancellation   bool     `json:"cancellation_point,omitempty"`
	Fatal          bool     `json:"fatal_path,omitempty"`
	Notes          []string `json:"notes,omitempty"`
}

// Marshal encodes s in the on-disk format (deterministic output).
func (s *Summary) Marshal() ([]byte, error) {
	fs := fileSummary{Format: s.Format, Version: s.Version, Libc: s.Libc, LibcVersion: s.LibcVersion, Arch: s.Arch,
		BuildID: s.BuildID, Soname: s.Soname, Functions: map[string]fileFunc{}, CancelTriggers: s.CancelTriggers}
	setIdx := map[string]int{}
	enc := func(f Func) fileFunc {
		key := fmt.Sprint(f.Syscalls)
		i, ok := setIdx[key]
		if !ok {
			i = len(fs.Sets)
			setIdx[key] = i
			set := append([]int{}, f.Syscalls...)
			fs.Sets = append(fs.Sets, set)
		}
		return fileFunc{Set: i, UnknownSyscall: f.UnknownSyscall, LoadsCode: f.LoadsCode, NrArg: f.NrArg,
			Cancellation: f.Cancellation, Fatal: f.Fatal, Notes: f.Notes}
	}
	names := make([]string, 0, len(s.Functions))
	for n := range s.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	// sets ordered by first use in name order: deterministic
	for _, n := range names {
		fs.Functions[n] = enc(s.Functions[n])
	}
	if s.Cancellation != nil {
		c := enc(*s.Cancellation)
		fs.Cancellation = &c
	}
	if s.Fatal != nil {
		c := enc(*s.Fatal)
		fs.Fatal = &c
	}
	if s.Dying != nil {
		c := enc(*s.Dying)
		fs.Dying = &c
	}
	var b bytes.Buffer
	je := json.NewEncoder(&b)
	je.SetEscapeHTML(false)
	je.SetIndent("", " ")
	if err := je.Encode(fs); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var (
	hexRE  = regexp.MustCompile(`^[0-9a-f]*$`)
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_.@$]+$`)
)

// Parse decodes and validates a summary (name is used in error messages).
func Parse(data []byte, name string) (*Summary, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes exceeds the limit of %d", name, len(data), MaxFileSize)
	}
	var fs fileSummary
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fs); err != nil {
		return nil, fmt.Errorf("%s: not a libc summary: %v", name, jsonErr(data, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: trailing data after the summary object", name)
	}
	if fs.Format != Format {
		return nil, fmt.Errorf("%s: format %q, expected %q", name, fs.Format, Format)
	}
	if fs.Version != Version && fs.Version != 1 {
		return nil, fmt.Errorf("%s: format version %d not supported (this kcfm reads versions 1 and %d)", name, fs.Version, Version)
	}
	if fs.Version == 1 && (fs.Cancellation != nil || fs.Fatal != nil || fs.Dying != nil || fs.CancelTriggers != nil) {
		return nil, fmt.Errorf("%s: version 1 summary with version 2 fields (cancellation, fatal, dying, cancel_triggers)", name)
	}
	if (fs.Fatal == nil) != (fs.Dying == nil) {
		return nil, fmt.Errorf("%s: fatal and dying come together", name)
	}
	arch, err := sysnum.ParseArch(fs.Arch)
	if err != nil || string(arch) != fs.Arch {
		return nil, fmt.Errorf("%s: arch %q: expected x86_64 or aarch64", name, fs.Arch)
	}
	if fs.Libc != "glibc" && fs.Libc != "musl" {
		return nil, fmt.Errorf("%s: libc %q: expected glibc or musl", name, fs.Libc)
	}
	for field, v := range map[string]string{"libc_version": fs.LibcVersion, "soname": fs.Soname, "build_id": fs.BuildID} {
		if len(v) > maxStringField {
			return nil, fmt.Errorf("%s: %s longer than %d bytes", name, field, maxStringField)
		}
	}
	if !hexRE.MatchString(fs.BuildID) {
		return nil, fmt.Errorf("%s: build_id %q is not lower-case hex", name, fs.BuildID)
	}
	if len(fs.Sets) > MaxSets {
		return nil, fmt.Errorf("%s: %d syscall sets exceeds the limit of %d", name, len(fs.Sets), MaxSets)
	}
	if len(fs.Functions) > MaxFunctions {
		return nil, fmt.Errorf("%s: %d functions exceeds the limit of %d", name, len(fs.Functions), MaxFunctions)
	}
	tbl := sysnum.For(arch)
	for i, set := range fs.Sets {
		if len(set) > tbl.Max()+1 {
			return nil, fmt.Errorf("%s: sets[%d]: %d entries, more than the %s syscall table", name, i, len(set), arch)
		}
		for j, nr := range set {
			if nr < 0 || nr > tbl.Max() || tbl.Name(nr) == "" {
				return nil, fmt.Errorf("%s: sets[%d][%d]: %d is not an %s system call number", name, i, j, nr, arch)
			}
			if j > 0 && set[j-1] >= nr {
				return nil, fmt.Errorf("%s: sets[%d]: not sorted and unique at index %d", name, i, j)
			}
		}
	}
	s := &Summary{Format: fs.Format, Version: fs.Version, Libc: fs.Libc, LibcVersion: fs.LibcVersion, Arch: fs.Arch,
		BuildID: fs.BuildID, Soname: fs.Soname, Functions: make(map[string]Func, len(fs.Functions))}
	decode := func(what string, f fileFunc) (Func, error) {
		if f.Set < 0 || f.Set >= len(fs.Sets) {
			return Func{}, fmt.Errorf("%s: %s: set %d out of range [0,%d)", name, what, f.Set, len(fs.Sets))
		}
		if f.NrArg < 0 || f.NrArg > 6 {
			return Func{}, fmt.Errorf("%s: %s: nr_arg %d out of range [0,6]", name, what, f.NrArg)
		}
		if fs.Version == 1 && (f.Cancellation || f.Fatal) {
			return Func{}, fmt.Errorf("%s: %s: cancellation_point/fatal_path in a version 1 summary", name, what)
		}
		if len(f.Notes) > MaxNotes {
			return Func{}, fmt.Errorf("%s: %s: %d notes exceeds the limit of %d", name, what, len(f.Notes), MaxNotes)
		}
		for _, n := range f.Notes {
			if len(n) > MaxNoteLen {
				return Func{}, fmt.Errorf("%s: %s: note longer than %d bytes", name, what, MaxNoteLen)
			}
		}
		return Func{Syscalls: fs.Sets[f.Set], UnknownSyscall: f.UnknownSyscall, LoadsCode: f.LoadsCode, NrArg: f.NrArg,
			Cancellation: f.Cancellation, Fatal: f.Fatal, Notes: f.Notes}, nil
	}
	for fn, f := range fs.Functions {
		if len(fn) == 0 || len(fn) > MaxNameLen || !nameRE.MatchString(fn) {
			return nil, fmt.Errorf("%s: function name %q is not a valid symbol name", name, trunc(fn))
		}
		g, err := decode("function "+fn, f)
		if err != nil {
			return nil, err
		}
		s.Functions[fn] = g
	}
	for _, p := range []struct {
		what string
		f    *fileFunc
		dst  **Func
	}{{"cancellation", fs.Cancellation, &s.Cancellation}, {"fatal", fs.Fatal, &s.Fatal}, {"dying", fs.Dying, &s.Dying}} {
		if p.f == nil {
			continue
		}
		if p.f.NrArg != 0 {
			return nil, fmt.Errorf("%s: %s: nr_arg is not allowed on a path", name, p.what)
		}
		g, err := decode(p.what, *p.f)
		if err != nil {
			return nil, err
		}
		*p.dst = &g
	}
	if len(fs.CancelTriggers) > MaxNotes {
		return nil, fmt.Errorf("%s: %d cancel_triggers exceeds the limit of %d", name, len(fs.CancelTriggers), MaxNotes)
	}
	for _, t := range fs.CancelTriggers {
		if len(t) == 0 || len(t) > MaxNameLen || !nameRE.MatchString(t) {
			return nil, fmt.Errorf("%s: cancel trigger %q is not a valid symbol name", name, trunc(t))
		}
	}
	s.CancelTriggers = fs.CancelTriggers
	return s, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func jsonErr(data []byte, err error) error {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	return fmt.Errorf("line %d: %v", line, err)
}

// Load reads and validates a summary file.
func Load(path string) (*Summary, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes exceeds the limit of %d", path, st.Size(), MaxFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Lookup finds the summary of fn. It accepts versioned names
// (memcpy@@GLIBC_2.14 → memcpy; memcpy@GLIBC_2.2.5 → that version's
// entry when it differs from the default), and the ISO C99/C23 scanf
// redirections (__isoc99_sscanf → sscanf's entry if __isoc99_sscanf is not
// itself exported), and glibc's libc_nonshared.a wrappers (atexit →
// __cxa_atexit, at_quick_exit, pthread_atfork). Aliases exported under several names (open, open64,
// __open64) each have their own entry, so no other renaming is done.
func (s *Summary) Lookup(fn string) (Func, bool) {
	if f, ok := s.Functions[fn]; ok {
		return f, true
	}
	base := fn
	if i := strings.IndexByte(fn, '@'); i > 0 {
		base = fn[:i]
		ver := strings.TrimLeft(fn[i:], "@")
		if f, ok := s.Functions[base+"@"+ver]; ok {
			return f, true
		}
		if f, ok := s.Functions[base]; ok {
			return f, true
		}
	}
	if alt, ok := staticWrappers[base]; ok {
		if f, ok := s.Functions[alt]; ok {
			return f, true
		}
	}
	for _, p := range []string{"__isoc99_", "__isoc23_"} {
		if strings.HasPrefix(base, p) {
			if f, ok := s.Functions[strings.TrimPrefix(base, p)]; ok {
				return f, true
			}
		}
	}
	return Func{}, false
}

// staticWrappers: functions glibc links statically into the program from
// libc_nonshared.a, which call the exported function named here.
var staticWrappers = map[string]string{
	"atexit":         "__cxa_atexit",
	"at_quick_exit":  "__cxa_at_quick_exit",
	"pthread_atfork": "__register_atfork",
}

// SyscallNames returns the names of f's syscalls for arch (numbers without
// a name are shown as "#nr").
func SyscallNames(arch sysnum.Arch, nrs []int) []string {
	t := sysnum.For(arch)
	out := make([]string, 0, len(nrs))
	for _, nr := range nrs {
		if t != nil && t.Name(nr) != "" {
			out = append(out, t.Name(nr))
		} else {
			out = append(out, fmt.Sprintf("#%d", nr))
		}
	}
	return out
}
