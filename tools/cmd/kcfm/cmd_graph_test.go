package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
)

// runGraph runs `kcfm graph ARGS...` in-process and returns the exit status
// it would have (0 on success).
func runGraph(t *testing.T, args ...string) (int, error) {
	t.Helper()
	err := newApp().Run(append([]string{"kcfm", "graph"}, args...))
	if err == nil {
		return 0, nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, err
	}
	return 1, err
}

func TestGraphCommand(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "m.c")
	os.WriteFile(src, []byte("#include <stdlib.h>\nint g(int);\nint main(int c, char **v) {\n  if (g(c) && c > 1)\n    exit(2);\n  return g(0);\n}\n"), 0o644)
	out := filepath.Join(dir, "m.tu.json")

	// flags after the file, compiler flags after --
	if code, err := runGraph(t, src, "-o", out, "--", "-std=c11", "-DX=1"); code != 0 {
		t.Fatalf("graph: %d %v", code, err)
	}
	g, _, err := model.ReadGraphFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Functions) != 1 || g.Functions[0].Name != "main" || g.Language != "c" {
		t.Fatalf("graph: %+v", g.Functions)
	}
	if _, err := os.Stat(out + ".tmp"); err == nil {
		t.Errorf("temporary file left behind")
	}

	// compilation database with a relative file and gcc-only flags
	db := filepath.Join(dir, "build")
	os.MkdirAll(db, 0o755)
	os.WriteFile(filepath.Join(db, "compile_commands.json"), []byte(`[{"directory": "`+dir+`", "file": "m.c", "command": "gcc -O2 -fconserve-stack -c m.c -o m.o"}]`), 0o644)
	dump := filepath.Join(dir, "m.dump")
	if code, err := runGraph(t, "-p", db, "--dump", "-o", dump, src); code != 0 {
		t.Fatalf("graph -p: %d %v", code, err)
	}
	d, _ := os.ReadFile(dump)
	if !strings.Contains(string(d), "call exit [noreturn]") {
		t.Errorf("dump:\n%s", d)
	}

	bad := filepath.Join(dir, "bad.c")
	os.WriteFile(bad, []byte("int f(void) { return nope; }\n"), 0o644)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "no input file"},
		{[]string{src, src}, 2, "more than one input file"},
		{[]string{"--bogus", src}, 1, ""}, // urfave rejects unknown flags before the file
		{[]string{filepath.Join(dir, "none.c")}, 1, "no such file"},
		{[]string{bad}, 1, "does not compile"},
		{[]string{"-p", filepath.Join(dir, "nodb"), src}, 1, "no compilation database"},
		{[]string{"-p", db, bad}, 1, "no entry for"},
		{[]string{filepath.Join(dir, "x.f90")}, 1, "unsupported language"},
	}
	os.WriteFile(filepath.Join(dir, "x.f90"), nil, 0o644)
	for _, c := range cases {
		code, err := runGraph(t, c.args...)
		if code != c.code || err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("graph %v: code %d err %v; want %d %q", c.args, code, err, c.code, c.msg)
		}
	}
}
