package launcher

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/librt/ctest"
	"github.com/kcfm-linux/kcfm/runtime/ring"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	MaybeRunShim()
	if os.Getenv("KCFM_LAUNCHER_TEST_SUPERVISOR") != "" {
		os.Exit(supervisorMain())
	}
	os.Exit(m.Run())
}

// sys runs the commands in argv and prints one line per command.
const progSys = `
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void report(const char *what, long r) {
	if (r < 0) printf("%s err %s\n", what, strerrorname_np(errno));
	else printf("%s ok %ld\n", what, r);
	fflush(stdout);
}
static long nloops;
static void *thread_main(void *arg) {
	printf("tid %ld\n", (long)syscall(SYS_gettid)); fflush(stdout);
	for (long i = 0; i < nloops; i++) syscall(SYS_getppid);
	return arg;
}
int main(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		const char *c = argv[i];
		if (!strcmp(c, "getppid")) report("getppid", syscall(SYS_getppid));
		else if (!strcmp(c, "getpid")) report("getpid", syscall(SYS_getpid));
		else if (!strcmp(c, "creat")) report("creat", open(argv[++i], O_CREAT | O_WRONLY, 0644));
		else if (!strcmp(c, "read")) report("read", open(argv[++i], O_RDONLY));
		else if (!strcmp(c, "exec")) { char *a[] = {argv[i + 1], NULL}; report("exec", execv(argv[i + 1], a)); i++; }
		else if (!strcmp(c, "sleep")) { usleep(atoi(argv[++i]) * 1000); report("sleep", 0); }
		else if (!strcmp(c, "forksleep")) { if (fork() == 0) { pause(); _exit(0); } report("forksleep", 0); }
		else if (!strcmp(c, "threads")) {
			nloops = atol(argv[++i]);
			printf("tid %ld\n", (long)syscall(SYS_gettid)); fflush(stdout);
			pthread_t t[2];
			for (int k = 0; k < 2; k++) pthread_create(&t[k], NULL, thread_main, NULL);
			for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
			pid_t p = fork();
			if (p == 0) { thread_main(NULL); _exit(0); }
			int st; waitpid(p, &st, 0);
			for (long k = 0; k < nloops; k++) syscall(SYS_getppid);
			report("threads", 0);
		} else { printf("unknown command %s\n", c); return 2; }
	}
	return 0;
}
`

var (
	sysOnce sync.Once
	sysBin  string
	sysErr  error
	sysDir  string
)

func buildSys(t *testing.T) string {
	t.Helper()
	sysOnce.Do(func() {
		sysDir, sysErr = os.MkdirTemp("", "kcfm-launcher-test")
		if sysErr == nil {
			sysBin, sysErr = ctest.BuildIn(sysDir, "sys", progSys, ctest.Options{})
		}
	})
	if sysErr != nil {
		t.Fatal(sysErr)
	}
	return sysBin
}

func nr(t testing.TB, name string) int {
	n, ok := sysnum.For(sysnum.Host()).Nr(name)
	if !ok {
		t.Fatalf("no syscall %s", name)
	}
	return n
}

func rule(t testing.TB, name string, a seccomp.Action, conds ...seccomp.Cond) seccomp.Rule {
	r, err := seccomp.RuleFor(sysnum.Host(), name, a, conds...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type result struct {
	out   string
	state *os.ProcessState
}

// run starts the program and answers notifications with answer (nil:
// Continue) until it exits.
func run(t *testing.T, cfg Config, answer func(*seccomp.Notif) seccomp.Response) (result, []seccomp.Notif) {
	t.Helper()
	var out bytes.Buffer
	cfg.Stdout, cfg.Stderr = &out, &out
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var notifs []seccomp.Notif
	done := make(chan struct{})
	if p.Listener != nil {
		go func() {
			defer close(done)
			for {
				var n seccomp.Notif
				if err := p.Listener.Recv(&n); err != nil {
					if !errors.Is(err, seccomp.ErrNoTasks) && !errors.Is(err, seccomp.ErrClosed) {
						t.Errorf("Recv: %v", err)
					}
					return
				}
				notifs = append(notifs, n)
				r := seccomp.Continue()
				if answer != nil {
					r = answer(&n)
				}
				if err := p.Listener.Respond(n.ID, r); err != nil && !errors.Is(err, seccomp.ErrNotifGone) {
					t.Errorf("Respond: %v", err)
				}
			}
		}()
	} else {
		close(done)
	}
	timer := time.AfterFunc(time.Minute, func() { p.Kill() })
	st, err := p.Wait()
	timer.Stop()
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if p.Listener != nil {
		p.Listener.Close()
	}
	return result{out.String(), st}, notifs
}

func signaled(st *os.ProcessState) syscall.Signal {
	ws := st.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

// allowAllBut is a strict allowlist: every system call except the named
// ones is allowed, the rest (and unknown numbers) kill the process.
func allowAllBut(t *testing.T, except ...string) *seccomp.Spec {
	tab := sysnum.For(sysnum.Host())
	s := &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.KillProcess}
	skip := map[string]bool{}
	for _, e := range except {
		skip[e] = true
	}
	for _, n := range tab.Names() {
		if !skip[n] {
			s.Rules = append(s.Rules, rule(t, n, seccomp.Allow))
		}
	}
	return s
}

func TestAllowedAndKilledInKernel(t *testing.T) {
	bin := buildSys(t)
	spec := allowAllBut(t, "getppid", "execve", "execveat")
	r, notifs := run(t, Config{Path: bin, Args: []string{"sys", "getpid"}, Spec: spec}, nil)
	if !r.state.Success() || !strings.Contains(r.out, "getpid ok") || len(notifs) != 0 {
		t.Fatalf("allowed run: %v\n%s", r.state, r.out)
	}
	r, _ = run(t, Config{Path: bin, Args: []string{"sys", "getpid", "getppid", "getpid"}, Spec: spec}, nil)
	if signaled(r.state) != syscall.SIGSYS || strings.Contains(r.out, "getppid") {
		t.Fatalf("never-allowed getppid: %v\n%s", r.state, r.out)
	}
}

func TestShimExecPassesButProgramExecKilled(t *testing.T) {
	bin := buildSys(t)
	spec := &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow, Rules: []seccomp.Rule{
		rule(t, "execve", seccomp.KillProcess), rule(t, "execveat", seccomp.KillProcess)}}
	r, _ := run(t, Config{Path: bin, Args: []string{"sys", "getpid"}, Spec: spec}, nil)
	if !r.state.Success() {
		t.Fatalf("the shim's own execve did not pass: %v\n%s", r.state, r.out)
	}
	r, _ = run(t, Config{Path: bin, Args: []string{"sys", "exec", "/bin/true"}, Spec: spec}, nil)
	if signaled(r.state) != syscall.SIGSYS {
		t.Fatalf("the program's execve was not killed: %v\n%s", r.state, r.out)
	}
}

func TestNotifyAllowDeny(t *testing.T) {
	bin := buildSys(t)
	spec := &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow, Rules: []seccomp.Rule{rule(t, "getppid", seccomp.Notify)}}
	i := 0
	r, notifs := run(t, Config{Path: bin, Args: []string{"sys", "getppid", "getppid", "getppid"}, Spec: spec}, func(n *seccomp.Notif) seccomp.Response {
		i++
		return []seccomp.Response{seccomp.Continue(), seccomp.Fail(syscall.EPERM), seccomp.Return(42)}[(i-1)%3]
	})
	want := fmt.Sprintf("getppid ok %d\ngetppid err EPERM\ngetppid ok 42\n", os.Getpid())
	if !r.state.Success() || r.out != want {
		t.Fatalf("got %v\n%s\nwant\n%s", r.state, r.out, want)
	}
	if len(notifs) != 3 || int(notifs[0].Data.Nr) != nr(t, "getppid") {
		t.Fatalf("notifications: %+v", notifs)
	}
}

func TestDeniedCreateLeavesNoFile(t *testing.T) {
	bin := buildSys(t)
	sens, err := seccomp.DefaultSensitive(sysnum.Host())
	if err != nil {
		t.Fatal(err)
	}
	spec := &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow, Rules: sens}
	dir := t.TempDir()
	target := filepath.Join(dir, "created")
	existing := filepath.Join(dir, "existing")
	os.WriteFile(existing, []byte("x"), 0o644)
	openat := nr(t, "openat")
	var creates, reads int
	r, notifs := run(t, Config{Path: bin, Args: []string{"sys", "read", existing, "creat", target}, Spec: spec}, func(n *seccomp.Notif) seccomp.Response {
		if int(n.Data.Nr) == openat {
			if n.Data.Args[2]&unix.O_CREAT != 0 {
				creates++
				return seccomp.Fail(syscall.EACCES)
			}
			reads++
		}
		return seccomp.Continue()
	})
	if !r.state.Success() || !strings.Contains(r.out, "read ok") || !strings.Contains(r.out, "creat err EACCES") {
		t.Fatalf("%v\n%s", r.state, r.out)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("denied openat(O_CREAT) left a file: %v", err)
	}
	if creates != 1 || reads != 0 {
		t.Fatalf("openat notifications: %d creates, %d read-only (want 1, 0: read-only opens stay in the kernel); all: %d", creates, reads, len(notifs))
	}
}

func TestThreadsAndForkOnOneListener(t *testing.T) {
	bin := buildSys(t)
	spec := &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow, Rules: []seccomp.Rule{rule(t, "getppid", seccomp.Notify)}}
	const k = 50
	r, notifs := run(t, Config{Path: bin, Args: []string{"sys", "threads", strconv.Itoa(k)}, Spec: spec}, nil)
	if !r.state.Success() {
		t.Fatalf("%v\n%s", r.state, r.out)
	}
	want := map[int]int{}
	for _, m := range regexp.MustCompile(`tid (\d+)`).FindAllStringSubmatch(r.out, -1) {
		tid, _ := strconv.Atoi(m[1])
		want[tid] = k
	}
	got := map[int]int{}
	for _, n := range notifs {
		got[int(n.Pid)]++
	}
	if len(want) != 4 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notifications per task %v, want %v (main, 2 threads, forked child)\n%s", got, want, r.out)
	}
}

func TestBadProgram(t *testing.T) {
	spec := &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow}
	_, err := Start(Config{Path: "/nonexistent/prog", Spec: spec})
	if !errors.Is(err, ErrShim) || !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "execve") {
		t.Fatalf("Start of a missing program: %v", err)
	}
	if _, err := Start(Config{Path: "no-such-program-anywhere"}); err == nil {
		t.Fatal("PATH lookup of a missing program succeeded")
	}
	other := sysnum.AArch64
	if sysnum.Host() == other {
		other = sysnum.X86_64
	}
	if _, err := Start(Config{Path: "/bin/true", Spec: &seccomp.Spec{Arch: other, Default: seccomp.Allow}}); err == nil {
		t.Fatal("a filter for the other architecture was accepted")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestKillProcessGroup(t *testing.T) {
	bin := buildSys(t)
	var out lockedBuffer
	p, err := Start(Config{Path: bin, Args: []string{"sys", "forksleep", "sleep", "60000"}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "forksleep ok") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	pgid, _ := syscall.Getpgid(p.Pid)
	if pgid != p.Pid {
		t.Fatalf("program pgid %d, pid %d", pgid, p.Pid)
	}
	p.Kill()
	st, _ := p.Wait()
	if signaled(st) != syscall.SIGKILL {
		t.Fatalf("status %v", st)
	}
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-pgid, 0); err == syscall.ESRCH {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process group %d still alive after Kill", pgid)
}

// supervisorMain (a test helper process) starts a long program and waits
// to be killed: the program must die with it (PR_SET_PDEATHSIG).
func supervisorMain() int {
	p, err := Start(Config{Path: os.Getenv("KCFM_LAUNCHER_TEST_PROG"), Args: []string{"sys", "sleep", "60000"},
		Spec: &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow}})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("pid", p.Pid)
	select {}
}

func TestProgramDiesWithSupervisor(t *testing.T) {
	bin := buildSys(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KCFM_LAUNCHER_TEST_SUPERVISOR=1", "KCFM_LAUNCHER_TEST_PROG="+bin)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	var pid int
	if _, err := fmt.Sscanf(line, "pid %d", &pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("supervisor said %q", line)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("program %d not running: %v", pid, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("program %d outlived its supervisor", pid)
}

// ---- function events through the launcher ----

const progEvents = `
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#define NOINLINE __attribute__((noinline))
NOINLINE int marker(int x) { return x + 1; }
NOINLINE int leaf(int x) { return x * 3; }
NOINLINE long sensitive(void) { marker(1); return syscall(SYS_getppid); }
NOINLINE void *worker(void *arg) { long n = (long)arg; int s = 0; for (long i = 0; i < n; i++) s += leaf((int)i); sensitive(); return (void *)(long)s; }
int main(int argc, char **argv) {
	long n = atol(argv[1]);
	printf("fn marker=%p leaf=%p sensitive=%p worker=%p main=%p\n", (void *)marker, (void *)leaf, (void *)sensitive, (void *)worker, (void *)main);
	fflush(stdout);
	sensitive();
	pthread_t t[2];
	for (int k = 0; k < 2; k++) pthread_create(&t[k], NULL, worker, (void *)n);
	for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
	pid_t p = fork();
	if (p == 0) { worker((void *)n); _exit(0); }
	int st;
	waitpid(p, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
`

func symbols(t *testing.T, out string) map[uint64]string {
	m := map[uint64]string{}
	for _, g := range regexp.MustCompile(`(\w+)=0x([0-9a-f]+)`).FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseUint(g[2], 16, 64)
		m[v] = g[1]
	}
	if len(m) == 0 {
		t.Fatalf("no symbols in output:\n%s", out)
	}
	return m
}

// At each notified getppid the supervisor drains the calling thread's ring
// first: the last event must be the return from marker(), which the
// program called just before the system call. Concurrently a follower
// drains everything else; per thread the events must be complete and in
// order.
func TestFunctionEventsDrainBeforeAnswer(t *testing.T) {
	bin := ctest.Build(t, "events", progEvents, ctest.Options{Instrument: true})
	arena, err := ring.NewArena(8, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer arena.Close()
	spec := &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow, Rules: []seccomp.Rule{rule(t, "getppid", seccomp.Notify)}}
	const n = 5000 // more events per thread than a ring holds
	var mu sync.Mutex
	streams := map[uint64][]ring.Record{}
	origin := map[uint64]ring.SlotInfo{}
	collect := func(si ring.SlotInfo, r ring.Record) error {
		mu.Lock()
		streams[si.ClaimSeq] = append(streams[si.ClaimSeq], r)
		origin[si.ClaimSeq] = si
		mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	follow := make(chan error)
	go func() { follow <- arena.Follow(ctx, ring.FollowOptions{}, collect) }()
	var lastBefore []ring.Record
	r, notifs := run(t, Config{Path: bin, Args: []string{"events", strconv.Itoa(n)}, Spec: spec, Arena: arena}, func(nf *seccomp.Notif) seccomp.Response {
		var last ring.Record
		sl := arena.Lookup(int(nf.Pid))
		for _, si := range sl {
			if _, err := arena.DrainSlot(si.Index, func(rec ring.Record) error { last = rec; return collect(si, rec) }); err != nil {
				t.Errorf("drain: %v", err)
			}
		}
		mu.Lock()
		// the stream may have been drained by the follower already: take
		// the last record of the thread's newest stream
		if len(sl) > 0 {
			s := streams[sl[len(sl)-1].ClaimSeq]
			last = s[len(s)-1]
		}
		mu.Unlock()
		lastBefore = append(lastBefore, last)
		return seccomp.Continue()
	})
	cancel()
	if err := <-follow; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	for {
		if k, _ := arena.DrainAll(collect); k == 0 {
			break
		}
	}
	if !r.state.Success() {
		t.Fatalf("%v\n%s", r.state, r.out)
	}
	syms := symbols(t, r.out)
	if len(notifs) != 4 {
		t.Fatalf("%d notifications, want 4 (main, 2 threads, child)", len(notifs))
	}
	for i, l := range lastBefore {
		if !l.Exit || syms[l.Fn] != "marker" {
			t.Errorf("notification %d: last event before the syscall %+v (%s), want return from marker", i, l, syms[l.Fn])
		}
	}
	workerWant := "+worker" + strings.Repeat(" +leaf -leaf", n) + " +sensitive +marker -marker -sensitive -worker"
	var kinds []string
	for seq, recs := range streams {
		var b strings.Builder
		for i, rec := range recs {
			if i > 0 {
				b.WriteByte(' ')
			}
			if rec.Exit {
				b.WriteByte('-')
			} else {
				b.WriteByte('+')
			}
			b.WriteString(syms[rec.Fn])
		}
		s := b.String()
		switch si := origin[seq]; si.Origin {
		case ring.OriginStart:
			if s != "+main +sensitive +marker -marker -sensitive -main" {
				t.Errorf("main: %.200s", s)
			}
		case ring.OriginThread, ring.OriginFork:
			if s != workerWant {
				t.Errorf("%v slot: %d records, %.200s", si.Origin, len(recs), s)
			}
		}
		kinds = append(kinds, origin[seq].Origin.String())
	}
	if len(streams) != 4 {
		t.Fatalf("streams: %v", kinds)
	}
}

const progLoop = `
#include <stdlib.h>
__attribute__((noinline)) int leaf(int x) { return x * 3; }
int main(int argc, char **argv) {
	long n = atol(argv[1]);
	int s = 0;
	for (long i = 0; i < n; i++) s += leaf((int)i);
	return s == 12345;
}
`

func TestRingFullSlowConsumerAndStall(t *testing.T) {
	bin := ctest.Build(t, "loop", progLoop, ctest.Options{Instrument: true})
	arena, _ := ring.NewArena(1, 32)
	defer arena.Close()
	const n = 20000
	total := 0
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			k, _ := arena.DrainAll(func(ring.SlotInfo, ring.Record) error { return nil })
			total += k
			time.Sleep(100 * time.Microsecond)
		}
	}()
	r, _ := run(t, Config{Path: bin, Args: []string{"loop", strconv.Itoa(n)}, Arena: arena, Spec: &seccomp.Spec{Arch: sysnum.Host(), Default: seccomp.Allow}}, nil)
	close(stop)
	<-done
	k, _ := arena.DrainAll(func(ring.SlotInfo, ring.Record) error { return nil })
	total += k
	if !r.state.Success() || total != 2*n+2 {
		t.Fatalf("slow consumer: %v, %d records (want %d)\n%s", r.state, total, 2*n+2, r.out)
	}
	arena.Reap()
	// The consumer is gone: the program gives up by itself.
	start := time.Now()
	r, _ = run(t, Config{Path: bin, Args: []string{"loop", "100000"}, Arena: arena, RingStall: 300 * time.Millisecond}, nil)
	if r.state.ExitCode() != ring.ExitStall || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("no consumer: %v after %v\n%s", r.state, time.Since(start), r.out)
	}
}
