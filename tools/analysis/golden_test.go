package analysis

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden .dump files of testdata")

// goldenInputs lists the C and C++ programs of testdata.
func goldenInputs(t *testing.T) []string {
	var files []string
	for _, pat := range []string{"testdata/*.c", "testdata/*.cpp"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	return files
}

// directives reads "// FLAGS: ..." and "// OPTIONS: headers" lines at the
// top of a test program.
func directives(t *testing.T, file string) ([]string, Options) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	var opts Options
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "//") {
			break
		}
		if v, ok := strings.CutPrefix(line, "// FLAGS:"); ok {
			flags = append(flags, strings.Fields(v)...)
		}
		if v, ok := strings.CutPrefix(line, "// OPTIONS:"); ok && strings.Contains(v, "headers") {
			opts.Headers = true
		}
	}
	return flags, opts
}

func dumpOf(t *testing.T, file string) string {
	t.Helper()
	flags, opts := directives(t, file)
	g, _, err := Run(Input{File: file, Argv: append([]string{"clang"}, flags...)}, opts)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var b bytes.Buffer
	g.Dump(&b)
	return b.String()
}

// TestGolden compares the dump of every test program with its .dump file
// (go test ./tools/analysis -update rewrites them; review the diff: the
// golden files are the specification).
func TestGolden(t *testing.T) {
	files := goldenInputs(t)
	if len(files) < 40 {
		t.Errorf("only %d golden programs, want at least 40", len(files))
	}
	for _, file := range files {
		file := file
		t.Run(filepath.Base(file), func(t *testing.T) {
			got := dumpOf(t, file)
			want := strings.TrimSuffix(file, filepath.Ext(file)) + ".dump"
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("missing golden file (run go test ./tools/analysis -update and review it): %v", err)
			}
			if got != string(exp) {
				t.Errorf("%s: dump differs from %s (run with -update and review the diff)\n%s", file, want, diff(string(exp), got))
			}
		})
	}
}

// diff shows the first differing lines.
func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + x + "\n  got:  " + y
		}
	}
	return ""
}

// constructs is the list of constructs the issue asks to cover; each must
// have a test program containing the marker (a piece of code using it).
var constructs = []struct{ name, file, marker string }{
	{"if/else", "if_else.c", "else"},
	{"else-if chain", "if_else.c", "else if"},
	{"while loop", "while.c", "while ("},
	{"infinite loop with break", "while.c", "while (1)"},
	{"do-while", "do_while.c", "} while ("},
	{"do-while(0) macro", "do_while.c", "while (0)"},
	{"for loop", "for.c", "for (i = 0; i < n; i++)"},
	{"for without parts", "for.c", "for (;;)"},
	{"for loop in a macro", "for_macro.c", "#define FOREACH"},
	{"switch with fall-through", "switch_fallthrough.c", "/* fall through */"},
	{"switch default", "switch_fallthrough.c", "default:"},
	{"switch without default", "switch_nodefault.c", "switch"},
	{"Duff's device", "switch_nodefault.c", "case 0: do"},
	{"break/continue", "break_continue.c", "continue;"},
	{"goto/labels", "goto.c", "goto "},
	{"computed goto", "computed_goto.c", "goto *"},
	{"return", "return.c", "return "},
	{"&& short-circuit", "logical.c", "&&"},
	{"|| short-circuit", "logical.c", "||"},
	{"&& in a macro body", "logical_macro.c", "#define BOTH"},
	{"?: conditional", "conditional.c", " ? "},
	{"GNU ?: (binary conditional)", "conditional.c", "?:"},
	{"comma operator", "comma.c", ", "},
	{"arguments before the call", "arguments.c", "f(g(1), h(2))"},
	{"unsequenced operands", "unsequenced.c", "a(1) + b(2)"},
	{"statement expressions", "stmt_expr.c", "({"},
	{"calls in initialisers", "decl_init.c", "int x = f(1)"},
	{"static local initialiser", "decl_init.c", "static int"},
	{"noreturn: exit/abort", "noreturn.c", "exit("},
	{"noreturn: _Noreturn/attribute", "noreturn.c", "_Noreturn"},
	{"noreturn: __builtin_unreachable", "noreturn.c", "__builtin_unreachable"},
	{"noreturn: assert", "noreturn.c", "assert("},
	{"setjmp/longjmp", "setjmp.c", "setjmp("},
	{"sigsetjmp/siglongjmp", "setjmp.c", "sigsetjmp("},
	{"raw syscall", "syscall.c", "syscall(SYS_"},
	{"non-constant syscall", "syscall.c", "syscall(nr"},
	{"indirect call through variable", "fnptr.c", "fp("},
	{"indirect call through field", "fnptr.c", "->cb("},
	{"indirect call through table", "fnptr.c", "table[i]("},
	{"indirect call through parameter", "fnptr.c", "cb(x)"},
	{"slot stores", "slots.c", ".handler ="},
	{"escaped slot", "slots.c", "&g_fp"},
	{"address-taken functions", "address_taken.c", "&"},
	{"callbacks: signal/atexit/pthread/qsort", "callbacks.c", "pthread_create("},
	{"callbacks: sigaction field", "callbacks.c", "sa_handler"},
	{"callbacks: tsearch/ftw/scandir/dl_iterate_phdr", "callbacks2.c", "dl_iterate_phdr("},
	{"constructor/destructor attributes", "ctor_dtor_attr.c", "constructor"},
	{"builtins are not events", "builtins.c", "__builtin_expect"},
	{"unevaluated operands", "unevaluated.c", "sizeof"},
	{"recursion", "recursion.c", "fact("},
	{"project headers", "headers.c", "OPTIONS: headers"},
	{"C++ methods and operators", "cxx_methods.cpp", "operator+"},
	{"C++ constructors", "cxx_methods.cpp", "Counter c(1)"},
	{"C++ virtual calls", "cxx_virtual.cpp", "virtual"},
	{"C++ class hierarchy/overrides", "cxx_virtual.cpp", "override"},
	{"C++ try/catch/throw", "cxx_try.cpp", "catch ("},
	{"C++ rethrow", "cxx_try.cpp", "throw;"},
	{"C++ throw out of function", "cxx_throw.cpp", "throw "},
	{"C++ destructors at scope exit", "cxx_raii.cpp", "~Guard"},
	{"C++ temporaries", "cxx_raii.cpp", "make()"},
	{"C++ lambdas", "cxx_lambda.cpp", "[&]"},
	{"C++ templates", "cxx_templates.cpp", "template <"},
	{"C++ range-for", "cxx_range_for.cpp", "for (int v :"},
	{"C++ if/switch with initialiser", "cxx_if_init.cpp", "if (int"},
	{"C++ global constructors/destructors", "cxx_globals.cpp", "Logger global"},
	{"C++ new/delete", "cxx_new_delete.cpp", "delete "},
	{"C++ std::thread callback", "cxx_thread.cpp", "std::thread"},
	{"C++ pointer to member function", "cxx_member_fnptr.cpp", "->*"},
	{"C++ namespaces", "cxx_namespaces.cpp", "namespace"},
	{"C++ [[noreturn]]", "cxx_noreturn.cpp", "[[noreturn]]"},
	{"C++ function-try-block / ctor initialisers", "cxx_ctor_init.cpp", "() try : Base("},
}

// TestConstructsCovered fails when a listed construct has no test program.
func TestConstructsCovered(t *testing.T) {
	for _, c := range constructs {
		data, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Errorf("construct %q: no test program: %v", c.name, err)
			continue
		}
		if !strings.Contains(string(data), c.marker) {
			t.Errorf("construct %q: %s does not contain %q", c.name, c.file, c.marker)
		}
		dump := strings.TrimSuffix(c.file, filepath.Ext(c.file)) + ".dump"
		if _, err := os.Stat(filepath.Join("testdata", dump)); err != nil {
			t.Errorf("construct %q: no golden dump %s", c.name, dump)
		}
	}
}
