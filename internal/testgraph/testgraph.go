// Package testgraph builds small TU graphs from a compact text notation for
// the tests of the linker and the checker (no clang needed):
//
//	main: call a; call b; ret
//	a:    call h; ret
//	h:    ext write; ret | sys 39; ret
//	b:    loop { call h }; sys 60; halt
//
// A function body is a sequence of steps separated by ';', alternatives by
// '|' at the top level, "loop { … }" repeats its body zero or more times.
// Steps: "call F" (program function), "ext F" (external function),
// "sys N" (raw syscall), "ret" (return), "halt" (noreturn end), "setjmp"
// (marks a landing state), "icall T" (indirect call through a pointer of
// type T).
package testgraph

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/automaton"
	"github.com/kcfm-linux/kcfm/internal/model"
)

// MustBuild is Build for tests: a notation error fails the test.
func MustBuild(t testing.TB, src string) *model.TUGraph {
	t.Helper()
	g, err := Build(src)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Build parses the notation into one TU graph. Extra facts (callbacks,
// address-taken functions) can be added by the caller afterwards.
func Build(src string) (*model.TUGraph, error) {
	g := &model.TUGraph{Format: model.TUFormat, Version: model.TUVersion, Source: "/t/test.c", Language: "c", Files: []string{"/t/test.c"}}
	labels := map[string]int{}
	label := func(l model.Label) automaton.Label {
		k := l.String()
		if i, ok := labels[k]; ok {
			return automaton.Label(i)
		}
		labels[k] = len(g.Labels)
		g.Labels = append(g.Labels, l)
		return automaton.Label(len(g.Labels) - 1)
	}
	for n, line := range strings.Split(strings.TrimSpace(src), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, body, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want NAME: BODY", n+1)
		}
		name = strings.TrimSpace(name)
		b := automaton.NewBuilder()
		end, err := seq(g, b, label, 0, strings.TrimSpace(body), n+1)
		if err != nil {
			return nil, err
		}
		_ = end
		a := b.Finish()
		g.Functions = append(g.Functions, model.Function{USR: "c:@F@" + name, Name: name, Linkage: name, Kind: "function", Loc: model.Loc{Line: int32(n + 1)}, Automaton: *a})
	}
	return g, nil
}

// splitTop splits s at sep outside braces.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
		case sep:
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func seq(g *model.TUGraph, b *automaton.Builder, label func(model.Label) automaton.Label, from int, body string, line int) (int, error) {
	alts := splitTop(body, '|')
	if len(alts) > 1 {
		join := b.State()
		for _, a := range alts {
			s := b.State()
			b.Epsilon(from, s)
			e, err := seq(g, b, label, s, a, line)
			if err != nil {
				return 0, err
			}
			b.Epsilon(e, join)
		}
		return join, nil
	}
	cur := from
	for _, step := range splitTop(body, ';') {
		if step == "" {
			continue
		}
		if strings.HasPrefix(step, "loop") {
			inner := strings.TrimSpace(strings.TrimPrefix(step, "loop"))
			if !strings.HasPrefix(inner, "{") || !strings.HasSuffix(inner, "}") {
				return 0, fmt.Errorf("line %d: loop wants { … }", line)
			}
			head := b.State()
			b.Epsilon(cur, head)
			e, err := seq(g, b, label, head, inner[1:len(inner)-1], line)
			if err != nil {
				return 0, err
			}
			b.Epsilon(e, head)
			cur = head
			continue
		}
		op, arg, _ := strings.Cut(step, " ")
		arg = strings.TrimSpace(arg)
		g.Sites = append(g.Sites, model.Loc{Line: int32(line), Col: int32(len(g.Sites) + 1)})
		site := int32(len(g.Sites) - 1)
		next := b.State()
		switch op {
		case "call":
			b.Edge(cur, next, label(model.Label{Kind: model.Call, Target: "c:@F@" + arg, Name: arg}), site)
		case "ext":
			b.Edge(cur, next, label(model.Label{Kind: model.Call, Target: "c:@F@" + arg, Name: arg}), site)
		case "noret":
			b.Edge(cur, next, label(model.Label{Kind: model.Call, Target: "c:@F@" + arg, Name: arg, NoReturn: true}), site)
			b.Mark(next, automaton.Halt)
			return next, nil
		case "icall":
			b.Edge(cur, next, label(model.Label{Kind: model.ICall, Type: arg}), site)
		case "sys":
			nr, err := strconv.Atoi(arg)
			if err != nil {
				return 0, fmt.Errorf("line %d: sys wants a number: %v", line, err)
			}
			b.Edge(cur, next, label(model.Label{Kind: model.Syscall, Nr: nr}), site)
		case "ret":
			b.Mark(cur, automaton.Return)
			return cur, nil
		case "halt":
			b.Mark(cur, automaton.Halt)
			return cur, nil
		case "setjmp":
			b.Epsilon(cur, next)
			b.Mark(next, automaton.Landing)
		default:
			return 0, fmt.Errorf("line %d: unknown step %q", line, step)
		}
		cur = next
	}
	return cur, nil
}
