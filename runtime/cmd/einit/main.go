// Command einit is the PID 1 of KCFM QEMU images: the Linux counterpart of
// KasperskyOS's Einit. It mounts the kernel file systems, brings up the
// loopback interface, reads /etc/init.yaml (format: tools/image/inityaml),
// starts the entities in order with their arguments, environment and
// channels, forwards their output to the console prefixed with the entity
// name, reaps every zombie, and powers the machine off when the test driver
// exits or the image's timeout expires. Pass/fail is printed as marker lines
// (KCFM-RESULT: PASS|FAIL|TIMEOUT) because QEMU's exit status carries none.
//
// Run as an ordinary process (pid != 1) einit does no mounting and no power
// off: it becomes a child subreaper, runs the same start-up and exits with
// 0 (pass), 1 (fail) or 2 (timeout). The tests use that mode.
//
// Build it static: CGO_ENABLED=0 GOOS=linux GOARCH=arm64|amd64 go build.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kcfm-linux/kcfm/tools/image/inityaml"
	"golang.org/x/sys/unix"
)

func main() {
	// The kernel passes init the command-line words it does not understand;
	// flags therefore come after "--" on the kernel command line.
	fs := flag.NewFlagSet("einit", flag.ContinueOnError)
	config := fs.String("config", "/etc/init.yaml", "init.yaml to read")
	timeout := fs.Duration("timeout", 0, "override the timeout of init.yaml")
	grace := fs.Duration("grace", 2*time.Second, "time between SIGTERM and SIGKILL at shutdown")
	pid1 := os.Getpid() == 1
	if err := fs.Parse(os.Args[1:]); err != nil {
		if !pid1 {
			os.Exit(2)
		}
		// PID 1 must not exit: report and carry on with the defaults.
		fmt.Printf("%s warning: %v\n", inityaml.MarkerEinit, err)
	}
	con := newConsole(os.Stdout)
	start := time.Now()
	if pid1 {
		sysInit(con)
	} else if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		con.printf("%s warning: cannot become a child subreaper: %v", inityaml.MarkerEinit, err)
	}
	code := run(con, *config, *timeout, *grace, pid1, start)
	if pid1 {
		powerOff(con)
	}
	os.Exit(code)
}

// Exit codes in host mode.
const (
	exitPass    = 0
	exitFail    = 1
	exitTimeout = 2
)

func run(con *console, file string, timeout, grace time.Duration, pid1 bool, start time.Time) int {
	con.printf("%s einit config=%s pid=%d uptime=%s", inityaml.MarkerEinit, file, os.Getpid(), uptime(start))
	data, err := os.ReadFile(file)
	if err != nil {
		con.printf("%s (cannot read init.yaml: %v)", inityaml.MarkerFail, err)
		return exitFail
	}
	cfg, err := inityaml.Parse(data, file)
	if err != nil {
		con.printf("%s (invalid init.yaml: %v)", inityaml.MarkerFail, err)
		return exitFail
	}
	if timeout > 0 {
		cfg.Timeout = timeout
	}
	s := newSupervisor(cfg, con, pid1, start)
	s.grace = grace
	return s.run()
}

// uptime is the kernel's uptime when available (the guest's boot clock),
// else the time since einit started.
func uptime(start time.Time) string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err == nil && os.Getpid() == 1 {
		return fmt.Sprintf("%.2fs", float64(ts.Nano())/1e9)
	}
	return fmt.Sprintf("%.2fs", time.Since(start).Seconds())
}
