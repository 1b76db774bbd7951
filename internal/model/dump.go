package model

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/automaton"
)

// FlagString renders state flags for dumps.
func FlagString(f automaton.Flags) string {
	var parts []string
	if f&automaton.Return != 0 {
		parts = append(parts, "return")
	}
	if f&automaton.Halt != 0 {
		parts = append(parts, "halt")
	}
	if f&automaton.Landing != 0 {
		parts = append(parts, "landing")
	}
	return strings.Join(parts, ",")
}

// LocString renders a location; the file is shown by base name.
func (g *TUGraph) LocString(l Loc) string {
	file := "?"
	if l.File >= 0 && int(l.File) < len(g.Files) {
		file = filepath.Base(g.Files[l.File])
	}
	return fmt.Sprintf("%s:%d:%d", file, l.Line, l.Col)
}

// Dump writes the human-readable form of a TU graph that golden tests
// compare against. It is stable: functions in file order, states in the
// automaton's canonical numbering, edges sorted.
func (g *TUGraph) Dump(w io.Writer) {
	fmt.Fprintf(w, "tu %s (%s)\n", filepath.Base(g.Source), g.Language)
	for _, f := range g.Functions {
		g.DumpFunction(w, &f)
	}
	for _, r := range g.AddressTaken {
		fmt.Fprintf(w, "address-taken %s (%s) at %s\n", shortUSR(r.USR, r.Linkage), r.Type, g.LocString(r.Loc))
	}
	for _, c := range g.Callbacks {
		fmt.Fprintf(w, "callback %s <- %s at %s\n", shortUSR(c.USR, c.Linkage), c.Registrar, g.LocString(c.Loc))
	}
	for _, s := range g.SlotStores {
		fn := s.USR
		if fn == "" {
			fn = "<unknown>"
		}
		fmt.Fprintf(w, "slot-store %s = %s at %s\n", s.Slot, fn, g.LocString(s.Loc))
	}
	for _, s := range g.EscapedSlots {
		fmt.Fprintf(w, "slot-escapes %s\n", s)
	}
	for _, c := range g.Classes {
		fmt.Fprintf(w, "class %s", c.Name)
		if len(c.Bases) > 0 {
			fmt.Fprintf(w, " : %s", strings.Join(c.Bases, ", "))
		}
		fmt.Fprintln(w)
		for _, m := range c.Methods {
			fmt.Fprintf(w, "  virtual %s", m.Name)
			if m.Pure {
				fmt.Fprint(w, " = 0")
			}
			if len(m.Overrides) > 0 {
				fmt.Fprintf(w, " overrides %s", strings.Join(m.Overrides, ", "))
			}
			fmt.Fprintln(w)
		}
	}
	for _, c := range g.Ctors {
		fmt.Fprintf(w, "ctor %s\n", c)
	}
	for _, c := range g.Dtors {
		fmt.Fprintf(w, "dtor %s\n", c)
	}
	for _, m := range g.Warnings {
		fmt.Fprintf(w, "warning %s\n", m)
	}
}

func shortUSR(usr, linkage string) string {
	if linkage != "" {
		return linkage
	}
	return usr
}

// DumpFunction writes one function's automaton.
func (g *TUGraph) DumpFunction(w io.Writer, f *Function) {
	fmt.Fprintf(w, "function %s kind=%s", f.Name, f.Kind)
	if f.Linkage != "" {
		fmt.Fprintf(w, " symbol=%s", f.Linkage)
	}
	if f.Static {
		fmt.Fprint(w, " static")
	}
	if f.NoReturn {
		fmt.Fprint(w, " noreturn")
	}
	fmt.Fprintf(w, " at %s\n", g.LocString(f.Loc))
	if !f.Automaton.Deterministic {
		fmt.Fprintln(w, "  (nondeterministic: determinisation budget exceeded)")
	}
	for i, s := range f.Automaton.States {
		fmt.Fprintf(w, "  s%d", i)
		if fl := FlagString(s.Flags); fl != "" {
			fmt.Fprintf(w, " [%s]", fl)
		}
		fmt.Fprintln(w)
		for _, e := range s.Edges {
			lbl := "?"
			if int(e.Label) < len(g.Labels) {
				lbl = g.Labels[e.Label].String()
			}
			fmt.Fprintf(w, "    %s -> s%d", lbl, e.To)
			if len(e.Infos) > 0 {
				locs := make([]string, 0, len(e.Infos))
				for _, x := range e.Infos {
					if int(x) < len(g.Sites) {
						l := g.Sites[x]
						locs = append(locs, fmt.Sprintf("%d:%d", l.Line, l.Col))
					}
				}
				fmt.Fprintf(w, "  @%s", strings.Join(locs, ","))
			}
			fmt.Fprintln(w)
		}
	}
}
