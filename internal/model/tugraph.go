// Package model holds the data of the control-flow model as it flows through
// the build: TU graphs (one per translation unit, from `kcfm graph`), library
// graphs (`kcfm_make_graph_lib`), and the linked program signature. Types here
// are specs: pure data, deterministic encodings, validated on load because
// every file may be hostile.
package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/kcfm-linux/kcfm/internal/automaton"
)

// File format names and versions (see docs/formats.md).
const (
	TUFormat   = "kcfm-tu"
	LibFormat  = "kcfm-lib"
	TUVersion  = 1
	LibVersion = 1
)

// Limits applied when decoding untrusted graph files.
const (
	MaxGraphBytes = 1 << 30
	MaxFunctions  = 1 << 20
	MaxStates     = 1 << 24 // per file
	MaxLabels     = 1 << 22
)

// LabelKind is the kind of an event label.
type LabelKind string

const (
	// Call is a direct call of a named function.
	Call LabelKind = "call"
	// ICall is a call through a function pointer.
	ICall LabelKind = "icall"
	// VCall is a C++ virtual call.
	VCall LabelKind = "vcall"
	// Syscall is a raw syscall(N, ...) with a constant number.
	Syscall LabelKind = "syscall"
)

// Label is the event an edge stands for.
type Label struct {
	Kind LabelKind `json:"kind"`
	// Target is the callee's USR (Call), the method's USR (VCall).
	Target string `json:"target,omitempty"`
	// Name is the callee's linkage name (C name or mangled C++ symbol) when
	// known, otherwise its spelling; for ICall the pointer's spelling.
	Name string `json:"name,omitempty"`
	// Type is the canonical function type (ICall, and Call for information).
	Type string `json:"type,omitempty"`
	// Class is the USR of the static class of a VCall.
	Class string `json:"class,omitempty"`
	// Slot names where an ICall's pointer was loaded from: "var:USR" or
	// "field:USR" (empty when it is computed).
	Slot string `json:"slot,omitempty"`
	// Nr is the syscall number of a Syscall label (target numbering).
	Nr int `json:"nr,omitempty"`
	// NoReturn is set on calls of functions that never return.
	NoReturn bool `json:"noreturn,omitempty"`
}

// String renders a label the way dumps and diagnostics show it.
func (l Label) String() string {
	switch l.Kind {
	case Call:
		s := "call " + l.Name
		if l.NoReturn {
			s += " [noreturn]"
		}
		return s
	case ICall:
		s := "icall (" + l.Type + ")"
		if l.Slot != "" {
			s += " via " + l.Slot
		} else if l.Name != "" {
			s += " via " + l.Name
		}
		return s
	case VCall:
		return "vcall " + l.Name + " [" + l.Class + "]"
	case Syscall:
		return fmt.Sprintf("syscall %d", l.Nr)
	}
	return "?" + string(l.Kind)
}

// Loc is a source location: an index into the graph's Files, line, column.
type Loc struct {
	File int32 `json:"f"`
	Line int32 `json:"l"`
	Col  int32 `json:"c"`
}

// Function is one function defined in the TU with its automaton.
type Function struct {
	USR string `json:"usr"`
	// Name is the qualified display name (ns::C::f(int)).
	Name string `json:"name"`
	// Linkage is the symbol name (C name, mangled C++ name); empty for
	// lambdas and templates (no single symbol).
	Linkage string `json:"linkage,omitempty"`
	// Kind: function, method, constructor, destructor, lambda, template.
	Kind   string `json:"kind"`
	Type   string `json:"type,omitempty"`
	Static bool   `json:"static,omitempty"`
	// NoReturn: declared [[noreturn]] / __attribute__((noreturn)).
	NoReturn bool `json:"noreturn,omitempty"`
	Loc      Loc  `json:"loc"`
	// Automaton over the graph's Labels; edge infos index Sites.
	Automaton automaton.Automaton `json:"automaton"`
}

// FuncRef names a function whose address is taken (an indirect-call target).
type FuncRef struct {
	USR     string `json:"usr"`
	Linkage string `json:"linkage,omitempty"`
	Type    string `json:"type"`
	Loc     Loc    `json:"loc"`
}

// Callback is a function handed to a library function that may call it
// back (signal handlers, atexit, pthread_create, qsort ...).
type Callback struct {
	// Registrar is the library function (signal, sigaction, atexit, ...).
	Registrar string `json:"registrar"`
	USR       string `json:"usr"`
	Linkage   string `json:"linkage,omitempty"`
	Loc       Loc    `json:"loc"`
}

// SlotStore records that a function's address is stored into a variable
// or field; the linker uses these to narrow indirect-call targets.
type SlotStore struct {
	Slot string `json:"slot"`
	// USR of the stored function; empty means "something that is not a
	// known function" (the slot cannot be narrowed).
	USR string `json:"usr,omitempty"`
	Loc Loc    `json:"loc"`
}

// Class is a C++ class with its bases and virtual methods.
type Class struct {
	USR   string   `json:"usr"`
	Name  string   `json:"name"`
	Bases []string `json:"bases,omitempty"`
	// Methods are the virtual methods declared in the class, each with
	// the methods it overrides.
	Methods []Method `json:"methods,omitempty"`
}

// Method is a virtual method.
type Method struct {
	USR       string   `json:"usr"`
	Name      string   `json:"name"`
	Linkage   string   `json:"linkage,omitempty"`
	Overrides []string `json:"overrides,omitempty"`
	Pure      bool     `json:"pure,omitempty"`
}

// TUGraph is the graph of one translation unit.
type TUGraph struct {
	Format   string `json:"format"`
	Version  int    `json:"version"`
	Source   string `json:"source"`
	Language string `json:"language"`
	Target   string `json:"target,omitempty"`

	Files     []string   `json:"files"`
	Labels    []Label    `json:"labels"`
	Sites     []Loc      `json:"sites"`
	Functions []Function `json:"functions"`

	AddressTaken []FuncRef   `json:"address_taken,omitempty"`
	Callbacks    []Callback  `json:"callbacks,omitempty"`
	SlotStores   []SlotStore `json:"slot_stores,omitempty"`
	// EscapedSlots are slots whose address escapes (written in ways the
	// analysis cannot see); they are never narrowed.
	EscapedSlots []string `json:"escaped_slots,omitempty"`
	Classes      []Class  `json:"classes,omitempty"`
	// Ctors/Dtors are USRs of functions run before main / at exit
	// (__attribute__((constructor)), C++ dynamic initialisers).
	Ctors []string `json:"ctors,omitempty"`
	Dtors []string `json:"dtors,omitempty"`
	// Warnings the analysis wants the user to see (unsupported constructs
	// handled conservatively, etc.).
	Warnings []string `json:"warnings,omitempty"`
	// Uninstrumented are the USRs of the functions the build may have left
	// uninstrumented: the silent and flat functions `kcfm graph
	// --instrument-flags` wrote an exclusion list for (see silent.go).
	Uninstrumented []string `json:"uninstrumented,omitempty"`
}

// LibGraph is the graph of a library: the TU graphs of its sources and the
// functions it exports.
type LibGraph struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Name    string    `json:"name"`
	Kind    string    `json:"kind"` // static | shared
	Exports []string  `json:"exports,omitempty"`
	Units   []TUGraph `json:"units"`
}

// Validate checks a TU graph read from an untrusted file.
func (g *TUGraph) Validate() error {
	if g.Format != TUFormat {
		return fmt.Errorf("not a TU graph (format %q, want %q)", g.Format, TUFormat)
	}
	if g.Version != TUVersion {
		return fmt.Errorf("unsupported TU graph version %d (this kcfm reads version %d)", g.Version, TUVersion)
	}
	if len(g.Functions) > MaxFunctions || len(g.Labels) > MaxLabels {
		return fmt.Errorf("graph too large: %d functions, %d labels", len(g.Functions), len(g.Labels))
	}
	locOK := func(l Loc) bool {
		return l.File >= 0 && int(l.File) < len(g.Files) || (l.File == 0 && len(g.Files) == 0)
	}
	for i, l := range g.Labels {
		switch l.Kind {
		case Call, VCall:
			if l.Target == "" && l.Name == "" {
				return fmt.Errorf("label %d (%s): no target", i, l.Kind)
			}
		case ICall:
		case Syscall:
			if l.Nr < 0 || l.Nr > 4095 {
				return fmt.Errorf("label %d: syscall number %d out of range", i, l.Nr)
			}
		default:
			return fmt.Errorf("label %d: unknown kind %q", i, l.Kind)
		}
	}
	for i, s := range g.Sites {
		if !locOK(s) {
			return fmt.Errorf("site %d: file index %d out of range", i, s.File)
		}
	}
	states := 0
	for i := range g.Functions {
		f := &g.Functions[i]
		if f.USR == "" {
			return fmt.Errorf("function %d (%s): empty USR", i, f.Name)
		}
		if !locOK(f.Loc) {
			return fmt.Errorf("function %s: file index %d out of range", f.Name, f.Loc.File)
		}
		states += len(f.Automaton.States)
		if states > MaxStates {
			return fmt.Errorf("graph too large: more than %d states", MaxStates)
		}
		if err := f.Automaton.Validate(len(g.Labels), len(g.Sites)); err != nil {
			return fmt.Errorf("function %s: %v", f.Name, err)
		}
	}
	return nil
}

// Validate checks a library graph and each of its units.
func (l *LibGraph) Validate() error {
	if l.Format != LibFormat {
		return fmt.Errorf("not a library graph (format %q, want %q)", l.Format, LibFormat)
	}
	if l.Version != LibVersion {
		return fmt.Errorf("unsupported library graph version %d (this kcfm reads version %d)", l.Version, LibVersion)
	}
	if l.Kind != "static" && l.Kind != "shared" {
		return fmt.Errorf("library %s: kind %q, want static or shared", l.Name, l.Kind)
	}
	for i := range l.Units {
		if err := l.Units[i].Validate(); err != nil {
			return fmt.Errorf("library %s unit %d (%s): %v", l.Name, i, l.Units[i].Source, err)
		}
	}
	return nil
}

// peekFormat reads the "format" member of a JSON object.
func peekFormat(data []byte) (string, error) {
	var h struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return "", err
	}
	return h.Format, nil
}

// DecodeTU parses and validates a TU graph.
func DecodeTU(data []byte) (*TUGraph, error) {
	var g TUGraph
	if err := decodeStrict(data, &g); err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// DecodeLib parses and validates a library graph.
func DecodeLib(data []byte) (*LibGraph, error) {
	var g LibGraph
	if err := decodeStrict(data, &g); err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// decodeStrict decodes one bounded JSON document, rejecting unknown
// members, with line numbers in errors.
func decodeStrict(data []byte, v any) error {
	if len(data) > MaxGraphBytes {
		return fmt.Errorf("graph file too large (%d bytes)", len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(data, err)
	}
	return nil
}

// jsonError adds a line number to JSON syntax/type errors.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if off < 0 {
		return err
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	return fmt.Errorf("line %d: %v", line, err)
}

// ReadGraphFile reads a TU or library graph file; exactly one of the
// results is non-nil on success. Errors name the file.
func ReadGraphFile(path string) (*TUGraph, *LibGraph, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := peekFormat(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a kcfm graph: %v", path, jsonError(data, err))
	}
	switch f {
	case TUFormat:
		g, err := DecodeTU(data)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", path, err)
		}
		return g, nil, nil
	case LibFormat:
		g, err := DecodeLib(data)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", path, err)
		}
		return nil, g, nil
	}
	return nil, nil, fmt.Errorf("%s: unknown format %q (want %s or %s)", path, f, TUFormat, LibFormat)
}

// WriteFile writes a graph atomically (temp file + rename), so that an
// interrupted build never leaves a truncated graph behind.
func WriteFile(path string, v any) error {
	var buf bytes.Buffer
	if err := Encode(&buf, v); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
