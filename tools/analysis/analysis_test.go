package analysis

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
)

// A big C++ TU (all of libstdc++) walked end to end: no cgo pointer-check
// panic (the cursor mirror structs), the result validates and survives the
// JSON round trip.
func TestBigCXX(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "big.cpp")
	code := `#include <bits/stdc++.h>
struct Base { virtual ~Base() {} virtual int f(int x) { return x; } };
struct Derived : Base { int f(int x) override { return std::max(x, 3); } };
int main(int argc, char **argv) {
  std::vector<std::string> v(argv, argv + argc);
  std::map<std::string, int> m;
  for (auto &s : v) m[s]++;
  std::unique_ptr<Base> b = std::make_unique<Derived>();
  std::sort(v.begin(), v.end(), [](const std::string &a, const std::string &b) { return a.size() < b.size(); });
  try { std::cout << b->f(argc) << m.size() << "\n"; } catch (const std::exception &e) { return 1; }
  return 0;
}
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, headers := range []bool{false, true} {
		g, _, err := Run(Input{File: src, Argv: []string{"clang++", "-std=c++17"}}, Options{Headers: headers})
		if err != nil {
			t.Fatal(err)
		}
		var main *model.Function
		for i := range g.Functions {
			if g.Functions[i].Name == "main(int, char **)" {
				main = &g.Functions[i]
			}
		}
		if main == nil || len(main.Automaton.States) < 5 {
			t.Fatalf("main not graphed: %+v", g.Functions)
		}
		var buf strings.Builder
		if err := model.Encode(&buf, g); err != nil {
			t.Fatal(err)
		}
		if _, err := model.DecodeTU([]byte(buf.String())); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if len(g.Classes) < 2 {
			t.Errorf("classes: %+v", g.Classes)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, code string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// does not compile: clang's diagnostics with file:line:col
	bad := write("bad.c", "int f(void) {\n  return missing;\n}\n")
	_, _, err := Run(Input{File: bad, Argv: []string{"clang"}}, Options{})
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "bad.c:2:10: error: use of undeclared identifier 'missing'") {
		t.Errorf("compile error: %v", err)
	}
	// missing include is an error too
	inc := write("inc.c", "#include \"nope.h\"\nint x;\n")
	if _, _, err := Run(Input{File: inc, Argv: []string{"clang"}}, Options{}); !errors.As(err, &ce) || !strings.Contains(err.Error(), "'nope.h' file not found") {
		t.Errorf("missing include: %v", err)
	}
	// unsupported languages
	for _, name := range []string{"x.f90", "x.m", "x.mm", "x.s", "x.txt"} {
		p := write(name, "")
		if _, _, err := Run(Input{File: p, Argv: []string{"clang"}}, Options{}); !errors.Is(err, ErrUnsupportedLanguage) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := Run(Input{File: write("y.c", "int y;"), Argv: []string{"clang", "-x", "objective-c"}}, Options{}); !errors.Is(err, ErrUnsupportedLanguage) {
		t.Errorf("-x objective-c: %v", err)
	}
	// missing file
	if _, _, err := Run(Input{File: filepath.Join(dir, "nothere.c"), Argv: []string{"clang"}}, Options{}); err == nil {
		t.Errorf("missing file accepted")
	}
	// an empty file is a valid TU with no functions
	g, _, err := Run(Input{File: write("empty.c", ""), Argv: []string{"clang"}}, Options{})
	if err != nil || len(g.Functions) != 0 {
		t.Errorf("empty file: %v %+v", err, g)
	}
}

func TestLanguage(t *testing.T) {
	cases := []struct {
		file string
		argv []string
		want string
	}{
		{"a.c", []string{"cc"}, "c"},
		{"a.c", []string{"g++"}, "c++"},
		{"a.cc", []string{"gcc"}, "c++"},
		{"a.h", []string{"clang", "-x", "c++"}, "c++"},
		{"a.C", nil, "c++"},
		{"a.hpp", nil, "c++"},
		{"a.i", nil, "c"},
	}
	for _, c := range cases {
		got, err := Language(Input{File: c.file, Argv: c.argv})
		if err != nil || got != c.want {
			t.Errorf("%s %v: %q %v, want %q", c.file, c.argv, got, err, c.want)
		}
	}
}
