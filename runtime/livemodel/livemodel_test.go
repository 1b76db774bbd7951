package livemodel

import (
	"path/filepath"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/internal/testgraph"
	"github.com/kcfm-linux/kcfm/runtime/checker"
	"github.com/kcfm-linux/kcfm/runtime/monitor"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"github.com/kcfm-linux/kcfm/tools/link"
)

type sums map[string][]int

func (s sums) Lookup(fn string) ([]int, bool) { v, ok := s[fn]; return v, ok }
func (s sums) All() []int                     { return nil }
func (s sums) Describe() string               { return "test libc" }

func writeSig(t *testing.T, src string, s sums) string {
	t.Helper()
	g := testgraph.MustBuild(t, src)
	sig, _, err := link.Link([]*model.TUGraph{g}, nil, link.Options{Arch: sysnum.X86_64, Summaries: s})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.kcfm")
	if err := model.WriteSignature(path, sig); err != nil {
		t.Fatal(err)
	}
	return path
}

func decide(spec *seccomp.Spec, nr int, args ...uint64) seccomp.Action {
	d := &seccomp.Data{Nr: int32(nr), Arch: sysnum.X86_64.AuditArch()}
	copy(d.Args[:], args)
	return spec.Decide(d)
}

// The launcher's filter comes from the signature: never-made syscalls are
// killed in the kernel, sensitive ones the program makes are notified.
func TestSignatureFilter(t *testing.T) {
	const (
		nrSocket = 41
		nrPtrace = 101
		nrWrite  = 1
		nrOpenat = 257
		nrExecve = 59
	)
	path := writeSig(t, "main: ext socket; ext write; ext open; ret", sums{"socket": {nrSocket}, "write": {nrWrite}, "open": {nrOpenat}})
	base, err := monitor.FilterSpec("", sysnum.X86_64, monitor.ModeDefault, seccomp.DefaultSensitiveList)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := SignatureFilter(path, base, monitor.ModeDefault)
	if err != nil {
		t.Fatal(err)
	}
	if got := decide(spec, nrSocket); got.Kind() != seccomp.Notify {
		t.Errorf("socket (sensitive, made by the program): %v, want notify", got)
	}
	if got := decide(spec, nrWrite); got != seccomp.Allow {
		t.Errorf("write: %v, want allow", got)
	}
	if got := decide(spec, nrPtrace); got.Kind() != seccomp.KillProcess {
		t.Errorf("ptrace (never made): %v, want kill", got)
	}
	if got := decide(spec, nrOpenat, 0, 0, 0); got != seccomp.Allow {
		t.Errorf("openat read-only: %v, want allow", got)
	}
	if got := decide(spec, nrOpenat, 0, 0, 0x41); got.Kind() != seccomp.Notify {
		t.Errorf("openat O_CREAT: %v, want notify", got)
	}
	obs := ObservationOf(spec)
	if obs(nrSocket) != checker.Reported || obs(nrWrite) != checker.Silent || obs(nrOpenat) != checker.Sometimes {
		t.Errorf("observation: socket %v write %v openat %v", obs(nrSocket), obs(nrWrite), obs(nrOpenat))
	}
	// A program that can exec gets notify for syscalls outside its list.
	path = writeSig(t, "main: ext execv; ret", sums{"execv": {nrExecve}})
	spec, err = SignatureFilter(path, base, monitor.ModeDefault)
	if err != nil {
		t.Fatal(err)
	}
	if got := decide(spec, nrPtrace); got.Kind() != seccomp.Notify {
		t.Errorf("exec-capable program, ptrace: %v, want notify", got)
	}
}

// A raw syscall that is notified only for some arguments: when it is not
// reported, the model moves on silently; when it is, it must fit.
func TestSometimesObservedSyscall(t *testing.T) {
	const nrOpenat = 257
	g := testgraph.MustBuild(t, "main: sys 257; call f; ret\nf: ret")
	sig, _, err := link.Link([]*model.TUGraph{g}, nil, link.Options{Arch: sysnum.X86_64, Summaries: sums{}})
	if err != nil {
		t.Fatal(err)
	}
	m := checker.NewObserving(sig, func(nr int) checker.Observation {
		if nr == nrOpenat {
			return checker.Sometimes
		}
		return checker.Silent
	})
	ids := map[string]int32{}
	for i, f := range sig.Functions {
		ids[f.Name] = int32(i)
	}
	// Read-only openat not reported: call f must still be accepted.
	p := m.NewProcess(1)
	if a := p.Enter(1, ids["main"]); a != nil {
		t.Fatal(a)
	}
	if a := p.Enter(1, ids["f"]); a != nil {
		t.Fatalf("unreported openat blocked the model: %+v", a)
	}
	// Reported openat after f: not possible there.
	p.Exit(1, ids["f"])
	if a := p.Syscall(1, nrOpenat); a == nil {
		t.Fatal("openat after f accepted")
	}
}
