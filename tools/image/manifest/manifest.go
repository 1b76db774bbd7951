// Package manifest describes a KCFM QEMU image (the files of its initramfs,
// its entities and its init.yaml) and builds the gzip newc initramfs from it.
//
// The CMake function kcfm_build_qemu_image writes a manifest; `kcfm image
// build` reads it. Everything an image needs is checked at build time, so a
// mistake shows up as a build error with a file and line rather than as a
// silent guest that never prints its verdict: executables must be ELF files
// of the image's architecture and statically linked (or have their loader in
// the image), scripts need their interpreter in the image, every init.yaml
// path must be an executable file of the image, and init.yaml is validated
// with the same parser einit uses.
package manifest

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kcfm-linux/kcfm/tools/image/inityaml"
	"github.com/kcfm-linux/kcfm/tools/image/kernel"
	"gopkg.in/yaml.v3"
)

// Version is the manifest format version.
const Version = 1

// MaxManifestSize bounds the manifest file.
const MaxManifestSize = 4 << 20

// Manifest is the parsed image description. Host paths are absolute after
// Parse (relative ones are taken relative to the manifest's directory).
type Manifest struct {
	Version    int               `yaml:"version"`
	Name       string            `yaml:"name"`
	Arch       string            `yaml:"arch"`
	Style      string            `yaml:"style"`
	Timeout    string            `yaml:"timeout"`
	Init       string            `yaml:"init"`         // host path of einit → /init
	InitYAMLIn string            `yaml:"init_yaml_in"` // optional init.yaml.in template
	Vars       map[string]string `yaml:"vars"`         // template variables
	Monitored  string            `yaml:"monitored"`    // task of the monitored entity
	Entities   []Entity          `yaml:"entities"`
	Files      []File            `yaml:"files"`
	Dirs       []Dir             `yaml:"dirs"`
	Symlinks   []Symlink         `yaml:"symlinks"`

	File    string        `yaml:"-"` // the manifest's own path
	Line    int           `yaml:"-"`
	timeout time.Duration // parsed Timeout
}

// Entity is a program of the image and its init.yaml description.
type Entity struct {
	Name        string       `yaml:"name"`
	Task        string       `yaml:"task"`
	Src         string       `yaml:"src"`  // host file; may be empty if another entry provides Path
	Path        string       `yaml:"path"` // default /bin/<basename of src>
	Args        []string     `yaml:"args"`
	Env         yaml.Node    `yaml:"env"` // mapping, order kept
	Connections []Connection `yaml:"connections"`
	Depends     []string     `yaml:"depends"`
	Role        string       `yaml:"role"`
	Autostart   *bool        `yaml:"autostart"`
	Ready       string       `yaml:"ready"`
	Line        int          `yaml:"-"`
}

// Connection is a static channel to another entity.
type Connection struct {
	Target string `yaml:"target"`
	ID     string `yaml:"id"`
	Line   int    `yaml:"-"`
}

// File copies a host file into the image.
type File struct {
	Src  string `yaml:"src"`
	Dst  string `yaml:"dst"`
	Mode string `yaml:"mode"` // octal string; default: the host file's permissions
	Line int    `yaml:"-"`
}

// Dir creates a directory.
type Dir struct {
	Path string `yaml:"path"`
	Mode string `yaml:"mode"`
	Line int    `yaml:"-"`
}

// Symlink creates a symbolic link Path → Target.
type Symlink struct {
	Path   string `yaml:"path"`
	Target string `yaml:"target"`
	Line   int    `yaml:"-"`
}

var reYAMLLine = regexp.MustCompile(`line (\d+): `)

// Load reads and parses a manifest file.
func Load(file string) (*Manifest, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(data, file)
}

// Parse parses a manifest. file names it in errors and anchors relative paths.
func Parse(data []byte, file string) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%s: manifest is %d bytes, the limit is %d", file, len(data), MaxManifestSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a manifest is one YAML (or JSON) mapping", file)
	}
	root := doc.Content[0]
	m := &Manifest{}
	if err := root.Decode(m); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
		msg = reYAMLLine.ReplaceAllString(msg, "$1: ")
		return nil, fmt.Errorf("%s:%s", file, msg)
	}
	if err := checkKeys(root, reflectValue(m), file, "the manifest"); err != nil {
		return nil, err
	}
	m.File = file
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manifest) errf(line int, format string, args ...any) error {
	if line > 0 {
		return fmt.Errorf("%s:%d: %s", m.File, line, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%s: %s", m.File, fmt.Sprintf(format, args...))
}

func (m *Manifest) hostPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(m.File), p)
}

func (m *Manifest) validate() error {
	if m.Version != Version {
		return m.errf(m.Line, "version %d is not supported (this kcfm reads manifest version %d; write \"version: %d\")", m.Version, Version, Version)
	}
	if _, err := kernel.ParseArch(m.Arch); err != nil {
		return m.errf(m.Line, "arch: %v", err)
	}
	switch inityaml.Style(m.Style) {
	case inityaml.StyleKasperskyOS, inityaml.StyleLinux:
	case "":
		return m.errf(m.Line, "missing \"style\" (kasperskyos or linux)")
	default:
		return m.errf(m.Line, "style %q is not one of kasperskyos, linux", m.Style)
	}
	if m.Timeout != "" {
		d, err := time.ParseDuration(m.Timeout)
		if err != nil || d <= 0 {
			return m.errf(m.Line, "timeout %q is not a positive duration such as 60s", m.Timeout)
		}
		m.timeout = d
	}
	if m.Init == "" {
		return m.errf(m.Line, "missing \"init\" (the einit binary that becomes /init)")
	}
	m.Init = m.hostPath(m.Init)
	m.InitYAMLIn = m.hostPath(m.InitYAMLIn)
	if len(m.Entities) == 0 && m.InitYAMLIn == "" {
		return m.errf(m.Line, "no entities and no init_yaml_in: the image would have nothing to start")
	}
	tasks := map[string]bool{}
	for i := range m.Entities {
		e := &m.Entities[i]
		if e.Name == "" {
			return m.errf(e.Line, "entity without a name")
		}
		if e.Src == "" && e.Path == "" {
			return m.errf(e.Line, "entity %q has neither src (a host file) nor path (a file of the image)", e.Name)
		}
		e.Src = m.hostPath(e.Src)
		if e.Path == "" {
			e.Path = "/bin/" + filepath.Base(e.Src)
		}
		t := e.Task
		if t == "" {
			t = e.Name
		}
		if tasks[t] {
			return m.errf(e.Line, "entity %q: task name %q is used twice", e.Name, t)
		}
		tasks[t] = true
		if e.Env.Kind != 0 && e.Env.Kind != yaml.MappingNode {
			return m.errf(e.Line, "entity %q: env must be a mapping of NAME: value", e.Name)
		}
		for j := 0; j+1 < len(e.Env.Content); j += 2 {
			if v := e.Env.Content[j+1]; v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				return m.errf(v.Line, "entity %q: env %s must be a string", e.Name, e.Env.Content[j].Value)
			}
		}
	}
	if m.Monitored != "" && !tasks[m.Monitored] {
		return m.errf(m.Line, "monitored entity %q is not among the entities", m.Monitored)
	}
	for i := range m.Files {
		f := &m.Files[i]
		if f.Src == "" || f.Dst == "" {
			return m.errf(f.Line, "a file needs src (host path) and dst (image path)")
		}
		f.Src = m.hostPath(f.Src)
		if _, err := parseMode(f.Mode); err != nil {
			return m.errf(f.Line, "%s: %v", f.Dst, err)
		}
	}
	for _, d := range m.Dirs {
		if d.Path == "" {
			return m.errf(d.Line, "a directory needs a path")
		}
		if _, err := parseMode(d.Mode); err != nil {
			return m.errf(d.Line, "%s: %v", d.Path, err)
		}
	}
	for _, s := range m.Symlinks {
		if s.Path == "" || s.Target == "" {
			return m.errf(s.Line, "a symlink needs path and target")
		}
	}
	return nil
}

// parseMode reads an octal permission string ("0755", "755", "1777").
// Empty means "not given" and returns -1.
func parseMode(s string) (int64, error) {
	if s == "" {
		return -1, nil
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("mode %q is not an octal permission such as \"0755\"", s)
	}
	return int64(v), nil
}

// initEntities converts the manifest's entities to init.yaml entities.
func (m *Manifest) initEntities() ([]*inityaml.Entity, error) {
	var out []*inityaml.Entity
	for _, e := range m.Entities {
		ie := &inityaml.Entity{Name: e.Name, Task: e.Task, Path: e.Path, Args: e.Args, Depends: e.Depends,
			Role: inityaml.Role(e.Role), Autostart: true, Ready: e.Ready}
		if ie.Task == "" {
			ie.Task = ie.Name
		}
		if ie.Role == "" {
			ie.Role = inityaml.RoleService
		}
		if ie.Task == m.Monitored && m.Monitored != "" {
			if e.Role != "" && ie.Role != inityaml.RoleMonitored {
				return nil, m.errf(e.Line, "entity %q is the monitored entity but has role %s", e.Name, e.Role)
			}
			ie.Role = inityaml.RoleMonitored
		}
		if e.Autostart != nil {
			ie.Autostart = *e.Autostart
		}
		if ie.Role == inityaml.RoleMonitored {
			ie.Autostart = false
		}
		for i := 0; i+1 < len(e.Env.Content); i += 2 {
			ie.Env = append(ie.Env, inityaml.EnvVar{Name: e.Env.Content[i].Value, Value: e.Env.Content[i+1].Value})
		}
		for _, c := range e.Connections {
			ie.Connections = append(ie.Connections, inityaml.Connection{Target: c.Target, ID: c.ID})
		}
		out = append(out, ie)
	}
	return out, nil
}

// InitYAML produces the image's init.yaml text: the expanded template when
// init_yaml_in is set, else one generated from the entities. It is validated
// with the parser einit uses.
func (m *Manifest) InitYAML() ([]byte, *inityaml.Config, error) {
	ents, err := m.initEntities()
	if err != nil {
		return nil, nil, err
	}
	var text []byte
	name := "generated init.yaml (from " + m.File + ")"
	if m.InitYAMLIn != "" {
		tmpl, err := os.ReadFile(m.InitYAMLIn)
		if err != nil {
			return nil, nil, m.errf(m.Line, "init_yaml_in: %v", err)
		}
		timeout := m.timeout
		if timeout == 0 {
			timeout = inityaml.DefaultTimeout
		}
		vars := map[string]string{"KCFM_ARCH": m.Arch, "KCFM_STYLE": m.Style, "KCFM_IMAGE_NAME": m.Name, "KCFM_TIMEOUT": timeout.String()}
		keys := make([]string, 0, len(m.Vars))
		for k := range m.Vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			vars[k] = m.Vars[k]
		}
		text, err = inityaml.ExpandTemplate(tmpl, m.InitYAMLIn, ents, vars)
		if err != nil {
			return nil, nil, err
		}
		name = "expanded init.yaml (from " + m.InitYAMLIn + ")"
	} else {
		text = inityaml.Encode(&inityaml.Config{Style: inityaml.Style(m.Style), Timeout: m.timeout, Entities: ents})
	}
	cfg, err := inityaml.Parse(text, name)
	if err != nil {
		return text, nil, err
	}
	if m.InitYAMLIn != "" && cfg.Style != inityaml.Style(m.Style) {
		return text, nil, fmt.Errorf("%s: style %s differs from the image's style %s (set in %s)", m.InitYAMLIn, cfg.Style, m.Style, m.File)
	}
	return text, cfg, nil
}

func cleanImagePath(p string) string { return path.Clean("/" + p) }

func reflectValue(m *Manifest) reflect.Value { return reflect.ValueOf(m) }
