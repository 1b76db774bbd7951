package policy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

//go:embed data/endpoints.yaml
var defaultMappingYAML []byte

// maxDataFile bounds the data files we read (mapping, audit configs): they
// are small text files.
const maxDataFile = 4 << 20

// Mapping is the documented data file (data/endpoints.yaml, format
// kcfm-endpoints v1) from syscalls to KasperskyOS IPC calls.
type Mapping struct {
	Format   string            `yaml:"format"`
	Version  int               `yaml:"version"`
	Sources  map[string]string `yaml:"sources"`
	Core     CoreSpec          `yaml:"core"`
	VFS      []VFSRole         `yaml:"vfs"`
	Services []Service         `yaml:"services"`
	Syscalls []SyscallMap      `yaml:"syscalls"`
	Unnamed  []Unnamed         `yaml:"unnamed"`

	// derived
	byName   map[string]*SyscallMap
	unnamed  map[string]*Unnamed
	methods  map[string]bool // "endpoint.Method"
	ifaceOf  map[string]string
	vfsRole  map[string]*VFSRole
	services map[string]*Service
}

// CoreSpec lists the kernel's endpoints.
type CoreSpec struct {
	Class     string     `yaml:"class"`
	Endpoints []Endpoint `yaml:"endpoints"`
}

// Endpoint is a core endpoint with the methods the mapping may grant.
type Endpoint struct {
	Endpoint  string   `yaml:"endpoint"`
	Interface string   `yaml:"interface"`
	Methods   []string `yaml:"methods"`
	Source    string   `yaml:"source"`
}

// VFSRole is a VFS program serving one kind of calls.
type VFSRole struct {
	Role   string `yaml:"role"`
	Class  string `yaml:"class"`
	Source string `yaml:"source"`
}

// Service is another SDK program reached by IPC.
type Service struct {
	Name   string `yaml:"name"`
	Class  string `yaml:"class"`
	Source string `yaml:"source"`
}

// SyscallMap says which IPC calls a group of syscalls stands for.
type SyscallMap struct {
	Names   []string `yaml:"names"`
	Core    []string `yaml:"core"`    // "endpoint.Method", e.g. vmm.VMM.Allocate
	VFS     string   `yaml:"vfs"`     // role
	Service string   `yaml:"service"` // service name
	Note    string   `yaml:"note"`
	Source  string   `yaml:"source"`
}

// Unnamed is a group of syscalls with no IPC call the public documentation
// names.
type Unnamed struct {
	Names  []string `yaml:"names"`
	Reason string   `yaml:"reason"`
}

// CoreCall is one method of a core endpoint.
type CoreCall struct {
	Endpoint, Method string
}

func (c CoreCall) String() string { return c.Endpoint + "." + c.Method }

// splitCoreCall splits "vmm.VMM.Allocate" at the last dot.
func splitCoreCall(s string) (CoreCall, bool) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || i == len(s)-1 {
		return CoreCall{}, false
	}
	return CoreCall{Endpoint: s[:i], Method: s[i+1:]}, true
}

var (
	qnameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// DefaultMapping returns the mapping shipped with kcfm (data/endpoints.yaml).
func DefaultMapping() *Mapping {
	m, err := ParseMapping("data/endpoints.yaml", defaultMappingYAML)
	if err != nil {
		panic("policy: embedded mapping is invalid: " + err.Error())
	}
	return m
}

// LoadMapping reads a mapping file (for solutions whose SDK names more
// methods, e.g. the VFS IDL).
func LoadMapping(path string) (*Mapping, error) {
	b, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return ParseMapping(path, b)
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDataFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(b) > maxDataFile {
		return nil, fmt.Errorf("%s: larger than the limit of %d bytes", path, maxDataFile)
	}
	return b, nil
}

// decodeStrict decodes YAML rejecting unknown keys; root is returned for
// line lookups.
func decodeStrict(name string, b []byte, v any) (*yaml.Node, error) {
	if len(b) > maxDataFile {
		return nil, fmt.Errorf("%s: larger than the limit of %d bytes", name, maxDataFile)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file", name)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return &root, nil
}

// lineOf returns the line of the node at a path of mapping keys and
// sequence indexes ("syscalls", "3", "core"), or of the deepest part found.
func lineOf(n *yaml.Node, path ...string) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			var k int
			if _, err := fmt.Sscan(p, &k); err != nil || k < 0 || k >= len(n.Content) {
				return line
			}
			n = n.Content[k]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// knownSyscall tells whether name is a syscall of any supported arch.
func knownSyscall(name string) bool {
	for _, a := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		if _, ok := sysnum.For(a).Nr(name); ok {
			return true
		}
	}
	return false
}

// ParseMapping parses and validates a kcfm-endpoints v1 file; name is used
// in messages.
func ParseMapping(name string, b []byte) (*Mapping, error) {
	var m Mapping
	root, err := decodeStrict(name, b, &m)
	if err != nil {
		return nil, err
	}
	at := func(path ...string) string { return fmt.Sprintf("%s:%d", name, lineOf(root, path...)) }
	if m.Format != "kcfm-endpoints" {
		return nil, fmt.Errorf("%s: format is %q, expected \"kcfm-endpoints\"", at("format"), m.Format)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("%s: version %d, this kcfm reads version 1", at("version"), m.Version)
	}
	src := func(s string, path ...string) error {
		if s == "" {
			return fmt.Errorf("%s: source is missing (every entry names its source)", at(path...))
		}
		if _, ok := m.Sources[s]; !ok {
			return fmt.Errorf("%s: source %q is not listed under sources", at(append(path, "source")...), s)
		}
		return nil
	}
	if !qnameRE.MatchString(m.Core.Class) {
		return nil, fmt.Errorf("%s: core class %q is not a PSL class name", at("core", "class"), m.Core.Class)
	}
	m.methods = map[string]bool{}
	m.ifaceOf = map[string]string{}
	for i, e := range m.Core.Endpoints {
		p := []string{"core", "endpoints", fmt.Sprint(i)}
		if !qnameRE.MatchString(e.Endpoint) || !strings.Contains(e.Endpoint, ".") {
			return nil, fmt.Errorf("%s: endpoint %q is not a qualified endpoint name (component.Endpoint)", at(append(p, "endpoint")...), e.Endpoint)
		}
		if _, dup := m.ifaceOf[e.Endpoint]; dup {
			return nil, fmt.Errorf("%s: endpoint %q listed twice", at(append(p, "endpoint")...), e.Endpoint)
		}
		if !qnameRE.MatchString(e.Interface) {
			return nil, fmt.Errorf("%s: interface %q is not a qualified name", at(append(p, "interface")...), e.Interface)
		}
		m.ifaceOf[e.Endpoint] = e.Interface
		if len(e.Methods) == 0 {
			return nil, fmt.Errorf("%s: endpoint %s lists no methods", at(p...), e.Endpoint)
		}
		for _, meth := range e.Methods {
			if !identRE.MatchString(meth) {
				return nil, fmt.Errorf("%s: method %q is not an identifier", at(append(p, "methods")...), meth)
			}
			m.methods[e.Endpoint+"."+meth] = true
		}
		if err := src(e.Source, p...); err != nil {
			return nil, err
		}
	}
	m.vfsRole = map[string]*VFSRole{}
	for i := range m.VFS {
		v := &m.VFS[i]
		p := []string{"vfs", fmt.Sprint(i)}
		if !identRE.MatchString(v.Role) {
			return nil, fmt.Errorf("%s: VFS role %q is not an identifier", at(p...), v.Role)
		}
		if _, dup := m.vfsRole[v.Role]; dup {
			return nil, fmt.Errorf("%s: VFS role %q listed twice", at(p...), v.Role)
		}
		if !qnameRE.MatchString(v.Class) {
			return nil, fmt.Errorf("%s: VFS class %q is not a PSL class name", at(append(p, "class")...), v.Class)
		}
		if err := src(v.Source, p...); err != nil {
			return nil, err
		}
		m.vfsRole[v.Role] = v
	}
	m.services = map[string]*Service{}
	for i := range m.Services {
		s := &m.Services[i]
		p := []string{"services", fmt.Sprint(i)}
		if !identRE.MatchString(s.Name) || !qnameRE.MatchString(s.Class) {
			return nil, fmt.Errorf("%s: service needs an identifier name and a PSL class (got %q, %q)", at(p...), s.Name, s.Class)
		}
		if _, dup := m.services[s.Name]; dup {
			return nil, fmt.Errorf("%s: service %q listed twice", at(p...), s.Name)
		}
		if err := src(s.Source, p...); err != nil {
			return nil, err
		}
		m.services[s.Name] = s
	}
	m.byName = map[string]*SyscallMap{}
	m.unnamed = map[string]*Unnamed{}
	seen := map[string]string{}
	claim := func(n, where string) error {
		if !knownSyscall(n) {
			return fmt.Errorf("%s: %q is not a syscall of x86_64 or aarch64", where, n)
		}
		if prev, dup := seen[n]; dup {
			return fmt.Errorf("%s: syscall %s is already mapped at %s", where, n, prev)
		}
		seen[n] = where
		return nil
	}
	for i := range m.Syscalls {
		sm := &m.Syscalls[i]
		p := []string{"syscalls", fmt.Sprint(i)}
		where := at(append(p, "names")...)
		if len(sm.Names) == 0 {
			return nil, fmt.Errorf("%s: entry names no syscalls", at(p...))
		}
		kinds := 0
		if len(sm.Core) > 0 {
			kinds++
		}
		if sm.VFS != "" {
			kinds++
		}
		if sm.Service != "" {
			kinds++
		}
		if kinds != 1 {
			return nil, fmt.Errorf("%s: an entry maps to exactly one of core, vfs or service", at(p...))
		}
		for _, c := range sm.Core {
			cc, ok := splitCoreCall(c)
			if !ok || !m.methods[cc.String()] {
				return nil, fmt.Errorf("%s: core call %q is not a method listed under core.endpoints", at(append(p, "core")...), c)
			}
		}
		if sm.VFS != "" && m.vfsRole[sm.VFS] == nil {
			return nil, fmt.Errorf("%s: VFS role %q is not listed under vfs", at(append(p, "vfs")...), sm.VFS)
		}
		if sm.Service != "" && m.services[sm.Service] == nil {
			return nil, fmt.Errorf("%s: service %q is not listed under services", at(append(p, "service")...), sm.Service)
		}
		if err := src(sm.Source, p...); err != nil {
			return nil, err
		}
		for _, n := range sm.Names {
			if err := claim(n, where); err != nil {
				return nil, err
			}
			m.byName[n] = sm
		}
	}
	for i := range m.Unnamed {
		u := &m.Unnamed[i]
		p := []string{"unnamed", fmt.Sprint(i)}
		if u.Reason == "" || len(u.Names) == 0 {
			return nil, fmt.Errorf("%s: an unnamed entry needs names and a reason", at(p...))
		}
		for _, n := range u.Names {
			if err := claim(n, at(append(p, "names")...)); err != nil {
				return nil, err
			}
			m.unnamed[n] = u
		}
	}
	return &m, nil
}

// HasCoreMethod tells whether endpoint.method is listed in the mapping.
func (m *Mapping) HasCoreMethod(endpoint, method string) bool {
	return m.methods[endpoint+"."+method]
}

// Interface returns the interface of a core endpoint.
func (m *Mapping) Interface(endpoint string) string { return m.ifaceOf[endpoint] }

// VFSClass returns the class serving a VFS role.
func (m *Mapping) VFSClass(role string) string {
	if v := m.vfsRole[role]; v != nil {
		return v.Class
	}
	return ""
}

// Classes returns every server class the mapping can grant requests to
// (core, VFS programs, services), sorted.
func (m *Mapping) Classes() []string {
	set := map[string]bool{m.Core.Class: true}
	for _, v := range m.VFS {
		set[v.Class] = true
	}
	for _, s := range m.Services {
		set[s.Class] = true
	}
	var out []string
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// WithVFSClass returns a copy of the mapping whose VFS role is served by
// class (the solution's own VFS program, e.g. kl.VfsSdCardFs).
func (m *Mapping) WithVFSClass(role, class string) (*Mapping, error) {
	if m.vfsRole[role] == nil {
		return nil, fmt.Errorf("the mapping has no VFS role %q", role)
	}
	if !qnameRE.MatchString(class) {
		return nil, fmt.Errorf("VFS class %q is not a PSL class name (like kl.VfsRamFs)", class)
	}
	c := *m
	c.VFS = append([]VFSRole(nil), m.VFS...)
	c.vfsRole = map[string]*VFSRole{}
	for i := range c.VFS {
		if c.VFS[i].Role == role {
			c.VFS[i].Class = class
		}
		c.vfsRole[c.VFS[i].Role] = &c.VFS[i]
	}
	return &c, nil
}
