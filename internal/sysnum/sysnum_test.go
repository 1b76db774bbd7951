package sysnum

import (
	"bytes"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum/sysnumgen"
)

// TestGeneratedUpToDate regenerates the tables from the installed headers
// and compares them with the committed zz_generated.go. The headers are
// installed by scripts/setup.sh, so their absence is a failure.
func TestGeneratedUpToDate(t *testing.T) {
	src, err := sysnumgen.Generate()
	if err != nil {
		t.Fatalf("regenerating syscall tables: %v\n(run scripts/setup.sh to install linux-libc-dev, linux-libc-dev-arm64-cross and clang-15)", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/zz_generated.go", src, 0o644); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("zz_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, src) {
		t.Fatalf("zz_generated.go is out of date with the installed kernel headers (fresh copy in %s); run `go generate ./internal/sysnum`", dir)
	}
}

func TestKnownNumbers(t *testing.T) {
	cases := []struct {
		a    Arch
		name string
		nr   int
	}{
		// Stable ABI numbers, cross-checked with the kernel's syscall_64.tbl
		// and asm-generic/unistd.h.
		{X86_64, "read", 0}, {X86_64, "write", 1}, {X86_64, "openat", 257},
		{X86_64, "execve", 59}, {X86_64, "clone3", 435}, {X86_64, "getppid", 110},
		{AArch64, "read", 63}, {AArch64, "write", 64}, {AArch64, "openat", 56},
		{AArch64, "execve", 221}, {AArch64, "clone3", 435}, {AArch64, "getppid", 173},
		// asm-generic indirections through __NR3264_*:
		{AArch64, "fcntl", 25}, {AArch64, "fstat", 80}, {AArch64, "newfstatat", 79}, {AArch64, "mmap", 222},
		{AArch64, "lseek", 62},
	}
	for _, c := range cases {
		tb := For(c.a)
		if n, ok := tb.Nr(c.name); !ok || n != c.nr {
			t.Errorf("%s: Nr(%q) = %d,%v want %d", c.a, c.name, n, ok, c.nr)
		}
		if got := tb.Name(c.nr); got != c.name {
			t.Errorf("%s: Name(%d) = %q want %q", c.a, c.nr, got, c.name)
		}
	}
	// aarch64 has no legacy syscalls.
	for _, n := range []string{"open", "fork", "stat", "poll", "syscalls", "arch_specific_syscall"} {
		if _, ok := For(AArch64).Nr(n); ok {
			t.Errorf("aarch64 must not have %q", n)
		}
	}
	if _, ok := For(X86_64).Nr("open"); !ok {
		t.Error("x86_64 has open")
	}
}

func TestTableShape(t *testing.T) {
	for _, a := range []Arch{X86_64, AArch64} {
		tb := For(a)
		names := tb.Names()
		if len(names) < 290 {
			t.Errorf("%s: only %d syscalls", a, len(names))
		}
		if !sort.StringsAreSorted(names) {
			t.Errorf("%s: Names not sorted", a)
		}
		max := -1
		for _, n := range names {
			nr, ok := tb.Nr(n)
			if !ok || nr < 0 {
				t.Fatalf("%s: %q has no number", a, n)
			}
			if nr > max {
				max = nr
			}
			if tb.Name(nr) == "" {
				t.Errorf("%s: Name(%d) empty though %q has it", a, nr, n)
			}
			if strings.HasPrefix(n, "__") {
				t.Errorf("%s: suspicious name %q", a, n)
			}
		}
		if tb.Max() != max {
			t.Errorf("%s: Max()=%d want %d", a, tb.Max(), max)
		}
		if tb.Name(-1) != "" || tb.Name(tb.Max()+1) != "" || tb.Name(1<<30) != "" {
			t.Errorf("%s: out-of-range Name not empty", a)
		}
		names[0] = "mutated"
		if tb.Names()[0] == "mutated" {
			t.Errorf("%s: Names returns internal slice", a)
		}
	}
	if For("mips") != nil {
		t.Error("For(mips) should be nil")
	}
}

func TestParseArchAndAudit(t *testing.T) {
	for in, want := range map[string]Arch{"x86_64": X86_64, "amd64": X86_64, "x86-64": X86_64, "X86_64": X86_64,
		"aarch64": AArch64, "arm64": AArch64, " ARM64 ": AArch64} {
		got, err := ParseArch(in)
		if err != nil || got != want {
			t.Errorf("ParseArch(%q) = %q,%v want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "i386", "arm", "riscv64"} {
		if _, err := ParseArch(in); err == nil {
			t.Errorf("ParseArch(%q) accepted", in)
		}
	}
	if X86_64.AuditArch() != 0xc000003e || AArch64.AuditArch() != 0xc00000b7 || Arch("x").AuditArch() != 0 {
		t.Error("AuditArch values")
	}
	switch runtime.GOARCH {
	case "amd64":
		if Host() != X86_64 {
			t.Error("Host")
		}
	case "arm64":
		if Host() != AArch64 {
			t.Error("Host")
		}
	}
}

func TestParseDefinesErrors(t *testing.T) {
	if _, err := sysnumgen.ParseDefines("#define __NR_x (__NR_y + 1)\n#define __NR_y 3\n", "t.h"); err == nil || !strings.Contains(err.Error(), "t.h:1") {
		t.Errorf("expression not rejected with location: %v", err)
	}
	if _, err := sysnumgen.ParseDefines("#define __NR_a __NR_b\n#define __NR_b __NR_a\n", "t.h"); err == nil {
		t.Error("cycle not rejected")
	}
	if _, err := sysnumgen.ParseDefines("/* nothing */\n", "t.h"); err == nil {
		t.Error("empty input accepted")
	}
	if _, err := sysnumgen.ParseDefines("#define __NR_a 99999\n", "t.h"); err == nil {
		t.Error("huge number accepted")
	}
	e, err := sysnumgen.ParseDefines("#define __NR3264_x 7\n#define __NR_x __NR3264_x\n#define __NR_syscalls 8\n#define __NR_y (5)\n", "t.h")
	if err != nil || len(e) != 2 || e[0] != (sysnumgen.Entry{Name: "y", Nr: 5}) || e[1] != (sysnumgen.Entry{Name: "x", Nr: 7}) {
		t.Errorf("got %v %v", e, err)
	}
}
