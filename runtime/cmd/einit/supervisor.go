package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kcfm-linux/kcfm/tools/image/inityaml"
	"golang.org/x/sys/unix"
)

// console serialises whole lines to the console so that the output of
// concurrent entities never interleaves within a line.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

func newConsole(w io.Writer) *console { return &console{w: w} }

func (c *console) printf(format string, args ...any) {
	c.line(fmt.Sprintf(format, args...))
}

func (c *console) line(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	io.WriteString(c.w, s+"\n")
}

// proc is one started entity.
type proc struct {
	e       *inityaml.Entity
	pid     int
	status  unix.WaitStatus
	exited  chan struct{} // closed by the reaper
	outDone chan struct{} // closed when the output pipe reaches EOF
	ready   chan struct{} // closed when the ready line is seen
	readyMu sync.Once
}

// supervisor starts the entities of one init.yaml and waits for the verdict.
type supervisor struct {
	cfg   *inityaml.Config
	con   *console
	pid1  bool
	start time.Time
	grace time.Duration

	mu     sync.Mutex
	procs  map[int]*proc // running, by pid
	all    []*proc       // every started entity, in start order
	exits  chan *proc
	orphan int // reaped processes einit did not start

	pending map[string][]channelEnd // channel ends not yet handed out, by task
}

func newSupervisor(cfg *inityaml.Config, con *console, pid1 bool, start time.Time) *supervisor {
	return &supervisor{cfg: cfg, con: con, pid1: pid1, start: start, grace: 2 * time.Second,
		procs: map[int]*proc{}, exits: make(chan *proc, inityaml.MaxEntities)}
}

func (s *supervisor) logf(format string, args ...any) {
	s.con.printf("%s %s", inityaml.MarkerEinit, fmt.Sprintf(format, args...))
}

// reaper collects every child that exits, ours or orphaned (PID 1's duty;
// in host mode einit is a child subreaper, so orphans come here as well).
func (s *supervisor) reaper(sigs <-chan os.Signal) {
	for range sigs {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if pid <= 0 || err != nil {
				break
			}
			s.mu.Lock()
			p := s.procs[pid]
			if p != nil {
				delete(s.procs, pid)
				p.status = ws
			} else {
				s.orphan++
			}
			s.mu.Unlock()
			if p != nil {
				close(p.exited)
				s.exits <- p
			}
		}
	}
}

// run starts everything and returns the exit code (host mode) after
// printing the verdict marker and stopping whatever still runs.
func (s *supervisor) run() int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD)
	go s.reaper(sigs)
	// Reap anything that exited before Notify took effect.
	sigs <- syscall.SIGCHLD

	stop := make(chan os.Signal, 1)
	if !s.pid1 {
		signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	}

	order := s.cfg.StartOrder()
	driver := s.cfg.Driver()
	s.logf("style=%s entities=%d autostart=%d driver=%s timeout=%s uptime=%s",
		s.cfg.Style, len(s.cfg.Entities), len(order), taskOrNone(driver), s.cfg.Timeout, uptime(s.start))
	deadline := time.NewTimer(s.cfg.Timeout - time.Since(s.start))
	defer deadline.Stop()

	verdict, code := "", exitPass
	finish := func(v string, c int) int {
		s.shutdown()
		s.mu.Lock()
		orphans := s.orphan
		s.mu.Unlock()
		if orphans > 0 {
			s.logf("reaped %d orphaned processes", orphans)
		}
		s.con.line(v + " uptime=" + uptime(s.start))
		return c
	}

	for _, e := range order {
		p, err := s.spawn(e)
		if err != nil {
			return finish(fmt.Sprintf("%s (cannot start %s: %v)", inityaml.MarkerFail, e.Task, err), exitFail)
		}
		if e.Role == inityaml.RoleOneshot {
			if v, c, ok := s.waitOneshot(p, deadline.C, stop); !ok {
				return finish(v, c)
			}
		}
		if e.Ready != "" {
			if v, c, ok := s.waitReady(p, deadline.C, stop); !ok {
				return finish(v, c)
			}
		}
	}

	running := 0
	for _, p := range s.all {
		if p.e.Role != inityaml.RoleOneshot {
			running++
		}
	}
	failed := []string{}
	// Exits of oneshots were consumed by waitOneshot; count the rest.
	for verdict == "" {
		if driver == nil && running == 0 {
			if len(failed) == 0 {
				verdict = fmt.Sprintf("%s (all %d entities exited with status 0)", inityaml.MarkerPass, len(s.all))
			} else {
				verdict, code = fmt.Sprintf("%s (entities failed: %s)", inityaml.MarkerFail, strings.Join(failed, ", ")), exitFail
			}
			break
		}
		select {
		case p := <-s.exits:
			if p.e.Role == inityaml.RoleOneshot {
				continue
			}
			running--
			s.drain(p)
			st := describe(p.status)
			s.logf("exited %s pid=%d %s", p.e.Task, p.pid, st)
			if exitCode(p.status) != 0 {
				failed = append(failed, p.e.Task)
			}
			if p.e == driver {
				s.con.printf("%s name=%s %s", inityaml.MarkerDriverExit, p.e.Task, st)
				if exitCode(p.status) == 0 {
					verdict = fmt.Sprintf("%s driver=%s status=0", inityaml.MarkerPass, p.e.Task)
				} else {
					verdict, code = fmt.Sprintf("%s driver=%s %s", inityaml.MarkerFail, p.e.Task, st), exitFail
				}
			}
		case <-deadline.C:
			verdict, code = fmt.Sprintf("%s (after %s; still running: %s)", inityaml.MarkerTimeout, s.cfg.Timeout, s.runningList()), exitTimeout
		case sig := <-stop:
			verdict, code = fmt.Sprintf("%s (einit got %v)", inityaml.MarkerFail, sig), exitFail
		}
	}
	return finish(verdict, code)
}

func taskOrNone(e *inityaml.Entity) string {
	if e == nil {
		return "none"
	}
	return e.Task
}

func (s *supervisor) runningList() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, p := range s.procs {
		names = append(names, p.e.Task)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (s *supervisor) waitOneshot(p *proc, deadline <-chan time.Time, stop <-chan os.Signal) (string, int, bool) {
	select {
	case <-p.exited:
		s.drain(p)
		st := describe(p.status)
		s.logf("exited %s pid=%d %s", p.e.Task, p.pid, st)
		if exitCode(p.status) != 0 {
			return fmt.Sprintf("%s (oneshot %s failed: %s)", inityaml.MarkerFail, p.e.Task, st), exitFail, false
		}
		return "", 0, true
	case <-deadline:
		return fmt.Sprintf("%s (after %s, waiting for oneshot %s)", inityaml.MarkerTimeout, s.cfg.Timeout, p.e.Task), exitTimeout, false
	case sig := <-stop:
		return fmt.Sprintf("%s (einit got %v)", inityaml.MarkerFail, sig), exitFail, false
	}
}

func (s *supervisor) waitReady(p *proc, deadline <-chan time.Time, stop <-chan os.Signal) (string, int, bool) {
	t := time.NewTimer(p.e.ReadyTimeout)
	defer t.Stop()
	select {
	case <-p.ready:
		s.logf("ready %s uptime=%s", p.e.Task, uptime(s.start))
		return "", 0, true
	case <-p.exited:
		s.drain(p)
		return fmt.Sprintf("%s (%s exited before printing its ready line %q: %s)", inityaml.MarkerFail, p.e.Task, p.e.Ready, describe(p.status)), exitFail, false
	case <-t.C:
		return fmt.Sprintf("%s (%s did not print its ready line %q within %s)", inityaml.MarkerFail, p.e.Task, p.e.Ready, p.e.ReadyTimeout), exitFail, false
	case <-deadline:
		return fmt.Sprintf("%s (after %s, waiting for %s to be ready)", inityaml.MarkerTimeout, s.cfg.Timeout, p.e.Task), exitTimeout, false
	case sig := <-stop:
		return fmt.Sprintf("%s (einit got %v)", inityaml.MarkerFail, sig), exitFail, false
	}
}

// drain waits a little for the rest of an exited entity's output, so that
// its last lines come before einit's line about its exit. A grandchild that
// keeps the pipe open must not block einit, hence the bound.
func (s *supervisor) drain(p *proc) {
	select {
	case <-p.outDone:
	case <-time.After(time.Second):
	}
}

// baseEnv is the environment every entity starts from.
func (s *supervisor) baseEnv() []string {
	if !s.pid1 {
		return os.Environ()
	}
	return []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/", "TERM=linux"}
}

// channelEnd is one end of a static channel: einit creates a socket pair
// per connection and hands the client end to the client and the other end to
// the target, as an inherited descriptor named by KCFM_CHANNEL_<id>.
type channelEnd struct {
	env  string
	file *os.File
}

func (s *supervisor) spawn(e *inityaml.Entity) (*proc, error) {
	env := setEnv(s.baseEnv(), "KCFM_ENTITY", e.Task)
	env = setEnv(env, "KCFM_ENTITY_CLASS", e.Name)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	files := []*os.File{devnull, w, w}
	ends := s.takeChannels(e)
	for _, c := range ends {
		env = setEnv(env, c.env, fmt.Sprint(len(files)))
		files = append(files, c.file)
	}
	for _, v := range e.Env {
		env = setEnv(env, v.Name, v.Value)
	}
	p := &proc{e: e, exited: make(chan struct{}), outDone: make(chan struct{}), ready: make(chan struct{})}
	attr := &os.ProcAttr{Dir: e.Workdir, Env: env, Files: files, Sys: &syscall.SysProcAttr{Setsid: true}}
	argv := append([]string{e.Path}, e.Args...)

	s.mu.Lock()
	proc, err := os.StartProcess(e.Path, argv, attr)
	if err == nil {
		p.pid = proc.Pid
		s.procs[p.pid] = p
		s.all = append(s.all, p)
	}
	s.mu.Unlock()
	w.Close()
	for _, c := range ends {
		c.file.Close()
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	proc.Release()
	go s.forward(p, r)
	s.logf("started %s pid=%d path=%s uptime=%s", e.Task, p.pid, e.Path, uptime(s.start))
	return p, nil
}

func (s *supervisor) takeChannels(e *inityaml.Entity) []channelEnd {
	if s.pending == nil {
		s.pending = map[string][]channelEnd{}
		for _, c := range s.cfg.Entities {
			if !c.Autostart {
				continue
			}
			for _, conn := range c.Connections {
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					s.logf("warning: channel %s (%s -> %s): %v", conn.ID, c.Task, conn.Target, err)
					continue
				}
				env := inityaml.ChannelEnv(conn.ID)
				s.pending[c.Task] = append(s.pending[c.Task], channelEnd{env, os.NewFile(uintptr(fds[0]), conn.ID+".client")})
				s.pending[conn.Target] = append(s.pending[conn.Target], channelEnd{env, os.NewFile(uintptr(fds[1]), conn.ID+".server")})
			}
		}
	}
	ends := s.pending[e.Task]
	delete(s.pending, e.Task)
	return ends
}

func setEnv(env []string, k, v string) []string {
	prefix := k + "="
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return append(out, prefix+v)
}

// maxLine bounds one forwarded line; longer output is split.
const maxLine = 4096

// forward copies an entity's output to the console, one prefixed line at a
// time, and watches for its ready line.
func (s *supervisor) forward(p *proc, r *os.File) {
	defer close(p.outDone)
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLine)
	prefix := "[" + p.e.Task + "] "
	ready := []byte(p.e.Ready)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			line := bytes.TrimRight(chunk, "\r\n")
			if len(ready) > 0 && bytes.Contains(line, ready) {
				p.readyMu.Do(func() { close(p.ready) })
			}
			s.con.line(prefix + string(line))
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
	}
}

// shutdown stops every entity still running: SIGTERM to each process group,
// then SIGKILL after the grace period.
func (s *supervisor) shutdown() {
	s.mu.Lock()
	var left []*proc
	for _, p := range s.procs {
		left = append(left, p)
	}
	s.mu.Unlock()
	if len(left) == 0 {
		return
	}
	for _, p := range left {
		unix.Kill(-p.pid, unix.SIGTERM)
		unix.Kill(p.pid, unix.SIGTERM)
	}
	t := time.NewTimer(s.grace)
	defer t.Stop()
	for _, p := range left {
		select {
		case <-p.exited:
		case <-t.C:
			for _, q := range left {
				unix.Kill(-q.pid, unix.SIGKILL)
				unix.Kill(q.pid, unix.SIGKILL)
			}
			for _, q := range left {
				select {
				case <-q.exited:
				case <-time.After(time.Second):
				}
			}
			s.logf("stopped %d entities (SIGKILL after %s)", len(left), s.grace)
			return
		}
	}
	s.logf("stopped %d entities (SIGTERM)", len(left))
}

// exitCode is the shell-style status: the exit code, or 128+signal.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func describe(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("status=%d signal=%s", exitCode(ws), unix.SignalName(ws.Signal()))
	}
	return fmt.Sprintf("status=%d", ws.ExitStatus())
}
