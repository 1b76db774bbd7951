package inityaml

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template macros (init.yaml.in), modelled on KasperskyOS's
// cmake_yaml_templates. <task> is an entity's task name (its name unless
// "task" is set).
//
// Block macros must stand alone on their line; their expansion is indented to
// the macro's column, and a macro with nothing to expand removes the line:
//
//	@INIT_<task>_ENTITY@               the entity's whole dictionary, as a list item
//	@INIT_<task>_ENTITY_CONNECTIONS@   "connections:" with the entity's channels
//	@INIT_<task>_ENTITY_CONNECTIONS+@  only the channel items (to extend a hand-written list)
//	@INIT_<task>_ENTITY_ARGS@          "args:" with the entity's arguments
//	@INIT_<task>_ENTITY_ENV@           "env:" with the entity's variables
//	@INIT_ENTITIES@                    every entity, as list items
//	@INIT_EXTERNAL_ENTITIES@           every entity the template does not name itself
//
// Inline macros are replaced where they stand:
//
//	@INIT_<task>_ENTITY_PATH@          the entity's path in the image (quoted)
//	@VAR@                              a variable given to ExpandTemplate (raw text)
//
// Any other @WORD@ is an error, so a misspelt macro is never silently left in.

var (
	reMacro     = regexp.MustCompile(`@([A-Za-z_][A-Za-z0-9_.+-]*)@`)
	reNamedLine = regexp.MustCompile(`^\s*(?:-\s+)?(?:name|task):\s*["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?\s*(?:#.*)?$`)
)

var macroSuffixes = []string{"_ENTITY_CONNECTIONS+", "_ENTITY_CONNECTIONS", "_ENTITY_ARGS", "_ENTITY_ENV", "_ENTITY_PATH", "_ENTITY"}

// ExpandTemplate expands the macros of an init.yaml.in template. entities are
// the image's entities (from the image manifest), vars the user variables.
// The result is not validated; pass it to Parse.
func ExpandTemplate(tmpl []byte, file string, entities []*Entity, vars map[string]string) ([]byte, error) {
	if len(tmpl) > MaxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("template is %d bytes, the limit is %d", len(tmpl), MaxFileSize)}
	}
	byTask := map[string]*Entity{}
	for _, e := range entities {
		byTask[taskOf(e)] = e
	}
	lines := strings.Split(string(tmpl), "\n")
	// Which entities does the template describe itself?
	named := map[string]bool{}
	for _, l := range lines {
		if m := reNamedLine.FindStringSubmatch(l); m != nil {
			named[m[1]] = true
		}
		for _, m := range reMacro.FindAllStringSubmatch(l, -1) {
			if t, suf, ok := splitEntityMacro(m[1]); ok && suf == "_ENTITY" {
				named[t] = true
			}
		}
	}
	var out []string
	for i, l := range lines {
		lineNo := i + 1
		errf := func(format string, args ...any) error {
			return &Error{File: file, Line: lineNo, Msg: fmt.Sprintf(format, args...)}
		}
		locs := reMacro.FindAllStringSubmatchIndex(l, -1)
		if len(locs) == 0 {
			out = append(out, l)
			continue
		}
		// A block macro alone on its line?
		if len(locs) == 1 && strings.TrimSpace(l[:locs[0][0]]) == "" && strings.TrimSpace(l[locs[0][1]:]) == "" {
			name := l[locs[0][2]:locs[0][3]]
			indent := l[:locs[0][0]]
			block, isBlock, err := blockMacro(name, byTask, entities, named)
			if err != nil {
				return nil, errf("%v", err)
			}
			if isBlock {
				if block != "" {
					for _, bl := range strings.Split(block, "\n") {
						out = append(out, indent+bl)
					}
				}
				continue
			}
		}
		var b strings.Builder
		last := 0
		for _, loc := range locs {
			name := l[loc[2]:loc[3]]
			b.WriteString(l[last:loc[0]])
			last = loc[1]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
				continue
			}
			t, suf, ok := splitEntityMacro(name)
			switch {
			case ok && suf == "_ENTITY_PATH":
				e := byTask[t]
				if e == nil {
					return nil, errf("macro @%s@ names entity %q, which is not in the image (entities: %s)", name, t, taskList(entities))
				}
				b.WriteString(render(scalar(e.Path)))
			case ok || name == "INIT_ENTITIES" || name == "INIT_EXTERNAL_ENTITIES":
				return nil, errf("macro @%s@ expands to several lines and must stand alone on its line", name)
			default:
				return nil, errf("unknown macro @%s@ (not an @INIT_…@ macro and not a variable; variables: %s)", name, varList(vars))
			}
		}
		b.WriteString(l[last:])
		out = append(out, b.String())
	}
	return []byte(strings.Join(out, "\n")), nil
}

func taskOf(e *Entity) string {
	if e.Task != "" {
		return e.Task
	}
	return e.Name
}

func taskList(es []*Entity) string {
	var s []string
	for _, e := range es {
		s = append(s, taskOf(e))
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func varList(vars map[string]string) string {
	var s []string
	for k := range vars {
		s = append(s, k)
	}
	sort.Strings(s)
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func splitEntityMacro(name string) (task, suffix string, ok bool) {
	if !strings.HasPrefix(name, "INIT_") {
		return "", "", false
	}
	rest := name[len("INIT_"):]
	for _, suf := range macroSuffixes {
		if strings.HasSuffix(rest, suf) && len(rest) > len(suf) {
			return rest[:len(rest)-len(suf)], suf, true
		}
	}
	return "", "", false
}

// blockMacro expands a macro that stands alone on its line. isBlock is false
// for inline macros, which the caller handles.
func blockMacro(name string, byTask map[string]*Entity, entities []*Entity, named map[string]bool) (text string, isBlock bool, err error) {
	items := func(list []*Entity) string {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range list {
			seq.Content = append(seq.Content, canonical(e).node())
		}
		if len(seq.Content) == 0 {
			return ""
		}
		return render(seq)
	}
	switch name {
	case "INIT_ENTITIES":
		return items(entities), true, nil
	case "INIT_EXTERNAL_ENTITIES":
		var ext []*Entity
		for _, e := range entities {
			if !named[taskOf(e)] && !named[e.Name] {
				ext = append(ext, e)
			}
		}
		return items(ext), true, nil
	}
	t, suf, ok := splitEntityMacro(name)
	if !ok || suf == "_ENTITY_PATH" {
		return "", false, nil
	}
	e := byTask[t]
	if e == nil {
		return "", true, fmt.Errorf("macro @%s@ names entity %q, which is not in the image (entities: %s)", name, t, taskList(entities))
	}
	withKey := func(k string, v *yaml.Node) string {
		m := &yaml.Node{Kind: yaml.MappingNode}
		keyVal(m, k, v)
		return render(m)
	}
	switch suf {
	case "_ENTITY":
		return items([]*Entity{e}), true, nil
	case "_ENTITY_CONNECTIONS":
		if len(e.Connections) == 0 {
			return "", true, nil
		}
		return withKey("connections", connSeq(e.Connections)), true, nil
	case "_ENTITY_CONNECTIONS+":
		if len(e.Connections) == 0 {
			return "", true, nil
		}
		return render(connSeq(e.Connections)), true, nil
	case "_ENTITY_ARGS":
		if len(e.Args) == 0 {
			return "", true, nil
		}
		return withKey("args", strSeq(e.Args)), true, nil
	case "_ENTITY_ENV":
		if len(e.Env) == 0 {
			return "", true, nil
		}
		return withKey("env", envMap(e.Env)), true, nil
	}
	return "", false, nil
}

// canonical fills the defaults Parse would fill, so that node() leaves them out.
func canonical(e *Entity) *Entity {
	c := *e
	if c.Role == "" {
		c.Role = RoleService
	}
	return &c
}
