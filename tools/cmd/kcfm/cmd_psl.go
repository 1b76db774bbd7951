package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kcfm-linux/kcfm/tools/policy"
)

// kcfm psl: a solution's security.psl from a security.psl.in template, in
// the manner of KasperskyOS solutions, with the PSL fragments `kcfm policy
// --psl` writes included, and checked (docs/images.md, "security.psl").
func init() {
	register(&cli.Command{
		Name:      "psl",
		Usage:     "make a solution's security.psl from a security.psl.in template and PSL fragments, and check it",
		ArgsUsage: " ",
		Description: `The template is PSL with @NAME@ macros: --fragment NAME=FILE replaces a line holding
only @NAME@ with the file (a fragment from 'kcfm policy --psl', checked with the syscall
mapping first), --var NAME=VALUE replaces @NAME@ anywhere. Any other @WORD@ is an error.
The result is parsed with kcfm's PSL checker (the grammar of the emitted subset, see
docs/policy.md) and checked as a whole solution policy: one 'execute:' interface,
'use nk.base._', every class in a src=/dst= selector declared with 'use EDL', no
declaration twice, every audit profile used (and 'audit default') declared.
With --check only, FILE is checked and nothing is written.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "template", Aliases: []string{"t"}, Usage: "security.psl.in"},
			&cli.StringSliceFlag{Name: "fragment", Usage: "NAME=FILE: a PSL fragment for @NAME@ (repeatable)"},
			&cli.StringSliceFlag{Name: "var", Usage: "NAME=VALUE for @NAME@ (repeatable)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "security.psl to write"},
			&cli.StringFlag{Name: "check", Usage: "only check this security.psl"},
		},
		Action: func(c *cli.Context) error {
			if f := c.String("check"); f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return &exitError{code: 1, msg: err.Error()}
				}
				if err := checkSolutionPSL(f, b); err != nil {
					return &exitError{code: 1, msg: err.Error()}
				}
				return nil
			}
			if c.String("template") == "" || c.String("output") == "" {
				return &exitError{code: 2, msg: "kcfm psl: --template and --output are required (or --check FILE)"}
			}
			out, err := expandPSL(c.String("template"), c.StringSlice("fragment"), c.StringSlice("var"))
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			if err := checkSolutionPSL(c.String("output")+" (expanded from "+c.String("template")+")", out); err != nil {
				return &exitError{code: 1, msg: err.Error() + "\n" + numbered(out)}
			}
			if err := writeAtomic(c.String("output"), out); err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			return nil
		},
	})
}

var pslMacro = regexp.MustCompile(`@([A-Za-z_][A-Za-z0-9_]*)@`)

func splitKV(flag, s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(k) {
		return "", "", fmt.Errorf("--%s %q: expected NAME=value", flag, s)
	}
	return k, v, nil
}

// expandPSL expands the template.
func expandPSL(tmplPath string, fragments, vars []string) ([]byte, error) {
	tmpl, err := os.ReadFile(tmplPath)
	if err != nil {
		return nil, err
	}
	frags := map[string][]byte{}
	for _, f := range fragments {
		k, path, err := splitKV("fragment", f)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--fragment %s: %v", k, err)
		}
		pf, err := policy.ParsePSL(path, b)
		if err != nil {
			return nil, err
		}
		if len(pf.Bindings) == 0 {
			return nil, fmt.Errorf("%s: no policy bindings: not a PSL fragment of `kcfm policy --psl`", path)
		}
		// The fragment's entity is the target of its execute binding.
		entity := ""
		for _, bd := range pf.Bindings {
			if bd.Event == "execute" {
				for _, s := range bd.Selectors {
					if s.Key == "dst" {
						entity = s.Value
					}
				}
			}
		}
		if entity == "" {
			return nil, fmt.Errorf("%s: no `execute ... dst=<entity>` binding: not a PSL fragment of `kcfm policy --psl`", path)
		}
		if err := policy.CheckPSL(pf, policy.DefaultMapping(), entity); err != nil {
			return nil, err
		}
		frags[k] = bytes.TrimRight(b, "\n")
	}
	vals := map[string]string{}
	for _, v := range vars {
		k, val, err := splitKV("var", v)
		if err != nil {
			return nil, err
		}
		if strings.ContainsAny(val, "\n@") {
			return nil, fmt.Errorf("--var %s: the value may not contain a newline or '@'", k)
		}
		vals[k] = val
	}
	var out bytes.Buffer
	used := map[string]bool{}
	for i, line := range strings.Split(string(tmpl), "\n") {
		if m := pslMacro.FindStringSubmatch(strings.TrimSpace(line)); m != nil && m[0] == strings.TrimSpace(line) {
			if f, ok := frags[m[1]]; ok {
				used[m[1]] = true
				out.Write(f)
				out.WriteByte('\n')
				continue
			}
		}
		var bad error
		line = pslMacro.ReplaceAllStringFunc(line, func(s string) string {
			name := s[1 : len(s)-1]
			if v, ok := vals[name]; ok {
				used[name] = true
				return v
			}
			if _, ok := frags[name]; ok && bad == nil {
				bad = fmt.Errorf("%s:%d: fragment macro %s must stand alone on its line", tmplPath, i+1, s)
			} else if bad == nil {
				bad = fmt.Errorf("%s:%d: unknown macro %s (give --fragment %s=FILE or --var %s=VALUE)", tmplPath, i+1, s, name, name)
			}
			return s
		})
		if bad != nil {
			return nil, bad
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	for k := range frags {
		if !used[k] {
			return nil, fmt.Errorf("%s: fragment %s is given but @%s@ is not in the template", tmplPath, k, k)
		}
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}

// checkSolutionPSL checks a whole solution policy.
func checkSolutionPSL(name string, b []byte) error {
	f, err := policy.ParsePSL(name, b)
	if err != nil {
		return err
	}
	if f.Execute == "" {
		return fmt.Errorf("%s: no `execute: <interface>` declaration (a solution policy names its execute interface, e.g. kl.core.Execute)", name)
	}
	base := false
	edl := map[string]policy.PSLPos{}
	for _, u := range f.Uses {
		if !u.EDL {
			if u.Path == "nk.base._" {
				base = true
			}
			continue
		}
		if p, dup := edl[u.Path]; dup {
			return fmt.Errorf("%s:%d:%d: `use EDL %s` again (first at line %d)", name, u.Pos.Line, u.Pos.Col, u.Path, p.Line)
		}
		edl[u.Path] = u.Pos
	}
	if !base {
		return fmt.Errorf("%s: `use nk.base._` is missing", name)
	}
	profiles := map[string]bool{}
	for _, p := range f.Profiles {
		if profiles[p.Name] {
			return fmt.Errorf("%s:%d:%d: audit profile %s declared twice", name, p.Pos.Line, p.Pos.Col, p.Name)
		}
		profiles[p.Name] = true
	}
	if f.AuditDefault != "" && !profiles[f.AuditDefault] {
		return fmt.Errorf("%s: audit default %s is not a declared audit profile", name, f.AuditDefault)
	}
	var missing []string
	seen := map[string]bool{}
	checkSel := func(sels []policy.PSLSelector) {
		for _, s := range sels {
			if (s.Key == "src" || s.Key == "dst") && !seen[s.Value] {
				seen[s.Value] = true
				if _, ok := edl[s.Value]; !ok {
					missing = append(missing, fmt.Sprintf("%s (line %d)", s.Value, s.Pos.Line))
				}
			}
		}
	}
	var walk func(bl policy.PSLBlock) error
	walk = func(bl policy.PSLBlock) error {
		if bl.Audit != "" && !profiles[bl.Audit] {
			return fmt.Errorf("%s:%d:%d: audit profile %s is not declared", name, bl.Pos.Line, bl.Pos.Col, bl.Audit)
		}
		for _, m := range bl.Matches {
			checkSel(m.Selectors)
			if err := walk(m.Body); err != nil {
				return err
			}
		}
		return nil
	}
	for _, bd := range f.Bindings {
		checkSel(bd.Selectors)
		if err := walk(bd.Body); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%s: classes used without `use EDL`: %s", name, strings.Join(missing, ", "))
	}
	return nil
}

func numbered(b []byte) string {
	var s strings.Builder
	for i, l := range strings.Split(string(b), "\n") {
		fmt.Fprintf(&s, "%4d  %s\n", i+1, l)
	}
	return s.String()
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	os.Chmod(tmp.Name(), 0o644)
	return os.Rename(tmp.Name(), path)
}
