// Package launcher starts a program under a seccomp filter, with the
// filter's notification fd handed to the supervisor and, optionally, a
// function-event arena (runtime/ring) passed in KCFM_RING_FD.
//
// Go's os/exec has no hook between fork and exec, so Start re-executes the
// calling binary as a small shim (argv[1] == ShimArg; every binary that
// calls Start must call MaybeRunShim first in main). The shim makes a
// single-threaded child that installs the filter and execs the program; the
// shim itself stays unfiltered and sends the listener fd back. The
// program's first execve passes the filter because its unused argument
// registers carry a 192-bit secret that only that one call knows. See
// docs/runtime-mechanisms.md.
package launcher

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/ring"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"golang.org/x/sys/unix"
)

// Config describes the program to start.
type Config struct {
	Path string   // program; without a slash it is looked up in PATH
	Args []string // argv including argv[0]; default {Path}
	Env  []string // default os.Environ(); KCFM_RING_* entries are replaced
	Dir  string   // working directory; default the caller's

	// Spec is the seccomp filter (nil: none). Its Arch must be the host's.
	// When a rule can notify, Process.Listener receives the notifications.
	Spec *seccomp.Spec
	// Listener tunes Process.Listener (e.g. direct mode).
	Listener seccomp.ListenerOptions

	// Arena receives function events of an instrumented program (nil:
	// none, and KCFM_RING_FD is removed from the environment).
	Arena *ring.Arena
	// RingStall is KCFM_RING_STALL_MS: 0 keeps the runtime default (5s),
	// a negative value means never give up.
	RingStall time.Duration

	Stdin          io.Reader // nil: /dev/null
	Stdout, Stderr io.Writer // nil: /dev/null
	ExtraFiles     []*os.File

	// ShimPath is the binary to re-execute as the shim (default
	// /proc/self/exe); it must call MaybeRunShim.
	ShimPath string
	// Timeout bounds the hand-over (default 30s).
	Timeout time.Duration
}

// Process is a started program.
type Process struct {
	Pid int
	// Listener receives the filter's notifications (nil when no rule
	// notifies). The caller owns it and must Close it.
	Listener *seccomp.Listener
	// Filter is the installed program (exec-secret rule included) and
	// FilterFlags the SECCOMP_FILTER_FLAG_* that took effect.
	Filter      seccomp.Program
	FilterFlags seccomp.InstallFlags
	// RingFD is KCFM_RING_FD in the program, or -1.
	RingFD int

	proc      *os.Process
	mu        sync.Mutex
	reaped    bool
	copies    sync.WaitGroup
	closeAt   []io.Closer // our ends of the stdio pipes
	childEnds []io.Closer // the program's ends, closed here once the shim has them
	state     *os.ProcessState
	waitErr   error
	waited    chan struct{}
}

// Errors of Start.
var (
	ErrShim = errors.New("launcher: shim failed")
)

// execSecretRule lets through the one execve whose argument registers 3..5
// (ignored by execve) hold the secret.
func execSecretRule(arch sysnum.Arch, secret [3]uint64) (seccomp.Rule, error) {
	r, err := seccomp.RuleFor(arch, "execve", seccomp.Allow)
	if err != nil {
		return r, err
	}
	for i, s := range secret {
		r.Conds = append(r.Conds, seccomp.Cond{Arg: 3 + i, Op: seccomp.OpEq, Value: s})
	}
	return r, nil
}

// The thread that forks a child is its "parent" for PR_SET_PDEATHSIG: the
// program is killed when that thread exits. All forks therefore happen on
// one goroutine locked to its thread for the life of the process.
var (
	forkOnce sync.Once
	forkReq  chan func()
)

func onLauncherThread(f func()) {
	forkOnce.Do(func() {
		forkReq = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for f := range forkReq {
				f()
			}
		}()
	})
	done := make(chan struct{})
	forkReq <- func() { f(); close(done) }
	<-done
}

func envWithout(env []string, names ...string) []string {
	out := make([]string, 0, len(env))
next:
	for _, e := range env {
		for _, n := range names {
			if strings.HasPrefix(e, n+"=") {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// Start launches the program. On success the program is running (past its
// execve) with the filter installed.
func Start(cfg Config) (*Process, error) {
	if cfg.Path == "" {
		return nil, errors.New("launcher: empty program path")
	}
	path := cfg.Path
	if !strings.Contains(path, "/") {
		p, err := exec.LookPath(path)
		if err != nil {
			return nil, fmt.Errorf("launcher: %w", err)
		}
		path = p
	}
	argv := cfg.Args
	if len(argv) == 0 {
		argv = []string{cfg.Path}
	}
	env := cfg.Env
	if env == nil {
		env = os.Environ()
	}
	env = envWithout(env, ring.EnvFD, ring.EnvStallMS)
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	shimPath := cfg.ShimPath
	if shimPath == "" {
		shimPath = "/proc/self/exe"
	}

	p := &Process{RingFD: -1, waited: make(chan struct{})}
	sc := shimConfig{Version: protoVersion, SupervisorPid: os.Getpid(), Path: path, Argv: argv}
	if cfg.Spec != nil {
		if cfg.Spec.Arch != sysnum.Host() {
			return nil, fmt.Errorf("launcher: filter is for %s, this machine is %s", cfg.Spec.Arch, sysnum.Host())
		}
		var rb [24]byte
		if _, err := rand.Read(rb[:]); err != nil {
			return nil, fmt.Errorf("launcher: exec secret: %w", err)
		}
		for i := range sc.Secret {
			sc.Secret[i] = binary.LittleEndian.Uint64(rb[8*i:])
		}
		rule, err := execSecretRule(cfg.Spec.Arch, sc.Secret)
		if err != nil {
			return nil, err
		}
		spec := *cfg.Spec
		spec.Rules = append([]seccomp.Rule{rule}, cfg.Spec.Rules...)
		prog, err := spec.Assemble()
		if err != nil {
			return nil, fmt.Errorf("launcher: %w", err)
		}
		p.Filter = prog
		sc.Filter = prog.Bytes()
		if spec.Notifies() {
			sc.Flags = uint(seccomp.FlagNewListener | seccomp.FlagWaitKillableRecv)
		}
	}

	// fds of the shim (and so of the program): 0-2, ExtraFiles from 3, then
	// the arena, then the control socket (close-on-exec in the program).
	extra := append([]*os.File(nil), cfg.ExtraFiles...)
	if cfg.Arena != nil {
		p.RingFD = 3 + len(extra)
		extra = append(extra, cfg.Arena.File())
		env = append(env, ring.EnvFD+"="+strconv.Itoa(p.RingFD))
		if cfg.RingStall < 0 {
			env = append(env, ring.EnvStallMS+"=0")
		} else if cfg.RingStall > 0 {
			ms := cfg.RingStall.Milliseconds()
			if ms == 0 {
				ms = 1
			}
			env = append(env, ring.EnvStallMS+"="+strconv.FormatInt(ms, 10))
		}
	}
	sc.Env = env

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("launcher: socketpair: %w", err)
	}
	supEnd := os.NewFile(uintptr(fds[0]), "kcfm-ctl")
	shimEnd := os.NewFile(uintptr(fds[1]), "kcfm-ctl-shim")
	ctlFD := 3 + len(extra)
	extra = append(extra, shimEnd)
	defer shimEnd.Close()

	stdin, stdout, stderr, err := p.stdio(cfg)
	if err != nil {
		supEnd.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:        shimPath,
		Args:        []string{"kcfm-shim", ShimArg},
		Env:         []string{envShimCtl + "=" + strconv.Itoa(ctlFD)},
		Dir:         cfg.Dir,
		Stdin:       stdin,
		Stdout:      stdout,
		Stderr:      stderr,
		ExtraFiles:  extra,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	var startErr error
	onLauncherThread(func() { startErr = cmd.Start() })
	shimEnd.Close()
	p.closeChildEnds()
	if startErr != nil {
		supEnd.Close()
		p.cleanup()
		return nil, fmt.Errorf("launcher: starting the shim %s: %w", shimPath, startErr)
	}
	res, lfd, err := handOver(supEnd, &sc, timeout)
	werr := cmd.Wait()
	if err == nil && res.Err == "" && werr != nil {
		err = fmt.Errorf("shim: %v", werr)
	}
	if err != nil || res.Err != "" {
		if lfd >= 0 {
			unix.Close(lfd)
		}
		if res.Pid > 0 {
			var ws syscall.WaitStatus
			syscall.Wait4(res.Pid, &ws, 0, nil) // the failed child is ours (CLONE_PARENT)
		}
		p.cleanup()
		if err == nil {
			err = errors.New(res.Err)
			if res.Errno != 0 {
				err = fmt.Errorf("%s: %w", res.Stage, syscall.Errno(res.Errno))
			}
		}
		return nil, fmt.Errorf("%w: launching %s: %w", ErrShim, path, err)
	}
	p.Pid = res.Pid
	p.FilterFlags = seccomp.InstallFlags(res.Flags)
	proc, err := os.FindProcess(res.Pid)
	if err != nil {
		p.cleanup()
		return nil, fmt.Errorf("launcher: %w", err)
	}
	p.proc = proc
	go func() {
		p.state, p.waitErr = p.proc.Wait()
		p.mu.Lock()
		p.reaped = true
		p.mu.Unlock()
		p.copies.Wait()
		p.cleanup()
		close(p.waited)
	}()
	if lfd >= 0 {
		l, err := seccomp.NewListenerWith(lfd, cfg.Listener)
		if err != nil {
			unix.Close(lfd)
			p.Kill()
			p.Wait()
			return nil, err
		}
		p.Listener = l
	} else if sc.Flags&uint(seccomp.FlagNewListener) != 0 {
		p.Kill()
		p.Wait()
		return nil, fmt.Errorf("%w: no listener fd came back", ErrShim)
	}
	return p, nil
}

// handOver sends the config and reads the result (and the listener fd).
func handOver(f *os.File, sc *shimConfig, timeout time.Duration) (shimResult, int, error) {
	var res shimResult
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return res, -1, err
	}
	defer c.Close()
	uc := c.(*net.UnixConn)
	uc.SetDeadline(time.Now().Add(timeout))
	b, err := frame(sc)
	if err != nil {
		return res, -1, err
	}
	if _, err := uc.Write(b); err != nil {
		return res, -1, fmt.Errorf("sending config to the shim: %w", err)
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		return res, -1, fmt.Errorf("reading the shim's answer: %w", err)
	}
	lfd := -1
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil && len(msgs) == 1 {
			if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
				lfd = fds[0]
				unix.CloseOnExec(lfd)
			}
		}
	}
	data := buf[:n]
	for len(data) < 4 {
		m, err := uc.Read(buf[len(data):])
		if err != nil {
			return res, lfd, fmt.Errorf("reading the shim's answer: %w", err)
		}
		data = buf[:len(data)+m]
	}
	size := int(binary.LittleEndian.Uint32(data))
	if size > len(buf)-4 {
		return res, lfd, fmt.Errorf("shim answer of %d bytes", size)
	}
	for len(data) < 4+size {
		m, err := uc.Read(buf[len(data) : 4+size])
		if err != nil {
			return res, lfd, fmt.Errorf("reading the shim's answer: %w", err)
		}
		data = buf[:len(data)+m]
	}
	if err := json.Unmarshal(data[4:4+size], &res); err != nil {
		return res, lfd, fmt.Errorf("decoding the shim's answer: %w", err)
	}
	return res, lfd, nil
}

// stdio turns the configured readers/writers into files for the shim,
// with copying goroutines where they are not files.
func (p *Process) stdio(cfg Config) (in, out, errf *os.File, err error) {
	open := func(r io.Reader, w io.Writer) (*os.File, error) {
		// A nil *os.File in the interface means "not set", as in os/exec.
		if f, ok := r.(*os.File); ok && f == nil {
			r = nil
		}
		if f, ok := w.(*os.File); ok && f == nil {
			w = nil
		}
		if r != nil {
			if f, ok := r.(*os.File); ok {
				return f, nil
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			p.childEnds = append(p.childEnds, pr)
			p.closeAt = append(p.closeAt, pw)
			go func() { io.Copy(pw, r); pw.Close() }()
			return pr, nil
		}
		if w != nil {
			if f, ok := w.(*os.File); ok {
				return f, nil
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			p.childEnds = append(p.childEnds, pw)
			p.copies.Add(1)
			go func() { defer p.copies.Done(); io.Copy(w, pr); pr.Close() }()
			return pw, nil
		}
		f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err == nil {
			p.childEnds = append(p.childEnds, f)
		}
		return f, err
	}
	if in, err = open(cfg.Stdin, nil); err == nil {
		if out, err = open(nil, cfg.Stdout); err == nil {
			if cfg.Stderr != nil && sameWriter(cfg.Stdout, cfg.Stderr) {
				errf = out // one pipe, as os/exec does: two copiers would race on the writer
			} else {
				errf, err = open(nil, cfg.Stderr)
			}
		}
	}
	if err != nil {
		p.cleanup()
		return nil, nil, nil, fmt.Errorf("launcher: stdio: %w", err)
	}
	return in, out, errf, nil
}

// closeChildEnds closes our copies of the program's stdio ends: the
// copying goroutines see EOF only when every writer is gone.
func (p *Process) closeChildEnds() {
	for _, c := range p.childEnds {
		c.Close()
	}
	p.childEnds = nil
}

func (p *Process) cleanup() {
	p.closeChildEnds()
	p.mu.Lock()
	cs := p.closeAt
	p.closeAt = nil
	p.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// Wait waits for the program to exit (and for its output to be copied)
// and returns its status. It may be called more than once.
func (p *Process) Wait() (*os.ProcessState, error) {
	<-p.waited
	return p.state, p.waitErr
}

// Done is closed when the program has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.waited }

// Kill sends SIGKILL to the program's process group (the program and
// everything it forked that stayed in the group) while the program has not
// been reaped, and to the program itself.
func (p *Process) Kill() error {
	p.mu.Lock()
	if !p.reaped {
		syscall.Kill(-p.Pid, syscall.SIGKILL)
	}
	p.mu.Unlock()
	err := p.proc.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Signal sends sig to the program.
func (p *Process) Signal(sig os.Signal) error { return p.proc.Signal(sig) }

// sameWriter reports whether a and b are the same writer (false for
// values that cannot be compared).
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
