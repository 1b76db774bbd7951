package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const pslTemplate = `/* solution */
execute: kl.core.Execute
use EDL Einit
use EDL kl.kcfm.ExecutionManager
execute src=Einit dst=kl.kcfm.ExecutionManager { grant () }
execute src=kl.kcfm.ExecutionManager dst=@ENTITY@ {
    audit @ENTITY@_audit
    grant ()
}
  @PROGRAM@
`

func writeTmp(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPSLExpandAndCheck(t *testing.T) {
	dir := t.TempDir()
	frag, err := filepath.Abs("../../policy/testdata/kcfm_hello/x86_64/policy.psl")
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.ReadFile(frag)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := writeTmp(t, dir, "security.psl.in", pslTemplate)
	out := filepath.Join(dir, "security.psl")
	if err := runKcfm("psl", "-t", tmpl, "--fragment", "PROGRAM="+frag, "--var", "ENTITY=kcfm_hello", "-o", out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, strings.TrimSpace(string(fb))) || !strings.Contains(s, "dst=kcfm_hello {") || strings.Contains(s, "@") {
		t.Fatalf("expansion:\n%s", s)
	}
	if err := runKcfm("psl", "--check", out); err != nil {
		t.Fatal(err)
	}

	bad := []struct{ name, text, want string }{
		{"no execute interface", strings.Replace(pslTemplate, "execute: kl.core.Execute\n", "", 1), "no `execute: <interface>`"},
		{"undeclared class", strings.Replace(pslTemplate, "use EDL kl.kcfm.ExecutionManager\n", "", 1), "classes used without `use EDL`: kl.kcfm.ExecutionManager"},
		{"duplicate EDL", strings.Replace(pslTemplate, "use EDL Einit\n", "use EDL Einit\nuse EDL Einit\n", 1), "`use EDL Einit` again"},
		{"undeclared profile", strings.Replace(pslTemplate, "@ENTITY@_audit", "nobody_audit", 1), "audit profile nobody_audit is not declared"},
		{"unknown macro", pslTemplate + "@NOPE@\n", "unknown macro @NOPE@"},
		{"inline fragment", strings.Replace(pslTemplate, "  @PROGRAM@", "x @PROGRAM@", 1), "must stand alone"},
		{"syntax", pslTemplate + "request src= {\n", "PSL"},
	}
	for _, c := range bad {
		p := writeTmp(t, dir, "bad.psl.in", c.text)
		err := runKcfm("psl", "-t", p, "--fragment", "PROGRAM="+frag, "--var", "ENTITY=kcfm_hello", "-o", filepath.Join(dir, "bad.psl"))
		if err == nil || !strings.Contains(err.Error(), c.want) && !(c.want == "PSL" && strings.Contains(err.Error(), "bad.psl")) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "bad.psl")); err == nil {
			t.Errorf("%s: an output was written", c.name)
		}
	}
	// A fragment that is not one.
	notFrag := writeTmp(t, dir, "x.psl", "use nk.base._\n")
	if err := runKcfm("psl", "-t", tmpl, "--fragment", "PROGRAM="+notFrag, "--var", "ENTITY=e", "-o", out); err == nil || !strings.Contains(err.Error(), "not a PSL fragment") {
		t.Errorf("got %v", err)
	}
	// A fragment given but not used.
	if err := runKcfm("psl", "-t", tmpl, "--fragment", "PROGRAM="+frag, "--fragment", "OTHER="+frag, "--var", "ENTITY=e", "-o", out); err == nil || !strings.Contains(err.Error(), "@OTHER@ is not in the template") {
		t.Errorf("got %v", err)
	}
}
