// Package sysnum maps Linux system call numbers to names and back for the
// architectures KCFM supports (x86_64 and aarch64).
//
// The tables in zz_generated.go are generated from the kernel UAPI headers
// installed on the build machine (linux-libc-dev and
// linux-libc-dev-arm64-cross) by internal/sysnum/gen; they are never edited
// by hand. TestGeneratedUpToDate regenerates them and fails when the
// committed file differs.
package sysnum

//go:generate go run ./gen -o zz_generated.go

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
)

// Arch names a target architecture, spelled as the kernel/uname does.
type Arch string

// Supported architectures.
const (
	X86_64  Arch = "x86_64"
	AArch64 Arch = "aarch64"
)

// Host returns the architecture this program runs on (from runtime.GOARCH).
// For a GOARCH KCFM does not support it returns Arch(runtime.GOARCH), for
// which For returns nil.
func Host() Arch {
	switch runtime.GOARCH {
	case "amd64":
		return X86_64
	case "arm64":
		return AArch64
	}
	return Arch(runtime.GOARCH)
}

// ParseArch accepts x86_64, amd64, x86-64 (→ X86_64) and aarch64, arm64
// (→ AArch64), case-insensitively.
func ParseArch(s string) (Arch, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "x86_64", "amd64", "x86-64":
		return X86_64, nil
	case "aarch64", "arm64":
		return AArch64, nil
	}
	return "", fmt.Errorf("unknown architecture %q (expected x86_64/amd64/x86-64 or aarch64/arm64)", s)
}

// Audit architecture tokens from <linux/audit.h>, as seen in
// seccomp_data.arch.
const (
	auditArchX86_64  = 0xc000003e // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
	auditArchAArch64 = 0xc00000b7 // EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
)

// AuditArch returns the AUDIT_ARCH_* value of a (seccomp_data.arch), or 0
// for an unsupported architecture.
func (a Arch) AuditArch() uint32 {
	switch a {
	case X86_64:
		return auditArchX86_64
	case AArch64:
		return auditArchAArch64
	}
	return 0
}

// entry is one generated table row.
type entry struct {
	nr   int
	name string
}

// Table is the system call table of one architecture. It is immutable and
// safe for concurrent use.
type Table struct {
	arch   Arch
	byName map[string]int
	byNr   []string // index nr; "" where no syscall has that number
	names  []string // sorted
}

var tables = map[Arch]*Table{
	X86_64:  newTable(X86_64, x8664Entries),
	AArch64: newTable(AArch64, aarch64Entries),
}

func newTable(a Arch, es []entry) *Table {
	t := &Table{arch: a, byName: make(map[string]int, len(es))}
	max := -1
	for _, e := range es {
		if e.nr > max {
			max = e.nr
		}
	}
	t.byNr = make([]string, max+1)
	for _, e := range es {
		t.byName[e.name] = e.nr
		if t.byNr[e.nr] == "" { // entries are sorted by (nr, name): first name wins
			t.byNr[e.nr] = e.name
		}
		t.names = append(t.names, e.name)
	}
	sort.Strings(t.names)
	return t
}

// For returns the table of a, or nil if a is not supported.
func For(a Arch) *Table { return tables[a] }

// Arch returns the table's architecture.
func (t *Table) Arch() Arch { return t.arch }

// Nr returns the number of the system call name (without the __NR_ prefix).
func (t *Table) Nr(name string) (int, bool) {
	n, ok := t.byName[name]
	return n, ok
}

// Name returns the name of system call nr, or "" if nr is unknown.
func (t *Table) Name(nr int) string {
	if nr < 0 || nr >= len(t.byNr) {
		return ""
	}
	return t.byNr[nr]
}

// Names returns all system call names, sorted. The caller may modify the
// returned slice.
func (t *Table) Names() []string { return append([]string(nil), t.names...) }

// Max returns the highest system call number in the table.
func (t *Table) Max() int { return len(t.byNr) - 1 }

// Len returns the number of system calls in the table.
func (t *Table) Len() int { return len(t.names) }
