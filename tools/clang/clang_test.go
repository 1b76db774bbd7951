package clang

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func parse(t *testing.T, file string, args ...string) (*Index, *TU) {
	t.Helper()
	ix := NewIndex()
	tu, err := ix.Parse(file, append([]string{"clang"}, args...), 0)
	if err != nil {
		ix.Dispose()
		t.Fatalf("parse %s: %v", file, err)
	}
	t.Cleanup(func() { tu.Dispose(); ix.Dispose() })
	return ix, tu
}

// functions returns name -> cursor of the function definitions in the main file.
func functions(t *testing.T, tu *TU) map[string]Cursor {
	b := NewBuffer()
	defer b.Free()
	tops, err := tu.TopLevel(b, false)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Cursor{}
	for _, c := range tops {
		if c.Kind() == FunctionDecl && c.IsDefinition() {
			out[c.Spelling()] = c
		}
	}
	return out
}

func TestParseAndWalk(t *testing.T) {
	_, tu := parse(t, "testdata/sample.c", "-std=c11")
	if d := tu.Diagnostics(); len(d) != 0 {
		t.Fatalf("unexpected diagnostics: %v", d)
	}
	fns := functions(t, tu)
	main, ok := fns["main"]
	if !ok || len(fns) != 2 {
		t.Fatalf("functions in main file: %v", fns)
	}
	if got := main.USR(); got != "c:@F@main" {
		t.Errorf("USR = %q", got)
	}
	if got := fns["helper"].Linkage(); got != LinkageInternal {
		t.Errorf("helper linkage = %d, want internal", got)
	}
	b := NewBuffer()
	defer b.Free()
	nodes, err := main.Collect(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if nodes[0].Parent != -1 || !nodes[0].Cursor.Equal(main) {
		t.Fatalf("root node wrong: %+v", nodes[0])
	}
	var calls []string
	for i, n := range nodes[1:] {
		if int(n.Parent) > i {
			t.Fatalf("node %d: parent %d after it (not pre-order)", i+1, n.Parent)
		}
		if n.Cursor.Kind() == CallExpr {
			r := n.Cursor.Referenced()
			calls = append(calls, r.Spelling()+"@"+itoa(n.Cursor.Location().Line))
		}
	}
	if strings.Join(calls, " ") != "printf@5 helper@5" {
		t.Errorf("calls in pre-order: %v", calls)
	}
	l := main.Location()
	if tu.FileName(l.File) != "testdata/sample.c" || l.Line != 3 || l.Col != 5 {
		t.Errorf("location %s:%d:%d", tu.FileName(l.File), l.Line, l.Col)
	}
	if main.Type().Canonical().Spelling() != "int (int, char **)" {
		t.Errorf("type %q", main.Type().Canonical().Spelling())
	}
	if tr := tu.Triple(); !strings.Contains(tr, "linux") {
		t.Errorf("triple %q", tr)
	}
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func TestDiagnostics(t *testing.T) {
	_, tu := parse(t, "testdata/broken.c")
	d := tu.Diagnostics()
	if len(d) == 0 || d[0].Severity < Error {
		t.Fatalf("want an error, got %v", d)
	}
	if got := d[0].String(); !strings.HasPrefix(got, "testdata/broken.c:1:22: error: use of undeclared identifier") {
		t.Errorf("diagnostic = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	ix := NewIndex()
	defer ix.Dispose()
	if _, err := ix.Parse("testdata/does-not-exist.c", nil, 0); !errors.Is(err, ErrParse) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ix.Parse("testdata/sample.c", []string{"clang", "--", "-std=c11"}, 0); err == nil || !strings.Contains(err.Error(), "--") {
		t.Errorf("literal --: %v", err)
	}
}

func TestTokensAndEvaluate(t *testing.T) {
	_, tu := parse(t, "testdata/sample.c")
	main := functions(t, tu)["main"]
	b := NewBuffer()
	defer b.Free()
	nodes, _ := main.Collect(b, nil)
	var ifc Cursor
	var lits []int64
	for _, n := range nodes {
		if n.Cursor.Kind() == IfStmt {
			ifc = n.Cursor
		}
		if n.Cursor.Kind() == IntegerLiteral {
			v, ok := n.Cursor.EvaluateInt()
			if !ok {
				t.Errorf("literal not evaluated")
			}
			lits = append(lits, v)
		}
	}
	if len(lits) != 2 || lits[0] != 1 || lits[1] != 0 {
		t.Errorf("literals %v, want [1 0]", lits)
	}
	toks := tu.Tokens(ifc)
	if len(toks) < 4 || toks[0] != "if" || toks[1] != "(" {
		t.Errorf("tokens of if: %q", toks)
	}
}

func TestCompileDatabase(t *testing.T) {
	dir := t.TempDir()
	src, _ := filepath.Abs("testdata/cdb/src")
	// A relative file name and include path, resolved against "directory".
	db := `[{"directory": "` + src + `", "file": "core.c", "command": "gcc -I. -DX=1 -c core.c -o core.o -fconserve-stack"}]`
	if err := os.WriteFile(filepath.Join(dir, "compile_commands.json"), []byte(db), 0o644); err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	cmds, err := LoadCompileCommands(dir, filepath.Join(src, "core.c"))
	if err != nil {
		t.Fatal(err)
	}
	file, argv := cmds[0].ParseArgs()
	if file != filepath.Join(src, "core.c") {
		t.Errorf("file %q", file)
	}
	want := []string{"gcc", "-I" + src, "-DX=1", "-fconserve-stack"}
	if strings.Join(argv, " ") != strings.Join(want, " ") {
		t.Errorf("argv %q, want %q", argv, want)
	}
	ix := NewIndex()
	defer ix.Dispose()
	tu, err := ix.Parse(file, argv, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tu.Dispose()
	for _, d := range tu.Diagnostics() {
		if d.Severity >= Error && d.File != "" {
			t.Errorf("diagnostic: %v", d)
		}
	}
	if now, _ := os.Getwd(); now != cwd {
		t.Errorf("parsing changed the working directory to %s", now)
	}
	if _, err := LoadCompileCommands(dir, "testdata/sample.c"); err == nil || !strings.Contains(err.Error(), "no entry for") {
		t.Errorf("file not in database: %v", err)
	}
	if _, err := LoadCompileCommands(t.TempDir(), "x.c"); err == nil || !strings.Contains(err.Error(), "no compilation database") {
		t.Errorf("missing database: %v", err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "compile_commands.json"), []byte("[{oops"), 0o644)
	if _, err := LoadCompileCommands(bad, "x.c"); err == nil {
		t.Errorf("broken database accepted")
	}
}

// One Index and TU per goroutine is safe.
func TestParallel(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ix := NewIndex()
			defer ix.Dispose()
			for k := 0; k < 3; k++ {
				tu, err := ix.Parse("testdata/sample.c", nil, 0)
				if err != nil {
					errs <- err
					return
				}
				b := NewBuffer()
				tops, _ := tu.TopLevel(b, false)
				n := 0
				for _, c := range tops {
					nodes, _ := c.Collect(b, nil)
					n += len(nodes)
				}
				b.Free()
				tu.Dispose()
				if n < 20 {
					errs <- errors.New("too few nodes")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
