package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// The PSL we write parses, passes the checks, and grants exactly what the
// plan computed from the policy says: for the kernel one grant per
// (endpoint, method) the program's syscalls map to, one per VFS program or
// service, and nothing for anyone else.
func TestPSLGrantsExactlyThePlan(t *testing.T) {
	m := DefaultMapping()
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		for name, mk := range map[string]func(testing.TB, sysnum.Arch) *Policy{
			"hello": func(tb testing.TB, a sysnum.Arch) *Policy {
				return mustCompute(tb, helloSig(tb, a), Options{Entity: "hello.Hello"})
			},
			"netd": func(tb testing.TB, a sysnum.Arch) *Policy {
				return mustCompute(tb, netdSig(tb, a), Options{Entity: "netd"})
			},
		} {
			t.Run(string(arch)+"/"+name, func(t *testing.T) {
				p := mk(t, arch)
				var b bytes.Buffer
				if err := WritePSL(&b, p, PSLOptions{AuditDefault: true, Starter: "execution_manager.ExecMgrEntity"}); err != nil {
					t.Fatal(err)
				}
				f, err := ParsePSL(name+".psl", b.Bytes())
				if err != nil {
					t.Fatalf("%v\n%s", err, b.String())
				}
				if err := CheckPSL(f, m, p.Entity); err != nil {
					t.Fatalf("%v\n%s", err, b.String())
				}
				if f.AuditDefault != AuditProfileName(p.Entity) || f.AuditLevel != 0 {
					t.Errorf("audit default = %s %d", f.AuditDefault, f.AuditLevel)
				}
				pl := planIPC(p, m)
				var want []string
				want = append(want, "execute src=execution_manager.ExecMgrEntity dst="+p.Entity)
				servers := map[string]bool{}
				for _, c := range pl.core {
					want = append(want, "request src="+p.Entity+" dst=kl.core.Core endpoint="+c.Endpoint+" method="+c.Method)
					servers["kl.core.Core"] = true
				}
				for _, r := range pl.vfs {
					want = append(want, "request src="+p.Entity+" dst="+m.VFSClass(r))
					servers[m.VFSClass(r)] = true
				}
				for _, s := range pl.services {
					want = append(want, "request src="+p.Entity+" dst="+m.services[s].Class)
					servers[m.services[s].Class] = true
				}
				for s := range servers {
					want = append(want, "response src="+s+" dst="+p.Entity, "error src="+s+" dst="+p.Entity)
				}
				var got []string
				for _, g := range f.Grants() {
					got = append(got, g.String())
					if g.Audit == "" && g.Event != "response" && g.Event != "error" {
						t.Errorf("%s is not audited", g)
					}
				}
				sort.Strings(want)
				sort.Strings(got)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("grants:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		}
	}
}

// The network VFS and the kernel's task endpoint appear only for a program
// that needs them.
func TestPSLLeastPrivilege(t *testing.T) {
	hello := mustCompute(t, helloSig(t, sysnum.X86_64), Options{})
	netd := mustCompute(t, netdSig(t, sysnum.X86_64), Options{})
	var hb, nb bytes.Buffer
	if err := WritePSL(&hb, hello, PSLOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WritePSL(&nb, netd, PSLOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hb.String(), "kl.VfsNet") {
		t.Error("kcfm_hello makes no network syscall but is granted kl.VfsNet")
	}
	for _, want := range []string{"match dst=kl.VfsNet { grant () }", "match endpoint=thread.Thread method=Create { grant () }", "match endpoint=task.Task method=Create { grant () }"} {
		if !strings.Contains(nb.String(), want) {
			t.Errorf("netd's PSL lacks %q", want)
		}
	}
	// Other VFS programs are configurable.
	m, err := DefaultMapping().WithVFSClass("filesystem", "kl.VfsSdCardFs")
	if err != nil {
		t.Fatal(err)
	}
	hb.Reset()
	if err := WritePSL(&hb, hello, PSLOptions{Mapping: m}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hb.String(), "match dst=kl.VfsSdCardFs { grant () }") || strings.Contains(hb.String(), "kl.VfsRamFs") {
		t.Errorf("VFS class not replaced:\n%s", hb.String())
	}
	f, err := ParsePSL("sd.psl", hb.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPSL(f, m, hello.Entity); err != nil {
		t.Fatal(err)
	}
	if err := CheckPSL(f, DefaultMapping(), hello.Entity); err == nil {
		t.Error("kl.VfsSdCardFs passed the check against a mapping that does not name it")
	}
}

// testdata/psl holds hand-written PSL in the documented syntax (ok-*.psl
// must parse; bad-*.psl must fail) and the expected messages in
// errors.golden. The check-*.psl files parse but must fail CheckPSL.
func TestPSLParserGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "psl", "*.psl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no PSL test files: %v", err)
	}
	sort.Strings(files)
	var report strings.Builder
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(path)
		f, perr := ParsePSL(base, src)
		switch {
		case strings.HasPrefix(base, "ok-"):
			if perr != nil {
				t.Errorf("%s: %v", base, perr)
			}
		case strings.HasPrefix(base, "bad-"):
			if perr == nil {
				t.Errorf("%s parsed, want an error", base)
				continue
			}
			report.WriteString(perr.Error() + "\n")
		case strings.HasPrefix(base, "check-"):
			if perr != nil {
				t.Errorf("%s: %v", base, perr)
				continue
			}
			cerr := CheckPSL(f, DefaultMapping(), "client.Client")
			if cerr == nil {
				t.Errorf("%s passed CheckPSL, want an error", base)
				continue
			}
			report.WriteString(cerr.Error() + "\n")
		}
	}
	golden(t, "psl/errors.golden", []byte(report.String()))
}

func TestPSLParseStructure(t *testing.T) {
	src := `/* c */ execute: kl.core.Execute
use nk.base._ // base model
use EDL kl.core.Core
audit profile trace =
    { 0 : { base : { kss : ["denied"] } }
    , 1 : { base : { kss : ["granted", "denied"] }, session : { kss : [], omit : ["closed"] } } }
audit default = trace 1
request src = Client, dst = Server { audit trace match endpoint=ping.Ping, method=Ping { grant () } }
`
	f, err := ParsePSL("s.psl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if f.Execute != "kl.core.Execute" || len(f.Uses) != 2 || f.Uses[1].Path != "kl.core.Core" || !f.Uses[1].EDL {
		t.Errorf("declarations: %+v", f)
	}
	pr := f.Profiles[0]
	if pr.Name != "trace" || len(pr.Levels) != 2 || strings.Join(pr.Levels[1]["session"]["omit"], ",") != "closed" {
		t.Errorf("profile: %+v", pr)
	}
	g := f.Grants()
	if len(g) != 1 || g[0].String() != "request src=Client dst=Server endpoint=ping.Ping method=Ping" || g[0].Audit != "trace" {
		t.Errorf("grants: %v", g)
	}
}
