// Package analysis turns a C or C++ translation unit into its TU graph:
// for every function defined in the main file (optionally in project
// headers), an automaton over the calls the function makes, built from the
// function's control flow in clang's AST (through the libclang binding in
// tools/clang), plus the facts the linker needs (address-taken functions,
// callbacks, stores into function-pointer slots, the class hierarchy,
// constructors and destructors run around main).
//
// The pipeline per function is: flatten the cursor subtree in C (one cgo
// call), classify every call expression once (call/icall/vcall/syscall,
// noreturn, setjmp), walk statements and expressions into an epsilon-NFA
// (nfa.go), and hand it to internal/automaton, which determinises and
// minimises it. docs/analysis.md describes what is modelled and how.
package analysis

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/tools/clang"
)

// Options control what is graphed.
type Options struct {
	// Headers also graphs functions defined in non-system headers
	// (project headers); by default only the main file's functions are.
	Headers bool
	// Deps, when set, receives every file the TU read (for depfiles).
	Deps *[]string
}

// Input is one translation unit to parse: the source file and the
// compiler command line (argv[0] is the compiler; the source file is not
// part of Argv).
type Input struct {
	File string
	Argv []string
}

// ErrUnsupportedLanguage is wrapped by errors for inputs that are not C
// or C++ (Objective-C, Fortran, assembly ...).
var ErrUnsupportedLanguage = errors.New("unsupported language")

// CompileError is returned when clang reports errors: the code does not
// compile, so no graph is produced.
type CompileError struct {
	File        string
	Diagnostics []clang.Diagnostic
}

func (e *CompileError) Error() string {
	var b strings.Builder
	n := 0
	for _, d := range e.Diagnostics {
		if d.Severity >= clang.Error {
			n++
		}
	}
	fmt.Fprintf(&b, "%s: %d error(s), the translation unit does not compile:", e.File, n)
	for _, d := range e.Diagnostics {
		if d.Severity >= clang.Warning {
			b.WriteString("\n  ")
			b.WriteString(d.String())
		}
	}
	return b.String()
}

var cExt = map[string]string{
	".c": "c", ".h": "c", ".i": "c",
	".cc": "c++", ".cpp": "c++", ".cxx": "c++", ".c++": "c++", ".cp": "c++", ".C": "c++",
	".hpp": "c++", ".hh": "c++", ".hxx": "c++", ".h++": "c++", ".ii": "c++", ".ipp": "c++", ".tcc": "c++",
}

var xLang = map[string]string{
	"c": "c", "c-header": "c", "cpp-output": "c",
	"c++": "c++", "c++-header": "c++", "c++-cpp-output": "c++",
}

// Language decides the language of an input from the -x option, the file
// extension and the compiler name, and rejects everything but C and C++.
func Language(in Input) (string, error) {
	x := ""
	for i, a := range in.Argv {
		if a == "-x" && i+1 < len(in.Argv) {
			x = in.Argv[i+1]
		} else if strings.HasPrefix(a, "-x") && len(a) > 2 {
			x = a[2:]
		}
	}
	if x != "" {
		if l, ok := xLang[x]; ok {
			return l, nil
		}
		return "", fmt.Errorf("%s: %w %q (-x %s): kcfm graph handles C and C++ only", in.File, ErrUnsupportedLanguage, x, x)
	}
	ext := filepath.Ext(in.File)
	l, ok := cExt[ext]
	if !ok {
		l, ok = cExt[strings.ToLower(ext)]
	}
	if !ok {
		what := "unknown file type"
		switch strings.ToLower(ext) {
		case ".m", ".mm":
			what = "Objective-C"
		case ".f", ".f90", ".f95", ".f03", ".f08", ".for", ".ftn":
			what = "Fortran"
		case ".s", ".asm":
			what = "assembly"
		case ".cu":
			what = "CUDA"
		case ".cl":
			what = "OpenCL"
		}
		return "", fmt.Errorf("%s: %w (%s, extension %q): kcfm graph handles C and C++ only (use -x c or -x c++ to force)", in.File, ErrUnsupportedLanguage, what, ext)
	}
	if l == "c" && len(in.Argv) > 0 && strings.Contains(filepath.Base(in.Argv[0]), "++") {
		l = "c++" // g++/clang++ compile .c and .h files as C++
	}
	return l, nil
}

// Run parses the input and builds its TU graph. Warnings of the compiler
// are returned with the graph; errors in the code give a *CompileError.
func Run(in Input, opts Options) (*model.TUGraph, []clang.Diagnostic, error) {
	lang, err := Language(in)
	if err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(in.File)
	if err != nil {
		return nil, nil, err
	}
	in.File = abs
	ix := clang.NewIndex()
	defer ix.Dispose()
	// Warnings are never shown: -w saves clang's analysis-based warnings
	// (it builds a CFG per function for some of them). Errors stay.
	argv := append(append([]string{}, in.Argv...), "-w")
	tu, err := ix.Parse(in.File, argv, 0)
	if err != nil {
		return nil, nil, err
	}
	defer tu.Dispose()
	diags := tu.Diagnostics()
	var errs []clang.Diagnostic
	for _, d := range diags {
		if d.Severity >= clang.Error && !ignorableDiag(d) {
			errs = append(errs, d)
		}
	}
	if len(errs) > 0 {
		return nil, diags, &CompileError{File: in.File, Diagnostics: diags}
	}
	if opts.Deps != nil {
		*opts.Deps = tu.Inclusions()
	}
	g, err := Analyze(tu, lang, opts)
	if err != nil {
		return nil, diags, err
	}
	g.Source = in.File
	return g, diags, nil
}

// ignorableDiag: gcc-only command-line flags from a compilation database
// are reported by clang as "unknown argument" errors, but the TU is built.
func ignorableDiag(d clang.Diagnostic) bool {
	return d.File == "" && (strings.HasPrefix(d.Message, "unknown argument") ||
		strings.HasPrefix(d.Message, "optimization flag") ||
		strings.HasPrefix(d.Message, "unsupported argument"))
}
