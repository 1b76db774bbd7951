package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// Fuzz targets for the parsers of untrusted text: PSL, the audit config,
// and the mapping. The seeds run in every `go test`.

func FuzzParsePSL(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "psl", "*.psl"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	p := mustCompute(f, helloSig(f, sysnum.X86_64), Options{})
	var b bytes.Buffer
	if err := WritePSL(&b, p, PSLOptions{AuditDefault: true}); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte("audit profile p = {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"))
	f.Add([]byte("request { match src=a { match dst=b { grant () } } }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		pf, err := ParsePSL("fuzz.psl", src)
		if err != nil {
			return
		}
		_ = pf.Grants()
		_ = CheckPSL(pf, DefaultMapping(), "kcfm_hello")
	})
}

func FuzzParseAudit(f *testing.F) {
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		p := mustCompute(f, netdSig(f, arch), Options{})
		var b bytes.Buffer
		if err := WriteAudit(&b, p); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte("format: kcfm-audit\nversion: 1\narch: x86_64\nallowed: [read]\nchecked: [{syscall: read, when: {arg: 9, mask: 1, op: any-set}}]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := ParseAudit("fuzz.yaml", src)
		if err != nil {
			return
		}
		// What parses is a consistent policy: it renders and reads back.
		var b bytes.Buffer
		if err := WriteAudit(&b, p); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseAudit("again.yaml", b.Bytes()); err != nil {
			t.Fatalf("written audit config does not parse: %v\n%s", err, b.String())
		}
		if err := WriteOCI(&bytes.Buffer{}, p, OCIOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseMapping(f *testing.F) {
	f.Add(defaultMappingYAML)
	f.Add([]byte("format: kcfm-endpoints\nversion: 1\nsources: {a: b}\ncore: {class: kl.core.Core, endpoints: [{endpoint: x.X, interface: i.I, methods: [M], source: a}]}\nsyscalls: [{names: [read], core: [x.X.M], source: a}]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		_, _ = ParseMapping("fuzz.yaml", src)
	})
}
