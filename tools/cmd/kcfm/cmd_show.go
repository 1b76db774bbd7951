package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kcfm-linux/kcfm/internal/automaton"
	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

func init() {
	register(&cli.Command{
		Name:      "show",
		Usage:     "print a signature's statistics, or a TU/library graph; export DOT, SVG or JSON",
		ArgsUsage: "FILE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dot", Usage: "write Graphviz DOT (the call graph, or one function's automaton with --function)"},
			&cli.BoolFlag{Name: "svg", Usage: "like --dot, rendered to SVG with Graphviz 'dot'"},
			&cli.BoolFlag{Name: "json", Usage: "write the whole signature as JSON"},
			&cli.StringFlag{Name: "function", Usage: "restrict output to one function (name or symbol)"},
			&cli.StringFlag{Name: "o", Usage: "output file (default: standard output)"},
		},
		Action: showAction,
	})
}

func showAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("show: want one FILE")
	}
	path := c.Args().First()
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out io.Writer = os.Stdout
	if o := c.String("o"); o != "" {
		f, err := os.Create(o)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	if !bytes.HasPrefix(data, []byte(model.SigMagic)) {
		tu, lib, err := model.ReadGraphFile(path)
		if err != nil {
			return err
		}
		if tu != nil {
			tu.Dump(out)
		} else {
			fmt.Fprintf(out, "library %s (%s), %d units, exports: %s\n", lib.Name, lib.Kind, len(lib.Units), strings.Join(lib.Exports, " "))
			for i := range lib.Units {
				lib.Units[i].Dump(out)
			}
		}
		return nil
	}
	sig, err := model.DecodeSignature(data)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	fn := int32(-1)
	if name := c.String("function"); name != "" {
		for i, f := range sig.Functions {
			if f.Name == name || f.Symbol == name {
				fn = int32(i)
				break
			}
		}
		if fn < 0 {
			return fmt.Errorf("%s: no function %q", path, name)
		}
	}
	switch {
	case c.Bool("json"):
		enc := json.NewEncoder(out)
		enc.SetIndent("", " ")
		return enc.Encode(sig)
	case c.Bool("svg"):
		var dot bytes.Buffer
		writeDOT(&dot, sig, fn)
		if _, err := exec.LookPath("dot"); err != nil {
			return fmt.Errorf("--svg needs Graphviz 'dot' (apt-get install graphviz, or scripts/setup.sh)")
		}
		cmd := exec.Command("dot", "-Tsvg")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = &dot, out, os.Stderr
		return cmd.Run()
	case c.Bool("dot"):
		writeDOT(out, sig, fn)
		return nil
	}
	printStats(out, sig, fn)
	return nil
}

func sysName(t *sysnum.Table, nr int) string {
	if t != nil {
		if n := t.Name(nr); n != "" {
			return n
		}
	}
	return fmt.Sprint(nr)
}

func labelString(sig *model.Signature, t *sysnum.Table, l model.SigLabel) string {
	if nr, ok := l.IsSyscall(); ok {
		return "syscall " + sysName(t, nr)
	}
	return "call " + sig.Functions[l].Name
}

// staticABF is the average, over all states, of the number of distinct
// events a state accepts next (return counted as one event).
func staticABF(sig *model.Signature) float64 {
	states, sum := 0, 0
	for _, f := range sig.Functions {
		for _, st := range f.States {
			labels := map[model.SigLabel]bool{}
			for _, e := range st.Edges {
				labels[e.Label] = true
			}
			n := len(labels)
			if automaton.Flags(st.Flags)&automaton.Return != 0 {
				n++
			}
			states++
			sum += n
		}
	}
	if states == 0 {
		return 0
	}
	return float64(sum) / float64(states)
}

func printStats(w io.Writer, sig *model.Signature, fn int32) {
	var table *sysnum.Table
	if a, err := sysnum.ParseArch(sig.Arch); err == nil {
		table = sysnum.For(a)
	}
	if fn >= 0 {
		f := sig.Functions[fn]
		fmt.Fprintf(w, "function %s (symbol %s) at %s:%d, %d states\n", f.Name, f.Symbol, f.File, f.Line, len(f.States))
		for i, st := range f.States {
			fmt.Fprintf(w, "  s%d", i)
			if fl := model.FlagString(automaton.Flags(st.Flags)); fl != "" {
				fmt.Fprintf(w, " [%s]", fl)
			}
			fmt.Fprintln(w)
			for _, e := range st.Edges {
				fmt.Fprintf(w, "    %s -> s%d", labelString(sig, table, e.Label), e.To)
				if s := sig.SiteString(e.Site); s != "" {
					fmt.Fprintf(w, "  @%s", s)
				}
				fmt.Fprintln(w)
			}
		}
		return
	}
	edges := 0
	for _, f := range sig.Functions {
		for _, st := range f.States {
			edges += len(st.Edges)
		}
	}
	fmt.Fprintf(w, "signature: %s (%s), libc %s\n", sig.Program, sig.Arch, sig.Libc)
	fmt.Fprintf(w, "entry: %s\n", sig.Functions[sig.Entry].Name)
	fmt.Fprintf(w, "functions: %d  states: %d  edges: %d\n", len(sig.Functions), sig.NumStates(), edges)
	fmt.Fprintf(w, "static average branching factor: %.2f\n", staticABF(sig))
	var names []string
	for _, nr := range sig.Syscalls {
		names = append(names, sysName(table, nr))
	}
	sort.Strings(names)
	fmt.Fprintf(w, "syscalls allowed (%d): %s\n", len(names), strings.Join(names, " "))
	for _, x := range sig.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
}

func dotQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func writeDOT(w io.Writer, sig *model.Signature, fn int32) {
	var table *sysnum.Table
	if a, err := sysnum.ParseArch(sig.Arch); err == nil {
		table = sysnum.For(a)
	}
	if fn >= 0 {
		f := sig.Functions[fn]
		fmt.Fprintf(w, "digraph %s {\n  rankdir=LR;\n", dotQuote(f.Name))
		for i, st := range f.States {
			shape := "circle"
			if automaton.Flags(st.Flags)&(automaton.Return|automaton.Halt) != 0 {
				shape = "doublecircle"
			}
			fmt.Fprintf(w, "  s%d [shape=%s];\n", i, shape)
			for _, e := range st.Edges {
				fmt.Fprintf(w, "  s%d -> s%d [label=%s];\n", i, e.To, dotQuote(labelString(sig, table, e.Label)))
			}
		}
		fmt.Fprintln(w, "}")
		return
	}
	fmt.Fprintf(w, "digraph %s {\n", dotQuote(sig.Program))
	for i, f := range sig.Functions {
		sys := map[string]bool{}
		calls := map[int32]bool{}
		for _, st := range f.States {
			for _, e := range st.Edges {
				if nr, ok := e.Label.IsSyscall(); ok {
					sys[sysName(table, nr)] = true
				} else {
					calls[int32(e.Label)] = true
				}
			}
		}
		var s []string
		for n := range sys {
			s = append(s, n)
		}
		sort.Strings(s)
		label := f.Name
		if len(s) > 0 {
			label += "\\n" + strings.Join(s, " ")
		}
		fmt.Fprintf(w, "  f%d [shape=box,label=%s];\n", i, dotQuote(label))
		var cs []int
		for c := range calls {
			cs = append(cs, int(c))
		}
		sort.Ints(cs)
		for _, c := range cs {
			fmt.Fprintf(w, "  f%d -> f%d;\n", i, c)
		}
	}
	fmt.Fprintln(w, "}")
}
