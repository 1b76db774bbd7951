package ring

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/runtime/librt/ctest"
)

const progEvents = `
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include "kcfm/kcfm_rt.h"
#define NOINLINE __attribute__((noinline))
NOINLINE int c(int x) { return x + 1; }
NOINLINE int b(int x) { return c(x) * 2; }
NOINLINE int a(int x) { return b(x) + 3; }
NOINLINE int leaf(int x) { return x ^ 5; }
NOINLINE void *worker(void *arg) { long n = (long)arg; int s = 0; for (long i = 0; i < n; i++) s += leaf((int)i); return (void *)(long)s; }
NOINLINE int child_fn(int x) { return leaf(x) + 1; }
int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000;
	printf("fn a=%p b=%p c=%p leaf=%p worker=%p child_fn=%p main=%p\n", (void *)a, (void *)b, (void *)c, (void *)leaf, (void *)worker, (void *)child_fn, (void *)main);
	printf("attached=%d abi=%u main-tid=%ld\n", kcfm_rt_attached(), kcfm_rt_abi_version(), (long)syscall(SYS_gettid));
	fflush(stdout);
	int r = a(1);
	pthread_t t1, t2;
	pthread_create(&t1, NULL, worker, (void *)n);
	pthread_create(&t2, NULL, worker, (void *)n);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	pid_t p = fork();
	if (p == 0)
		_exit(child_fn(3) & 0);
	int st;
	waitpid(p, &st, 0);
	/* a child forked without the atfork handlers: raw clone */
	long q = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (q == 0)
		_exit(child_fn(4) & 0);
	waitpid((pid_t)q, &st, 0);
	return r == 7 ? 0 : 1;
}
`

// symbols parses the "fn name=0x... ..." line.
func symbols(t *testing.T, out string) map[uint64]string {
	t.Helper()
	m := map[uint64]string{}
	re := regexp.MustCompile(`(\w+)=0x([0-9a-f]+)`)
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "fn ") {
			continue
		}
		for _, g := range re.FindAllStringSubmatch(line, -1) {
			v, _ := strconv.ParseUint(g[2], 16, 64)
			m[v] = g[1]
		}
	}
	if len(m) == 0 {
		t.Fatalf("no symbol line in output:\n%s", out)
	}
	return m
}

func render(recs []Record, syms map[uint64]string) string {
	var b strings.Builder
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch {
		case r.Lost:
			b.WriteString("LOST")
		case r.Exit:
			fmt.Fprintf(&b, "-%s", name(syms, r.Fn))
		default:
			fmt.Fprintf(&b, "+%s", name(syms, r.Fn))
		}
	}
	return b.String()
}

func name(syms map[uint64]string, a uint64) string {
	if n, ok := syms[a]; ok {
		return n
	}
	return fmt.Sprintf("%#x", a)
}

func runWithArena(t *testing.T, a *Arena, bin string, env []string, args ...string) (string, *os.ProcessState) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if a != nil {
		cmd.ExtraFiles = []*os.File{a.File()}
		cmd.Env = append(os.Environ(), EnvFD+"=3")
	}
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Run()
	return out.String(), cmd.ProcessState
}

type slotTrace struct {
	info SlotInfo
	recs []Record
}

func drainAllSlots(t *testing.T, a *Arena) []slotTrace {
	t.Helper()
	var out []slotTrace
	for _, si := range a.SlotInfos() {
		st := slotTrace{info: si}
		if _, err := a.DrainSlot(si.Index, func(r Record) error { st.recs = append(st.recs, r); return nil }); err != nil {
			t.Fatalf("drain slot %d: %v", si.Index, err)
		}
		out = append(out, st)
	}
	return out
}

func TestEventsThreadsFork(t *testing.T) {
	bin := ctest.Build(t, "events", progEvents, ctest.Options{Instrument: true})
	a, err := NewArena(8, 1<<12)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const n = 3000 // 6000 events per worker: the 4096-record ring wraps, so drain concurrently
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	got := map[uint64][]Record{} // by claim sequence
	infos := map[uint64]SlotInfo{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := a.Follow(ctx, FollowOptions{}, func(si SlotInfo, r Record) error {
			mu.Lock()
			got[si.ClaimSeq] = append(got[si.ClaimSeq], r)
			infos[si.ClaimSeq] = si
			mu.Unlock()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Follow: %v", err)
		}
	}()
	out, st := runWithArena(t, a, bin, nil, strconv.Itoa(n))
	cancel()
	wg.Wait()
	for { // what is left, now that the program has exited
		if n, _ := a.DrainAll(func(si SlotInfo, r Record) error {
			got[si.ClaimSeq] = append(got[si.ClaimSeq], r)
			infos[si.ClaimSeq] = si
			return nil
		}); n == 0 {
			break
		}
	}
	if !st.Success() {
		t.Fatalf("program failed: %v\n%s", st, out)
	}
	if !strings.Contains(out, "attached=1 abi=1") {
		t.Fatalf("runtime not attached:\n%s", out)
	}
	syms := symbols(t, out)
	mainTid, _ := strconv.Atoi(regexp.MustCompile(`main-tid=(\d+)`).FindStringSubmatch(out)[1])
	want := strings.TrimSpace(strings.Repeat("+leaf -leaf ", n))
	var sawThreads, sawFork, sawMain int
	for seq, recs := range got {
		si := infos[seq]
		s := render(recs, syms)
		short := s
		if len(short) > 200 {
			short = short[:200] + "..."
		}
		switch {
		case si.Origin == OriginStart:
			sawMain++
			if si.Tid != mainTid || si.Pid != mainTid {
				t.Errorf("start slot pid/tid %d/%d, main tid %d", si.Pid, si.Tid, mainTid)
			}
			if s != "+main +a +b +c -c -b -a -main" {
				t.Errorf("main thread events: %s", short)
			}
		case si.Origin == OriginThread:
			sawThreads++
			if si.Pid != mainTid || si.Tid == mainTid {
				t.Errorf("thread slot pid/tid %d/%d", si.Pid, si.Tid)
			}
			if s != "+worker "+want+" -worker" {
				t.Errorf("worker (claim %d): %d records: %s", seq, len(recs), short)
			}
		case si.Origin == OriginFork:
			if si.ParentPid != mainTid || si.ParentTid != mainTid || si.Pid == mainTid {
				t.Errorf("fork slot parent %d/%d pid %d (main %d)", si.ParentPid, si.ParentTid, si.Pid, mainTid)
			}
			if s != "+child_fn +leaf -leaf -child_fn" {
				t.Errorf("fork child events: %s", s)
			}
			sawFork++
		default:
			t.Errorf("slot %+v: %s", si, short)
		}
	}
	if sawMain != 1 || sawThreads != 2 || sawFork != 2 {
		t.Fatalf("slots: main %d threads %d forks %d (want 1, 2, 2: fork() and raw clone)", sawMain, sawThreads, sawFork)
	}
}

func TestDetachedAndBadArena(t *testing.T) {
	bin := ctest.Build(t, "events", progEvents, ctest.Options{Instrument: true})
	out, st := runWithArena(t, nil, bin, nil, "10")
	if !st.Success() || !strings.Contains(out, "attached=0") {
		t.Fatalf("detached run: %v\n%s", st, out)
	}
	for _, env := range [][]string{{EnvFD + "=x"}, {EnvFD + "=99"}, {EnvFD + "=0"}} {
		out, st := runWithArena(t, nil, bin, env, "10")
		if st.ExitCode() != ExitSetup || !strings.Contains(out, "fail closed") {
			t.Errorf("%v: exit %d, want %d\n%s", env, st.ExitCode(), ExitSetup, out)
		}
	}
	a, _ := NewArena(1, 16)
	defer a.Close()
	out, st = runWithArena(t, a, bin, []string{EnvStallMS + "=soon"}, "10")
	if st.ExitCode() != ExitSetup {
		t.Errorf("bad stall value: exit %d\n%s", st.ExitCode(), out)
	}
}

const progLoop = `
#include <stdlib.h>
#include <stdio.h>
__attribute__((noinline)) int leaf(int x) { return x * 3; }
int main(int argc, char **argv) {
	long n = atol(argv[1]);
	int s = 0;
	for (long i = 0; i < n; i++) s += leaf((int)i);
	printf("fn leaf=%p main=%p\n", (void *)leaf, (void *)main);
	return s == 12345;
}
`

// A slow consumer: the program blocks on the full ring and loses nothing.
func TestRingFullBlocksNoLoss(t *testing.T) {
	bin := ctest.Build(t, "loop", progLoop, ctest.Options{Instrument: true})
	a, _ := NewArena(2, 16)
	defer a.Close()
	const n = 20000
	var count, bad, waits atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		i := 0
		for ctx.Err() == nil {
			for _, si := range a.SlotInfos() {
				if si.Waiting {
					waits.Add(1)
				}
			}
			a.DrainAll(func(si SlotInfo, r Record) error {
				count.Add(1)
				// 2n+2 records: +main, (+leaf -leaf)*n, -main
				var e string
				switch {
				case i == 0:
					e = "+main"
				case i == 2*n+1:
					e = "-main"
				case i%2 == 1:
					e = "+leaf"
				default:
					e = "-leaf"
				}
				if (r.Exit && e[0] != '-') || (!r.Exit && e[0] != '+') || r.Lost {
					bad.Add(1)
				}
				i++
				return nil
			})
			time.Sleep(200 * time.Microsecond) // slow: ~16 records per 200µs
		}
	}()
	out, st := runWithArena(t, a, bin, nil, strconv.Itoa(n))
	deadline := time.Now().Add(10 * time.Second)
	for count.Load() < 2*n+2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if !st.Success() {
		t.Fatalf("program: %v\n%s", st, out)
	}
	if count.Load() != 2*n+2 || bad.Load() != 0 {
		t.Fatalf("got %d records (%d out of order), want %d", count.Load(), bad.Load(), 2*n+2)
	}
	if waits.Load() == 0 {
		t.Errorf("the producer never reported waiting on the full ring")
	}
}

// Nobody consumes: the program gives up after the stall timeout.
func TestStallFailsClosed(t *testing.T) {
	bin := ctest.Build(t, "loop", progLoop, ctest.Options{Instrument: true})
	a, _ := NewArena(1, 16)
	defer a.Close()
	start := time.Now()
	out, st := runWithArena(t, a, bin, []string{EnvStallMS + "=300"}, "100000")
	el := time.Since(start)
	if st.ExitCode() != ExitStall || !strings.Contains(out, "ring full") {
		t.Fatalf("exit %d (want %d)\n%s", st.ExitCode(), ExitStall, out)
	}
	if el < 300*time.Millisecond || el > 20*time.Second {
		t.Errorf("gave up after %v, stall timeout 300ms", el)
	}
	// No free slot either: a second thread of a new process cannot claim.
	out, st = runWithArena(t, a, bin, []string{EnvStallMS + "=200"}, "10")
	if st.ExitCode() != ExitStall || !strings.Contains(out, "no free ring slot") {
		t.Fatalf("exit %d (want %d)\n%s", st.ExitCode(), ExitStall, out)
	}
	// After the dead process's slot is drained and reaped, it runs.
	a.DrainAll(func(SlotInfo, Record) error { return nil })
	if n := a.Reap(); n != 1 {
		t.Fatalf("Reap freed %d slots, want 1", n)
	}
	out, st = runWithArena(t, a, bin, nil, "5")
	if !st.Success() {
		t.Fatalf("after reap: %v\n%s", st, out)
	}
}

const progSignals = `
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <setjmp.h>
#define NOINLINE __attribute__((noinline))
static volatile long hits;
static sigjmp_buf jb;
static volatile int jumping;
NOINLINE int h2(int x) { return x + 1; }
NOINLINE void handler(int sig) { hits++; h2(sig); if (jumping && hits % 7 == 0) siglongjmp(jb, 1); }
NOINLINE int leaf(int x) { return x * 3; }
NOINLINE int mid(int x) { return leaf(x) + leaf(x + 1); }
int main(int argc, char **argv) {
	long n = atol(argv[1]);
	jumping = argc > 2;
	printf("fn h2=%p handler=%p leaf=%p mid=%p main=%p\n", (void *)h2, (void *)handler, (void *)leaf, (void *)mid, (void *)main);
	fflush(stdout);
	struct sigaction sa; memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 20}, {0, 20}};
	setitimer(ITIMER_REAL, &it, NULL);
	int s = 0;
	for (long i = 0; i < n; i++) {
		if (jumping && sigsetjmp(jb, 1)) continue;
		s += mid((int)i);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	fprintf(stderr, "hits=%ld\n", hits);
	return s == 1;
}
`

// Signal handlers interrupt hooks at random points; the stream of each
// thread must stay well nested (every return matches the innermost call).
func TestSignalNesting(t *testing.T) {
	bin := ctest.Build(t, "sig", progSignals, ctest.Options{Instrument: true})
	for _, jump := range []bool{false, true} {
		a, _ := NewArena(2, 1<<14)
		var recs []Record
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- a.Follow(ctx, FollowOptions{}, func(si SlotInfo, r Record) error { recs = append(recs, r); return nil })
		}()
		args := []string{"300000"}
		if jump {
			args = append(args, "jump")
		}
		out, st := runWithArena(t, a, bin, nil, args...)
		cancel()
		<-done
		for { // the rest, now that the program has exited
			if n, _ := a.DrainAll(func(si SlotInfo, r Record) error { recs = append(recs, r); return nil }); n == 0 {
				break
			}
		}
		a.Close()
		if !st.Success() {
			t.Fatalf("program: %v\n%s", st, out)
		}
		syms := symbols(t, out)
		var stack []uint64
		lost, handlers := 0, 0
		for i, r := range recs {
			switch {
			case r.Lost:
				lost++
				stack = nil // resynchronise
			case !r.Exit:
				stack = append(stack, r.Fn)
				if syms[r.Fn] == "handler" {
					handlers++
				}
			default:
				if jump {
					// after a siglongjmp the frames it skipped never return:
					// unwind to the matching call
					k := len(stack) - 1
					for k >= 0 && stack[k] != r.Fn {
						k--
					}
					if k >= 0 {
						stack = stack[:k+1]
					}
				}
				if len(stack) == 0 || stack[len(stack)-1] != r.Fn {
					if jump && lost > 0 {
						continue
					}
					t.Fatalf("jump=%v record %d: return from %s, stack top %v\n%s", jump, i, name(syms, r.Fn), stack, render(recs[max(0, i-20):i+1], syms))
				}
				stack = stack[:len(stack)-1]
			}
		}
		t.Logf("jump=%v: %d records, %d handler runs, %d lost; %s", jump, len(recs), handlers, lost, strings.TrimSpace(out[strings.LastIndex(out, "hits="):]))
		if handlers < 100 {
			t.Errorf("jump=%v: only %d handler runs", jump, handlers)
		}
		if !jump && lost != 0 {
			t.Errorf("lost records without siglongjmp")
		}
		if !jump && !strings.Contains(out, fmt.Sprintf("hits=%d\n", handlers)) {
			t.Errorf("handler ran more often than recorded (%d records)", handlers)
		}
	}
}

const progExec = `
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) int first(int x) { return x + 1; }
__attribute__((noinline)) int second(int x) { return x + 2; }
int main(int argc, char **argv) {
	printf("fn first=%p second=%p main=%p\n", (void *)first, (void *)second, (void *)main);
	fflush(stdout);
	if (argc == 1) {
		first(1);
		execl("/proc/self/exe", argv[0], "again", (char *)NULL);
		return 9;
	}
	second(2);
	return 0;
}
`

func TestExecNewImage(t *testing.T) {
	bin := ctest.Build(t, "exec", progExec, ctest.Options{Instrument: true, Flags: []string{"-no-pie"}})
	a, _ := NewArena(4, 64)
	defer a.Close()
	out, st := runWithArena(t, a, bin, nil)
	if !st.Success() {
		t.Fatalf("%v\n%s", st, out)
	}
	syms := symbols(t, out)
	infos := a.SlotInfos()
	if len(infos) != 2 {
		t.Fatalf("want 2 slots (old and new image), got %+v", infos)
	}
	sl := a.ByPid(infos[0].Pid)
	if len(sl) != 2 || sl[0].Tid != sl[1].Tid || sl[0].ImageID == sl[1].ImageID || sl[0].State != Exited || sl[1].Origin != OriginStart || sl[0].Origin != OriginStart {
		t.Fatalf("slots after exec: %+v", sl)
	}
	var all []Record
	n, err := a.Drain(sl[0].Tid, func(r Record) error { all = append(all, r); return nil })
	if err != nil || n != len(all) {
		t.Fatal(err)
	}
	if s := render(all, syms); s != "+main +first -first +main +second -second -main" {
		t.Fatalf("events across exec: %s", s)
	}
	if _, err := a.Drain(1, func(Record) error { return nil }); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("Drain of an unknown tid: %v", err)
	}
	// The process is gone: both slots are recycled.
	if n := a.Reap(); n != 2 {
		t.Fatalf("Reap freed %d, want 2", n)
	}
}

func TestOpenValidates(t *testing.T) {
	a, err := NewArena(3, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	dup, err := syscall.Dup(int(a.File().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(os.NewFile(uintptr(dup), "dup"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Slots() != 3 || b.RecordsPerSlot() != 32 || b.Size() != a.Size() {
		t.Fatalf("geometry %d %d %d", b.Slots(), b.RecordsPerSlot(), b.Size())
	}
	b.Close()
	if _, err := b.DrainSlot(0, func(Record) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	// An unsealed memfd is refused.
	f, _ := os.CreateTemp(t.TempDir(), "x")
	f.Write(make([]byte, 8192))
	if _, err := Open(f); !errors.Is(err, ErrNotSealed) {
		t.Fatalf("unsealed: %v", err)
	}
	for _, g := range [][2]int{{-1, 16}, {MaxSlots + 1, 16}, {1, 15}, {1, 24}, {1, MaxRecordsPerSlot * 2}} {
		if _, err := NewArena(g[0], g[1]); err == nil {
			t.Errorf("NewArena%v succeeded", g)
		}
	}
}

// The reader defends itself against a producer that writes nonsense.
func TestCorruptHead(t *testing.T) {
	a, _ := NewArena(2, 16)
	defer a.Close()
	atomic.StoreUint32(a.p32(1, sState), uint32(Claimed))
	atomic.StoreUint32(a.p32(1, sTid), 4242)
	atomic.StoreUint64(a.p64(1, sHead), 1000) // more than one ring ahead
	n, err := a.Drain(4242, func(Record) error { return nil })
	if !errors.Is(err, ErrCorrupt) || n != 0 {
		t.Fatalf("Drain: %d, %v", n, err)
	}
	// The reader skipped to the head; the next (sane) records are read.
	base := HeaderSize + a.stride + SlotHeaderSize
	for i := 0; i < 3; i++ {
		off := base + int((1000+uint64(i))&a.mask)*RecordSize
		le := [16]byte{}
		le[0] = byte(i + 1)
		copy(a.mem[off:], le[:])
	}
	atomic.StoreUint64(a.p64(1, sHead), 1003)
	var got []uint64
	if _, err := a.Drain(4242, func(r Record) error { got = append(got, r.Fn); return nil }); err != nil || fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("after resync: %v %v", got, err)
	}
	// A head behind the reader is "nothing new", not an error.
	atomic.StoreUint64(a.p64(1, sHead), 5)
	if n, err := a.Drain(4242, func(Record) error { return nil }); n != 0 || err != nil {
		t.Fatalf("head behind: %d %v", n, err)
	}
	// Callback errors stop the drain and come back unchanged.
	atomic.StoreUint64(a.p64(1, sHead), 1005)
	stop := errors.New("anomaly")
	if n, err := a.Drain(4242, func(Record) error { return stop }); n != 1 || err != stop {
		t.Fatalf("callback error: %d %v", n, err)
	}
}

// DrainSlotBatch delivers the same records as DrainSlot, in order, in
// batches no larger than the buffer, and stops where the consumer stopped.
func TestDrainSlotBatch(t *testing.T) {
	a, _ := NewArena(1, 16)
	defer a.Close()
	atomic.StoreUint32(a.p32(0, sState), uint32(Claimed))
	atomic.StoreUint32(a.p32(0, sTid), 7)
	base := HeaderSize + SlotHeaderSize
	put := func(from, to uint64) {
		for i := from; i < to; i++ {
			off := base + int(i&a.mask)*RecordSize
			binary.LittleEndian.PutUint64(a.mem[off:], i+1|exitBit*(i&1))
			binary.LittleEndian.PutUint64(a.mem[off+8:], 100+i)
		}
		atomic.StoreUint64(a.p64(0, sHead), to)
	}
	if _, err := a.DrainSlotBatch(0, nil, nil); err == nil {
		t.Fatal("no buffer accepted")
	}
	put(0, 13)
	buf := make([]Record, 5)
	var got []Record
	var sizes []int
	n, err := a.DrainSlotBatch(0, buf, func(rs []Record) (int, error) {
		sizes = append(sizes, len(rs))
		got = append(got, rs...)
		return len(rs), nil
	})
	if err != nil || n != 13 || fmt.Sprint(sizes) != "[5 5 3]" {
		t.Fatalf("drain: n=%d err=%v batches %v", n, err, sizes)
	}
	for i, r := range got {
		if r.Fn != uint64(i+1) || r.Site != uint64(100+i) || r.Exit != (i&1 == 1) {
			t.Fatalf("record %d = %+v", i, r)
		}
	}
	if a.tailOf(0) != 13 {
		t.Fatalf("tail %d, want 13", a.tailOf(0))
	}
	// Wrapping around the 16-record ring; the consumer stops after 2 of
	// the first batch with an error: the rest stays for the next drain.
	put(13, 25)
	stop := errors.New("anomaly")
	n, err = a.DrainSlotBatch(0, buf, func(rs []Record) (int, error) { return 2, stop })
	if n != 2 || err != stop || a.tailOf(0) != 15 {
		t.Fatalf("stopped drain: n=%d err=%v tail=%d", n, err, a.tailOf(0))
	}
	got = got[:0]
	n, err = a.DrainSlotBatch(0, buf, func(rs []Record) (int, error) { got = append(got, rs...); return len(rs), nil })
	if err != nil || n != 10 || got[0].Fn != 16 || got[9].Fn != 25 {
		t.Fatalf("rest: n=%d err=%v first %+v", n, err, got)
	}
	// A corrupt head is reported as by DrainSlot.
	atomic.StoreUint64(a.p64(0, sHead), 1000)
	if _, err := a.DrainSlotBatch(0, buf, func(rs []Record) (int, error) { return len(rs), nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt head: %v", err)
	}
}
