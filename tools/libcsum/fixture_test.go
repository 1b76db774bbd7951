package libcsum

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// buildFixture assembles testdata/fixture_<arch>.S into a shared library.
func buildFixture(t *testing.T, arch sysnum.Arch) string {
	t.Helper()
	cc := "gcc"
	if arch == sysnum.AArch64 {
		cc = "aarch64-linux-gnu-gcc"
	}
	if sysnum.Host() == sysnum.AArch64 {
		if arch == sysnum.AArch64 {
			cc = "gcc"
		} else {
			cc = "x86_64-linux-gnu-gcc"
		}
	}
	requireTool(t, cc)
	out := filepath.Join(t.TempDir(), "fixture-"+string(arch)+".so")
	src := filepath.Join("testdata", "fixture_"+string(arch)+".S")
	if b, err := exec.Command(cc, "-shared", "-nostdlib", "-Wl,-z,now", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", cc, src, err, b)
	}
	return out
}

func fixtureSummary(t *testing.T, arch sysnum.Arch) *Summary {
	t.Helper()
	im, err := openImage(buildFixture(t, arch), arch)
	if err != nil {
		t.Fatal(err)
	}
	a, err := analyse(im)
	if err != nil {
		t.Fatal(err)
	}
	return a.summary()
}

func names(arch sysnum.Arch, nrs []int) []string {
	out := SyscallNames(arch, nrs)
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func TestFixtures(t *testing.T) {
	type want struct {
		sys     []string
		unknown bool
		nrArg   int
		note    string
	}
	cases := map[string]want{
		"direct_openat":   {sys: []string{"openat"}},
		"across_blocks":   {sys: []string{"getpid"}},
		"wrapper":         {sys: []string{}, nrArg: 1, note: "taken from argument 1"},
		"tail_exit":       {sys: []string{"exit"}},
		"calls_hidden":    {sys: []string{"write"}},
		"unknown_nr":      {sys: []string{}, unknown: true},
		"eq_zero":         {sys: []string{"read"}},
		"low_byte":        {sys: []string{"getppid"}},
		"sel":             {sys: []string{"geteuid", "getuid"}},
		"calls_ifunc":     {sys: []string{"geteuid", "getuid"}},
		"run_cb":          {sys: []string{}, note: "calls its argument 1"},
		"passes_local_cb": {sys: []string{"getppid"}},
		"no_syscalls":     {sys: []string{}},
		// rule noreturn / FDE end: no fall-through into the next function
		"calls_dies": {sys: []string{"exit"}},
		"after_dies": {sys: []string{"getpid"}},
		"fde_end":    {sys: []string{"exit"}},
		"after_fde":  {sys: []string{"getppid"}},
		// stack spills of callback arguments
		"spill_run":         {sys: []string{}, note: "calls its argument 1"},
		"passes_spilled_cb": {sys: []string{"getppid"}},
		// read-only function table
		"table_call": {sys: []string{"getuid"}},
	}
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		t.Run(string(arch), func(t *testing.T) {
			s := fixtureSummary(t, arch)
			cases := maps.Clone(cases)
			if arch == sysnum.X86_64 {
				// resolved jump table: exactly the three cases
				cases["jt_switch"] = want{sys: []string{"geteuid", "getpid", "getuid"}}
			}
			// rtld pointer: the loader's syscalls, nothing unknown
			f, ok := s.Lookup("rtld_call")
			if !ok || f.UnknownSyscall || !contains(f.Syscalls, nr(t, arch, "openat")) || !contains(f.Syscalls, nr(t, arch, "mmap")) {
				t.Errorf("rtld_call: %v unknown=%v, want the loader's syscalls", names(arch, f.Syscalls), f.UnknownSyscall)
			}
			for fn, w := range cases {
				f, ok := s.Lookup(fn)
				if !ok {
					t.Errorf("%s: missing from summary", fn)
					continue
				}
				if got := names(arch, f.Syscalls); !reflect.DeepEqual(got, w.sys) {
					t.Errorf("%s: syscalls %v, want %v (notes %v)", fn, got, w.sys, f.Notes)
				}
				if f.UnknownSyscall != w.unknown {
					t.Errorf("%s: UnknownSyscall=%v, want %v", fn, f.UnknownSyscall, w.unknown)
				}
				if f.NrArg != w.nrArg {
					t.Errorf("%s: NrArg=%d, want %d", fn, f.NrArg, w.nrArg)
				}
				if w.note != "" && !strings.Contains(strings.Join(f.Notes, "\n"), w.note) {
					t.Errorf("%s: notes %q lack %q", fn, f.Notes, w.note)
				}
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	dir := t.TempDir()
	txt := filepath.Join(dir, "notelf.so")
	if err := os.WriteFile(txt, []byte("hello, I am not an ELF file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(txt, sysnum.X86_64); err == nil || !strings.Contains(err.Error(), "not an ELF file") {
		t.Errorf("non-ELF: %v", err)
	}
	fx := buildFixture(t, sysnum.X86_64)
	if _, err := Generate(fx, sysnum.AArch64); err == nil || !strings.Contains(err.Error(), "is an x86_64 library") {
		t.Errorf("wrong arch: %v", err)
	}
	// a shared library that is not a libc
	if _, err := Generate(fx, sysnum.X86_64); err == nil || !strings.Contains(err.Error(), "neither glibc nor musl") {
		t.Errorf("not a libc: %v", err)
	}
	requireTool(t, "objcopy")
	stripped := filepath.Join(dir, "stripped.so")
	if b, err := exec.Command("objcopy", "-R", ".dynsym", "-R", ".dynstr", "-R", ".gnu.hash", "-R", ".hash",
		"-R", ".gnu.version", "-R", ".gnu.version_d", "-R", ".gnu.version_r", fx, stripped).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, b)
	}
	if _, err := Generate(stripped, sysnum.X86_64); err == nil || !strings.Contains(err.Error(), "stripped") {
		t.Errorf("stripped: %v", err)
	}
	if _, err := Generate(filepath.Join(dir, "missing.so"), sysnum.X86_64); err == nil {
		t.Error("missing file accepted")
	}
}

func TestX86Lengths(t *testing.T) {
	cases := []struct {
		b    []byte
		want int
	}{
		{[]byte{0xc5, 0xf8, 0x77, 0x90}, 3},                         // vzeroupper
		{[]byte{0xc4, 0xe1, 0x78, 0x77, 0x90}, 4},                   // vzeroupper, 3-byte VEX
		{[]byte{0x62, 0xb1, 0x7d, 0x28, 0x74, 0x0c, 0x24, 0x90}, 7}, // EVEX with SIB
		{[]byte{0x62, 0xf3, 0x7d, 0x48, 0x3f, 0xc1, 0x04, 0x90}, 7}, // EVEX map 3 with imm8
		{[]byte{0x0f, 0x01, 0xee}, 3},                               // rdpkru
	}
	for _, c := range cases {
		ins := decodeX86(c.b, 0x1000, nil)
		if len(ins) == 0 || int(ins[0].size) != c.want {
			t.Errorf("% x: first instruction length %v, want %d", c.b, ins, c.want)
		}
	}
}

func nr(t *testing.T, arch sysnum.Arch, name string) int {
	t.Helper()
	n, ok := sysnum.For(arch).Nr(name)
	if !ok {
		t.Fatalf("%s: no syscall %s", arch, name)
	}
	return n
}
