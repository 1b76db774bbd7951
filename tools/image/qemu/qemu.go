// Package qemu boots a KCFM image under QEMU (TCG only: KVM is unusable on
// our hosts), streams the serial console and decides pass/fail from marker
// lines, because QEMU exits 0 whenever the guest powers off, whatever
// happened inside.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/kcfm-linux/kcfm/tools/image/inityaml"
	"github.com/kcfm-linux/kcfm/tools/image/kernel"
)

// Options describe one boot.
type Options struct {
	Arch     kernel.Arch
	Kernel   string
	Initrd   string
	Append   string // added to the kernel command line
	Verbose  bool   // keep kernel messages (no "quiet")
	MemoryMB int    // default 512
	SMP      int    // default 2
	// Timeout bounds the whole run (host side); 0 means 5 minutes.
	Timeout time.Duration
	// Expect lists markers (substrings of console lines) that must all be
	// seen; default: KCFM-RESULT: PASS.
	Expect []string
	// Fail lists markers that make the run fail; default: the KCFM-RESULT
	// FAIL and TIMEOUT markers and "Kernel panic".
	Fail []string
	// Console receives the serial output as it arrives (nil: discarded).
	Console io.Writer
	// QEMU overrides the emulator binary (default qemu-system-<arch>).
	QEMU      string
	ExtraArgs []string
	// PowerOffGrace bounds how long QEMU may keep running after the verdict
	// (einit powers off right after its result line); default 15s.
	PowerOffGrace time.Duration
}

// Verdict of a run.
type Verdict string

// Verdicts.
const (
	Pass    Verdict = "PASS"
	Fail    Verdict = "FAIL"
	Timeout Verdict = "TIMEOUT"
)

// Result of a run.
type Result struct {
	Verdict Verdict
	Reason  string
	// BootToVerdict is the time from starting QEMU to the console line that
	// decided the verdict (last expected marker, or first fail marker).
	BootToVerdict time.Duration
	// Total is the time from starting QEMU to its exit.
	Total time.Duration
	// GuestUptime is the uptime=… field of einit's result line, if any.
	GuestUptime string
	Seen        map[string]time.Duration // marker → time since QEMU start
	Command     []string
}

// DefaultExpect and DefaultFail are the markers used when none are given.
var (
	DefaultExpect = []string{inityaml.MarkerPass}
	DefaultFail   = []string{inityaml.MarkerFail, inityaml.MarkerTimeout, "Kernel panic"}
)

// Args returns the QEMU command line for o.
func Args(o Options) ([]string, error) {
	if o.Kernel == "" || o.Initrd == "" {
		return nil, errors.New("a kernel and an initrd are needed")
	}
	mem, smp := o.MemoryMB, o.SMP
	if mem == 0 {
		mem = 512
	}
	if smp == 0 {
		smp = 2
	}
	cmdline := "panic=-1"
	if !o.Verbose {
		cmdline += " quiet"
	}
	var args, console []string
	switch o.Arch {
	case kernel.AArch64:
		// cortex-a57: "-cpu max" emulates pointer authentication and is 3-4x slower under TCG.
		args = []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57"}
		console = []string{"-nographic"} // serial (PL011) on stdio
		cmdline = "console=ttyAMA0 " + cmdline
	case kernel.X86_64:
		args = []string{"qemu-system-x86_64", "-M", "pc"}
		// Not -nographic: it turns on SeaBIOS's serial console, which writes
		// terminal resets (ESC c) and screen clears into the log.
		console = []string{"-display", "none", "-serial", "stdio", "-monitor", "none"}
		cmdline = "console=ttyS0 " + cmdline
	default:
		return nil, fmt.Errorf("unknown architecture %q", o.Arch)
	}
	if o.QEMU != "" {
		args[0] = o.QEMU
	}
	if o.Append != "" {
		cmdline += " " + o.Append
	}
	args = append(args, "-smp", fmt.Sprint(smp), "-m", fmt.Sprint(mem))
	args = append(args, console...)
	args = append(args,
		"-nic", "none", // no default NIC: its ROM is only a Recommends of the Debian packages
		"-accel", "tcg", // never try KVM
		"-no-reboot", // with panic=-1: a guest panic ends QEMU
		"-kernel", o.Kernel, "-initrd", o.Initrd, "-append", cmdline)
	return append(args, o.ExtraArgs...), nil
}

var (
	reANSI   = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_]|c)`)
	reUptime = regexp.MustCompile(`uptime=([0-9.]+s)`)
)

// maxLine bounds a console line kept for matching.
const maxLine = 64 << 10

// Run boots the image and returns the verdict. An error means QEMU could not
// run at all (missing binary or files); a failed guest is a Result with
// Verdict Fail.
func Run(ctx context.Context, o Options) (*Result, error) {
	args, err := Args(o)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{o.Kernel, o.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return nil, err
		}
	}
	if _, err := exec.LookPath(args[0]); err != nil {
		pkg := "qemu-system-arm"
		if o.Arch == kernel.X86_64 {
			pkg = "qemu-system-x86"
		}
		return nil, fmt.Errorf("%s not found: run scripts/setup.sh (Debian package %s)", args[0], pkg)
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	grace := o.PowerOffGrace
	if grace == 0 {
		grace = 15 * time.Second
	}
	expect, fail := o.Expect, o.Fail
	if len(expect) == 0 {
		expect = DefaultExpect
	}
	if fail == nil {
		fail = DefaultFail
	}
	console := o.Console
	if console == nil {
		console = io.Discard
	}

	cmd := exec.Command(args[0], args[1:]...)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	cmd.Stdin = devnull
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	res := &Result{Seen: map[string]time.Duration{}, Command: args}

	var mu sync.Mutex
	decided := make(chan struct{})
	var decideOnce sync.Once
	failSeen := ""
	onLine := func(line string) {
		line = reANSI.ReplaceAllString(line, "")
		mu.Lock()
		defer mu.Unlock()
		now := time.Since(start)
		for _, m := range expect {
			if _, ok := res.Seen[m]; !ok && strings.Contains(line, m) {
				res.Seen[m] = now
				if m == inityaml.MarkerPass || allSeen(res.Seen, expect) {
					if u := reUptime.FindStringSubmatch(line); u != nil {
						res.GuestUptime = u[1]
					}
				}
				if allSeen(res.Seen, expect) && failSeen == "" {
					res.BootToVerdict = now
					decideOnce.Do(func() { close(decided) })
				}
			}
		}
		for _, m := range fail {
			if failSeen == "" && strings.Contains(line, m) {
				failSeen = strings.TrimSpace(line)
				res.Seen[m] = now
				res.BootToVerdict = now
				if u := reUptime.FindStringSubmatch(line); u != nil {
					res.GuestUptime = u[1]
				}
				decideOnce.Do(func() { close(decided) })
			}
		}
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		pump(out, console, onLine)
	}()
	waitErr := make(chan error, 1)
	go func() {
		<-readDone
		waitErr <- cmd.Wait()
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var exitErr error
	timedOut, killedAfterVerdict := false, false
	select {
	case exitErr = <-waitErr:
	case <-decided:
		g := time.NewTimer(grace)
		select {
		case exitErr = <-waitErr:
		case <-g.C:
			cmd.Process.Kill()
			exitErr = <-waitErr
			killedAfterVerdict = true
		case <-ctx.Done():
			cmd.Process.Kill()
			exitErr = <-waitErr
		}
		g.Stop()
	case <-timer.C:
		cmd.Process.Kill()
		exitErr = <-waitErr
		timedOut = true
	case <-ctx.Done():
		cmd.Process.Kill()
		<-waitErr
		return nil, ctx.Err()
	}
	res.Total = time.Since(start)

	mu.Lock()
	defer mu.Unlock()
	missing := []string{}
	for _, m := range expect {
		if _, ok := res.Seen[m]; !ok {
			missing = append(missing, m)
		}
	}
	switch {
	case failSeen != "":
		res.Verdict, res.Reason = Fail, "console: "+failSeen
		if strings.Contains(failSeen, inityaml.MarkerTimeout) {
			res.Verdict = Timeout
		}
	case len(missing) == 0:
		res.Verdict = Pass
		if killedAfterVerdict {
			res.Reason = fmt.Sprintf("all markers seen; QEMU did not exit within %s and was killed", grace)
		}
	case timedOut:
		res.Verdict, res.Reason = Timeout, fmt.Sprintf("no verdict within %s; missing %s", timeout, quoteList(missing))
		res.BootToVerdict = res.Total
	default:
		st := "exited"
		if exitErr != nil {
			st = exitErr.Error()
		}
		res.Verdict, res.Reason = Fail, fmt.Sprintf("QEMU %s before the guest printed %s", st, quoteList(missing))
		if s := strings.TrimSpace(stderr.String()); s != "" {
			res.Reason += "; QEMU said: " + lastLines(s, 5)
		}
		res.BootToVerdict = res.Total
	}
	return res, nil
}

func allSeen(seen map[string]time.Duration, expect []string) bool {
	for _, m := range expect {
		if _, ok := seen[m]; !ok {
			return false
		}
	}
	return true
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func lastLines(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// pump copies r to console as it arrives and calls onLine for each complete
// line (without the line end; over-long lines are cut at maxLine).
func pump(r io.Reader, console io.Writer, onLine func(string)) {
	buf := make([]byte, 4096)
	var line []byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			console.Write(buf[:n])
			chunk := buf[:n]
			for len(chunk) > 0 {
				i := bytes.IndexByte(chunk, '\n')
				if i < 0 {
					line = append(line, chunk...)
					if len(line) > maxLine {
						onLine(string(line))
						line = line[:0]
					}
					break
				}
				line = append(line, chunk[:i]...)
				onLine(strings.TrimRight(string(line), "\r"))
				line = line[:0]
				chunk = chunk[i+1:]
			}
		}
		if err != nil {
			if len(line) > 0 {
				onLine(strings.TrimRight(string(line), "\r"))
			}
			return
		}
	}
}
