package ctest

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// The runtime must compile warning-free for both target architectures with
// both compilers the project uses.
func TestRuntimeCompilesForTargets(t *testing.T) {
	src := filepath.Join(SourceDir(), "kcfm_rt.c")
	for _, c := range [][]string{
		{"gcc"},
		{"clang-15"},
		{"aarch64-linux-gnu-gcc"},
		{"clang-15", "--target=aarch64-linux-gnu"},
	} {
		if _, err := exec.LookPath(c[0]); err != nil {
			t.Fatalf("%s not found: run scripts/setup.sh", c[0])
		}
		args := append(c[1:], "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-I", IncludeDir(), "-c", "-o", filepath.Join(t.TempDir(), "rt.o"), src)
		if out, err := exec.Command(c[0], args...).CombinedOutput(); err != nil {
			t.Errorf("%v: %v\n%s", c, err, out)
		}
	}
}

// The standalone CMake project builds the library and passes its smoke tests.
func TestCMakeStandalone(t *testing.T) {
	for _, tool := range []string{"cmake", "ctest", "ninja"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/setup.sh", tool)
		}
	}
	b := t.TempDir()
	for _, cmd := range [][]string{
		{"cmake", "-S", SourceDir(), "-B", b, "-G", "Ninja"},
		{"cmake", "--build", b},
		{"ctest", "--test-dir", b, "--output-on-failure"},
	} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
	}
}
