// Package sysnumgen extracts the Linux system call tables from the kernel
// UAPI headers installed on the build machine and renders them as Go source
// for package sysnum. It is used by the generator (internal/sysnum/gen, run
// through `go generate`) and by the test that checks the committed
// zz_generated.go is up to date.
//
// Sources:
//   - x86_64: /usr/include/x86_64-linux-gnu/asm/unistd_64.h (linux-libc-dev),
//     read directly: every line is `#define __NR_<name> <number>`.
//   - aarch64: /usr/aarch64-linux-gnu/include/asm/unistd.h
//     (linux-libc-dev-arm64-cross), which includes asm-generic/unistd.h; its
//     macros refer to each other (`__NR_fcntl` → `__NR3264_fcntl` → 25) and
//     depend on __BITS_PER_LONG, so the header is run through the C
//     preprocessor for aarch64 (`clang-15 --target=aarch64-linux-gnu -E -dM`,
//     or `aarch64-linux-gnu-gcc -E -dM`) and the macro definitions are
//     resolved here.
package sysnumgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// Default header locations (Debian 12 packages installed by scripts/setup.sh).
const (
	X86_64Header  = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
	AArch64Header = "/usr/aarch64-linux-gnu/include/asm/unistd.h"
)

// Entry is one system call.
type Entry struct {
	Name string
	Nr   int
}

// Table is the extracted table of one architecture.
type Table struct {
	Arch    string // "x86_64" or "aarch64"
	Source  string // header the table came from
	Entries []Entry
}

// Pseudo-macros with the __NR_ prefix that are not system calls.
var notSyscalls = map[string]bool{
	"syscalls":               true, // number of syscalls (asm-generic)
	"arch_specific_syscall":  true, // base of the arch-private range (asm-generic)
	"SYSCALL_BASE":           true,
	"OABI_SYSCALL_BASE":      true,
	"ARM_BASE":               true,
	"compat_syscalls":        true,
	"x32_rt_sigreturn_alias": true,
}

const maxNr = 4096 // sanity bound on syscall numbers

// ParseDefines resolves the `#define __NR_<name> <value>` macros in text.
// Values may be decimal integers or names of other macros in text (resolved
// recursively, e.g. __NR3264_fstat). Anything else is an error naming the
// line, so a header change that introduces expressions is noticed.
func ParseDefines(text, source string) ([]Entry, error) {
	macros := map[string]string{}
	lines := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	ln := 0
	for sc.Scan() {
		ln++
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "#define" {
			continue
		}
		if strings.Contains(f[1], "(") { // function-like macro
			continue
		}
		macros[f[1]] = strings.Join(f[2:], " ")
		lines[f[1]] = ln
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var resolve func(name string, depth int) (int, error)
	resolve = func(name string, depth int) (int, error) {
		if depth > 16 {
			return 0, fmt.Errorf("%s:%d: macro %s: definition chain too deep", source, lines[name], name)
		}
		v := strings.TrimSpace(macros[name])
		for strings.HasPrefix(v, "(") && strings.HasSuffix(v, ")") {
			v = strings.TrimSpace(v[1 : len(v)-1])
		}
		if n, err := strconv.Atoi(v); err == nil {
			return n, nil
		}
		if _, ok := macros[v]; ok {
			return resolve(v, depth+1)
		}
		return 0, fmt.Errorf("%s:%d: macro %s: expected a decimal number or another macro name, found %q", source, lines[name], name, v)
	}
	var out []Entry
	for name := range macros {
		if !strings.HasPrefix(name, "__NR_") {
			continue
		}
		sys := strings.TrimPrefix(name, "__NR_")
		if notSyscalls[sys] || sys == "" {
			continue
		}
		nr, err := resolve(name, 0)
		if err != nil {
			return nil, err
		}
		if nr < 0 || nr >= maxNr {
			return nil, fmt.Errorf("%s:%d: macro %s: number %d out of range [0,%d)", source, lines[name], name, nr, maxNr)
		}
		out = append(out, Entry{Name: sys, Nr: nr})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no __NR_ definitions found", source)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Nr != out[j].Nr {
			return out[i].Nr < out[j].Nr
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// ReadX86_64 reads the x86_64 table from header (unistd_64.h).
func ReadX86_64(header string) (*Table, error) {
	b, err := os.ReadFile(header)
	if err != nil {
		return nil, fmt.Errorf("x86_64 syscall header: %w (install linux-libc-dev: run scripts/setup.sh)", err)
	}
	e, err := ParseDefines(string(b), header)
	if err != nil {
		return nil, err
	}
	return &Table{Arch: "x86_64", Source: header, Entries: e}, nil
}

// Preprocessors tried, in order, for the aarch64 header. Both produce the
// same macro set (checked when this generator was written).
var aarch64Preprocessors = [][]string{
	{"clang-15", "--target=aarch64-linux-gnu", "-E", "-dM", "-x", "c", "-"},
	{"aarch64-linux-gnu-gcc", "-E", "-dM", "-x", "c", "-"},
}

// ReadAArch64 preprocesses header (asm/unistd.h of the arm64 cross headers)
// for aarch64 and reads the table.
func ReadAArch64(header string) (*Table, error) {
	if _, err := os.Stat(header); err != nil {
		return nil, fmt.Errorf("aarch64 syscall header: %w (install linux-libc-dev-arm64-cross: run scripts/setup.sh)", err)
	}
	src := fmt.Sprintf("#include %q\n", header)
	var errs []error
	for _, argv := range aarch64Preprocessors {
		if _, err := exec.LookPath(argv[0]); err != nil {
			errs = append(errs, err)
			continue
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = strings.NewReader(src)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v: %s", argv[0], err, strings.TrimSpace(stderr.String())))
			continue
		}
		e, err := ParseDefines(string(out), header+" (preprocessed by "+argv[0]+")")
		if err != nil {
			return nil, err
		}
		return &Table{Arch: "aarch64", Source: header, Entries: e}, nil
	}
	return nil, fmt.Errorf("aarch64 syscall header %s: no working preprocessor (run scripts/setup.sh to install clang-15 / gcc-aarch64-linux-gnu): %w", header, errors.Join(errs...))
}

// Render produces the Go source of zz_generated.go for the given tables.
func Render(tables ...*Table) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/sysnum/gen from the kernel UAPI headers; DO NOT EDIT.\n")
	b.WriteString("// Regenerate with `go generate ./internal/sysnum`.\n\n")
	b.WriteString("package sysnum\n\n")
	for _, t := range tables {
		ident := strings.ReplaceAll(t.Arch, "_", "")
		fmt.Fprintf(&b, "// %sEntries: %d system calls, from %s.\n", ident, len(t.Entries), t.Source)
		fmt.Fprintf(&b, "var %sEntries = []entry{\n", ident)
		for _, e := range t.Entries {
			fmt.Fprintf(&b, "\t{%d, %q},\n", e.Nr, e.Name)
		}
		b.WriteString("}\n\n")
	}
	return format.Source(b.Bytes())
}

// Generate reads both default headers and renders the Go source.
func Generate() ([]byte, error) {
	x, err := ReadX86_64(X86_64Header)
	if err != nil {
		return nil, err
	}
	a, err := ReadAArch64(AArch64Header)
	if err != nil {
		return nil, err
	}
	return Render(x, a)
}
