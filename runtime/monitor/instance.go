package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/execmgr"
	"github.com/kcfm-linux/kcfm/runtime/ipc"
	"github.com/kcfm-linux/kcfm/runtime/ring"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
)

// instance is FlowChecker's state of one program instance.
type instance struct {
	s         *session
	id        uint64
	pgid      int
	root      int
	verdict   string
	model     Model
	lis       *seccomp.Listener
	ring      *ring.Arena   // nil: the program has no function events
	batch     []ring.Record // drainSlot's buffer (in.mu held)
	table     *sysnum.Table
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu        sync.Mutex // serialises every Model call and the tables below
	threads   map[int]*thread
	procs     map[int]*process
	condemned bool
	pending   []*Anomaly // found while ending threads, reported by flushPending
	quit      chan struct{}
}

type thread struct {
	pid int
}

type process struct {
	ref         execmgr.ProcRef
	threads     map[int]bool
	forkers     []int // threads whose fork/clone (new process) was let through, child not seen yet
	spawners    []int // threads whose clone(CLONE_THREAD) was let through (full mode), thread not seen yet
	execPending bool  // an execve/execveat was let through and its outcome is not known yet
	fp          execFingerprint
	image       uint64          // ring image id of the current image (0: none seen yet)
	stale       map[uint64]bool // image ids of images this process replaced
}

func newInstance(s *session, b *ipc.Instance, m Model, fds []int) (*instance, error) {
	if b.Pgid <= 1 || b.Pid <= 1 || b.Pgid == unix.Getpgrp() {
		closeFDs(fds)
		return nil, fmt.Errorf("instance %d: process group %d cannot be a monitored program's", b.ID, b.Pgid)
	}
	lis, ar, err := openInstanceFDs(b, fds)
	if err != nil {
		closeFDs(fds)
		return nil, err
	}
	return &instance{s: s, id: b.ID, pgid: b.Pgid, root: b.Pid, verdict: b.OnAnomaly, model: m, lis: lis, ring: ar,
		table: sysnum.For(sysnum.Host()), threads: map[int]*thread{}, procs: map[int]*process{},
		quit: make(chan struct{})}, nil
}

func (in *instance) start() {
	in.wg.Add(1)
	go in.loop()
	if in.ring != nil {
		in.wg.Add(1)
		go in.drainer()
	}
}

// close stops the loops and closes the fds; safe to call more than once.
func (in *instance) close() {
	in.closeOnce.Do(func() {
		close(in.quit)
		in.lis.Close() // wakes the loop's Recv
		in.wg.Wait()
		if in.ring != nil {
			in.ring.Close()
		}
	})
}

// killAll kills the whole tree of the instance (fail closed).
func (in *instance) killAll() {
	in.mu.Lock()
	var refs []execmgr.ProcRef
	for _, p := range in.procs {
		refs = append(refs, p.ref)
	}
	in.mu.Unlock()
	if err := execmgr.KillSession(in.pgid, refs, 5*time.Second); err != nil {
		in.s.h.logf("instance %d: %v", in.id, err)
	}
}

// loop answers the notifications of the instance. It runs on a locked OS
// thread: the receive and send ioctls are raw syscalls on a thread that
// does nothing else.
func (in *instance) loop() {
	defer in.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var n seccomp.Notif
	for {
		err := in.lis.Recv(&n)
		switch {
		case err == nil:
			in.handle(&n)
		case errors.Is(err, seccomp.ErrClosed):
			return
		case errors.Is(err, seccomp.ErrNoTasks):
			// No task uses the filter any more: the whole tree is gone.
			in.finish()
			if err := in.s.conn.Send(ipc.TEnded, &ipc.Ended{ID: in.id, Reason: "no task left"}); err != nil {
				in.s.h.logf("instance %d: %v", in.id, err)
			}
			return
		default:
			select {
			case <-in.quit:
				return
			default:
			}
			in.s.h.logf("instance %d: %v", in.id, err)
			in.failInstance(fmt.Sprintf("receiving a notification failed: %v", err))
			return
		}
	}
}

// failInstance is the fail-closed path for a broken listener: kill the tree.
func (in *instance) failInstance(why string) {
	in.mu.Lock()
	in.condemned = true
	in.mu.Unlock()
	in.killAll()
	in.s.report(&ipc.AnomalyReport{ID: in.id, Verdict: ipc.VerdictKill, Syscall: -1,
		Anomaly: Anomaly{Type: "anomaly", Pid: in.root, Event: "checker failure", Reason: why}})
}

// handle decides one notification and answers it.
func (in *instance) handle(n *seccomp.Notif) {
	tid := int(n.Pid)
	nr := int(n.Data.Nr)
	in.mu.Lock()
	if in.condemned {
		in.mu.Unlock()
		syscall.Kill(tid, syscall.SIGKILL)
		in.lis.Respond(n.ID, seccomp.Fail(syscall.EPERM))
		return
	}
	if n.Data.Arch != in.table.Arch().AuditArch() {
		// The filter kills other architectures; a notification of one is a bug: refuse.
		in.mu.Unlock()
		in.lis.Respond(n.ID, seccomp.Fail(syscall.ENOSYS))
		return
	}
	var a *Anomaly
	t := in.threads[tid]
	if t == nil {
		pid, ppid, err := taskIDs(tid)
		if err != nil {
			in.mu.Unlock()
			// The task is gone (killed while waiting): nothing will run.
			in.lis.Respond(n.ID, seccomp.Fail(syscall.EPERM))
			return
		}
		if in.ring != nil && in.procs[pid] == nil && in.procs[ppid] != nil {
			// A new process continues from its creator's state at the fork:
			// the creator's events must be in the model first. A vfork or
			// posix_spawn child (clone3, not notified) runs while its parent
			// waits right after the events that created it.
			slots := in.ring.ByPid(ppid)
			sort.SliceStable(slots, func(i, j int) bool { return slots[i].ClaimSeq < slots[j].ClaimSeq })
			_, a = in.drainSlots(slots)
		}
		if a == nil {
			a = in.checkExec(pid) // a thread of a new image: the exec comes first
		}
		if t = in.threads[tid]; t == nil {
			t = in.learnAs(tid, pid, ppid, nil)
		}
	}
	pid := t.pid
	if in.ring != nil && a == nil {
		a = in.drainThread(tid)
	}
	if a == nil {
		a = in.checkExec(pid)
	}
	if in.threads[tid] == nil { // the exec ended this thread's old identity: it goes on in the new image
		in.learnAs(tid, pid, 0, nil)
	}
	if a != nil && in.verdict == ipc.VerdictKill {
		in.anomaly(a, nr, n) // unlocks
		return
	}
	var logged []*Anomaly // log-only: every anomaly is reported, the syscall runs
	if a != nil {
		logged = append(logged, a)
	}
	if a := in.model.Syscall(pid, tid, nr, n.Data.Args, n.Data.IP); a != nil {
		if in.verdict == ipc.VerdictKill {
			in.anomaly(a, nr, n) // unlocks
			return
		}
		logged = append(logged, a)
	}
	in.afterAccept(pid, n)
	in.mu.Unlock()
	for _, a := range logged {
		in.s.report(in.reportOf(a, nr))
	}
	if err := in.lis.Respond(n.ID, seccomp.Continue()); err != nil && !errors.Is(err, seccomp.ErrNotifGone) {
		in.s.h.logf("instance %d: continue: %v", in.id, err)
	}
}

func (in *instance) reportOf(a *Anomaly, nr int) *ipc.AnomalyReport {
	if a.Type == "" {
		a.Type = "anomaly"
	}
	return &ipc.AnomalyReport{ID: in.id, Verdict: in.verdict, Syscall: nr, Anomaly: *a}
}

// anomaly applies the verdict to an anomaly found while holding in.mu
// (which it unlocks) and reports it. n is the held notification, nil when
// the anomaly came from the background ring drain.
func (in *instance) anomaly(a *Anomaly, nr int, n *seccomp.Notif) {
	r := in.reportOf(a, nr)
	if in.verdict != ipc.VerdictKill {
		in.mu.Unlock()
		in.s.report(r)
		return
	}
	in.condemned = true
	victim := 0
	if _, ok := in.procs[a.Pid]; ok {
		victim = a.Pid
	}
	in.mu.Unlock()
	// Kill first: a task waiting for our answer dies without running the
	// syscall; the refusal covers a task the kill cannot reach.
	syscall.Kill(-in.pgid, syscall.SIGKILL)
	if n != nil {
		syscall.Kill(int(n.Pid), syscall.SIGKILL)
	}
	if victim > 1 {
		syscall.Kill(victim, syscall.SIGKILL)
	}
	if n != nil {
		in.lis.Respond(n.ID, seccomp.Fail(syscall.EPERM))
	}
	in.s.report(r)
	in.killAll()
}

// afterAccept records what an allowed syscall starts: an exec, or a new
// thread or process whose parent is then known. Caller holds in.mu.
func (in *instance) afterAccept(pid int, n *seccomp.Notif) {
	p := in.procs[pid]
	if p == nil {
		return
	}
	tid := int(n.Pid)
	switch in.table.Name(int(n.Data.Nr)) {
	case "execve", "execveat":
		p.execPending = true
	case "fork", "vfork":
		p.forkers = append(p.forkers, tid)
	case "clone":
		if n.Data.Args[0]&cloneThread != 0 {
			p.spawners = append(p.spawners, tid)
		} else {
			p.forkers = append(p.forkers, tid)
		}
	}
}

const cloneThread = 0x10000 // CLONE_THREAD

// learnAs registers a new thread tid of process pid (whose parent process
// is ppid, from the kernel). The parent thread is taken from the syscalls
// the checker let through (kernel facts); the ring's claim (hint, written
// by the untrusted program) only chooses among those. Caller holds in.mu.
func (in *instance) learnAs(tid, pid, ppid int, hint *ring.SlotInfo) *thread {
	t := &thread{pid: pid}
	in.threads[tid] = t
	p := in.procs[pid]
	parentPid, parentTid := 0, 0
	if p == nil { // a new process: its parent is ppid, if we follow it
		p = &process{threads: map[int]bool{}, fp: fingerprint(pid)}
		p.ref, _ = execmgr.Ref(pid)
		in.procs[pid] = p
		if pp := in.procs[ppid]; pp != nil {
			parentPid = ppid
			want := 0
			if hint != nil && hint.Origin == ring.OriginFork && hint.ParentPid == ppid {
				want = hint.ParentTid
			}
			parentTid = pick(&pp.forkers, want)
		}
	} else { // a new thread of a known process
		parentPid = pid
		want := 0
		if hint != nil && hint.Origin == ring.OriginThread && hint.ParentPid == pid && p.threads[hint.ParentTid] {
			want = hint.ParentTid
		}
		if parentTid = pick(&p.spawners, want); parentTid == 0 {
			parentTid = want
		}
	}
	p.threads[tid] = true
	in.model.NewThread(pid, tid, parentPid, parentTid)
	return t
}

// pick removes and returns want from the list if it is there, else the
// oldest entry, else 0.
func pick(list *[]int, want int) int {
	l := *list
	if len(l) == 0 {
		return 0
	}
	i := 0
	for j, t := range l {
		if t == want {
			i = j
			break
		}
	}
	t := l[i]
	*list = append(l[:i:i], l[i+1:]...)
	return t
}

// checkExec completes a pending exec of pid that the kernel shows happened
// (the image changed) although no ring slot of the new image was seen (the
// new program may not be instrumented). Caller holds in.mu.
func (in *instance) checkExec(pid int) *Anomaly {
	p := in.procs[pid]
	if p == nil || !p.execPending || fingerprint(pid) == p.fp {
		return nil
	}
	return in.completeExec(pid, p, 0)
}

// completeExec tells the model that pid replaced its image: first every
// record of the old image, then the end of the old image's other threads,
// then Exec. newImage is the ring image id of the new image (0: unknown).
// Caller holds in.mu.
func (in *instance) completeExec(pid int, p *process, newImage uint64) *Anomaly {
	var first *Anomaly
	if in.ring != nil && p.image != 0 {
		for _, si := range in.ring.ByPid(pid) {
			if si.ImageID == p.image {
				if _, a := in.drainSlot(si, pid, si.Tid); a != nil && first == nil {
					first = a
				}
			}
		}
	}
	for tid := range p.threads {
		if tid != pid {
			in.model.Exit(pid, tid)
			delete(in.threads, tid)
			delete(p.threads, tid)
		}
	}
	if _, ok := in.threads[pid]; !ok {
		in.threads[pid] = &thread{pid: pid}
		p.threads[pid] = true
	}
	p.execPending = false
	p.forkers, p.spawners = nil, nil
	p.fp = fingerprint(pid)
	if p.image != 0 {
		if p.stale == nil {
			p.stale = map[uint64]bool{}
		}
		p.stale[p.image] = true
	}
	p.image = newImage
	path, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	in.model.Exec(pid, path)
	return first
}

var errStop = errors.New("stop draining")

// drainSlot feeds the pending records of one slot to the model as events
// of (pid, tid) and returns how many it read and the first anomaly. With
// verdict kill it stops at the first anomaly (the instance is condemned).
// Caller holds in.mu.
func (in *instance) drainSlot(si ring.SlotInfo, pid, tid int) (int, *Anomaly) {
	if in.batch == nil {
		in.batch = make([]ring.Record, 512)
	}
	deliver := funcBatch(in.model)
	var first *Anomaly
	n, err := in.ring.DrainSlotBatch(si.Index, in.batch, func(recs []ring.Record) (int, error) {
		done := 0
		for done < len(recs) {
			k, a := deliver(pid, tid, recs[done:])
			if k <= 0 || k > len(recs)-done {
				k = len(recs) - done
			}
			done += k
			if a != nil && first == nil {
				first = a
				if in.verdict == ipc.VerdictKill {
					return done, errStop
				}
			}
		}
		return done, nil
	})
	if err != nil && err != errStop && first == nil {
		// A corrupt ring is tampering or a bug: fail closed.
		first = &Anomaly{Type: "anomaly", Pid: pid, Tid: tid, Event: "ring", Reason: "function-event ring: " + err.Error()}
	}
	return n, first
}

// funcBatch returns m's FuncBatch, or for a Model without one the same
// contract on top of Func (Lost records - events lost to a hook abandoned
// by siglongjmp - are skipped: the model has no resynchronisation event,
// see docs/monitor.md).
func funcBatch(m Model) func(pid, tid int, recs []ring.Record) (int, *Anomaly) {
	if bm, ok := m.(BatchModel); ok {
		return bm.FuncBatch
	}
	return func(pid, tid int, recs []ring.Record) (int, *Anomaly) {
		for i, r := range recs {
			if r.Lost {
				continue
			}
			if a := m.Func(pid, tid, r.Fn, r.Site, r.Exit); a != nil {
				return i + 1, a
			}
		}
		return len(recs), nil
	}
}

// drainSlots drains the given slots (oldest claim first) and returns the
// number of records and the first anomaly. A slot is delivered only for a
// thread whose process the kernel confirms; a new image id in a slot is an
// exec only when the checker let an execve through or the kernel shows a
// new image. Caller holds in.mu.
func (in *instance) drainSlots(slots []ring.SlotInfo) (int, *Anomaly) {
	total := 0
	for _, si := range slots {
		if si.State != ring.Claimed && si.State != ring.Exited {
			continue
		}
		t, a := in.slotThread(si)
		if a != nil {
			return total, a
		}
		if t == nil {
			// Not (or no longer) attributable: consume so the slot can be recycled.
			n, _ := in.ring.DrainSlot(si.Index, func(ring.Record) error { return nil })
			total += n
			continue
		}
		p := in.procs[t.pid]
		switch {
		case p.stale[si.ImageID]:
			// A slot of a replaced image (a thread that died at the exec): consume.
			n, _ := in.ring.DrainSlot(si.Index, func(ring.Record) error { return nil })
			total += n
			continue
		case p.image == 0:
			p.image = si.ImageID
		case si.ImageID != p.image:
			if p.execPending || fingerprint(t.pid) != p.fp {
				if a := in.completeExec(t.pid, p, si.ImageID); a != nil {
					return total, a
				}
				if t = in.threads[si.Tid]; t == nil {
					t = in.learnAs(si.Tid, p.ref.Pid, 0, nil)
				}
			} else {
				return total, &Anomaly{Type: "anomaly", Pid: t.pid, Tid: si.Tid, Event: "ring",
					Reason: "function-event ring announces a new program image, but the process made no exec"}
			}
		}
		n, a := in.drainSlot(si, t.pid, si.Tid)
		total += n
		if a != nil {
			return total, a
		}
	}
	return total, nil
}

// slotThread returns the checker's thread for a slot, learning it when it
// is new: the kernel must confirm that the slot's tid is a thread of the
// slot's pid; a thread that already ended is accepted only for a process
// the checker follows (the arena is shared with the instance's tree only).
// A live thread whose slot names another process is an anomaly: events
// must not be hidden by misattributing them. Caller holds in.mu.
func (in *instance) slotThread(si ring.SlotInfo) (*thread, *Anomaly) {
	if t := in.threads[si.Tid]; t != nil && t.pid == si.Pid {
		return t, nil
	}
	pid, ppid, err := taskIDs(si.Tid)
	if err != nil {
		if in.procs[si.Pid] != nil && si.Tid > 0 && in.threads[si.Tid] == nil {
			return in.learnAs(si.Tid, si.Pid, 0, &si), nil
		}
		return nil, nil // gone before we saw its process: nothing to check it against
	}
	if pid != si.Pid {
		return nil, &Anomaly{Type: "anomaly", Pid: pid, Tid: si.Tid, Event: "ring",
			Reason: fmt.Sprintf("function-event ring slot %d claims thread %d of process %d, but it belongs to process %d", si.Index, si.Tid, si.Pid, pid)}
	}
	if t := in.threads[si.Tid]; t != nil {
		// The tid was reused by another process: the old thread is gone.
		in.exitThread(t.pid, si.Tid)
	}
	return in.learnAs(si.Tid, pid, ppid, &si), nil
}

// drainer drains every ring in the background, so a thread that makes no
// checked syscall never blocks on a full ring, recycles the slots of
// threads that are gone, and notices threads that ended.
// batchPause is the background drain's pause after a pass that found
// records (see drainer).
const batchPause = 4 * time.Millisecond

func (in *instance) drainer() {
	defer in.wg.Done()
	max := in.s.h.DrainInterval
	if max <= 0 {
		max = 10 * time.Millisecond
	}
	exitPoll := in.s.h.ExitPoll
	if exitPoll <= 0 {
		exitPoll = 50 * time.Millisecond
	}
	sleep := 20 * time.Microsecond
	lastPoll := time.Now()
	waiters := in.ring.Waiters()
	for {
		select {
		case <-in.quit:
			return
		default:
		}
		got := in.drainAll()
		if w := in.ring.Waiters(); w != waiters || time.Since(lastPoll) >= exitPoll {
			waiters = w
			in.reapThreads()
			in.ring.Reap()
			lastPoll = time.Now()
		}
		if got > 0 {
			// Batch: a pass has fixed costs (slot scan, lock, sort), and the
			// rings hold tens of thousands of records, so a short pause is
			// safe (a notification drains its thread before the syscall is
			// checked anyway). Go on at once only while the rings fill up.
			if got >= in.ring.RecordsPerSlot()/4 {
				sleep = 20 * time.Microsecond
				continue
			}
			sleep = batchPause
		}
		t := time.NewTimer(sleep)
		select {
		case <-in.quit:
			t.Stop()
			return
		case <-t.C:
		}
		if sleep *= 2; sleep > max {
			sleep = max
		}
	}
}

// drainAll drains every slot once; it returns how many records it read.
func (in *instance) drainAll() int {
	slots := in.ring.SlotInfos()
	sort.SliceStable(slots, func(i, j int) bool { return slots[i].ClaimSeq < slots[j].ClaimSeq })
	in.mu.Lock()
	if in.condemned {
		in.mu.Unlock()
		return 0
	}
	n, a := in.drainSlots(slots)
	if a != nil {
		in.anomaly(a, -1, nil) // unlocks
		return n
	}
	in.mu.Unlock()
	return n
}

// drainThread drains the slots of one thread (the notification path).
// Caller holds in.mu.
func (in *instance) drainThread(tid int) *Anomaly {
	_, a := in.drainSlots(in.ring.Lookup(tid))
	return a
}

// exitThread drains what is left of a thread and tells the model it ended.
// Caller holds in.mu.
func (in *instance) exitThread(pid, tid int) {
	if in.ring != nil && !in.condemned {
		for _, si := range in.ring.Lookup(tid) {
			if si.Pid == pid {
				if _, a := in.drainSlot(si, pid, tid); a != nil {
					in.pending = append(in.pending, a)
				}
			}
		}
	}
	in.model.Exit(pid, tid)
	delete(in.threads, tid)
	if p := in.procs[pid]; p != nil {
		delete(p.threads, tid)
		if len(p.threads) == 0 && !taskAlive(pid, pid) {
			delete(in.procs, pid)
		}
	}
}

// reapThreads tells the model about threads that ended.
func (in *instance) reapThreads() {
	in.mu.Lock()
	for tid, t := range in.threads {
		if !taskAlive(t.pid, tid) {
			in.exitThread(t.pid, tid)
		}
	}
	in.flushPending() // unlocks
}

// flushPending reports anomalies found while ending threads. Caller holds
// in.mu; it is unlocked on return.
func (in *instance) flushPending() {
	if len(in.pending) == 0 || in.condemned {
		in.pending = nil
		in.mu.Unlock()
		return
	}
	a := in.pending[0]
	in.pending = nil
	in.anomaly(a, -1, nil) // unlocks
}

// finish is called when no task is left: final drain, then Exit for all.
func (in *instance) finish() {
	in.mu.Lock()
	for tid, t := range in.threads {
		in.exitThread(t.pid, tid)
	}
	in.flushPending()
}

// taskIDs reads the thread group (pid) and parent pid of a task.
func taskIDs(tid int) (pid, ppid int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	pid, ppid = -1, -1
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		switch string(k) {
		case "Tgid":
			pid, _ = strconv.Atoi(strings.TrimSpace(string(v)))
		case "PPid":
			ppid, _ = strconv.Atoi(strings.TrimSpace(string(v)))
		}
	}
	if pid <= 0 || ppid < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no Tgid/PPid", tid)
	}
	return pid, ppid, nil
}

// taskAlive reports whether the thread exists and is not a zombie.
func taskAlive(pid, tid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	st := b[i+2]
	return st != 'Z' && st != 'X' && st != 'x'
}

// execFingerprint changes when a process replaces its image.
type execFingerprint struct {
	dev, ino                       uint64
	startCode, endCode, startStack uint64
}

func fingerprint(pid int) execFingerprint {
	var fp execFingerprint
	p := "/proc/" + strconv.Itoa(pid)
	var st unix.Stat_t
	if unix.Stat(p+"/exe", &st) == nil {
		fp.dev, fp.ino = st.Dev, st.Ino
	}
	b, err := os.ReadFile(p + "/stat")
	if err != nil {
		return fp
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return fp
	}
	f := strings.Fields(string(b[i+1:]))
	// Fields after the name start at field 3 (state): field k is f[k-3].
	if len(f) > 25 {
		fp.startCode, _ = strconv.ParseUint(f[23], 10, 64)
		fp.endCode, _ = strconv.ParseUint(f[24], 10, 64)
		fp.startStack, _ = strconv.ParseUint(f[25], 10, 64)
	}
	return fp
}

// openInstanceFDs takes ownership of the fds of an Instance message: the
// seccomp listener, and the arena if announced.
func openInstanceFDs(b *ipc.Instance, fds []int) (*seccomp.Listener, *ring.Arena, error) {
	var ar *ring.Arena
	if b.Arena {
		a, err := ring.Open(os.NewFile(uintptr(fds[1]), "kcfm-ring"))
		if err != nil {
			return nil, nil, fmt.Errorf("instance %d: arena: %w", b.ID, err)
		}
		ar = a
		fds = fds[:1]
	}
	var st unix.Stat_t
	if err := unix.Fstat(fds[0], &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFSOCK || st.Mode&unix.S_IFMT == unix.S_IFREG {
		if ar != nil {
			ar.Close()
		}
		return nil, nil, fmt.Errorf("instance %d: fd 0 is not a seccomp listener", b.ID)
	}
	l, err := seccomp.NewListener(fds[0])
	if err != nil {
		if ar != nil {
			ar.Close()
		}
		return nil, nil, fmt.Errorf("instance %d: %w", b.ID, err)
	}
	return l, ar, nil
}
