package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestGraphRuntimeHook(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the hook keeps it")
	}
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	dir := t.TempDir()
	src := filepath.Join(dir, "m.c")
	if err := os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, err := runGraph(t, src, "-o", filepath.Join(dir, "m.tu.json")); code != 0 {
		t.Fatalf("graph: %d %v", code, err)
	}
	if got := debug.SetGCPercent(100); got != graphGCPercent {
		t.Errorf("GOGC during and after kcfm graph = %d, want %d (is the Before hook installed?)", got, graphGCPercent)
	}
}
