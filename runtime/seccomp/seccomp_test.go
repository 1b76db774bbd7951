package seccomp

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if c := os.Getenv("KCFM_SECCOMP_TEST_CHILD"); c != "" {
		os.Exit(childMain(c))
	}
	os.Exit(m.Run())
}

func nrOf(t testing.TB, arch sysnum.Arch, name string) int {
	t.Helper()
	n, ok := sysnum.For(arch).Nr(name)
	if !ok {
		t.Fatalf("%s has no %s", arch, name)
	}
	return n
}

func TestActionStringParse(t *testing.T) {
	for _, a := range []Action{Allow, Notify, KillProcess, KillThread, Trap, Log, Errno(syscall.EPERM), Errno(4000), Trace(7)} {
		got, err := ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v; want %v", a.String(), got, err, a)
		}
	}
	if a, err := ParseAction("ERRNO:enosys"); err != nil || a != Errno(syscall.ENOSYS) {
		t.Errorf("errno:enosys = %v, %v", a, err)
	}
	for _, bad := range []string{"", "allow:1", "errno", "errno:EFOO", "trace:x", "permit"} {
		if _, err := ParseAction(bad); err == nil {
			t.Errorf("ParseAction(%q) succeeded", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	x := sysnum.X86_64
	good := Spec{Arch: x, Default: Allow, Rules: []Rule{{Nr: nrOf(t, x, "openat"), Action: Notify, Name: "openat"}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Spec{
		{Arch: "mips", Default: Allow},
		{Arch: x, Default: Action(0x12340000)},
		{Arch: x, Default: Allow, Rules: []Rule{{Nr: 9999, Action: Allow}}},
		{Arch: x, Default: Allow, Rules: []Rule{{Nr: MaxNr + 1, Action: Allow}}},
		{Arch: x, Default: Allow, Rules: []Rule{{Nr: 0, Action: Allow, Name: "write"}}},
		{Arch: x, Default: Allow, Rules: []Rule{{Nr: 0, Action: Allow, Conds: []Cond{{Arg: 6, Op: OpEq}}}}},
		{Arch: x, Default: Allow, Rules: []Rule{{Nr: 0, Action: Allow, Conds: []Cond{{Arg: 0, Op: 99}}}}},
		{Arch: x, Default: Allow, Rules: []Rule{{Nr: 0, Action: Allow, Conds: []Cond{{Arg: 0, Op: OpEq, Value: 1 << 40, Low32: true}}}}},
		{Arch: x, Default: Allow, Rules: []Rule{{Nr: 0, Action: Allow, Conds: []Cond{{Arg: 0, Op: OpMaskedEq, Mask: 1, Value: 2}}}}},
		{Arch: x, Default: Allow, Rules: []Rule{{Nr: 0, Action: Allow, Conds: []Cond{{Arg: 0, Op: OpEq, Mask: 1}}}}},
	}
	for i, s := range bad {
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("bad spec %d: Validate = %v", i, err)
		} else if _, err := s.Assemble(); err == nil {
			t.Errorf("bad spec %d assembled", i)
		}
	}
}

// interesting argument values around a condition's constants.
func edgeValues(r *rand.Rand, cs []Cond) []uint64 {
	vs := []uint64{0, 1, 0xffffffff, 1 << 32, ^uint64(0), r.Uint64()}
	for _, c := range cs {
		for _, v := range []uint64{c.Value, c.Mask, c.Value | c.Mask} {
			vs = append(vs, v, v+1, v-1, v^(1<<32), v^0xffffffff00000000, v&0xffffffff)
		}
	}
	return vs
}

func randCond(r *rand.Rand) Cond {
	c := Cond{Arg: r.Intn(6), Op: Op(1 + r.Intn(8)), Low32: r.Intn(2) == 0}
	pick := func() uint64 {
		switch r.Intn(4) {
		case 0:
			return uint64(r.Intn(4))
		case 1:
			return r.Uint64()
		case 2:
			return uint64(r.Uint32())
		}
		return uint64(r.Uint32()) << 32
	}
	c.Value = pick()
	if c.Op == OpMaskedEq || c.Op == OpMaskedNe {
		c.Mask = pick() | c.Value
		if r.Intn(3) == 0 {
			c.Value = 0
		}
	}
	if c.Low32 {
		c.Value &= 0xffffffff
		c.Mask &= 0xffffffff
	}
	return c
}

var actionsForTest = []Action{Allow, Notify, KillProcess, KillThread, Trap, Log, Errno(syscall.EPERM), Errno(syscall.ENOSYS), Trace(3)}

func randSpec(r *rand.Rand, arch sysnum.Arch, nrules int) Spec {
	tab := sysnum.For(arch)
	names := tab.Names()
	s := Spec{Arch: arch, Default: actionsForTest[r.Intn(len(actionsForTest))]}
	pool := make([]int, 1+r.Intn(12))
	for i := range pool {
		n, _ := tab.Nr(names[r.Intn(len(names))])
		pool[i] = n
	}
	for i := 0; i < nrules; i++ {
		rl := Rule{Nr: pool[r.Intn(len(pool))], Action: actionsForTest[r.Intn(len(actionsForTest))]}
		for j := r.Intn(4); j > 0; j-- {
			rl.Conds = append(rl.Conds, randCond(r))
		}
		s.Rules = append(s.Rules, rl)
	}
	return s
}

// checkAgainstDecide runs the program on many inputs and compares with the
// reference semantics.
func checkAgainstDecide(t *testing.T, s *Spec, p Program, r *rand.Rand) {
	t.Helper()
	aa := s.Arch.AuditArch()
	nrs := []int32{0, -1, MaxNr, MaxNr - 1, MaxNr + 5, int32(r.Uint32())}
	var conds []Cond
	for _, rl := range s.Rules {
		nrs = append(nrs, int32(rl.Nr), int32(rl.Nr)+1, int32(rl.Nr)-1)
		conds = append(conds, rl.Conds...)
	}
	vals := edgeValues(r, conds)
	for _, nr := range nrs {
		for k := 0; k < 40; k++ {
			d := Data{Nr: nr, Arch: aa, IP: r.Uint64()}
			if k == 0 {
				d.Arch = sysnum.AArch64.AuditArch() ^ sysnum.X86_64.AuditArch() ^ aa // the other arch
			}
			for i := range d.Args {
				d.Args[i] = vals[r.Intn(len(vals))]
			}
			got, err := p.Run(&d)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if want := s.Decide(&d); got != want {
				t.Fatalf("spec %+v\ndata %+v: program says %v, Decide says %v\n%s", s.Rules, d, got, want, p)
			}
		}
	}
}

func TestAssembleMatchesDecide(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 400; i++ {
		arch := sysnum.X86_64
		if i%2 == 1 {
			arch = sysnum.AArch64
		}
		s := randSpec(r, arch, r.Intn(20))
		p, err := s.Assemble()
		if err != nil {
			t.Fatalf("Assemble: %v", err)
		}
		if _, err := ParseProgram(p.Bytes()); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		checkAgainstDecide(t, &s, p, r)
	}
}

// A full allowlist (every syscall but a few, default kill) makes a program
// with jumps longer than 255 instructions: the trampolines must be right.
func TestLargeAllowlistAndTrampolines(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		tab := sysnum.For(arch)
		s := Spec{Arch: arch, Default: KillProcess}
		for i, name := range tab.Names() {
			nr, _ := tab.Nr(name)
			a := Allow
			if i%7 == 3 {
				continue // not allowed: default kill
			}
			if i%11 == 0 {
				s.Rules = append(s.Rules, Rule{Nr: nr, Action: Notify, Conds: []Cond{{Arg: i % 6, Op: OpMaskedNe, Mask: 1 << uint(i%40)}}})
				a = Errno(syscall.Errno(1 + i%100))
			}
			s.Rules = append(s.Rules, Rule{Nr: nr, Action: a})
		}
		// Many distinct conditional blocks push the default/kill far away.
		for i := 0; i < 200; i++ {
			s.Rules = append([]Rule{{Nr: nrOf(t, arch, "ioctl"), Action: Errno(syscall.Errno(1 + i)), Conds: []Cond{{Arg: 1, Op: OpEq, Value: uint64(i) << 20}}}}, s.Rules...)
		}
		p, err := s.Assemble()
		if err != nil {
			t.Fatal(err)
		}
		tramp := 0
		for _, in := range p {
			if in.Code == bpfJa {
				tramp++
			}
		}
		if tramp == 0 || len(p) < 300 {
			t.Fatalf("%s: expected a long program with trampolines, got %d insns, %d ja", arch, len(p), tramp)
		}
		checkAgainstDecide(t, &s, p, r)
		for nr := 0; nr <= tab.Max()+2; nr++ {
			d := Data{Nr: int32(nr), Arch: arch.AuditArch()}
			got, _ := p.Run(&d)
			if want := s.Decide(&d); got != want {
				t.Fatalf("%s nr %d: %v != %v", arch, nr, got, want)
			}
		}
		t.Logf("%s: %d rules -> %d instructions, %d trampolines", arch, len(s.Rules), len(p), tramp)
	}
}

func TestTooLarge(t *testing.T) {
	s := Spec{Arch: sysnum.X86_64, Default: Allow}
	for i := 0; i < 3000; i++ {
		s.Rules = append(s.Rules, Rule{Nr: 1, Action: Errno(1), Conds: []Cond{{Arg: 0, Op: OpEq, Value: uint64(i) << 33}}})
	}
	if _, err := s.Assemble(); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("want instruction-limit error, got %v", err)
	}
}

func TestProgramLayout(t *testing.T) {
	s := Spec{Arch: sysnum.X86_64, Default: Allow, Rules: []Rule{{Nr: nrOf(t, sysnum.X86_64, "getppid"), Action: KillProcess}}}
	p, err := s.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	// arch check first, then the x32/range check.
	if p[0].Code != bpfLdWAbs || p[0].K != offArch || p[1].Code != bpfJeqK || p[1].K != sysnum.X86_64.AuditArch() {
		t.Fatalf("program does not start with the arch check:\n%s", p)
	}
	if p[2].Code != bpfLdWAbs || p[2].K != offNr || p[3].Code != bpfJgeK || p[3].K != MaxNr {
		t.Fatalf("no x32 check after the arch check:\n%s", p)
	}
	d := Data{Nr: 1 | 0x40000000, Arch: sysnum.X86_64.AuditArch()} // x32 write
	if a, _ := p.Run(&d); a != KillProcess {
		t.Fatalf("x32 syscall: %v", a)
	}
}

func TestVerifyRejects(t *testing.T) {
	bad := []Program{
		nil,
		{{Code: bpfLdWAbs, K: 64}, {Code: bpfRetK}},
		{{Code: bpfLdWAbs, K: 2}, {Code: bpfRetK}},
		{{Code: bpfJa, K: 5}, {Code: bpfRetK}},
		{{Code: bpfJeqK, Jt: 3}, {Code: bpfRetK}},
		{{Code: 0x07}, {Code: bpfRetK}},
		{{Code: bpfLdWAbs}},
	}
	for i, p := range bad {
		if err := p.Verify(); !errors.Is(err, ErrBadProgram) {
			t.Errorf("program %d: Verify = %v", i, err)
		}
	}
}

func TestSensitive(t *testing.T) {
	for _, arch := range []sysnum.Arch{sysnum.X86_64, sysnum.AArch64} {
		rules, err := DefaultSensitive(arch)
		if err != nil {
			t.Fatal(err)
		}
		if len(rules) < 50 {
			t.Fatalf("%s: only %d sensitive rules", arch, len(rules))
		}
		openat := nrOf(t, arch, "openat")
		s := Spec{Arch: arch, Default: KillProcess, Rules: append(rules,
			Rule{Nr: openat, Action: Allow}, Rule{Nr: nrOf(t, arch, "mmap"), Action: Allow},
			Rule{Nr: nrOf(t, arch, "clone"), Action: Allow})}
		p, err := s.Assemble()
		if err != nil {
			t.Fatal(err)
		}
		check := func(name string, args [6]uint64, want Action) {
			t.Helper()
			d := Data{Nr: int32(nrOf(t, arch, name)), Arch: arch.AuditArch(), Args: args}
			if got, _ := p.Run(&d); got != want {
				t.Errorf("%s %s%v = %v, want %v", arch, name, args, got, want)
			}
		}
		check("openat", [6]uint64{0, 0, 0}, Allow)                   // O_RDONLY
		check("openat", [6]uint64{0, 0, 0x80000}, Allow)             // O_CLOEXEC
		check("openat", [6]uint64{0, 0, 0xffffffff00080000}, Allow)  // garbage in the upper half
		check("openat", [6]uint64{0, 0, oCreat | oWronly}, Notify)   // create
		check("openat", [6]uint64{0, 0, oRdwr}, Notify)              // read-write
		check("openat", [6]uint64{0, 0, oTrunc}, Notify)             // O_RDONLY|O_TRUNC truncates
		check("openat", [6]uint64{0, 0, 0x410000 | oWronly}, Notify) // O_TMPFILE
		check("mmap", [6]uint64{0, 4096, 3, 0x22}, Allow)            // rw
		check("mmap", [6]uint64{0, 4096, 5, 0x2}, Notify)            // r-x
		check("clone", [6]uint64{0x3d0f00}, Allow)                   // pthread_create flags
		check("clone", [6]uint64{0x1200011}, Notify)                 // fork flags
		check("clone3", [6]uint64{}, Errno(syscall.ENOSYS))          // falls back to clone
		check("execve", [6]uint64{}, Notify)                         // always
		check("getpid", [6]uint64{}, KillProcess)                    // not listed: default
		if arch == sysnum.X86_64 {
			check("open", [6]uint64{0, oAppend | oWronly}, Notify)
			check("open", [6]uint64{0, 0}, KillProcess) // no allow rule for open
		}
	}
	for _, bad := range [][]string{{"nosuchcall"}, {"openat:exec"}, {"openat:sometimes"}, {"execve=permit"}, {":write"}} {
		if _, err := ParseSensitive(sysnum.X86_64, bad); err == nil {
			t.Errorf("ParseSensitive(%q) succeeded", bad)
		}
	}
	r, err := ParseSensitive(sysnum.AArch64, []string{"open:write", "openat:write=errno:EACCES"})
	if err != nil || len(r) != 1 || r[0].Action != Errno(syscall.EACCES) {
		t.Fatalf("aarch64 open skipped / action override: %v %v", r, err)
	}
}

// ---- kernel tests: a child process installs a filter on itself ----

func runChild(t *testing.T, name string) (string, *os.ProcessState) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KCFM_SECCOMP_TEST_CHILD="+name)
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "SKIP:") {
		t.Skip(strings.TrimSpace(string(out)))
	}
	return string(out), cmd.ProcessState
}

func childMain(which string) int {
	runtime.LockOSThread()
	host := sysnum.Host()
	nr := func(n string) int { v, _ := sysnum.For(host).Nr(n); return v }
	switch which {
	case "errno":
		s := Spec{Arch: host, Default: Allow, Rules: []Rule{
			{Nr: nr("getpgid"), Action: Errno(syscall.ELOOP), Conds: []Cond{{Arg: 0, Op: OpEq, Value: 0x100003039}}},
			{Nr: nr("getpgid"), Action: Errno(syscall.EXDEV), Conds: []Cond{{Arg: 0, Op: OpEq, Value: 0x3039, Low32: true}}},
			{Nr: nr("getppid"), Action: Errno(syscall.EPERM)},
		}}
		p, err := s.Assemble()
		if err != nil {
			fmt.Println("assemble:", err)
			return 1
		}
		if _, _, err := p.Install(FlagTsync); err != nil {
			fmt.Println("install:", err)
			return 1
		}
		call := func(n int, a uintptr) string {
			r, _, e := syscall.RawSyscall(uintptr(n), a, 0, 0)
			if e != 0 {
				return unix.ErrnoName(e)
			}
			return fmt.Sprint(r == uintptr(syscall.Getpgrp()))
		}
		fmt.Println(call(nr("getpgid"), 0x100003039), call(nr("getpgid"), 0x200003039), call(nr("getpgid"), 0x3039), call(nr("getpgid"), 0), call(nr("getppid"), 0))
		return 0
	case "kill":
		s := Spec{Arch: host, Default: Allow, Rules: []Rule{{Nr: nr("getppid"), Action: KillProcess}}}
		p, _ := s.Assemble()
		if _, _, err := p.Install(FlagTsync); err != nil {
			fmt.Println("install:", err)
			return 1
		}
		syscall.RawSyscall(uintptr(nr("getppid")), 0, 0, 0)
		fmt.Println("survived")
		return 0
	case "notify", "notify-direct":
		if !ActionAvailable(Notify) {
			fmt.Println("SKIP: kernel has no SECCOMP_RET_USER_NOTIF")
			return 0
		}
		ppidBefore := os.Getppid()
		s := Spec{Arch: host, Default: Allow, Rules: []Rule{{Nr: nr("getppid"), Action: Notify}}}
		p, _ := s.Assemble()
		fd, used, err := p.Install(FlagNewListener | FlagWaitKillableRecv)
		if err != nil {
			fmt.Println("install:", err)
			return 1
		}
		l, err := NewListenerWith(fd, ListenerOptions{Direct: which == "notify-direct"})
		if err != nil {
			fmt.Println(err)
			return 1
		}
		me := unix.Gettid()
		ppid := ppidBefore
		done := make(chan string)
		go func() { // another thread, not filtered
			var out []string
			for i := 0; i < 3; i++ {
				var n Notif
				if err := l.Recv(&n); err != nil {
					done <- "recv: " + err.Error()
					return
				}
				if int(n.Pid) != me || int(n.Data.Nr) != nr("getppid") || n.Data.Arch != host.AuditArch() {
					done <- fmt.Sprintf("bad notif %+v (tid %d)", n, me)
					return
				}
				if !l.IDValid(n.ID) {
					done <- "id not valid"
					return
				}
				resp := []Response{Continue(), Fail(syscall.EACCES), Return(4242)}[i]
				if err := l.Respond(n.ID, resp); err != nil {
					done <- "respond: " + err.Error()
					return
				}
				out = append(out, "ok")
			}
			done <- strings.Join(out, ",")
		}()
		var res []string
		for i := 0; i < 3; i++ {
			r, _, e := syscall.Syscall(uintptr(nr("getppid")), 0, 0, 0)
			switch {
			case e != 0:
				res = append(res, unix.ErrnoName(e))
			case int(r) == ppid:
				res = append(res, "ppid")
			default:
				res = append(res, fmt.Sprint(r))
			}
		}
		fmt.Println(strings.Join(res, " "), <-done, "killable:", used&FlagWaitKillableRecv != 0, "sync:", l.SyncWakeUp())
		// Close and a blocked Recv.
		rc := make(chan error)
		go func() { var n Notif; rc <- l.Recv(&n) }()
		time.Sleep(20 * time.Millisecond) // let it block
		l.Close()
		if l.Polls() {
			fmt.Println("after close:", <-rc) // woken at once
		} else {
			// direct mode: the next notification ends the Recv, and the
			// closed listener fails the waiting call with ENOSYS
			_, _, e := syscall.Syscall(uintptr(nr("getppid")), 0, 0, 0)
			fmt.Println("after close:", <-rc, unix.ErrnoName(e))
		}
		fmt.Println("polls:", l.Polls())
		return 0
	}
	fmt.Println("unknown child", which)
	return 2
}

func TestKernelErrnoAndArgs(t *testing.T) {
	out, st := runChild(t, "errno")
	if !st.Success() || strings.TrimSpace(out) != "ELOOP EXDEV EXDEV true EPERM" {
		t.Fatalf("child: %v\n%s", st, out)
	}
}

func TestKernelKillProcess(t *testing.T) {
	out, st := runChild(t, "kill")
	ws := st.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGSYS || strings.Contains(out, "survived") {
		t.Fatalf("want death by SIGSYS, got %v\n%s", st, out)
	}
}

func TestKernelNotify(t *testing.T) {
	for _, mode := range []string{"notify", "notify-direct"} {
		out, st := runChild(t, mode)
		if !st.Success() || !strings.HasPrefix(out, "ppid EACCES 4242 ok,ok,ok killable:") || !strings.Contains(out, "after close: "+ErrClosed.Error()) {
			t.Fatalf("%s child: %v\n%s", mode, st, out)
		}
		if strings.Contains(out, "polls: false") && !strings.Contains(out, ErrClosed.Error()+" ENOSYS") {
			t.Fatalf("direct mode: the call pending at Close did not fail with ENOSYS\n%s", out)
		}
		t.Log(strings.ReplaceAll(strings.TrimSpace(out), "\n", "; "))
	}
}
