package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// ConfigVersion is the version of the FlowMonitor config format.
const ConfigVersion = 1

// Actions on an anomaly (Entity.OnAnomaly).
const (
	ActionRestart = "restart"  // stop the whole tree, restart with back-off (within the crash-loop guard)
	ActionStop    = "stop"     // stop the whole tree and end (exit status 3)
	ActionLogOnly = "log-only" // record the incident, let the syscall run
)

// Modes (Entity.Mode).
const (
	ModeDefault = "default" // only the sensitive syscalls are checked by FlowChecker
	ModeFull    = "full"    // every syscall is checked by FlowChecker
)

// Config is a FlowMonitor config file ("Format: FlowMonitor config v1" in
// docs/monitor.md): one or more entities, each a program FlowMonitor can
// run; FM_ENTITY_NAME selects one.
type Config struct {
	Version  int                `yaml:"version"`
	Entities map[string]*Entity `yaml:"entities"`
}

// Entity is one monitored program and its supervision policy.
type Entity struct {
	Name           string            `yaml:"-"`
	Path           string            `yaml:"path"`        // program; absolute, or relative to the config file's folder
	Args           []string          `yaml:"args"`        // argv[1:]
	Env            map[string]string `yaml:"env"`         // added to (or replacing) the environment
	InheritEnv     *bool             `yaml:"inherit_env"` // start from FlowMonitor's environment (default true)
	Dir            string            `yaml:"dir"`         // working directory (default: FlowMonitor's)
	Signature      string            `yaml:"signature"`   // default: Path + ".kcfm"
	Mode           string            `yaml:"mode"`        // default | full
	Sensitive      Sensitive         `yaml:"sensitive"`
	OnAnomaly      string            `yaml:"on_anomaly"`       // restart | stop | log-only (default restart)
	RestartOnCrash bool              `yaml:"restart_on_crash"` // restart when the program dies of a signal or exits non-zero
	Backoff        Backoff           `yaml:"backoff"`
	CrashLoop      CrashLoop         `yaml:"crash_loop"`
	StopTimeout    Duration          `yaml:"stop_timeout"` // SIGTERM → SIGKILL grace on a clean stop (default 2s)
	Incidents      string            `yaml:"incidents"`    // file to append incident lines to; "" or "-" = standard error
	Checker        CheckerConfig     `yaml:"checker"`
}

// Sensitive adjusts the set of syscalls FlowChecker checks in default mode
// (seccomp.DefaultSensitiveList). Add takes entries "name[:cond][=action]"
// (cond: write, exec, nothread; action: notify (default), allow, errno:E,
// kill, ...); Remove takes syscall names and drops every entry of that name.
type Sensitive struct {
	Add    []string `yaml:"add"`
	Remove []string `yaml:"remove"`
}

// Backoff is the delay before a restart: Initial, doubled for every
// restart since the program last ran for a full crash-loop window (or for
// Max, if the window is unlimited), never above Max.
type Backoff struct {
	Initial Duration `yaml:"initial"` // default 100ms
	Max     Duration `yaml:"max"`     // default 10s
}

// CrashLoop gives up when the program needed Restarts restarts within
// Window and would need another one. Window 0 counts every restart.
type CrashLoop struct {
	Restarts *int     `yaml:"restarts"` // default 5
	Window   Duration `yaml:"window"`   // default 60s; 0 = unlimited
}

// CheckerConfig says how FlowMonitor reaches FlowChecker.
type CheckerConfig struct {
	Path   string   `yaml:"path"`   // FlowChecker binary (default: next to FlowMonitor, else $PATH)
	Args   []string `yaml:"args"`   // extra arguments for it
	Socket string   `yaml:"socket"` // connect to a running FlowChecker at this Unix socket instead of starting one
}

// Duration is a time.Duration written as "250ms", "2s", "1m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration like \"250ms\" or \"2s\"", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a non-negative duration (expected e.g. \"250ms\", \"2s\")", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults.
const (
	DefaultBackoffInitial   = 100 * time.Millisecond
	DefaultBackoffMax       = 10 * time.Second
	DefaultCrashLoopRestart = 5
	DefaultCrashLoopWindow  = 60 * time.Second
	DefaultStopTimeout      = 2 * time.Second
	maxConfigSize           = 1 << 20
)

// LoadConfig reads and validates a config file. Relative program paths are
// resolved against the file's folder.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("FlowMonitor config: %w", err)
	}
	return ParseConfig(path, b)
}

// ParseConfig parses config text; name is used in messages and to resolve
// relative paths.
func ParseConfig(name string, b []byte) (*Config, error) {
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than the limit of %d", name, len(b), maxConfigSize)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty config (expected \"version: %d\" and \"entities:\")", name, ConfigVersion)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	line := func(path ...string) int { return lineOf(&root, path...) }
	if c.Version != ConfigVersion {
		return nil, fmt.Errorf("%s:%d: version is %d, this FlowMonitor reads version %d", name, line("version"), c.Version, ConfigVersion)
	}
	if len(c.Entities) == 0 {
		return nil, fmt.Errorf("%s:%d: no entities (expected \"entities:\" with at least one program)", name, line("entities"))
	}
	base := filepath.Dir(name)
	for n, e := range c.Entities {
		if e == nil {
			return nil, fmt.Errorf("%s:%d: entity %q is empty", name, line("entities", n), n)
		}
		e.Name = n
		if e.Path != "" && !filepath.IsAbs(e.Path) {
			e.Path = filepath.Join(base, e.Path)
		}
		if e.Signature != "" && !filepath.IsAbs(e.Signature) {
			e.Signature = filepath.Join(base, e.Signature)
		}
		if err := e.Validate(); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				return nil, fmt.Errorf("%s:%d: entity %q: %s", name, line(append([]string{"entities", n}, fe.path...)...), n, fe.msg)
			}
			return nil, fmt.Errorf("%s: entity %q: %v", name, n, err)
		}
	}
	return &c, nil
}

// Entity returns the entity called name; if name is empty and the config has
// exactly one entity, that one.
func (c *Config) Entity(name string) (*Entity, error) {
	if name == "" {
		if len(c.Entities) == 1 {
			for _, e := range c.Entities {
				return e, nil
			}
		}
		return nil, fmt.Errorf("the config has %d entities (%s); set FM_ENTITY_NAME to choose one", len(c.Entities), strings.Join(c.names(), ", "))
	}
	e, ok := c.Entities[name]
	if !ok {
		return nil, fmt.Errorf("no entity %q in the config (it has: %s)", name, strings.Join(c.names(), ", "))
	}
	return e, nil
}

func (c *Config) names() []string {
	var ns []string
	for n := range c.Entities {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

type fieldError struct {
	path []string
	msg  string
}

func (e *fieldError) Error() string { return strings.Join(e.path, ".") + ": " + e.msg }

func ferr(msg string, path ...string) error { return &fieldError{path: path, msg: msg} }

// Validate fills in defaults and checks the entity.
func (e *Entity) Validate() error {
	if e.Path == "" {
		return ferr("path is missing (the program to run)")
	}
	if !filepath.IsAbs(e.Path) {
		return ferr(fmt.Sprintf("path %q must be absolute", e.Path), "path")
	}
	for k := range e.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return ferr(fmt.Sprintf("environment variable name %q is invalid", k), "env")
		}
	}
	if e.InheritEnv == nil {
		t := true
		e.InheritEnv = &t
	}
	if e.Signature == "" {
		e.Signature = e.Path + ".kcfm"
	}
	switch e.Mode {
	case "":
		e.Mode = ModeDefault
	case ModeDefault, ModeFull:
	default:
		return ferr(fmt.Sprintf("mode %q (expected %q or %q)", e.Mode, ModeDefault, ModeFull), "mode")
	}
	switch e.OnAnomaly {
	case "":
		e.OnAnomaly = ActionRestart
	case ActionRestart, ActionStop, ActionLogOnly:
	default:
		return ferr(fmt.Sprintf("on_anomaly %q (expected restart, stop or log-only)", e.OnAnomaly), "on_anomaly")
	}
	if _, err := SensitiveEntries(e.Sensitive); err != nil {
		return ferr(err.Error(), "sensitive")
	}
	if e.Backoff.Initial == 0 && e.Backoff.Max == 0 {
		e.Backoff = Backoff{Initial: Duration(DefaultBackoffInitial), Max: Duration(DefaultBackoffMax)}
	}
	if e.Backoff.Max == 0 {
		e.Backoff.Max = Duration(DefaultBackoffMax)
		if e.Backoff.Initial > e.Backoff.Max {
			e.Backoff.Max = e.Backoff.Initial
		}
	}
	if e.Backoff.Initial > e.Backoff.Max {
		return ferr(fmt.Sprintf("initial %v is larger than max %v", e.Backoff.Initial.D(), e.Backoff.Max.D()), "backoff")
	}
	if e.CrashLoop.Restarts == nil {
		n := DefaultCrashLoopRestart
		e.CrashLoop.Restarts = &n
		if e.CrashLoop.Window == 0 {
			e.CrashLoop.Window = Duration(DefaultCrashLoopWindow)
		}
	}
	if *e.CrashLoop.Restarts < 0 {
		return ferr(fmt.Sprintf("restarts %d is negative", *e.CrashLoop.Restarts), "crash_loop", "restarts")
	}
	if e.StopTimeout == 0 {
		e.StopTimeout = Duration(DefaultStopTimeout)
	}
	if e.Checker.Socket != "" && e.Checker.Path != "" {
		return ferr("set either path (start FlowChecker) or socket (connect to one), not both", "checker")
	}
	return nil
}

// SensitiveEntries applies the config's additions and removals to the
// default sensitive set and checks the result for the host architecture.
func SensitiveEntries(c Sensitive) ([]string, error) {
	tab := sysnum.For(sysnum.Host())
	drop := map[string]bool{}
	for _, name := range c.Remove {
		if _, ok := tab.Nr(name); !ok {
			return nil, fmt.Errorf("remove: %q is not a %s system call", name, tab.Arch())
		}
		drop[name] = true
	}
	var out []string
	for _, e := range append(append([]string(nil), seccomp.DefaultSensitiveList...), c.Add...) {
		name := e
		if i := strings.IndexAny(name, ":="); i >= 0 {
			name = name[:i]
		}
		if !drop[strings.TrimSpace(name)] {
			out = append(out, e)
		}
	}
	if _, err := seccomp.ParseSensitive(sysnum.Host(), c.Add); err != nil {
		return nil, fmt.Errorf("add: %v", err)
	}
	return out, nil
}

// lineOf returns the line of the value at a mapping path, or of the
// deepest part of the path found (0 when nothing matched).
func lineOf(n *yaml.Node, path ...string) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				line = n.Content[i].Line
				n = n.Content[i+1]
				if n.Kind == yaml.ScalarNode || n.Kind == yaml.SequenceNode {
					line = n.Line
				}
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}
