package manifest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/tools/image/initramfs"
	"github.com/kcfm-linux/kcfm/tools/image/inityaml"
)

// fakeELF makes a minimal ELF64 executable header for machine m, with a
// PT_INTERP when interp is not empty; enough for debug/elf and our checks.
func fakeELF(m elf.Machine, interp string) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	phnum := uint16(0)
	if interp != "" {
		phnum = 1
	}
	binary.Write(&b, le, struct {
		Type, Machine                                        uint16
		Version                                              uint32
		Entry, Phoff, Shoff                                  uint64
		Flags                                                uint32
		Ehsize, Phentsize, Phnum, Shentsize, Shnum, Shstrndx uint16
	}{uint16(elf.ET_EXEC), uint16(m), 1, 0x400000, 64, 0, 0, 64, 56, phnum, 64, 0, 0})
	if interp != "" {
		binary.Write(&b, le, elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: 4, Off: 120,
			Filesz: uint64(len(interp) + 1), Memsz: uint64(len(interp) + 1), Align: 1})
		b.WriteString(interp + "\x00")
	}
	b.WriteString("payload")
	return b.Bytes()
}

type fixture struct {
	dir string
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{dir: t.TempDir()}
	f.write(t, "einit", fakeELF(elf.EM_AARCH64, ""), 0o755)
	f.write(t, "hello", fakeELF(elf.EM_AARCH64, ""), 0o755)
	f.write(t, "echo", fakeELF(elf.EM_AARCH64, ""), 0o755)
	f.write(t, "dyn", fakeELF(elf.EM_AARCH64, "/lib/ld-linux-aarch64.so.1"), 0o755)
	f.write(t, "amd64", fakeELF(elf.EM_X86_64, ""), 0o755)
	f.write(t, "ld.so", fakeELF(elf.EM_AARCH64, ""), 0o755)
	f.write(t, "data.txt", []byte("hello data\n"), 0o640)
	f.write(t, "script", []byte("#!/bin/sh\necho hi\n"), 0o755)
	return f
}

func (f *fixture) write(t *testing.T, name string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), data, perm); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) manifest(t *testing.T, text string) (*Manifest, error) {
	t.Helper()
	p := filepath.Join(f.dir, "image.manifest.yaml")
	f.write(t, "image.manifest.yaml", []byte(text), 0o644)
	return Load(p)
}

const baseManifest = `version: 1
name: demo
arch: aarch64
style: kasperskyos
timeout: 45s
init: einit
monitored: Echo
entities:
- name: kl.demo.Hello
  task: Hello
  src: hello
  role: driver
  args: [client, "8080"]
  env: {GREETING: "hi: there", A: "1"}
  connections: [{target: Checker, id: chk}]
- name: Echo
  src: echo
  path: /usr/bin/echo-server
- name: Checker
  src: echo
  path: /bin/checker
  ready: up
files:
- {src: data.txt, dst: /etc/data.txt}
- {src: data.txt, dst: /etc/secret, mode: "0600"}
dirs:
- {path: /var/log, mode: "0750"}
symlinks:
- {path: /bin/echo-link, target: ../usr/bin/echo-server}
`

func TestBuildGenerated(t *testing.T) {
	f := newFixture(t)
	m, err := f.manifest(t, baseManifest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(m)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := img.Archive.WriteGzip(&out); err != nil {
		t.Fatal(err)
	}
	ents, err := initramfs.ReadAll(&out, 0)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]*initramfs.Entry{}
	for _, e := range ents {
		by[e.Name] = e
	}
	checks := []struct {
		name string
		kind initramfs.Kind
		perm os.FileMode
	}{
		{"init", initramfs.KindFile, 0o755}, {"bin/hello", initramfs.KindFile, 0o755},
		{"usr/bin/echo-server", initramfs.KindFile, 0o755}, {"etc/data.txt", initramfs.KindFile, 0o640},
		{"etc/secret", initramfs.KindFile, 0o600}, {"var/log", initramfs.KindDir, 0o750},
		{"bin/echo-link", initramfs.KindSymlink, 0o777}, {"dev/console", initramfs.KindCharDev, 0o600},
		{"tmp", initramfs.KindDir, os.ModeSticky | 0o777}, {"etc/init.yaml", initramfs.KindFile, 0o644},
		{"proc", initramfs.KindDir, 0o555},
	}
	for _, c := range checks {
		e := by[c.name]
		if e == nil || e.Kind != c.kind || e.Perm != c.perm {
			t.Errorf("%s: %+v, want %v %v", c.name, e, c.kind, c.perm)
		}
	}
	cfg, err := inityaml.Parse(by["etc/init.yaml"].Data, "init.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, by["etc/init.yaml"].Data)
	}
	h := cfg.Lookup("Hello")
	if h.Path != "/bin/hello" || h.Role != inityaml.RoleDriver || h.Args[1] != "8080" || h.Env[0] != (inityaml.EnvVar{Name: "GREETING", Value: "hi: there"}) {
		t.Errorf("Hello %+v", h)
	}
	if e := cfg.Lookup("Echo"); e.Role != inityaml.RoleMonitored || e.Autostart {
		t.Errorf("monitored Echo %+v", e)
	}
	if cfg.Timeout.String() != "45s" || cfg.Style != inityaml.StyleKasperskyOS {
		t.Errorf("cfg %+v", cfg)
	}
	if len(img.Inputs) != 5 { // einit, hello, echo (twice), data.txt (twice)
		t.Logf("inputs %v", img.Inputs)
	}

	// Deterministic: build again, same bytes.
	m2, _ := f.manifest(t, baseManifest)
	img2, err := Build(m2)
	if err != nil {
		t.Fatal(err)
	}
	var out1, out2 bytes.Buffer
	img.Archive.WriteGzip(&out1)
	img2.Archive.WriteGzip(&out2)
	if !bytes.Equal(out1.Bytes(), out2.Bytes()) {
		t.Fatal("two builds of the same manifest differ")
	}

	// Write: atomic outputs.
	gz, iy := filepath.Join(f.dir, "demo.initrd.gz"), filepath.Join(f.dir, "demo.init.yaml")
	if err := img.Write(gz, iy); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(gz); !bytes.Equal(data, out1.Bytes()) {
		t.Error("written image differs")
	}
	if data, _ := os.ReadFile(iy); !bytes.Equal(data, img.InitYAML) {
		t.Error("written init.yaml differs")
	}
}

func TestBuildTemplate(t *testing.T) {
	f := newFixture(t)
	f.write(t, "init.yaml.in", []byte(`style: linux
timeout: @KCFM_TIMEOUT@
entities:
- name: Checker
  path: /bin/checker
  ready: @READY@
- name: Hello
  path: @INIT_Hello_ENTITY_PATH@
  role: driver
  @INIT_Hello_ENTITY_ARGS@
  @INIT_Hello_ENTITY_ENV@
`), 0o644)
	m, err := f.manifest(t, `version: 1
arch: arm64
style: linux
init: einit
init_yaml_in: init.yaml.in
timeout: 2m
vars: {READY: "checker up"}
entities:
- {name: Hello, src: hello, args: [a, b], env: {X: "1"}}
- {name: Checker, src: echo, path: /bin/checker}
`)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(m)
	if err != nil {
		t.Fatal(err)
	}
	c := img.Config
	if c.Timeout.String() != "2m0s" || c.Lookup("Checker").Ready != "checker up" || strings.Join(c.Lookup("Hello").Args, ",") != "a,b" {
		t.Fatalf("template config %+v\n%s", c, img.InitYAML)
	}
}

func TestBuildErrors(t *testing.T) {
	f := newFixture(t)
	f.write(t, "bad.in", []byte("entities:\n- {name: x, path: /bin/nothere}\n"), 0o644)
	f.write(t, "style.in", []byte("style: linux\nentities:\n- {name: x, path: /init}\n"), 0o644)
	cases := []struct{ name, text, want string }{
		{"version", "version: 2\narch: aarch64\n", "version 2 is not supported"},
		{"unknown key", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- {name: a, src: hello, pth: /x}\n", "image.manifest.yaml:6:25: unknown key \"pth\" in \"entities\" item (expected one of name, task, src, path"},
		{"type", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities: {a: b}\n", "image.manifest.yaml:5: cannot unmarshal"},
		{"arch", "version: 1\narch: mips\nstyle: linux\ninit: einit\n", `arch: unknown architecture "mips"`},
		{"no style", "version: 1\narch: aarch64\ninit: einit\n", `missing "style"`},
		{"no init", "version: 1\narch: aarch64\nstyle: linux\n", `missing "init"`},
		{"nothing", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\n", "no entities and no init_yaml_in"},
		{"mode", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities: [{name: a, src: hello}]\nfiles:\n- {src: data.txt, dst: /x, mode: rwx}\n", "image.manifest.yaml:7: /x: mode \"rwx\" is not an octal"},
		{"missing src", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- {name: a, src: nope}\n", "image.manifest.yaml:6: entity \"a\": stat "},
		{"wrong arch", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- {name: a, src: amd64, role: driver}\n", "image.manifest.yaml:6: /bin/amd64 (" + "%DIR%/amd64) is an ELF for EM_X86_64, but the image is aarch64"},
		{"dynamic", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- {name: a, src: dyn}\n", "is dynamically linked (interpreter /lib/ld-linux-aarch64.so.1), but the image has no /lib/ld-linux-aarch64.so.1: link it statically"},
		{"script", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- {name: a, src: script}\n", "entity \"a\" is a script for /bin/sh, which is not in the image"},
		{"not exec", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- {name: a, path: /etc/d}\nfiles:\n- {src: data.txt, dst: /etc/d}\n", "runs /etc/d, which is not executable"},
		{"template path", "version: 1\narch: aarch64\nstyle: kasperskyos\ninit: einit\ninit_yaml_in: bad.in\n", "%DIR%/bad.in):2: entity \"x\" runs /bin/nothere, which is not in the image"},
		{"template style", "version: 1\narch: aarch64\nstyle: kasperskyos\ninit: einit\ninit_yaml_in: style.in\n", "style linux differs from the image's style kasperskyos"},
		{"init.yaml invalid", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- {name: a, src: hello, depends: [zz]}\n", "entity \"a\" depends on \"zz\""},
		{"monitored", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nmonitored: zz\nentities:\n- {name: a, src: hello}\n", "monitored entity \"zz\" is not among the entities"},
		{"own init.yaml", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- {name: a, src: hello}\nfiles:\n- {src: data.txt, dst: /etc/init.yaml}\n", "do not list it in files"},
		{"dup task", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- {name: a, src: hello}\n- {name: a, src: echo}\n", "task name \"a\" is used twice"},
		{"alias", "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- &e {name: a, src: hello}\n", "anchors and aliases are not allowed"},
	}
	for _, c := range cases {
		m, err := f.manifest(t, c.text)
		if err == nil {
			_, err = Build(m)
		}
		want := strings.ReplaceAll(c.want, "%DIR%", f.dir)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error\n  %v\nwant it to contain\n  %s", c.name, err, want)
		}
	}
	// A dynamic executable is fine once its loader is in the image.
	m, err := f.manifest(t, "version: 1\narch: aarch64\nstyle: linux\ninit: einit\nentities:\n- {name: a, src: dyn}\nfiles:\n- {src: ld.so, dst: /lib/ld-linux-aarch64.so.1}\n")
	if err == nil {
		_, err = Build(m)
	}
	if err != nil {
		t.Errorf("dynamic executable with its loader: %v", err)
	}
}
