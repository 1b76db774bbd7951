package inityaml

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

const kosSample = `# KasperskyOS-style image
version: 1
style: kasperskyos
timeout: 90s
entities:
- name: kl.kcfm.FlowMonitor
  task: FlowMonitor
  path: /bin/FlowMonitor
  env:
    FM_ENTITY_NAME: Server
    B: "2"
  connections:
  - target: FlowChecker
    id: fc
  - target: ExecMgr
    id: execmgr
- name: FlowChecker
  path: /bin/FlowChecker
  args: [-v, 8080]
  ready: "FlowChecker: ready"
  depends: [AuditSource]
- name: Server
  path: /bin/server
  role: monitored
- name: ExecMgr
  path: /bin/execmgr
- name: AuditSource
  path: /bin/audit
- name: Client
  path: /bin/client
  role: driver
  depends: [FlowMonitor]
  workdir: /tmp
`

func TestParseKasperskyOS(t *testing.T) {
	cfg, err := Parse([]byte(kosSample), "init.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Style != StyleKasperskyOS || cfg.Timeout != 90*time.Second || len(cfg.Entities) != 6 {
		t.Fatalf("cfg %+v", cfg)
	}
	fm := cfg.Lookup("FlowMonitor")
	if fm == nil || fm.Name != "kl.kcfm.FlowMonitor" || fm.Line != 6 || fm.Workdir != "/" {
		t.Fatalf("FlowMonitor %+v", fm)
	}
	if !reflect.DeepEqual(fm.Env, []EnvVar{{"FM_ENTITY_NAME", "Server"}, {"B", "2"}}) {
		t.Errorf("env order not kept: %v", fm.Env)
	}
	fc := cfg.Lookup("FlowChecker")
	if !reflect.DeepEqual(fc.Args, []string{"-v", "8080"}) || fc.ReadyTimeout != DefaultReadyTimeout {
		t.Errorf("FlowChecker %+v", fc)
	}
	if s := cfg.Lookup("Server"); s.Autostart || s.Role != RoleMonitored {
		t.Errorf("monitored entity must not autostart: %+v", s)
	}
	if d := cfg.Driver(); d == nil || d.Task != "Client" || d.Workdir != "/tmp" {
		t.Errorf("driver %+v", d)
	}
	var order []string
	for _, e := range cfg.StartOrder() {
		order = append(order, e.Task)
	}
	// Connection targets and depends come first; otherwise file order.
	want := "ExecMgr AuditSource FlowChecker FlowMonitor Client"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("start order %q, want %q", got, want)
	}
}

func TestParseLinuxOrderAndDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`style: linux
entities:
- {name: b, path: /bin/b}
- {name: a, path: /bin/a, depends: [b], role: oneshot}
- {name: t, path: /bin/t, role: driver}
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range cfg.StartOrder() {
		order = append(order, e.Task)
	}
	if strings.Join(order, " ") != "b a t" || cfg.Timeout != DefaultTimeout || cfg.Version != 1 {
		t.Fatalf("order %v cfg %+v", order, cfg)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", ``, "f.yaml: file is empty"},
		{"syntax", "entities:\n- name: a\n  path: [\n", "f.yaml:3: YAML syntax"},
		{"not mapping", "- a\n", "f.yaml:1:1: the document must be a mapping"},
		{"no entities", "style: linux\n", `f.yaml:1:1: missing key "entities"`},
		{"unknown top", "entities: []\nfoo: 1\n", `f.yaml:2:1: unknown key "foo" in the top level`},
		{"empty list", "entities: []\n", `f.yaml:1:11: "entities" is empty`},
		{"unknown key", "entities:\n- name: a\n  pth: /bin/a\n", `f.yaml:3:3: unknown key "pth" in entity "a" (expected one of name, task, path`},
		{"missing path", "entities:\n- name: hello\n  args: [x]\n", `f.yaml:2:3: entity "hello" has no "path" (the executable in the image, like /bin/hello)`},
		{"missing name", "entities:\n- path: /bin/x\n", `f.yaml:2:3: entity without a name`},
		{"relative path", "entities:\n- {name: a, path: bin/a}\n", `f.yaml:2:19: path "bin/a" must be an absolute, clean path`},
		{"dup key", "entities:\n- name: a\n  path: /a\n  path: /b\n", `f.yaml:4:3: key "path" appears twice`},
		{"dup task", "entities:\n- {name: a, path: /a}\n- {name: a, path: /b}\n", `f.yaml:3:3: task name "a" is used twice (lines 2 and 3)`},
		{"bad style", "style: windows\nentities:\n- {name: a, path: /a}\n", `f.yaml:1:8: style "windows" is not one of`},
		{"bad version", "version: 2\nentities:\n- {name: a, path: /a}\n", `f.yaml:1:10: format version 2 is not supported`},
		{"bad role", "entities:\n- {name: a, path: /a, role: boss}\n", `role "boss" is not one of`},
		{"two drivers", "entities:\n- {name: a, path: /a, role: driver}\n- {name: b, path: /b, role: driver}\n", `f.yaml:3:3: entity "b" is a second driver`},
		{"dangling dep", "entities:\n- {name: a, path: /a, depends: [zz]}\n", `entity "a" depends on "zz", which is not an entity`},
		{"dangling conn", "entities:\n- name: a\n  path: /a\n  connections:\n  - {target: zz, id: c}\n", `f.yaml:5: entity "a" connects to "zz"`},
		{"cycle", "entities:\n- {name: a, path: /a, depends: [b]}\n- {name: b, path: /b, depends: [a]}\n", `start-order cycle through depends/connections among a, b`},
		{"linux conn", "style: linux\nentities:\n- {name: a, path: /a, connections: [{target: b, id: c}]}\n- {name: b, path: /b}\n", `only style kasperskyos supports`},
		{"linux later dep", "style: linux\nentities:\n- {name: a, path: /a, depends: [b]}\n- {name: b, path: /b}\n", `which comes later`},
		{"var id", "entities:\n- name: a\n  path: /a\n  connections:\n  - target: b\n    id: {var: X, include: x.h}\n- {name: b, path: /b}\n", `f.yaml:6:9: channel ids of the form {var`},
		{"env type", "entities:\n- {name: a, path: /a, env: [A=1]}\n", `env must be a mapping`},
		{"env null", "entities:\n- name: a\n  path: /a\n  env:\n    A:\n", `f.yaml:5:7: env A must be a string, not a null`},
		{"env name", "entities:\n- name: a\n  path: /a\n  env: {A-B: 1}\n", `env name "A-B"`},
		{"alias", "entities:\n- &x {name: a, path: /a}\n- *x\n", `anchors (&x) are not allowed`},
		{"autostart type", "entities:\n- {name: a, path: /a, autostart: yes please}\n", `autostart must be true or false`},
		{"monitored autostart", "entities:\n- {name: a, path: /a, role: monitored, autostart: true}\n", `role monitored and autostart true`},
		{"dep on non-started", "entities:\n- {name: a, path: /a, role: monitored}\n- {name: b, path: /b, depends: [a]}\n", `which einit does not start`},
		{"timeout", "timeout: forever\nentities:\n- {name: a, path: /a}\n", `timeout "forever" is not a duration`},
		{"ready_timeout alone", "entities:\n- {name: a, path: /a, ready_timeout: 3s}\n", `ready_timeout but no ready line`},
		{"two docs", "entities:\n- {name: a, path: /a}\n---\nx: 1\n", `more than one YAML document`},
		{"channel clash", "entities:\n- name: a\n  path: /a\n  connections: [{target: b, id: x.y}, {target: c, id: x_y}]\n- {name: b, path: /b}\n- {name: c, path: /c}\n", `second KCFM_CHANNEL_x_y`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.in), "f.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error\n  %v\nwant it to contain\n  %s", c.name, err, c.want)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	cfg, err := Parse([]byte(kosSample), "a")
	if err != nil {
		t.Fatal(err)
	}
	text := Encode(cfg)
	again, err := Parse(text, "b")
	if err != nil {
		t.Fatalf("re-parse of encoded text: %v\n%s", err, text)
	}
	for i := range cfg.Entities {
		x, y := *cfg.Entities[i], *again.Entities[i]
		x.Line, y.Line = 0, 0
		x.Connections, y.Connections = stripLines(x.Connections), stripLines(y.Connections)
		if !reflect.DeepEqual(x, y) {
			t.Errorf("entity %d changed:\n%+v\n%+v", i, x, y)
		}
	}
	if again.Style != cfg.Style || again.Timeout != cfg.Timeout {
		t.Errorf("top level changed")
	}
	if string(Encode(again)) != string(text) {
		t.Errorf("encoding is not stable")
	}
}

func stripLines(cs []Connection) []Connection {
	out := append([]Connection(nil), cs...)
	for i := range out {
		out[i].Line = 0
	}
	return out
}

func TestChannelEnv(t *testing.T) {
	if got := ChannelEnv("kl.fc-main"); got != "KCFM_CHANNEL_kl_fc_main" {
		t.Fatal(got)
	}
}

func templateEntities() []*Entity {
	return []*Entity{
		{Name: "Hello", Path: "/bin/hello", Autostart: true, Role: RoleDriver, Args: []string{"client", "--port=8080"},
			Env: []EnvVar{{"GREETING", "hi: there"}}, Connections: []Connection{{Target: "Echo", ID: "echo"}}},
		{Name: "Echo", Path: "/bin/echo server", Autostart: true, Ready: "listening"},
		{Name: "kl.Extra", Task: "Extra", Path: "/bin/extra", Autostart: true},
	}
}

func TestExpandTemplateGolden(t *testing.T) {
	tmpl, err := os.ReadFile("testdata/init.yaml.in")
	if err != nil {
		t.Fatal(err)
	}
	out, err := ExpandTemplate(tmpl, "testdata/init.yaml.in", templateEntities(), map[string]string{"TIMEOUT": "45s"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/init.yaml.golden")
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(want) {
		if os.Getenv("UPDATE_GOLDEN") != "" {
			os.WriteFile("testdata/init.yaml.golden", out, 0o644)
		}
		t.Fatalf("expansion differs from testdata/init.yaml.golden (UPDATE_GOLDEN=1 rewrites it)\n%s", out)
	}
	cfg, err := Parse(out, "expanded")
	if err != nil {
		t.Fatalf("expanded template does not parse: %v", err)
	}
	h := cfg.Lookup("Hello")
	if !reflect.DeepEqual(h.Args, []string{"client", "--port=8080"}) || h.Env[0].Value != "hi: there" || h.Connections[0].Target != "Echo" {
		t.Errorf("Hello %+v", h)
	}
	if cfg.Lookup("Extra") == nil || cfg.Lookup("Echo").Path != "/bin/echo server" || cfg.Timeout != 45*time.Second {
		t.Errorf("external entities or path macro not expanded")
	}
}

func TestExpandTemplateErrors(t *testing.T) {
	ents := templateEntities()
	cases := []struct{ in, want string }{
		{"a\n  @INIT_Nope_ENTITY_ARGS@\n", `t.in:2: macro @INIT_Nope_ENTITY_ARGS@ names entity "Nope", which is not in the image (entities: Hello, Echo, Extra)`},
		{"x: @FOO@\n", `t.in:1: unknown macro @FOO@`},
		{"x: @INIT_Hello_ENTITY_ARGS@\n", `must stand alone on its line`},
		{"x: @INIT_EXTERNAL_ENTITIES@ y\n", `must stand alone on its line`},
	}
	for _, c := range cases {
		_, err := ExpandTemplate([]byte(c.in), "t.in", ents, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.want)
		}
	}
}
