// Command measure runs a command several times and prints the best CPU
// time (user+system, from the kernel's rusage of the child) and the
// largest peak resident set size, as "cpu_seconds max_rss_kib". Best-of-N
// CPU is robust against a busy machine; wall time is not used.
//
// Usage: measure -n 5 -- CMD ARGS...
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 5, "runs")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: measure [-n N] -- CMD ARGS...")
		os.Exit(2)
	}
	best := time.Duration(1<<63 - 1)
	var rss int64
	for i := 0; i < *n; i++ {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdout = nil
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "measure: %v: %v\n", args, err)
			os.Exit(1)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if cpu < best {
			best = cpu
		}
		if ru.Maxrss > rss {
			rss = ru.Maxrss
		}
	}
	fmt.Printf("%.3f %d\n", best.Seconds(), rss)
}
