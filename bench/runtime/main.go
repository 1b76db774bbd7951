// Command runtime measures the run-time mechanisms against native runs in
// the same session, interleaved round by round (A B C … A B C …), and
// reports medians and ratios:
//
//   - an allowed system call under the seccomp filter (kernel-cached and
//     evaluated-per-call variants) vs. no filter;
//   - a notified system call answered CONTINUE by a Go supervisor;
//   - a function call of a -finstrument-functions program writing to the
//     ring arena (with a live Go consumer) vs. not instrumented, and
//     instrumented without a monitor.
//
// The C programs time their own loops (clock_gettime through the vDSO), so
// start-up is excluded. Usage (see README.md):
//
//	go run ./bench/runtime [-rounds 7] [-json bench/out/runtime.json]
//	taskset -c 0 go run ./bench/runtime      # everything on one CPU
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/launcher"
	"github.com/kcfm-linux/kcfm/runtime/librt/ctest"
	"github.com/kcfm-linux/kcfm/runtime/ring"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"golang.org/x/sys/unix"
)

const sysbenchC = `
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec * 1e9 + ts.tv_nsec; }
int main(int argc, char **argv) {
	long n = atol(argv[1]), nr = atol(argv[2]), a0 = argc > 3 ? atol(argv[3]) : 0;
	for (long i = 0; i < 1000; i++) syscall(nr, a0);
	double t0 = now();
	for (long i = 0; i < n; i++) syscall(nr, a0);
	printf("%.3f\n", (now() - t0) / n);
	return 0;
}
`

const funcbenchC = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
int kcfm_rt_slot_index(void);
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec * 1e9 + ts.tv_nsec; }
__attribute__((noinline)) int leaf(int x) { __asm__ volatile("" ::: "memory"); return x * 3 + 1; }
static volatile uint64_t dummy[2];
int main(int argc, char **argv) {
	long n = atol(argv[1]);
	volatile uint64_t *head = &dummy[0], *tail = &dummy[1];
	if (argc > 2 && !strcmp(argv[2], "selfdrain")) {
		/* consume our own ring from uninstrumented code: the producer's
		 * cost with the ring in cache and no other core involved */
		int fd = atoi(getenv("KCFM_RING_FD"));
		struct stat st;
		fstat(fd, &st);
		char *m = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		char *slot = m + 4096 + (size_t)kcfm_rt_slot_index() * *(uint64_t *)(m + 24);
		head = (volatile uint64_t *)(slot + 64);
		tail = (volatile uint64_t *)(slot + 128);
	}
	volatile int s = 0;
	for (long i = 0; i < 100000; i++) { s += leaf((int)i); if ((i & 1023) == 0) *tail = *head; }
	double t0 = now();
	for (long i = 0; i < n; i++) { s += leaf((int)i); if ((i & 1023) == 0) *tail = *head; }
	printf("%.3f\n", (now() - t0) / n);
	return 0;
}
`

type variant struct {
	name string
	run  func() (float64, error) // ns per operation
}

type result struct {
	Name    string    `json:"name"`
	Samples []float64 `json:"ns_per_op"`
	Median  float64   `json:"median_ns"`
}

func main() {
	launcher.MaybeRunShim()
	rounds := flag.Int("rounds", 7, "interleaved rounds")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	nSys := flag.Int("syscalls", 1000000, "system calls per run (allowed/native)")
	nNotif := flag.Int("notified", 100000, "notified system calls per run")
	nFunc := flag.Int("calls", 20000000, "function calls per run")
	flag.Parse()
	if err := bench(*rounds, *jsonOut, *nSys, *nNotif, *nFunc); err != nil {
		fmt.Fprintln(os.Stderr, "bench/runtime:", err)
		os.Exit(1)
	}
}

func output(cmd *exec.Cmd) (float64, error) {
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s: %v", cmd.Path, err)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

func runLaunched(cfg launcher.Config) (float64, error) {
	var out strings.Builder
	cfg.Stdout = &out
	cfg.Stderr = os.Stderr
	p, err := launcher.Start(cfg)
	if err != nil {
		return 0, err
	}
	done := make(chan struct{})
	if p.Listener != nil {
		go func() {
			defer close(done)
			runtime.LockOSThread()
			var n seccomp.Notif
			for p.Listener.Recv(&n) == nil {
				p.Listener.Respond(n.ID, seccomp.Continue())
			}
		}()
	} else {
		close(done)
	}
	st, err := p.Wait()
	if p.Listener != nil {
		p.Listener.Close()
	}
	<-done
	if err != nil {
		return 0, err
	}
	if !st.Success() {
		return 0, fmt.Errorf("%s: %v", cfg.Path, st)
	}
	return strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
}

func bench(rounds int, jsonOut string, nSys, nNotif, nFunc int) error {
	var set unix.CPUSet
	unix.SchedGetaffinity(0, &set)
	cpus := set.Count()
	dir, err := os.MkdirTemp("", "kcfm-bench-runtime")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sysbench, err := ctest.BuildIn(dir, "sysbench", sysbenchC, ctest.Options{})
	if err != nil {
		return err
	}
	funcPlain, err := ctest.BuildIn(dir, "func-plain", funcbenchC, ctest.Options{Runtime: true})
	if err != nil {
		return err
	}
	funcInst, err := ctest.BuildIn(dir, "func-inst", funcbenchC, ctest.Options{Instrument: true})
	if err != nil {
		return err
	}

	arch := sysnum.Host()
	tab := sysnum.For(arch)
	getppid, _ := tab.Nr("getppid")
	sens, err := seccomp.DefaultSensitive(arch)
	if err != nil {
		return err
	}
	// A realistic filter: the default sensitive set, then allow the rest.
	allowSpec := &seccomp.Spec{Arch: arch, Default: seccomp.Allow, Rules: sens}
	// The same, but getppid has an argument rule, so the kernel cannot cache
	// its verdict and runs the filter on every call.
	evalSpec := &seccomp.Spec{Arch: arch, Default: seccomp.Allow, Rules: append(append([]seccomp.Rule(nil), sens...),
		seccomp.Rule{Nr: getppid, Action: seccomp.Notify, Conds: []seccomp.Cond{{Arg: 0, Op: seccomp.OpEq, Value: 0xdead}}})}
	notifySpec := &seccomp.Spec{Arch: arch, Default: seccomp.Allow, Rules: append(append([]seccomp.Rule(nil), sens...),
		seccomp.Rule{Nr: getppid, Action: seccomp.Notify})}
	sysArgs := func(n int) []string { return []string{"sysbench", strconv.Itoa(n), strconv.Itoa(getppid)} }

	arena, err := ring.NewArena(4, 1<<16)
	if err != nil {
		return err
	}
	defer arena.Close()
	selfArena, err := ring.NewArena(1, 1<<12)
	if err != nil {
		return err
	}
	defer selfArena.Close()

	variants := []variant{
		{"syscall native", func() (float64, error) { return output(exec.Command(sysbench, sysArgs(nSys)[1:]...)) }},
		{"syscall allowed (filter, cached)", func() (float64, error) {
			return runLaunched(launcher.Config{Path: sysbench, Args: sysArgs(nSys), Spec: allowSpec})
		}},
		{"syscall allowed (filter evaluated)", func() (float64, error) {
			return runLaunched(launcher.Config{Path: sysbench, Args: sysArgs(nSys), Spec: evalSpec})
		}},
		{"syscall native (short run)", func() (float64, error) { return output(exec.Command(sysbench, sysArgs(nNotif)[1:]...)) }},
		{"syscall notified, CONTINUE (poll)", func() (float64, error) {
			return runLaunched(launcher.Config{Path: sysbench, Args: sysArgs(nNotif), Spec: notifySpec})
		}},
		{"syscall notified, CONTINUE (direct)", func() (float64, error) {
			return runLaunched(launcher.Config{Path: sysbench, Args: sysArgs(nNotif), Spec: notifySpec,
				Listener: seccomp.ListenerOptions{Direct: true}})
		}},
		{"call not instrumented", func() (float64, error) { return output(exec.Command(funcPlain, strconv.Itoa(nFunc))) }},
		{"call instrumented, no monitor", func() (float64, error) { return output(exec.Command(funcInst, strconv.Itoa(nFunc))) }},
		{"call instrumented, ring, self-drained", func() (float64, error) {
			// The program empties its own ring every 1024 calls from
			// uninstrumented code: the producer's cost with the ring in
			// cache and no other core involved.
			v, err := runLaunched(launcher.Config{Path: funcInst, Args: []string{"func", strconv.Itoa(nFunc), "selfdrain"}, Arena: selfArena})
			for _, si := range selfArena.SlotInfos() {
				// our reader's tail is far behind the program's own: skip (ErrCorrupt), then recycle
				selfArena.DrainSlot(si.Index, func(ring.Record) error { return nil })
			}
			selfArena.Reap()
			return v, err
		}},
		{"call instrumented, ring + consumer", func() (float64, error) {
			// The consumer FlowChecker runs: DrainSlot over the live slots,
			// spinning briefly, then sleeping with backoff while idle.
			var events int64
			count := func(ring.Record) error { events++; return nil }
			drain := func() int {
				n := 0
				for _, si := range arena.SlotInfos() {
					k, _ := arena.DrainSlot(si.Index, count)
					n += k
				}
				return n
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				idle, sleep := 0, 5*time.Microsecond
				for {
					select {
					case <-stop:
						return
					default:
					}
					if drain() > 0 {
						idle, sleep = 0, 5*time.Microsecond
						continue
					}
					if idle++; idle < 64 {
						runtime.Gosched()
						continue
					}
					time.Sleep(sleep)
					if sleep *= 2; sleep > 200*time.Microsecond {
						sleep = 200 * time.Microsecond
					}
				}
			}()
			v, err := runLaunched(launcher.Config{Path: funcInst, Args: []string{"func", strconv.Itoa(nFunc)}, Arena: arena})
			close(stop)
			<-done
			for drain() > 0 {
			}
			arena.Reap()
			if err == nil && events < int64(2*nFunc) {
				err = fmt.Errorf("consumer saw %d events, want >= %d", events, 2*nFunc)
			}
			return v, err
		}},
	}
	res := make([]result, len(variants))
	for i, v := range variants {
		res[i].Name = v.name
	}
	fmt.Printf("kernel %s, %d of %d CPUs usable, %d rounds, load average before: %s\n", kernel(), cpus, runtime.NumCPU(), rounds, loadavg())
	for r := 0; r < rounds; r++ {
		for i, v := range variants {
			ns, err := v.run()
			if err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
			res[i].Samples = append(res[i].Samples, ns)
		}
		fmt.Fprintf(os.Stderr, "round %d done\n", r+1)
	}
	fmt.Printf("load average after: %s\n", loadavg())
	for i := range res {
		res[i].Median = median(res[i].Samples)
	}
	med, low := map[string]float64{}, map[string]float64{}
	fmt.Printf("%-42s %12s %12s\n", "variant", "median ns/op", "min..max")
	for _, r := range res {
		s := append([]float64(nil), r.Samples...)
		sort.Float64s(s)
		med[r.Name], low[r.Name] = r.Median, s[0]
		fmt.Printf("%-42s %12.1f %8.1f..%.1f\n", r.Name, r.Median, s[0], s[len(s)-1])
	}
	type row struct{ what, v, base, target string }
	rows := []row{
		{"allowed syscall, cached verdict", "syscall allowed (filter, cached)", "syscall native", "<= +100 ns"},
		{"allowed syscall, filter evaluated", "syscall allowed (filter evaluated)", "syscall native", "<= +100 ns"},
		{"notified syscall (CONTINUE), poll mode", "syscall notified, CONTINUE (poll)", "syscall native (short run)", "<= 10 µs"},
		{"notified syscall (CONTINUE), direct mode", "syscall notified, CONTINUE (direct)", "syscall native (short run)", "<= 10 µs"},
		{"function call, instrumented, no monitor", "call instrumented, no monitor", "call not instrumented", ""},
		{"function call, ring, self-drained (producer)", "call instrumented, ring, self-drained", "call not instrumented", "<= 10 ns/call"},
		{"function call, ring + live Go consumer", "call instrumented, ring + consumer", "call not instrumented", "<= 10 ns/call"},
	}
	fmt.Printf("\n%-46s %8s %12s | %8s %12s  %s\n", "mechanism (vs native, same run)", "ratio", "extra ns/op", "min-ratio", "min extra", "target")
	for _, r := range rows {
		fmt.Printf("%-46s %7.2fx %12.1f | %7.2fx %12.1f  %s\n", r.what, med[r.v]/med[r.base], med[r.v]-med[r.base], low[r.v]/low[r.base], low[r.v]-low[r.base], r.target)
	}
	if jsonOut != "" {
		if err := os.MkdirAll(filepath.Dir(jsonOut), 0o755); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(map[string]any{"kernel": kernel(), "cpus": runtime.NumCPU(), "usable_cpus": cpus, "rounds": rounds, "results": res}, "", "  ")
		if err := os.WriteFile(jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
