package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// kcfm graph --instrument-flags writes the GCC response file that leaves
// the TU's silent functions uninstrumented; GCC compiled with it really
// drops their hooks and keeps everyone else's; the "@FILE" CMake puts into
// the compile database is not read back by kcfm graph.
func TestGraphInstrumentFlags(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "s.c")
	os.WriteFile(src, []byte(`#include <string.h>
#include <unistd.h>
static int eq_nocase(const char *a, const char *b) { return strcmp(a, b) == 0; }
int path_len(const char *p) { int n = 0; while (p[n] && p[n] != '?') n++; return n; }
static int classify(const char *s) { return eq_nocase(s, "x") ? path_len(s) : 0; }
int noisy(const char *s) { return (int)write(1, s, strlen(s)); }
int main(int c, char **v) { return classify(v[0]) + noisy(v[0]) + c; }
`), 0o644)
	flags := filepath.Join(dir, "s.c.kcfmflags")
	db := filepath.Join(dir, "build")
	os.MkdirAll(db, 0o755)
	os.WriteFile(filepath.Join(db, "compile_commands.json"), []byte(`[{"directory": "`+dir+`", "file": "s.c", "command": "gcc -O2 -finstrument-functions @`+flags+` -c s.c -o s.o"}]`), 0o644)
	out := filepath.Join(dir, "s.tu")
	if code, err := runGraph(t, "-p", db, "--instrument-flags", flags, "-o", out, src); code != 0 {
		t.Fatalf("graph: %d %v", code, err)
	}
	data, err := os.ReadFile(flags)
	if err != nil {
		t.Fatal(err)
	}
	want := "-finstrument-functions-exclude-function-list=classify,eq_nocase,path_len\n"
	if string(data) != want {
		t.Fatalf("response file:\n%q\nwant\n%q", data, want)
	}
	// Unchanged content: the file is not rewritten (no needless recompile).
	old, _ := os.Stat(flags)
	os.Chtimes(flags, old.ModTime().Add(-time.Hour), old.ModTime().Add(-time.Hour))
	before, _ := os.Stat(flags)
	if code, err := runGraph(t, "-p", db, "--instrument-flags", flags, "-o", out, src); code != 0 {
		t.Fatalf("graph again: %d %v", code, err)
	}
	after, _ := os.Stat(flags)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("unchanged response file rewritten")
	}
	if code, _ := runGraph(t, "--instrument-flags", filepath.Join(dir, "x.txt"), "-o", out, src); code != 1 {
		t.Errorf("a response file name without .kcfmflags: exit %d, want 1", code)
	}

	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("gcc is needed for this test (scripts/setup.sh installs it): %v", err)
	}
	asm, err := exec.Command(gcc, "-O0", "-finstrument-functions", "@"+flags, "-S", "-o", "-", src).CombinedOutput()
	if err != nil {
		t.Fatalf("gcc with the response file: %v\n%s", err, asm)
	}
	hooked := map[string]bool{}
	fnRE := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*):$`)
	cur := ""
	for _, line := range strings.Split(string(asm), "\n") {
		if m := fnRE.FindStringSubmatch(line); m != nil {
			cur = m[1]
		} else if strings.Contains(line, "__cyg_profile_func_enter") {
			hooked[cur] = true
		}
	}
	for _, f := range []string{"main", "noisy"} {
		if !hooked[f] {
			t.Errorf("%s lost its instrumentation", f)
		}
	}
	for _, f := range []string{"eq_nocase", "path_len", "classify"} {
		if hooked[f] {
			t.Errorf("silent %s is still instrumented", f)
		}
	}
}
