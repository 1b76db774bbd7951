// Package record runs a program and records its events as a trace: function
// events from the runtime library's shared-memory ring (the same arena and
// reader FlowChecker uses) and every syscall from ptrace syscall stops, in
// program order per thread (the thread's ring is drained at each of its
// syscall stops, before the syscall is written). Threads, forked children
// and exec are followed.
//
// Recording is for building and testing models (`kcfm record`, then
// `kcfm check`); it is slow (two ptrace stops per syscall) and is not the
// monitoring path.
package record

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/checker"
	"github.com/kcfm-linux/kcfm/runtime/ring"
	"github.com/kcfm-linux/kcfm/runtime/trace"
)

// Options of a recording.
type Options struct {
	Path   string
	Args   []string // argv[1:]
	Env    []string // nil: the current environment
	Dir    string
	Stdin  *os.File
	Stdout *os.File
	Stderr *os.File
	// Slots and RecordsPerSlot size the ring arena (0: defaults).
	Slots, RecordsPerSlot int
}

// Result of a recording.
type Result struct {
	ExitCode int // the program's exit status, 128+N when killed by signal N
	Events   int
}

type task struct {
	pid       int // thread group id
	inSyscall bool
	attached  bool
}

type recorder struct {
	w     *trace.Writer
	arena *ring.Arena
	table *sysnum.Table
	tasks map[int]*task
	syms  map[int]*checker.Symbolizer
	n     int
	err   error
}

// Run records the program into w.
func Run(opt Options, w *trace.Writer) (*Result, error) {
	table := sysnum.For(sysnum.Host())
	if table == nil {
		return nil, fmt.Errorf("record: unsupported host architecture %s", runtime.GOARCH)
	}
	slots, recs := opt.Slots, opt.RecordsPerSlot
	if slots == 0 {
		slots = ring.DefaultSlots
	}
	if recs == 0 {
		recs = ring.DefaultRecordsPerSlot
	}
	arena, err := ring.NewArena(slots, recs)
	if err != nil {
		return nil, err
	}
	defer arena.Close()

	// ptrace requests must come from the thread that started the tracee.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	env := opt.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(env, "KCFM_RING_FD=3", "KCFM_RING_STALL_MS=0")
	cmd := exec.Command(opt.Path, opt.Args...)
	cmd.Env, cmd.Dir = env, opt.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opt.Stdin, opt.Stdout, opt.Stderr
	cmd.ExtraFiles = []*os.File{arena.File()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("record: start %s: %v", opt.Path, err)
	}
	pid := cmd.Process.Pid
	// SIGTERM/SIGINT/SIGHUP to the recorder go to the program, which ends
	// as it would unrecorded; the trace is then complete.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	defer func() { signal.Stop(sigs); close(sigs) }()
	go func() {
		for s := range sigs {
			unix.Kill(pid, s.(syscall.Signal))
		}
	}()
	r := &recorder{w: w, arena: arena, table: table, tasks: map[int]*task{}, syms: map[int]*checker.Symbolizer{}}
	// The child stops at its exec with SIGTRAP.
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		return nil, fmt.Errorf("record: wait for %s: %v", opt.Path, err)
	}
	if !ws.Stopped() {
		return nil, fmt.Errorf("record: %s did not start (status %v)", opt.Path, ws)
	}
	opts := unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
		unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL
	if err := unix.PtraceSetOptions(pid, opts); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return nil, fmt.Errorf("record: ptrace options: %v", err)
	}
	r.tasks[pid] = &task{pid: pid, attached: true}
	r.emit(trace.Event{Ev: trace.Thread, Pid: pid, Tid: pid})
	if err := unix.PtraceSyscall(pid, 0); err != nil {
		return nil, err
	}
	res := &Result{}
	for len(r.tasks) > 0 {
		tid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.ECHILD) {
				break
			}
			return nil, err
		}
		t := r.tasks[tid]
		if t == nil {
			// A new task reported before its creator's event: attach it.
			t = &task{pid: tgid(tid), attached: true}
			r.tasks[tid] = t
		}
		switch {
		case ws.Exited() || ws.Signaled():
			r.drain(t.pid, tid)
			r.emit(trace.Event{Ev: trace.Gone, Pid: t.pid, Tid: tid})
			delete(r.tasks, tid)
			if tid == pid {
				if ws.Exited() {
					res.ExitCode = ws.ExitStatus()
				} else {
					res.ExitCode = 128 + int(ws.Signal())
				}
			}
			continue
		case !ws.Stopped():
			continue
		}
		sig := ws.StopSignal()
		var deliver int
		switch {
		case sig == unix.SIGTRAP|0x80: // syscall stop
			if !t.inSyscall {
				nr, err := syscallNr(tid)
				if err == nil {
					r.drain(t.pid, tid)
					r.emit(trace.Event{Ev: trace.Syscall, Pid: t.pid, Tid: tid, Nr: nr, Name: table.Name(nr)})
				}
			}
			t.inSyscall = !t.inSyscall
		case sig == unix.SIGTRAP && ws.TrapCause() > 0:
			switch ws.TrapCause() {
			case unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK, unix.PTRACE_EVENT_CLONE:
				msg, _ := unix.PtraceGetEventMsg(tid)
				child := int(msg)
				cpid := child
				if ws.TrapCause() == unix.PTRACE_EVENT_CLONE {
					cpid = tgid(child)
				}
				if _, ok := r.tasks[child]; !ok {
					r.tasks[child] = &task{pid: cpid}
				} else {
					r.tasks[child].pid = cpid
				}
				r.emit(trace.Event{Ev: trace.Thread, Pid: cpid, Tid: child, PPid: t.pid, PTid: tid})
			case unix.PTRACE_EVENT_EXEC:
				r.drain(t.pid, tid)
				path, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", tid))
				delete(r.syms, t.pid)
				r.emit(trace.Event{Ev: trace.Exec, Pid: t.pid, Tid: tid, Path: path})
				t.inSyscall = true // the exec's syscall-exit stop follows
			}
		case sig == unix.SIGSTOP && !t.attached:
			t.attached = true // the initial stop of an auto-attached task
		default:
			deliver = int(sig)
		}
		if err := unix.PtraceSyscall(tid, deliver); err != nil && !errors.Is(err, unix.ESRCH) {
			return nil, err
		}
	}
	// Whatever is left in the rings (threads that ended without a final stop).
	r.arena.DrainAll(func(si ring.SlotInfo, rec ring.Record) error {
		r.record(si.Pid, si.Tid, rec)
		return nil
	})
	cmd.Process.Release()
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	res.Events = r.n
	return res, nil
}

func (r *recorder) emit(e trace.Event) {
	if r.err != nil {
		return
	}
	r.n++
	r.err = r.w.Write(e)
}

func (r *recorder) drain(pid, tid int) {
	r.arena.Drain(tid, func(rec ring.Record) error {
		r.record(pid, tid, rec)
		return nil
	})
}

func (r *recorder) record(pid, tid int, rec ring.Record) {
	if rec.Lost {
		return
	}
	s := r.syms[pid]
	if s == nil {
		s = checker.NewNameResolver(pid)
		r.syms[pid] = s
	}
	name, file, ok := s.Name(rec.Fn)
	if !ok {
		name = "0x" + strconv.FormatUint(rec.Fn, 16)
	}
	ev := trace.Enter
	if rec.Exit {
		ev = trace.Exit
	}
	r.emit(trace.Event{Ev: ev, Pid: pid, Tid: tid, Sym: name, File: file})
}

// tgid reads the thread group of a task from /proc.
func tgid(tid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return tid
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n
			}
		}
	}
	return tid
}
