package checker

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
)

const symProg = `
#include <stdio.h>
static int helper(int x) { return x + 1; }
int visible(int x) { return helper(x) * 2; }
int main(void) {
	printf("%lx %lx %lx\n", (unsigned long)&visible, (unsigned long)&helper, (unsigned long)&main);
	fflush(stdout);
	getchar();
	return visible(1) == 4 ? 0 : 1;
}
`

// TestSymbolizerPIE runs a PIE C program and maps its function addresses
// back to signature functions (global and static).
func TestSymbolizerPIE(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "sym.c")
	os.WriteFile(src, []byte(symProg), 0o644)
	bin := filepath.Join(dir, "sym")
	if out, err := exec.Command("cc", "-O0", "-fPIE", "-pie", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("cc failed (run scripts/setup.sh): %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var addrs []uint64
	for _, f := range strings.Fields(line) {
		a, _ := strconv.ParseUint(f, 16, 64)
		addrs = append(addrs, a)
	}
	sig := &model.Signature{Arch: "x86_64", Functions: []model.SigFunction{
		{Name: "visible", Symbol: "visible", File: "/x/sym.c", States: []model.SigState{{}}},
		{Name: "helper", Symbol: "helper", File: "/x/sym.c", Flags: model.FnStatic, States: []model.SigState{{}}},
		{Name: "main", Symbol: "main", File: "/x/sym.c", States: []model.SigState{{}}},
	}}
	s := New(sig, nil).NewSymbolizer(cmd.Process.Pid)
	for i, a := range addrs {
		if got := s.Lookup(a); got != int32(i) {
			t.Errorf("address %#x: function %d, want %d (%s)", a, got, i, sig.Functions[i].Name)
		}
	}
	if got := s.Lookup(1); got != Unknown {
		t.Errorf("address 1 resolved to %d", got)
	}
}

func TestSymbolVariants(t *testing.T) {
	v := symbolVariants("_ZN3FooC2Ev")
	if len(v) != 3 || v[1] != "_ZN3FooC1Ev" {
		t.Fatalf("variants = %v", v)
	}
}

func TestStaticInlineFromHeader(t *testing.T) {
	sig := &model.Signature{Arch: "x86_64", Functions: []model.SigFunction{
		{Name: "bswap", Symbol: "__bswap_16", File: "/usr/include/bits/byteswap.h", Flags: model.FnStatic, States: []model.SigState{{}}},
		{Name: "h1", Symbol: "helper", File: "/p/a.c", Flags: model.FnStatic, States: []model.SigState{{}}},
		{Name: "h2", Symbol: "helper", File: "/p/b.c", Flags: model.FnStatic, States: []model.SigState{{}}},
	}}
	m := New(sig, nil)
	// The inline's local symbol belongs to the including file (server.c).
	if got := m.FunctionBySymbol("__bswap_16", "server.c"); got != 0 {
		t.Errorf("static inline from a header: %d, want 0", got)
	}
	if got := m.FunctionBySymbol("helper", "b.c"); got != 2 {
		t.Errorf("helper in b.c: %d, want 2", got)
	}
	if got := m.FunctionBySymbol("helper", "c.c"); got != Unknown {
		t.Errorf("ambiguous static resolved to %d", got)
	}
}
