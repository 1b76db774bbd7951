package model

import (
	"bytes"
	"encoding/binary"

	"fmt"
	"io"
	"os"
	"sort"
)

// Signature file identification.
const (
	SigMagic   = "KCFMSIG\x00"
	SigVersion = 1
)

// Limits for decoding untrusted signatures.
const (
	MaxSigBytes     = 1 << 30
	MaxSigFunctions = 1 << 20
	MaxSigStates    = 1 << 24
	MaxSigEdges     = 1 << 26
	MaxStringLen    = 1 << 16
	MaxSyscallNr    = 4095
)

// SigLabel is an observable event of the linked model: a value >= 0 is
// "enter function #L"; a negative value is "syscall number -1-L".
type SigLabel int32

// CallLabel returns the label of entering function id.
func CallLabel(id int32) SigLabel { return SigLabel(id) }

// SyscallLabel returns the label of syscall nr.
func SyscallLabel(nr int) SigLabel { return SigLabel(-1 - nr) }

// IsSyscall tells whether the label is a syscall, and which.
func (l SigLabel) IsSyscall() (int, bool) {
	if l < 0 {
		return int(-1 - l), true
	}
	return 0, false
}

// Function flags in a signature.
const (
	FnAddressTaken  uint32 = 1 << iota
	FnThreadStart          // passed to pthread_create
	FnSignalHandler        // passed to signal/sigaction: may run at any point
	FnExitHandler          // atexit/on_exit/destructor: runs at exit
	FnCtor                 // runs before main
	FnSyncCallback         // called back synchronously by a library (qsort ...)
	FnStatic               // internal linkage: symbol is local to File
	FnEntry                // the program's entry (main or ENTRY)
)

// Signature flags.
const (
	// SigExceptions: the program is C++ and may throw: function return
	// events can come from any state while an exception unwinds.
	SigExceptions uint32 = 1 << iota
)

// SigEdge is a transition of a linked function automaton. Site indexes
// Signature.Sites (-1: none).
type SigEdge struct {
	Label SigLabel
	To    int32
	Site  int32
}

// SigState is a state of a linked function automaton.
type SigState struct {
	Flags uint8 // automaton.Flags
	Edges []SigEdge
}

// SigFunction is one instrumented function of the program or its libraries.
type SigFunction struct {
	Name   string // display name
	Symbol string // linkage name in the binary
	File   string // source file (for static functions: disambiguates)
	Line   int32
	Flags  uint32
	States []SigState
}

// SigSite is a source location of a call edge.
type SigSite struct {
	File int32
	Line int32
	Col  int32
}

// Signature is the linked pushdown model of a program.
type Signature struct {
	Arch    string // sysnum arch name
	Program string
	Libc    string // e.g. "glibc 2.36 (build id …)"
	Entry   int32  // function id of main/ENTRY
	// Flags: SigExceptions.
	Flags uint32
	// Syscalls is every syscall the program can make anywhere (sorted):
	// the static allowlist the seccomp filter and the policies are made of.
	Syscalls []int
	// StartupSyscalls are allowed before the entry and after it returns
	// (dynamic loader, libc start-up and exit).
	StartupSyscalls []int
	Files           []string
	Sites           []SigSite
	Functions       []SigFunction
	Warnings        []string
}

// ---- encoding ----

type encoder struct{ buf bytes.Buffer }

func (e *encoder) u(v uint64) {
	var b [binary.MaxVarintLen64]byte
	e.buf.Write(b[:binary.PutUvarint(b[:], v)])
}
func (e *encoder) i(v int64) {
	var b [binary.MaxVarintLen64]byte
	e.buf.Write(b[:binary.PutVarint(b[:], v)])
}
func (e *encoder) s(v string) { e.u(uint64(len(v))); e.buf.WriteString(v) }
func (e *encoder) ints(v []int) {
	e.u(uint64(len(v)))
	for _, x := range v {
		e.u(uint64(x))
	}
}

// EncodeSignature writes the binary signature format (docs/formats.md).
func EncodeSignature(w io.Writer, s *Signature) error {
	var e encoder
	e.buf.WriteString(SigMagic)
	e.u(SigVersion)
	e.s(s.Arch)
	e.s(s.Program)
	e.s(s.Libc)
	e.i(int64(s.Entry))
	e.u(uint64(s.Flags))
	e.ints(s.Syscalls)
	e.ints(s.StartupSyscalls)
	e.u(uint64(len(s.Files)))
	for _, f := range s.Files {
		e.s(f)
	}
	e.u(uint64(len(s.Sites)))
	for _, x := range s.Sites {
		e.u(uint64(x.File))
		e.u(uint64(x.Line))
		e.u(uint64(x.Col))
	}
	e.u(uint64(len(s.Warnings)))
	for _, x := range s.Warnings {
		e.s(x)
	}
	e.u(uint64(len(s.Functions)))
	for _, f := range s.Functions {
		e.s(f.Name)
		e.s(f.Symbol)
		e.s(f.File)
		e.u(uint64(f.Line))
		e.u(uint64(f.Flags))
		e.u(uint64(len(f.States)))
		for _, st := range f.States {
			e.u(uint64(st.Flags))
			e.u(uint64(len(st.Edges)))
			for _, ed := range st.Edges {
				e.i(int64(ed.Label))
				e.u(uint64(ed.To))
				e.i(int64(ed.Site))
			}
		}
	}
	_, err := w.Write(e.buf.Bytes())
	return err
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("offset %d: %s", d.off, fmt.Sprintf(format, a...))
	}
}

func (d *decoder) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad or truncated number")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) i() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad or truncated number")
		return 0
	}
	d.off += n
	return v
}

// count reads a length and checks it against a limit and the bytes left
// (each element takes at least minBytes).
func (d *decoder) count(what string, limit uint64, minBytes int) int {
	n := d.u()
	if d.err != nil {
		return 0
	}
	if n > limit {
		d.fail("%s count %d exceeds limit %d", what, n, limit)
		return 0
	}
	if minBytes > 0 && n > uint64((len(d.b)-d.off)/minBytes) {
		d.fail("%s count %d larger than the rest of the file", what, n)
		return 0
	}
	return int(n)
}

func (d *decoder) s() string {
	n := d.count("string length", MaxStringLen, 1)
	if d.err != nil {
		return ""
	}
	v := string(d.b[d.off : d.off+n])
	d.off += n
	return v
}

func (d *decoder) ints(what string, max int) []int {
	n := d.count(what, MaxSyscallNr+1, 1)
	out := make([]int, 0, n)
	for k := 0; k < n && d.err == nil; k++ {
		v := d.u()
		if v > uint64(max) {
			d.fail("%s: value %d out of range", what, v)
		}
		out = append(out, int(v))
	}
	return out
}

// DecodeSignature parses and validates a binary signature.
func DecodeSignature(data []byte) (*Signature, error) {
	if len(data) > MaxSigBytes {
		return nil, fmt.Errorf("signature too large (%d bytes)", len(data))
	}
	if len(data) < len(SigMagic) || string(data[:len(SigMagic)]) != SigMagic {
		return nil, fmt.Errorf("not a kcfm signature (bad magic)")
	}
	d := &decoder{b: data, off: len(SigMagic)}
	if v := d.u(); d.err == nil && v != SigVersion {
		return nil, fmt.Errorf("unsupported signature version %d (this kcfm reads version %d)", v, SigVersion)
	}
	s := &Signature{}
	s.Arch = d.s()
	s.Program = d.s()
	s.Libc = d.s()
	s.Entry = int32(d.i())
	s.Flags = uint32(d.u())
	s.Syscalls = d.ints("syscalls", MaxSyscallNr)
	s.StartupSyscalls = d.ints("startup syscalls", MaxSyscallNr)
	nf := d.count("files", 1<<20, 1)
	for k := 0; k < nf && d.err == nil; k++ {
		s.Files = append(s.Files, d.s())
	}
	ns := d.count("sites", 1<<24, 3)
	s.Sites = make([]SigSite, 0, ns)
	for k := 0; k < ns && d.err == nil; k++ {
		x := SigSite{File: int32(d.u()), Line: int32(d.u()), Col: int32(d.u())}
		if int(x.File) >= len(s.Files) || x.File < 0 {
			d.fail("site %d: file %d out of range", k, x.File)
		}
		s.Sites = append(s.Sites, x)
	}
	nw := d.count("warnings", 1<<20, 1)
	for k := 0; k < nw && d.err == nil; k++ {
		s.Warnings = append(s.Warnings, d.s())
	}
	nfn := d.count("functions", MaxSigFunctions, 6)
	s.Functions = make([]SigFunction, nfn)
	totalStates, totalEdges := 0, 0
	for k := 0; k < nfn && d.err == nil; k++ {
		f := &s.Functions[k]
		f.Name = d.s()
		f.Symbol = d.s()
		f.File = d.s()
		f.Line = int32(d.u())
		f.Flags = uint32(d.u())
		nst := d.count("states", MaxSigStates, 2)
		totalStates += nst
		if totalStates > MaxSigStates {
			d.fail("more than %d states", MaxSigStates)
			break
		}
		f.States = make([]SigState, nst)
		for j := 0; j < nst && d.err == nil; j++ {
			st := &f.States[j]
			st.Flags = uint8(d.u())
			ne := d.count("edges", MaxSigEdges, 3)
			totalEdges += ne
			if totalEdges > MaxSigEdges {
				d.fail("more than %d edges", MaxSigEdges)
				break
			}
			st.Edges = make([]SigEdge, ne)
			for x := 0; x < ne && d.err == nil; x++ {
				st.Edges[x] = SigEdge{Label: SigLabel(d.i()), To: int32(d.u()), Site: int32(d.i())}
			}
		}
		if nst == 0 && d.err == nil {
			d.fail("function %d (%s) has no states", k, f.Name)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.off != len(data) {
		return nil, fmt.Errorf("offset %d: %d trailing bytes", d.off, len(data)-d.off)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate checks cross references of a signature.
func (s *Signature) Validate() error {
	if s.Entry < 0 || int(s.Entry) >= len(s.Functions) {
		return fmt.Errorf("entry function %d out of range (%d functions)", s.Entry, len(s.Functions))
	}
	for k := range s.Functions {
		f := &s.Functions[k]
		for j := range f.States {
			st := &f.States[j]
			if st.Flags&^7 != 0 {
				return fmt.Errorf("function %s state %d: unknown flags %#x", f.Name, j, st.Flags)
			}
			for x, e := range st.Edges {
				if x > 0 && e.Label < st.Edges[x-1].Label {
					return fmt.Errorf("function %s state %d: edges not sorted by label", f.Name, j)
				}
				if e.To < 0 || int(e.To) >= len(f.States) {
					return fmt.Errorf("function %s state %d: edge target %d out of range", f.Name, j, e.To)
				}
				if nr, ok := e.Label.IsSyscall(); ok {
					if nr > MaxSyscallNr {
						return fmt.Errorf("function %s state %d: syscall %d out of range", f.Name, j, nr)
					}
				} else if int(e.Label) >= len(s.Functions) {
					return fmt.Errorf("function %s state %d: call of function %d out of range", f.Name, j, e.Label)
				}
				if e.Site < -1 || int(e.Site) >= len(s.Sites) {
					return fmt.Errorf("function %s state %d: site %d out of range", f.Name, j, e.Site)
				}
			}
		}
	}
	if !sort.IntsAreSorted(s.Syscalls) {
		return fmt.Errorf("syscall list not sorted")
	}
	return nil
}

// ReadSignature loads a signature file.
func ReadSignature(path string) (*Signature, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := DecodeSignature(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return s, nil
}

// WriteSignature writes a signature atomically.
func WriteSignature(path string, s *Signature) error {
	var buf bytes.Buffer
	if err := EncodeSignature(&buf, s); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// NumStates returns the total number of states.
func (s *Signature) NumStates() int {
	n := 0
	for i := range s.Functions {
		n += len(s.Functions[i].States)
	}
	return n
}

// SiteString renders a site index.
func (s *Signature) SiteString(i int32) string {
	if i < 0 || int(i) >= len(s.Sites) {
		return ""
	}
	x := s.Sites[i]
	return fmt.Sprintf("%s:%d:%d", s.Files[x.File], x.Line, x.Col)
}
