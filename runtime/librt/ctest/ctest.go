// Package ctest compiles small C programs against libkcfm_rt for the tests
// and benchmarks of the runtime packages (ring, launcher, bench/runtime).
// The runtime source is compiled without instrumentation, the program with
// -finstrument-functions when asked.
package ctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// SourceDir returns runtime/librt (where kcfm_rt.c lives).
func SourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// IncludeDir returns the directory holding kcfm/kcfm_rt.h.
func IncludeDir() string {
	return filepath.Join(SourceDir(), "..", "..", "sysroot-overlay", "include")
}

// Options of Build.
type Options struct {
	Instrument bool     // -finstrument-functions, and link libkcfm_rt
	Runtime    bool     // link libkcfm_rt without instrumenting the program
	Static     bool     // -static
	CC         string   // compiler (default: $CC, else gcc, else cc)
	Flags      []string // extra compiler flags
}

var rtObjs sync.Map // dir+cc -> object path

// Compiler returns the C compiler to use.
func Compiler(cc string) (string, error) {
	if cc == "" {
		cc = os.Getenv("CC")
	}
	cands := []string{cc, "gcc", "cc"}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no C compiler found (tried %s): run scripts/setup.sh", strings.Join(cands, ", "))
}

// BuildIn compiles src (C source text) into dir/name and returns the path.
func BuildIn(dir, name, src string, o Options) (string, error) {
	cc, err := Compiler(o.CC)
	if err != nil {
		return "", err
	}
	cfile := filepath.Join(dir, name+".c")
	if err := os.WriteFile(cfile, []byte(src), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	args := []string{"-std=gnu11", "-O2", "-g", "-pthread", "-I", IncludeDir(), "-o", out}
	if o.Static {
		args = append(args, "-static")
	}
	if o.Instrument {
		args = append(args, "-finstrument-functions")
	}
	args = append(args, o.Flags...)
	args = append(args, cfile)
	if o.Instrument || o.Runtime {
		key := dir + "\x00" + cc + fmt.Sprint(o.Static)
		obj, ok := rtObjs.Load(key)
		if !ok {
			p := filepath.Join(dir, fmt.Sprintf("kcfm_rt-%d.o", len(key)))
			rtArgs := []string{"-std=c11", "-O2", "-g", "-fPIC", "-I", IncludeDir(), "-c", "-o", p, filepath.Join(SourceDir(), "kcfm_rt.c")}
			if b, err := exec.Command(cc, rtArgs...).CombinedOutput(); err != nil {
				return "", fmt.Errorf("compiling kcfm_rt.c: %v\n%s", err, b)
			}
			rtObjs.Store(key, p)
			obj = p
		}
		args = append(args, obj.(string))
	}
	cmd := exec.Command(cc, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, b)
	}
	return out, nil
}

// Build is BuildIn in t.TempDir(), failing the test on error.
func Build(t testing.TB, name, src string, o Options) string {
	t.Helper()
	dir := t.TempDir()
	p, err := BuildIn(dir, name, src, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
