// Package inityaml defines init.yaml, the start-up description of a KCFM
// image, read by einit (the image's PID 1) and written by the image builder.
//
// The format follows KasperskyOS's init.yaml (a top-level "entities" list of
// dictionaries with name, task, path, args, env and connections) and adds what
// a Linux PID 1 needs: start order (depends), whether einit starts an entity
// (autostart), its role (service, oneshot, driver, monitored), a readiness
// line, and the image's style and time limit. Parsing is strict: unknown keys,
// wrong types, duplicate names, dangling references and cycles are errors that
// carry the file name, line and column.
package inityaml

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Version is the format version this package reads and writes.
const Version = 1

// Limits on untrusted input.
const (
	MaxFileSize    = 1 << 20
	MaxEntities    = 256
	MaxListLen     = 256 // args, env, connections, depends per entity
	MaxStringLen   = 4096
	DefaultTimeout = 10 * time.Minute
	// DefaultReadyTimeout bounds how long einit waits for an entity's ready line.
	DefaultReadyTimeout = 30 * time.Second
)

// Style selects how einit treats the entity list.
type Style string

const (
	// StyleKasperskyOS is the Einit role: entities are started in dependency
	// order (depends and connection targets first) and every connection
	// becomes a socket pair handed to both ends.
	StyleKasperskyOS Style = "kasperskyos"
	// StyleLinux is a plain init: entities start in file order, depends may
	// only name earlier entities, connections are not allowed.
	StyleLinux Style = "linux"
)

// Role says what an entity is for.
type Role string

const (
	// RoleService is a long-running entity (the default).
	RoleService Role = "service"
	// RoleOneshot runs to completion before later entities start; a non-zero
	// exit fails the boot.
	RoleOneshot Role = "oneshot"
	// RoleDriver is the test driver: when it exits, einit reports its status
	// and powers the machine off. At most one per file.
	RoleDriver Role = "driver"
	// RoleMonitored is the program under FlowMonitor's control. It is in the
	// image but einit does not start it (autostart defaults to false).
	RoleMonitored Role = "monitored"
)

// Connection is a static channel from the entity (client) to Target.
type Connection struct {
	Target string // task name of the server
	ID     string // channel name
	Line   int
}

// EnvVar is one environment variable; order is kept as written.
type EnvVar struct {
	Name, Value string
}

// Entity is one process description.
type Entity struct {
	Name         string
	Task         string // unique; defaults to Name
	Path         string // absolute path in the image
	Args         []string
	Env          []EnvVar
	Connections  []Connection
	Depends      []string // task names
	Autostart    bool
	Role         Role
	Ready        string        // substring of an output line that marks the entity ready
	ReadyTimeout time.Duration // default DefaultReadyTimeout when Ready is set
	Workdir      string        // default "/"
	Line         int           // line of the entity in the file
}

// Config is a parsed init.yaml.
type Config struct {
	Version  int
	Style    Style
	Timeout  time.Duration
	Entities []*Entity // as written
	File     string
}

// Error is a parse or validation error with a position.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

type parser struct{ file string }

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	e := &Error{File: p.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

var (
	reName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	reEnv   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	reYAMLe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

var topKeys = []string{"version", "style", "timeout", "entities"}
var entityKeys = []string{"name", "task", "path", "args", "env", "connections", "depends", "autostart", "role", "ready", "ready_timeout", "workdir"}

// Parse reads and validates an init.yaml. file is used in error messages.
func Parse(data []byte, file string) (*Config, error) {
	p := &parser{file: file}
	if len(data) > MaxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("file is %d bytes, the limit is %d", len(data), MaxFileSize)}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		msg := err.Error()
		if m := reYAMLe.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: file, Line: line, Msg: "YAML syntax: " + m[2]}
		}
		if err == io.EOF {
			return nil, &Error{File: file, Msg: "file is empty; expected a mapping with an \"entities\" list"}
		}
		return nil, &Error{File: file, Msg: "YAML: " + msg}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, p.errf(&extra, "more than one YAML document; init.yaml holds exactly one")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{File: file, Msg: "expected one YAML document"}
	}
	root := doc.Content[0]
	if err := p.noAliases(root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "the document must be a mapping with an \"entities\" list, not a %s", kindName(root))
	}
	cfg := &Config{Version: Version, Style: StyleKasperskyOS, Timeout: DefaultTimeout, File: file}
	var entitiesNode *yaml.Node
	err := p.mapping(root, topKeys, "the top level", func(k string, kn, v *yaml.Node) error {
		switch k {
		case "version":
			n, err := p.integer(v, "version")
			if err != nil {
				return err
			}
			if n != Version {
				return p.errf(v, "format version %d is not supported (this einit reads version %d)", n, Version)
			}
			cfg.Version = n
		case "style":
			s, err := p.str(v, "style")
			if err != nil {
				return err
			}
			switch Style(s) {
			case StyleKasperskyOS, StyleLinux:
				cfg.Style = Style(s)
			default:
				return p.errf(v, "style %q is not one of kasperskyos, linux", s)
			}
		case "timeout":
			d, err := p.duration(v, "timeout")
			if err != nil {
				return err
			}
			cfg.Timeout = d
		case "entities":
			entitiesNode = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if entitiesNode == nil {
		return nil, p.errf(root, "missing key \"entities\" (the list of processes to start)")
	}
	if entitiesNode.Kind != yaml.SequenceNode {
		return nil, p.errf(entitiesNode, "\"entities\" must be a list, not a %s", kindName(entitiesNode))
	}
	if len(entitiesNode.Content) == 0 {
		return nil, p.errf(entitiesNode, "\"entities\" is empty")
	}
	if len(entitiesNode.Content) > MaxEntities {
		return nil, p.errf(entitiesNode, "%d entities, the limit is %d", len(entitiesNode.Content), MaxEntities)
	}
	for _, en := range entitiesNode.Content {
		e, err := p.entity(en)
		if err != nil {
			return nil, err
		}
		cfg.Entities = append(cfg.Entities, e)
	}
	if err := p.check(cfg, entitiesNode); err != nil {
		return nil, err
	}
	return cfg, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "node"
}

func (p *parser) noAliases(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		return p.errf(n, "YAML aliases (*%s) are not allowed in init.yaml", n.Value)
	}
	if n.Anchor != "" {
		return p.errf(n, "YAML anchors (&%s) are not allowed in init.yaml", n.Anchor)
	}
	for _, c := range n.Content {
		if err := p.noAliases(c); err != nil {
			return err
		}
	}
	return nil
}

// mapping walks a mapping node, rejecting unknown and duplicate keys.
func (p *parser) mapping(n *yaml.Node, allowed []string, where string, f func(k string, kn, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "%s must be a mapping, not a %s", where, kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			return p.errf(kn, "keys in %s must be plain words", where)
		}
		k := kn.Value
		if !contains(allowed, k) {
			return p.errf(kn, "unknown key %q in %s (expected one of %s)", k, where, strings.Join(allowed, ", "))
		}
		if seen[k] {
			return p.errf(kn, "key %q appears twice in %s", k, where)
		}
		seen[k] = true
		if err := f(k, kn, v); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) str(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, "%s must be a string, not a %s", what, kindName(n))
	}
	if len(n.Value) > MaxStringLen {
		return "", p.errf(n, "%s is %d bytes long, the limit is %d", what, len(n.Value), MaxStringLen)
	}
	if strings.IndexByte(n.Value, 0) >= 0 {
		return "", p.errf(n, "%s contains a NUL byte", what)
	}
	return n.Value, nil
}

func (p *parser) integer(n *yaml.Node, what string) (int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, p.errf(n, "%s must be an integer", what)
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		return 0, p.errf(n, "%s: %v", what, err)
	}
	return v, nil
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, p.errf(n, "%s must be true or false", what)
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		return false, p.errf(n, "%s: %v", what, err)
	}
	return b, nil
}

// duration accepts Go duration strings ("90s", "2m") or a number of seconds.
func (p *parser) duration(n *yaml.Node, what string) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, p.errf(n, "%s must be a duration such as 60s or 2m", what)
	}
	var d time.Duration
	if n.Tag == "!!int" {
		s, err := strconv.ParseInt(n.Value, 10, 32)
		if err != nil {
			return 0, p.errf(n, "%s: %v", what, err)
		}
		d = time.Duration(s) * time.Second
	} else {
		var err error
		d, err = time.ParseDuration(n.Value)
		if err != nil {
			return 0, p.errf(n, "%s %q is not a duration such as 60s or 2m", what, n.Value)
		}
	}
	if d <= 0 || d > 24*time.Hour {
		return 0, p.errf(n, "%s %v is out of range (0, 24h]", what, d)
	}
	return d, nil
}

func (p *parser) strList(n *yaml.Node, what string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "%s must be a list, not a %s", what, kindName(n))
	}
	if len(n.Content) > MaxListLen {
		return nil, p.errf(n, "%s has %d items, the limit is %d", what, len(n.Content), MaxListLen)
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		s, err := p.str(c, what+" item")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) absPath(n *yaml.Node, what string) (string, error) {
	s, err := p.str(n, what)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(s, "/") || path.Clean(s) != s || s == "/" && what == "path" {
		return "", p.errf(n, "%s %q must be an absolute, clean path in the image (like /bin/%s)", what, s, "prog")
	}
	return s, nil
}

func (p *parser) entity(n *yaml.Node) (*Entity, error) {
	e := &Entity{Line: n.Line, Autostart: true, Role: RoleService}
	autostartSet := false
	where := "an entity"
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
				where = fmt.Sprintf("entity %q", n.Content[i+1].Value)
			}
		}
	}
	var pathNode *yaml.Node
	err := p.mapping(n, entityKeys, where, func(k string, kn, v *yaml.Node) error {
		var err error
		switch k {
		case "name":
			if e.Name, err = p.str(v, "name"); err == nil && !reName.MatchString(e.Name) {
				err = p.errf(v, "name %q: use letters, digits, '_', '.', '-' (starting with a letter or '_')", e.Name)
			}
		case "task":
			if e.Task, err = p.str(v, "task"); err == nil && !reName.MatchString(e.Task) {
				err = p.errf(v, "task %q: use letters, digits, '_', '.', '-' (starting with a letter or '_')", e.Task)
			}
		case "path":
			pathNode = v
			e.Path, err = p.absPath(v, "path")
		case "args":
			e.Args, err = p.strList(v, "args")
		case "env":
			e.Env, err = p.env(v)
		case "connections":
			e.Connections, err = p.connections(v)
		case "depends":
			e.Depends, err = p.strList(v, "depends")
		case "autostart":
			e.Autostart, err = p.boolean(v, "autostart")
			autostartSet = true
		case "role":
			var s string
			if s, err = p.str(v, "role"); err == nil {
				switch Role(s) {
				case RoleService, RoleOneshot, RoleDriver, RoleMonitored:
					e.Role = Role(s)
				default:
					err = p.errf(v, "role %q is not one of service, oneshot, driver, monitored", s)
				}
			}
		case "ready":
			if e.Ready, err = p.str(v, "ready"); err == nil && e.Ready == "" {
				err = p.errf(v, "ready must not be empty")
			}
		case "ready_timeout":
			e.ReadyTimeout, err = p.duration(v, "ready_timeout")
		case "workdir":
			e.Workdir, err = p.absPath(v, "workdir")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if e.Name == "" {
		return nil, p.errf(n, "entity without a name (every entity needs \"name\")")
	}
	if pathNode == nil {
		return nil, p.errf(n, "entity %q has no \"path\" (the executable in the image, like /bin/%s)", e.Name, shortName(e.Name))
	}
	if e.Task == "" {
		e.Task = e.Name
	}
	if e.Role == RoleMonitored {
		if autostartSet && e.Autostart {
			return nil, p.errf(n, "entity %q has role monitored and autostart true: FlowMonitor starts the monitored program, einit must not", e.Name)
		}
		e.Autostart = false
	}
	if e.Ready != "" && e.ReadyTimeout == 0 {
		e.ReadyTimeout = DefaultReadyTimeout
	}
	if e.Ready == "" && e.ReadyTimeout != 0 {
		return nil, p.errf(n, "entity %q has ready_timeout but no ready line", e.Name)
	}
	if e.Workdir == "" {
		e.Workdir = "/"
	}
	return e, nil
}

func shortName(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func (p *parser) env(n *yaml.Node) ([]EnvVar, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "env must be a mapping of NAME: value, not a %s", kindName(n))
	}
	if len(n.Content)/2 > MaxListLen {
		return nil, p.errf(n, "env has %d variables, the limit is %d", len(n.Content)/2, MaxListLen)
	}
	seen := map[string]bool{}
	var out []EnvVar
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], n.Content[i+1]
		k, err := p.str(kn, "env name")
		if err != nil {
			return nil, err
		}
		if !reEnv.MatchString(k) {
			return nil, p.errf(kn, "env name %q: use letters, digits and '_'", k)
		}
		if seen[k] {
			return nil, p.errf(kn, "env variable %q appears twice", k)
		}
		seen[k] = true
		val, err := p.str(v, "env "+k)
		if err != nil {
			return nil, err
		}
		out = append(out, EnvVar{k, val})
	}
	return out, nil
}

func (p *parser) connections(n *yaml.Node) ([]Connection, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "connections must be a list of {target, id}, not a %s", kindName(n))
	}
	if len(n.Content) > MaxListLen {
		return nil, p.errf(n, "connections has %d items, the limit is %d", len(n.Content), MaxListLen)
	}
	var out []Connection
	for _, c := range n.Content {
		conn := Connection{Line: c.Line}
		err := p.mapping(c, []string{"target", "id"}, "a connection", func(k string, kn, v *yaml.Node) error {
			var err error
			switch k {
			case "target":
				conn.Target, err = p.str(v, "target")
			case "id":
				if v.Kind == yaml.MappingNode {
					return p.errf(v, "channel ids of the form {var: ..., include: ...} name C constants, which do not exist on Linux; write the channel name as a string")
				}
				if conn.ID, err = p.str(v, "id"); err == nil && !reName.MatchString(conn.ID) {
					err = p.errf(v, "channel id %q: use letters, digits, '_', '.', '-'", conn.ID)
				}
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if conn.Target == "" || conn.ID == "" {
			return nil, p.errf(c, "a connection needs both \"target\" and \"id\"")
		}
		out = append(out, conn)
	}
	return out, nil
}

// check validates cross-references, once all entities are read.
func (p *parser) check(cfg *Config, list *yaml.Node) error {
	byTask := map[string]*Entity{}
	drivers := 0
	for i, e := range cfg.Entities {
		n := list.Content[i]
		if o := byTask[e.Task]; o != nil {
			return p.errf(n, "task name %q is used twice (lines %d and %d); give one a distinct \"task\"", e.Task, o.Line, e.Line)
		}
		byTask[e.Task] = e
		if e.Role == RoleDriver {
			drivers++
			if drivers > 1 {
				return p.errf(n, "entity %q is a second driver; only one entity may have role driver", e.Name)
			}
			if !e.Autostart {
				return p.errf(n, "driver %q has autostart false; einit must start the driver", e.Name)
			}
		}
		if cfg.Style == StyleLinux && len(e.Connections) > 0 {
			return p.errf(n, "entity %q has connections, which only style kasperskyos supports (einit creates them as socket pairs)", e.Name)
		}
	}
	for i, e := range cfg.Entities {
		n := list.Content[i]
		ids := map[string]bool{}
		for _, c := range e.Connections {
			t := byTask[c.Target]
			if t == nil {
				return &Error{File: p.file, Line: c.Line, Msg: fmt.Sprintf("entity %q connects to %q, which is not an entity of this file", e.Name, c.Target)}
			}
			if t == e {
				return &Error{File: p.file, Line: c.Line, Msg: fmt.Sprintf("entity %q connects to itself", e.Name)}
			}
			if ids[c.ID] {
				return &Error{File: p.file, Line: c.Line, Msg: fmt.Sprintf("entity %q uses channel id %q twice", e.Name, c.ID)}
			}
			ids[c.ID] = true
		}
		seen := map[string]bool{}
		for _, d := range e.Depends {
			t := byTask[d]
			switch {
			case t == nil:
				return p.errf(n, "entity %q depends on %q, which is not an entity of this file", e.Name, d)
			case t == e:
				return p.errf(n, "entity %q depends on itself", e.Name)
			case seen[d]:
				return p.errf(n, "entity %q lists dependency %q twice", e.Name, d)
			case e.Autostart && !t.Autostart:
				return p.errf(n, "entity %q depends on %q, which einit does not start (autostart false)", e.Name, d)
			case cfg.Style == StyleLinux && t.Line > e.Line:
				return p.errf(n, "entity %q depends on %q, which comes later; style linux starts entities in file order", e.Name, d)
			}
			seen[d] = true
		}
	}
	// Connections imply server-before-client in kasperskyos style; the server
	// of a channel must be started by einit if the client is.
	for i, e := range cfg.Entities {
		for _, c := range e.Connections {
			if t := byTask[c.Target]; e.Autostart && !t.Autostart {
				return p.errf(list.Content[i], "entity %q connects to %q, which einit does not start (autostart false); einit creates channels only between entities it starts", e.Name, c.Target)
			}
		}
	}
	// Every channel end is an environment variable of its entity; names must
	// not collide on either side.
	chans := map[*Entity]map[string]string{}
	claim := func(e *Entity, c Connection, side string) error {
		if chans[e] == nil {
			chans[e] = map[string]string{}
		}
		env := ChannelEnv(c.ID)
		if prev, ok := chans[e][env]; ok {
			return &Error{File: p.file, Line: c.Line, Msg: fmt.Sprintf("channel %q gives entity %q a second %s (already used by %s); choose distinct channel ids", c.ID, e.Name, env, prev)}
		}
		chans[e][env] = fmt.Sprintf("channel %q as %s", c.ID, side)
		return nil
	}
	for _, e := range cfg.Entities {
		for _, c := range e.Connections {
			if err := claim(e, c, "client"); err != nil {
				return err
			}
			if err := claim(byTask[c.Target], c, "server"); err != nil {
				return err
			}
		}
	}
	if _, err := cfg.order(); err != nil {
		return &Error{File: p.file, Line: list.Line, Col: list.Column, Msg: err.Error()}
	}
	return nil
}

// deps returns the task names e must be started after.
func (cfg *Config) deps(e *Entity) []string {
	out := append([]string(nil), e.Depends...)
	if cfg.Style == StyleKasperskyOS {
		for _, c := range e.Connections {
			out = append(out, c.Target)
		}
	}
	return out
}

// StartOrder returns the entities einit starts (autostart true), in the order
// it starts them: file order for style linux; for style kasperskyos a
// topological order of depends and connection targets that keeps file order
// wherever the graph allows.
func (cfg *Config) StartOrder() []*Entity {
	out, _ := cfg.order()
	return out
}

func (cfg *Config) order() ([]*Entity, error) {
	var auto []*Entity
	for _, e := range cfg.Entities {
		if e.Autostart {
			auto = append(auto, e)
		}
	}
	if cfg.Style == StyleLinux {
		return auto, nil
	}
	index := map[string]int{}
	for i, e := range auto {
		index[e.Task] = i
	}
	// Kahn's algorithm, always taking the earliest ready entity in file order.
	indeg := make([]int, len(auto))
	users := make([][]int, len(auto))
	for i, e := range auto {
		for _, d := range cfg.deps(e) {
			j, ok := index[d]
			if !ok {
				continue
			}
			indeg[i]++
			users[j] = append(users[j], i)
		}
	}
	var ready []int
	for i := range auto {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	var out []*Entity
	for len(ready) > 0 {
		sort.Ints(ready)
		i := ready[0]
		ready = ready[1:]
		out = append(out, auto[i])
		for _, u := range users[i] {
			if indeg[u]--; indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(out) != len(auto) {
		var cyc []string
		for i, e := range auto {
			if indeg[i] > 0 {
				cyc = append(cyc, e.Task)
			}
		}
		return nil, fmt.Errorf("start-order cycle through depends/connections among %s", strings.Join(cyc, ", "))
	}
	return out, nil
}

// Driver returns the entity with role driver, or nil.
func (cfg *Config) Driver() *Entity {
	for _, e := range cfg.Entities {
		if e.Role == RoleDriver {
			return e
		}
	}
	return nil
}

// Lookup returns the entity with the given task name, or nil.
func (cfg *Config) Lookup(task string) *Entity {
	for _, e := range cfg.Entities {
		if e.Task == task {
			return e
		}
	}
	return nil
}

// ChannelEnv is the environment variable through which einit passes the
// file descriptor of channel id to both ends: KCFM_CHANNEL_<id> with every
// character outside [A-Za-z0-9_] replaced by '_'.
func ChannelEnv(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return "KCFM_CHANNEL_" + string(b)
}

// Console markers printed by einit. A test reads the serial console and
// decides on these lines (QEMU's own exit status says nothing).
const (
	// MarkerPass starts the line einit prints when the driver exited with 0
	// (or, without a driver, every started entity did).
	MarkerPass = "KCFM-RESULT: PASS"
	// MarkerFail starts the line for a failed driver, entity or boot step.
	MarkerFail = "KCFM-RESULT: FAIL"
	// MarkerTimeout starts the line printed when the image's timeout expired.
	MarkerTimeout = "KCFM-RESULT: TIMEOUT"
	// MarkerDriverExit starts the line with the driver's exit status:
	// "KCFM-DRIVER-EXIT: name=<task> status=<n>[ signal=<SIG>]".
	MarkerDriverExit = "KCFM-DRIVER-EXIT:"
	// MarkerEinit prefixes einit's own progress lines.
	MarkerEinit = "KCFM-EINIT:"
)
