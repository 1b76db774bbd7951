// Package clang is a thin cgo binding to the libclang-15 C API
// (clang-c/Index.h): parsing translation units, diagnostics, the cursor and
// type queries the source analysis needs, tokens, and the compilation
// database.
//
// Go never holds a CXCursor or CXType. libclang keeps raw integers (source
// locations) in their pointer fields, and when such a value falls inside the
// Go binary's data segment the cgo pointer check panics ("Go pointer to
// unpinned Go pointer"). Cursor and Type wrap mirror structs with integer
// fields (bridge.h) and every call goes through a C wrapper. Subtrees are
// flattened in C (Cursor.Collect) so that walking a function body costs one
// cgo call, not one per cursor.
//
// A TU is not safe for concurrent use; use one Index and TU per goroutine.
package clang

/*
#cgo CFLAGS: -I/usr/lib/llvm-15/include
#cgo LDFLAGS: -L/usr/lib/llvm-15/lib -lclang
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// str copies a CXString into Go memory and disposes it.
func str(s C.CXString) string {
	p := C.clang_getCString(s)
	var out string
	if p != nil {
		out = C.GoString(p)
	}
	C.clang_disposeString(s)
	return out
}

// Index is a libclang index (CXIndex). Not safe for concurrent use.
type Index struct {
	p C.CXIndex
}

// NewIndex creates an index that does not print diagnostics itself.
func NewIndex() *Index {
	return &Index{p: C.clang_createIndex(0, 0)}
}

// Dispose frees the index; its translation units must be disposed first.
func (ix *Index) Dispose() {
	if ix.p != nil {
		C.clang_disposeIndex(ix.p)
		ix.p = nil
	}
}

// ParseOptions are CXTranslationUnit_* flags.
type ParseOptions uint32

const (
	// DetailedPreprocessingRecord keeps macro expansions as cursors.
	DetailedPreprocessingRecord ParseOptions = C.CXTranslationUnit_DetailedPreprocessingRecord
	// KeepGoing continues after fatal errors (missing includes).
	KeepGoing ParseOptions = C.CXTranslationUnit_KeepGoing
	// SkipFunctionBodies does not parse function bodies.
	SkipFunctionBodies ParseOptions = C.CXTranslationUnit_SkipFunctionBodies
)

// ErrParse is wrapped by every error of Parse.
var ErrParse = errors.New("libclang could not parse the translation unit")

// TU is a parsed translation unit. Not safe for concurrent use.
type TU struct {
	p     C.CXTranslationUnit
	files map[uintptr]string
	src   map[uintptr][]byte
}

// Parse parses file with the compiler command line argv. argv[0] is the
// compiler (it selects the driver mode, e.g. g++ means C++); argv must not
// contain the source file itself. A literal "--" in argv is rejected:
// libclang would treat every argument after it as an input file.
func (ix *Index) Parse(file string, argv []string, opts ParseOptions) (*TU, error) {
	if len(argv) == 0 {
		argv = []string{"clang"}
	}
	for _, a := range argv {
		if a == "--" {
			return nil, fmt.Errorf("%w: literal \"--\" in the compiler arguments (strip it)", ErrParse)
		}
	}
	cfile := C.CString(file)
	defer C.free(unsafe.Pointer(cfile))
	cargs := make([]*C.char, len(argv))
	for i, a := range argv {
		cargs[i] = C.CString(a)
	}
	defer func() {
		for _, p := range cargs {
			C.free(unsafe.Pointer(p))
		}
	}()
	// The argv array itself must be C memory (it holds C pointers).
	arr := (**C.char)(C.malloc(C.size_t(len(cargs)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(arr))
	copy(unsafe.Slice(arr, len(cargs)), cargs)
	var tu C.CXTranslationUnit
	code := C.clang_parseTranslationUnit2FullArgv(ix.p, cfile, arr, C.int(len(cargs)), nil, 0, C.unsigned(opts), &tu)
	switch code {
	case C.CXError_Success:
	case C.CXError_Crashed:
		return nil, fmt.Errorf("%w: %s: libclang crashed", ErrParse, file)
	case C.CXError_InvalidArguments:
		return nil, fmt.Errorf("%w: %s: invalid arguments", ErrParse, file)
	case C.CXError_ASTReadError:
		return nil, fmt.Errorf("%w: %s: AST read error", ErrParse, file)
	default:
		return nil, fmt.Errorf("%w: %s: failure (missing or unreadable file, or bad arguments)", ErrParse, file)
	}
	if tu == nil {
		return nil, fmt.Errorf("%w: %s", ErrParse, file)
	}
	return &TU{p: tu, files: map[uintptr]string{}, src: map[uintptr][]byte{}}, nil
}

// Dispose frees the translation unit.
func (t *TU) Dispose() {
	t.src = nil
	if t.p != nil {
		C.clang_disposeTranslationUnit(t.p)
		t.p = nil
	}
}

// Spelling is the main file name as given to Parse.
func (t *TU) Spelling() string { return str(C.clang_getTranslationUnitSpelling(t.p)) }

// Cursor is the translation unit cursor.
func (t *TU) Cursor() Cursor { return Cursor{C.fc_tu_cursor(t.p)} }

// Triple is the target triple the TU was compiled for.
func (t *TU) Triple() string {
	ti := C.clang_getTranslationUnitTargetInfo(t.p)
	if ti == nil {
		return ""
	}
	defer C.clang_TargetInfo_dispose(ti)
	return str(C.clang_TargetInfo_getTriple(ti))
}

// Severity of a diagnostic.
type Severity int

const (
	Ignored Severity = C.CXDiagnostic_Ignored
	Note    Severity = C.CXDiagnostic_Note
	Warning Severity = C.CXDiagnostic_Warning
	Error   Severity = C.CXDiagnostic_Error
	Fatal   Severity = C.CXDiagnostic_Fatal
)

func (s Severity) String() string {
	switch s {
	case Note:
		return "note"
	case Warning:
		return "warning"
	case Error:
		return "error"
	case Fatal:
		return "fatal error"
	}
	return "ignored"
}

// Diagnostic is one compiler diagnostic.
type Diagnostic struct {
	Severity  Severity
	File      string // empty for diagnostics without a location
	Line, Col int
	Message   string
}

func (d Diagnostic) String() string {
	if d.File == "" {
		return fmt.Sprintf("%s: %s", d.Severity, d.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", d.File, d.Line, d.Col, d.Severity, d.Message)
}

// Diagnostics returns the TU's diagnostics in order.
func (t *TU) Diagnostics() []Diagnostic {
	n := int(C.clang_getNumDiagnostics(t.p))
	out := make([]Diagnostic, 0, n)
	for i := 0; i < n; i++ {
		d := C.clang_getDiagnostic(t.p, C.unsigned(i))
		var file C.CXFile
		var line, col, off C.unsigned
		C.clang_getSpellingLocation(C.clang_getDiagnosticLocation(d), &file, &line, &col, &off)
		dg := Diagnostic{
			Severity: Severity(C.clang_getDiagnosticSeverity(d)),
			Line:     int(line),
			Col:      int(col),
			Message:  str(C.clang_getDiagnosticSpelling(d)),
		}
		if file != nil {
			dg.File = str(C.clang_getFileName(file))
		}
		C.clang_disposeDiagnostic(d)
		out = append(out, dg)
	}
	return out
}

// FileName returns the name of a file handle from a Loc (cached).
func (t *TU) FileName(f uintptr) string {
	if f == 0 {
		return ""
	}
	if n, ok := t.files[f]; ok {
		return n
	}
	n := str(C.fc_file_name(C.uintptr_t(f)))
	t.files[f] = n
	return n
}

// MainFile is the handle of the main file.
func (t *TU) MainFile() uintptr { return uintptr(C.fc_main_file(t.p)) }

// FileBytes returns a copy of bytes [off, off+n) of a file's contents (as
// libclang read it), clipped to the file; nil if unavailable.
func (t *TU) FileBytes(f uintptr, off, n int) []byte {
	if f == 0 || off < 0 || n <= 0 {
		return nil
	}
	var size C.size_t
	p := C.fc_file_contents(t.p, C.uintptr_t(f), &size)
	if p == nil || off >= int(size) {
		return nil
	}
	if off+n > int(size) {
		n = int(size) - off
	}
	return C.GoBytes(unsafe.Add(unsafe.Pointer(p), off), C.int(n))
}

// Source returns the contents of a file as libclang read it. The slice
// aliases libclang's buffer: read-only, valid until the TU is disposed.
func (t *TU) Source(f uintptr) []byte {
	if f == 0 {
		return nil
	}
	if b, ok := t.src[f]; ok {
		return b
	}
	var size C.size_t
	p := C.fc_file_contents(t.p, C.uintptr_t(f), &size)
	var b []byte
	if p != nil {
		b = unsafe.Slice((*byte)(unsafe.Pointer(p)), int(size))
	}
	t.src[f] = b
	return b
}

// TokensBetween returns the spellings of the tokens from a point of cursor
// a (its start, or its end when aEnd) to a point of cursor b.
func (t *TU) TokensBetween(a Cursor, aEnd bool, b Cursor, bEnd bool) []string {
	p := C.fc_tokens_between(t.p, a.c, cbool(aEnd), b.c, cbool(bEnd))
	if p == nil {
		return nil
	}
	s := C.GoString(p)
	C.free(unsafe.Pointer(p))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Tokens returns the spellings of the tokens of a cursor's extent.
func (t *TU) Tokens(c Cursor) []string { return t.TokensBetween(c, false, c, true) }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Buffer is reusable C memory for flattened cursor lists. Not safe for
// concurrent use; Free it when done.
type Buffer struct {
	b *C.fc_buf
}

// NewBuffer allocates a buffer.
func NewBuffer() *Buffer {
	b := &Buffer{b: C.fc_buf_new()}
	runtime.SetFinalizer(b, (*Buffer).Free)
	return b
}

// SetC tells CollectTree that the cursors come from a C translation unit,
// where a DeclRefExpr has no children and is not asked for them.
func (b *Buffer) SetC(c bool) {
	v := C.int(0)
	if c {
		v = 1
	}
	b.b.c_lang = v
}

// Free releases the buffer's C memory.
func (b *Buffer) Free() {
	if b.b != nil {
		C.fc_buf_free(b.b)
		b.b = nil
	}
}

// Node is a cursor of a flattened subtree with the index of its parent
// (-1 for the root). aux holds facts computed in C while flattening (see
// RefKind and FnPtrType).
type Node struct {
	Cursor Cursor
	Parent int32
	aux    int32
}

// RefKind is the kind of the cursor a DeclRefExpr or MemberRefExpr node
// references (Cursor.Referenced().Kind(), InvalidFile when it is null),
// computed without a cgo call; ok is false for other nodes.
func (n *Node) RefKind() (k CursorKind, ok bool) {
	if n.aux&C.FC_AUX_REF == 0 {
		return 0, false
	}
	return CursorKind(n.aux & C.FC_AUX_KIND_MASK), true
}

// FnPtrType reports whether the type of a BinaryOperator node is a
// pointer to a function (isFnPtr of Cursor.Type()), computed without a
// cgo call; ok is false for other nodes.
func (n *Node) FnPtrType() (fnptr, ok bool) {
	if n.aux&C.FC_AUX_TYPE == 0 {
		return false, false
	}
	return n.aux&C.FC_AUX_FNPTR != 0, true
}

// nodes copies n nodes out of the C buffer, appending to dst.
func (b *Buffer) nodes(dst []Node, n C.long) ([]Node, error) {
	if n < 0 {
		return dst, errors.New("clang: out of memory flattening cursors")
	}
	src := unsafe.Slice(b.b.nodes, int(n))
	for i := range src {
		dst = append(dst, Node{Cursor: Cursor{src[i].cur}, Parent: int32(src[i].parent), aux: int32(src[i].aux)})
	}
	return dst, nil
}

// Collect appends the subtree of c (c first, pre-order, each node with its
// parent index relative to the first appended node) to dst.
func (c Cursor) Collect(b *Buffer, dst []Node) ([]Node, error) {
	return b.nodes(dst, C.fc_collect(c.c, b.b))
}

// CollectView flattens the subtree of c like Collect but returns a view of
// the buffer's C memory instead of a copy: it is valid until the next use
// of the buffer, and must not be modified.
func (c Cursor) CollectView(b *Buffer) ([]Node, error) {
	n := C.fc_collect(c.c, b.b)
	if n < 0 {
		return nil, errors.New("clang: out of memory flattening cursors")
	}
	return unsafe.Slice((*Node)(unsafe.Pointer(b.b.nodes)), int(n)), nil
}

// Tree is a flattened subtree (Nodes, pre-order, as CollectView returns
// them) with its child links computed in C: First child and Next sibling
// (-1: none), End of each node's subtree (exclusive index), and Hot (the
// subtree holds a CallExpr, CXXThrowExpr, StmtExpr or CXXDeleteExpr). All
// are views of the buffer's C memory: valid until the next use of the
// buffer, and must not be modified.
type Tree struct {
	Nodes            []Node
	First, Next, End []int32
	Hot              []bool
}

// CollectTree flattens the subtree of c like CollectView and returns it
// with its child links.
func (c Cursor) CollectTree(b *Buffer) (Tree, error) {
	nodes, err := c.CollectView(b)
	if err != nil {
		return Tree{}, err
	}
	n := len(nodes)
	if n == 0 {
		return Tree{}, nil
	}
	return Tree{
		Nodes: nodes,
		First: unsafe.Slice((*int32)(unsafe.Pointer(b.b.first)), n),
		Next:  unsafe.Slice((*int32)(unsafe.Pointer(b.b.next)), n),
		End:   unsafe.Slice((*int32)(unsafe.Pointer(b.b.end)), n),
		Hot:   unsafe.Slice((*bool)(unsafe.Pointer(b.b.hot)), n),
	}, nil
}

// Children returns the direct children of c.
func (c Cursor) Children(b *Buffer) []Cursor {
	n := C.fc_children(c.c, b.b)
	if n <= 0 {
		return nil
	}
	src := unsafe.Slice(b.b.nodes, int(n))
	out := make([]Cursor, len(src))
	for i := range src {
		out[i] = Cursor{src[i].cur}
	}
	return out
}

// TopLevel returns the declarations of the TU in the main file (withHeaders:
// also in non-system headers), looking through namespaces and extern "C".
func (t *TU) TopLevel(b *Buffer, withHeaders bool) ([]Cursor, error) {
	mode := C.int(0)
	if withHeaders {
		mode = 1
	}
	n := C.fc_toplevel(t.p, mode, b.b)
	if n < 0 {
		return nil, errors.New("clang: out of memory listing declarations")
	}
	src := unsafe.Slice(b.b.nodes, int(n))
	out := make([]Cursor, len(src))
	for i := range src {
		out[i] = Cursor{src[i].cur}
	}
	return out, nil
}
