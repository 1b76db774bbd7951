package libcsum

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

var objdumpInsn = regexp.MustCompile(`^\s+([0-9a-f]+):\t`)

// TestX86LengthsMatchObjdump decodes the host glibc the way the analysis
// does (segment by segment) and checks that the instruction boundaries agree
// with binutils' objdump: a wrong length would desynchronise the sweep and
// hide calls or syscall instructions.
func TestX86LengthsMatchObjdump(t *testing.T) {
	if testing.Short() {
		t.Skip("disassembles all of libc; skipped with -short")
	}
	if sysnum.Host() != sysnum.X86_64 {
		t.Skip("host is not x86_64")
	}
	requireTool(t, "objdump")
	for _, which := range []string{"glibc", "musl"} {
		t.Run(which, func(t *testing.T) { checkObjdump(t, hostLibc(t, which)) })
	}
}

func checkObjdump(t *testing.T, lib string) {
	out, err := exec.Command("objdump", "-d", "--no-show-raw-insn", "-j", ".text", lib).Output()
	if err != nil {
		t.Fatalf("objdump: %v", err)
	}
	im, err := openImage(lib, sysnum.X86_64)
	if err != nil {
		t.Fatal(err)
	}
	a := &analysis{im: im, table: sysnum.For(sysnum.X86_64), info: x86Info}
	a.buildSegments()
	mine := map[uint64]bool{}
	for _, ni := range a.segIdx {
		for _, in := range a.nodes[ni].insts {
			mine[in.addr] = true
		}
	}
	total, missing := 0, 0
	var examples []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := objdumpInsn.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		addr, _ := strconv.ParseUint(m[1], 16, 64)
		total++
		if !mine[addr] {
			missing++
			if len(examples) < 10 {
				examples = append(examples, sc.Text())
			}
		}
	}
	if total < 100000 {
		t.Fatalf("objdump listed only %d instructions", total)
	}
	t.Logf("%d of %d objdump instruction starts decoded identically", total-missing, total)
	if missing > 0 {
		t.Errorf("%d instruction starts differ from objdump, e.g.:\n%v", missing, examples)
	}
}
