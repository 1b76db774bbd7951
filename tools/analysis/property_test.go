package analysis

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/automaton"
	"github.com/kcfm-linux/kcfm/internal/model"
)

// The property behind "no false alarms": every sequence of calls a
// function really makes, up to its return (or a noreturn call), is
// accepted by the automaton built for it. Random C functions are
// generated (nested if/while/for/do/switch with fall-through,
// break/continue, forward and backward goto, && || ?: comma, unsequenced
// operands, nested arguments, early return, a noreturn call), compiled
// with cc at several optimisation levels (the compiler picks its own
// evaluation orders), run on
// several inputs, and their traces checked.

const (
	propFiles     = 5
	propFuncs     = 60 // functions per file
	propInputs    = 8
	propEvents    = 24 // event functions e0..e23
	propMaxDepth  = 3
	propMaxBlocks = 5
)

type gen struct {
	r      *rand.Rand
	b      strings.Builder
	loops  int // loop nesting
	sw     int // switch nesting (break allowed)
	ctr    int // counters declared
	labels []string
	indent int
}

func (g *gen) ev() string { return fmt.Sprintf("e%d", g.r.Intn(propEvents)) }

// expr is an int expression that may call events.
func (g *gen) expr(d int) string {
	if d <= 0 {
		switch g.r.Intn(3) {
		case 0:
			return fmt.Sprintf("%s(%d)", g.ev(), g.r.Intn(5))
		case 1:
			return "a"
		default:
			return strconv.Itoa(g.r.Intn(4))
		}
	}
	switch g.r.Intn(10) {
	case 0:
		return fmt.Sprintf("(%s && %s)", g.expr(d-1), g.expr(d-1))
	case 1:
		return fmt.Sprintf("(%s || %s)", g.expr(d-1), g.expr(d-1))
	case 2:
		return fmt.Sprintf("(%s ? %s : %s)", g.expr(d-1), g.expr(d-1), g.expr(d-1))
	case 3:
		return fmt.Sprintf("(%s, %s)", g.expr(d-1), g.expr(d-1))
	case 4:
		return fmt.Sprintf("(%s + %s)", g.expr(d-1), g.expr(d-1))
	case 5:
		return fmt.Sprintf("%s(%s)", g.ev(), g.expr(d-1))
	case 6:
		return fmt.Sprintf("!%s", g.expr(d-1))
	case 7:
		return fmt.Sprintf("(%s > %d)", g.expr(d-1), g.r.Intn(3))
	}
	return g.expr(0)
}

func (g *gen) line(format string, args ...any) {
	g.b.WriteString(strings.Repeat("  ", g.indent))
	fmt.Fprintf(&g.b, format, args...)
	g.b.WriteByte('\n')
}

func (g *gen) counter() string {
	g.ctr++
	return fmt.Sprintf("c%d", g.ctr-1)
}

func (g *gen) block(d int) {
	n := 1 + g.r.Intn(propMaxBlocks)
	for i := 0; i < n; i++ {
		g.stmt(d)
	}
}

func (g *gen) stmt(d int) {
	k := g.r.Intn(16)
	if d <= 0 && k < 9 {
		k = 9 + g.r.Intn(7)
	}
	switch k {
	case 0, 1:
		g.line("if (%s) {", g.expr(2))
		g.indent++
		g.block(d - 1)
		g.indent--
		if g.r.Intn(2) == 0 {
			g.line("} else {")
			g.indent++
			g.block(d - 1)
			g.indent--
		}
		g.line("}")
	case 2:
		c := g.counter()
		g.line("while (%s-- > 0 && %s) {", c, g.expr(2))
		g.loops++
		g.indent++
		g.block(d - 1)
		g.indent--
		g.loops--
		g.line("}")
	case 3:
		c := g.counter()
		g.line("do {")
		g.loops++
		g.indent++
		g.block(d - 1)
		g.indent--
		g.loops--
		g.line("} while (%s-- > 0 && %s);", c, g.expr(1))
	case 4:
		c := g.counter()
		g.line("for (%s = %s; %s < 3 && %s; %s += 1 + %s(0)) {", c, g.expr(1), c, g.expr(1), c, g.ev())
		g.loops++
		g.indent++
		g.block(d - 1)
		g.indent--
		g.loops--
		g.line("}")
	case 5:
		g.line("switch (%s %% 4) {", g.expr(1))
		g.sw++
		cases := []string{"case 0:", "case 1:", "case 2:", "default:"}
		for _, c := range cases {
			if c == "default:" && g.r.Intn(2) == 0 {
				continue
			}
			g.line("%s", c)
			g.indent++
			g.block(d - 1)
			if g.r.Intn(2) == 0 {
				g.line("break;")
			}
			g.indent--
		}
		g.sw--
		g.line("}")
	case 6:
		// backward goto, bounded
		c := g.counter()
		l := fmt.Sprintf("L%d", len(g.labels))
		g.labels = append(g.labels, l)
		g.line("%s:", l)
		g.line("x += %s;", g.expr(1))
		g.line("if (%s-- > 0 && %s)", c, g.expr(1))
		g.line("  goto %s;", l)
	case 7:
		g.line("{")
		g.indent++
		g.block(d - 1)
		g.indent--
		g.line("}")
	case 8:
		g.line("if (%s)", g.expr(1))
		g.line("  goto out;")
	case 9, 10, 11:
		g.line("x += %s;", g.expr(2))
	case 12:
		g.line("%s;", g.expr(2))
	case 13:
		if g.loops > 0 && g.r.Intn(2) == 0 {
			g.line("if (%s) continue;", g.expr(1))
		} else if g.loops > 0 || g.sw > 0 {
			g.line("if (%s) break;", g.expr(1))
		} else {
			g.line("x -= %s;", g.expr(1))
		}
	case 14:
		if g.r.Intn(3) == 0 {
			g.line("if (%s) return %s;", g.expr(1), g.expr(1))
		} else {
			g.line("x ^= %s;", g.expr(1))
		}
	case 15:
		if g.r.Intn(4) == 0 {
			g.line("if (%s) quit();", g.expr(1))
		} else {
			g.line("x |= %s(%s);", g.ev(), g.expr(1))
		}
	}
}

// function generates one function fN(a).
func (g *gen) function(n int) string {
	g.b.Reset()
	g.ctr, g.labels, g.indent, g.loops, g.sw = 0, nil, 1, 0, 0
	body := func() string {
		g.block(propMaxDepth)
		return g.b.String()
	}()
	var h strings.Builder
	fmt.Fprintf(&h, "int f%d(int a) {\n  int x = 0;\n", n)
	for i := 0; i < g.ctr; i++ {
		fmt.Fprintf(&h, "  int c%d = %d;\n", i, 1+i%3)
	}
	h.WriteString(body)
	h.WriteString("out:\n  return x;\n}\n")
	return h.String()
}

const propHarness = `#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
static unsigned long long st;
static jmp_buf quit_env;
static void rec(int k) { printf(" %d", k); }
static int rnd(void) { st = st * 6364136223846793005ULL + 1442695040888963407ULL; return (int)((st >> 33) % 4); }
_Noreturn void quit(void) { rec(-1); longjmp(quit_env, 1); }
`

func generateProgram(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString(propHarness)
	for k := 0; k < propEvents; k++ {
		fmt.Fprintf(&b, "int e%d(int v) { rec(%d); return (rnd() + v) %% 4; }\n", k, k)
	}
	g := &gen{r: r}
	for n := 0; n < propFuncs; n++ {
		b.WriteString(g.function(n))
	}
	b.WriteString("typedef int (*fn)(int);\nstatic fn fns[] = {")
	for n := 0; n < propFuncs; n++ {
		fmt.Fprintf(&b, "f%d, ", n)
	}
	fmt.Fprintf(&b, `};
int main(void) {
  for (int n = 0; n < %d; n++)
    for (int in = 0; in < %d; in++) {
      st = (unsigned long long)(n * 7919 + in * 104729 + 1);
      printf("T %%d %%d", n, in);
      if (!setjmp(quit_env)) {
        fns[n](in %% 3);
        printf(" R");
      }
      printf("\n");
    }
  return 0;
}
`, propFuncs, propInputs)
	return b.String()
}

func TestPropertyTracesAccepted(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Fatalf("cc not found (run scripts/setup.sh): %v", err)
	}
	dir := t.TempDir()
	r := rand.New(rand.NewSource(20240601))
	checked, halted := 0, 0
	for file := 0; file < propFiles; file++ {
		src := filepath.Join(dir, fmt.Sprintf("gen%d.c", file))
		if err := os.WriteFile(src, []byte(generateProgram(r)), 0o644); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, fmt.Sprintf("gen%d", file))
		// Different optimisation levels pick different evaluation orders
		// (-O2 with inlining is several seconds per file: skipped).
		opt := [][]string{{"-O0"}, {"-O1"}, {"-O2", "-fno-inline"}}[file%3]
		args := append(append([]string{}, opt...), "-w", "-o", bin, src)
		if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
			t.Fatalf("cc %s: %v\n%s", src, err, out)
		}
		out, err := exec.Command(bin).Output()
		if err != nil {
			t.Fatalf("run %s: %v", bin, err)
		}
		g, _, err := Run(Input{File: src, Argv: []string{"clang", "-std=gnu11", "-w"}}, Options{})
		if err != nil {
			t.Fatalf("graph %s: %v", src, err)
		}
		fns := map[string]*model.Function{}
		for i := range g.Functions {
			fns[g.Functions[i].Name] = &g.Functions[i]
		}
		lbl := map[int]automaton.Label{}
		for i, l := range g.Labels {
			if l.Kind != model.Call {
				continue
			}
			if l.Name == "quit" {
				lbl[-1] = automaton.Label(i)
			} else if k, err := strconv.Atoi(strings.TrimPrefix(l.Name, "e")); err == nil && strings.HasPrefix(l.Name, "e") {
				lbl[k] = automaton.Label(i)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "T" {
				t.Fatalf("bad trace line %q", line)
			}
			name := "f" + f[1]
			fn := fns[name]
			if fn == nil {
				t.Fatalf("%s: no graph for %s", src, name)
			}
			var word []automaton.Label
			end := automaton.Return
			for _, tok := range f[3:] {
				if tok == "R" {
					continue
				}
				k, _ := strconv.Atoi(tok)
				l, ok := lbl[k]
				if !ok {
					t.Fatalf("%s %s: event %d has no label", src, name, k)
				}
				word = append(word, l)
				if k == -1 {
					end = automaton.Halt
				}
			}
			if end == automaton.Halt {
				halted++
			}
			checked++
			if !fn.Automaton.Accepts(word, end) {
				body := extractFunction(src, name)
				var d bytes.Buffer
				g.DumpFunction(&d, fn)
				t.Fatalf("%s: trace of %s (input %s) not accepted: %v (end %v)\n%s\n%s", src, name, f[2], f[3:], end, body, d.String())
			}
		}
	}
	if checked < 1000 || halted == 0 {
		t.Errorf("checked %d traces (%d ended in quit): the generator is too weak", checked, halted)
	}
	t.Logf("%d traces of %d functions accepted (%d ended in a noreturn call)", checked, propFiles*propFuncs, halted)
}

func extractFunction(src, name string) string {
	data, _ := os.ReadFile(src)
	s := string(data)
	i := strings.Index(s, "int "+name+"(int a)")
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], "\n}\n")
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j+2]
}
