package policy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// netdUnits is a small server: a thread per connection, a SIGHUP handler
// that re-reads its config, a helper spawned with fork+exec.
var netdUnits = []unit{{
	file: "netd.c",
	src: `
on_hup: ext open; ext read; ext close; ret
worker: loop { ext recv; ext send }; ext close; ret
spawn: ext fork; ext execv; noret _exit
main: ext signal; ext socket; ext bind; ext listen; loop { ext accept4; ext pthread_create } ; call spawn | ext socket; ext connect; ret
`,
	callbacks: map[string][]string{"signal": {"on_hup"}, "pthread_create": {"worker"}},
}}

var netdLibc = map[string][]string{
	"open":           {"openat", "open"},
	"read":           {"read"},
	"close":          {"close"},
	"recv":           {"recvfrom"},
	"send":           {"sendto"},
	"fork":           {"clone", "fork"},
	"execv":          {"execve"},
	"_exit":          {"exit_group"},
	"signal":         {"rt_sigaction"},
	"socket":         {"socket"},
	"bind":           {"bind"},
	"listen":         {"listen"},
	"accept4":        {"accept4"},
	"connect":        {"connect"},
	"pthread_create": {"clone3", "clone", "mmap", "mprotect", "rt_sigprocmask"},
}

func netdSig(t testing.TB, arch sysnum.Arch) *model.Signature {
	return linkSig(t, arch, "netd", netdUnits, netdLibc)
}

// decodeSpec decodes a profile with the runtime-spec types, rejecting
// fields the spec does not define.
func decodeSpec(t *testing.T, b []byte) *specs.LinuxSeccomp {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s specs.LinuxSeccomp
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("runtime-spec LinuxSeccomp does not decode the profile: %v\n%s", err, b)
	}
	return &s
}

func wantRet(p *Policy, nr int, args [6]uint64, listener bool) uint32 {
	a, errno := p.Decide(nr, args)
	switch a {
	case ActAllow:
		return retAllow
	case ActNotify:
		if listener {
			return retErrno | testNotifyErrno
		}
		return retLog
	case ActKill:
		return retKillProcess
	case ActErrno:
		return retErrno | uint32(errno)
	case ActLog:
		return retLog
	}
	return 0
}

// argPatterns are the argument vectors worth trying for a policy: zero,
// every bit of every condition mask, whole masks, all ones.
func argPatterns(p *Policy) [][6]uint64 {
	out := [][6]uint64{{}, {^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}}
	for _, r := range p.Rules {
		if r.Cond == nil {
			continue
		}
		vals := append(bitsOf(r.Cond.Mask), r.Cond.Mask, ^r.Cond.Mask, 1<<40|r.Cond.Mask)
		for _, v := range vals {
			var a [6]uint64
			a[r.Cond.Arg] = v
			out = append(out, a)
		}
	}
	return out
}

func TestOCIProfileMatchesPolicy(t *testing.T) {
	cases := []struct {
		name string
		sig  func(testing.TB, sysnum.Arch) *model.Signature
		opt  Options
	}{
		{"hello", helloSig, Options{}},
		{"netd", netdSig, Options{}},
		{"netd-errno", netdSig, Options{DefaultAction: ActErrno, Errno: 13}},
		{"netd-full", netdSig, Options{Mode: ModeFull}},
		{"netd-adjusted", netdSig, Options{Sensitive: append(without(testSensitive, "accept4"),
			SensitiveRule{Syscall: "read"}, SensitiveRule{Syscall: "close", Action: ActKill},
			SensitiveRule{Syscall: "recvfrom", Action: ActLog}, SensitiveRule{Syscall: "sendto", Action: ActErrno, Errno: 5})}},
	}
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		for _, c := range cases {
			t.Run(string(arch)+"/"+c.name, func(t *testing.T) {
				p := mustCompute(t, c.sig(t, arch), c.opt)
				for _, listener := range []string{"", "/run/kcfm/notify.sock"} {
					var b bytes.Buffer
					if err := WriteOCI(&b, p, OCIOptions{ListenerPath: listener}); err != nil {
						t.Fatal(err)
					}
					s := decodeSpec(t, b.Bytes())
					if s.ListenerPath != listener {
						t.Errorf("listenerPath %q, want %q", s.ListenerPath, listener)
					}
					// Round trip through the runtime-spec types.
					again, err := json.Marshal(s)
					if err != nil {
						t.Fatal(err)
					}
					var a, z ociProfile
					if err := json.Unmarshal(b.Bytes(), &a); err != nil {
						t.Fatal(err)
					}
					if err := json.Unmarshal(again, &z); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(a, z) {
						t.Fatalf("profile changed in a runtime-spec round trip:\n%s\n%s", b.Bytes(), again)
					}
					// Every syscall × argument pattern: the compiled profile
					// answers what Policy.Action says.
					prog, err := compileOCI(s, arch)
					if err != nil {
						t.Fatal(err)
					}
					tab := sysnum.For(arch)
					for nr := 0; nr <= tab.Max()+8; nr++ {
						for _, args := range argPatterns(p) {
							got, err := runBPF(prog, arch, nr, args)
							if err != nil {
								t.Fatal(err)
							}
							want := wantRet(p, nr, args, listener != "")
							if got != want {
								t.Fatalf("syscall %s (%d) args %x: filter returns %#x, policy says %s (%#x)", p.Name(nr), nr, args, got, p.Action(nr, args), want)
							}
						}
					}
				}
			})
		}
	}
}

func TestOCIConditionsSplitIntoBits(t *testing.T) {
	p := mustCompute(t, netdSig(t, sysnum.X86_64), Options{})
	var b bytes.Buffer
	if err := WriteOCI(&b, p, OCIOptions{ListenerPath: "/run/l"}); err != nil {
		t.Fatal(err)
	}
	s := decodeSpec(t, b.Bytes())
	var openatRules, cloneRules, clone3Rules []specs.LinuxSyscall
	for _, sc := range s.Syscalls {
		for _, n := range sc.Names {
			switch n {
			case "openat":
				openatRules = append(openatRules, sc)
			case "clone":
				cloneRules = append(cloneRules, sc)
			case "clone3":
				clone3Rules = append(clone3Rules, sc)
			}
		}
	}
	// openat: allow when no write bit, notify per bit of the six write flags.
	if len(openatRules) != 7 || openatRules[0].Action != specs.ActAllow || openatRules[0].Args[0].Value != 0x400643 || openatRules[0].Args[0].ValueTwo != 0 {
		t.Fatalf("openat rules: %+v", openatRules)
	}
	for _, r := range openatRules[1:] {
		if r.Action != specs.ActNotify || r.Args[0].Op != specs.OpMaskedEqual || r.Args[0].Value != r.Args[0].ValueTwo || r.Args[0].Index != 2 {
			t.Errorf("openat notify rule %+v", r)
		}
	}
	// clone: notify when CLONE_THREAD is clear, allow when it is set.
	if len(cloneRules) != 2 || cloneRules[0].Action != specs.ActNotify || cloneRules[0].Args[0].Value != 0x10000 ||
		cloneRules[1].Action != specs.ActAllow || cloneRules[1].Args[0].ValueTwo != 0x10000 {
		t.Fatalf("clone rules: %+v", cloneRules)
	}
	// clone3: refused with ENOSYS.
	if len(clone3Rules) != 1 || clone3Rules[0].Action != specs.ActErrno || clone3Rules[0].ErrnoRet == nil || *clone3Rules[0].ErrnoRet != 38 {
		t.Fatalf("clone3 rules: %+v", clone3Rules)
	}
	if !strings.Contains(b.String(), `"SCMP_ARCH_X86_64"`) || s.DefaultAction != specs.ActKillProcess {
		t.Errorf("architecture/default action: %+v", s)
	}
}
