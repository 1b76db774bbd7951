// Package ring creates and reads the shared-memory arena through which an
// instrumented program (linked with libkcfm_rt, runtime/librt) reports its
// function events: one single-producer/single-consumer ring per thread, in
// a memfd handed to the program in KCFM_RING_FD.
//
// The arena is written by the monitored program, which is untrusted: the
// reader keeps the geometry it validated at creation (or Open) and its own
// tail per slot, bounds every index with them, and never trusts a value it
// reads back from the shared memory for anything but data. Nothing here
// panics or loops without bound on bad content; bad content is reported as
// ErrCorrupt. The layout is "Format: ring arena v1" in
// docs/runtime-mechanisms.md and must match runtime/librt/kcfm_rt.c.
package ring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Format constants (ring arena v1).
const (
	Magic          = "KCFMRING"
	Version        = 1
	HeaderSize     = 4096
	SlotHeaderSize = 256
	RecordSize     = 16

	MaxSlots              = 4096
	MinRecordsPerSlot     = 16
	MaxRecordsPerSlot     = 1 << 24
	DefaultSlots          = 64
	DefaultRecordsPerSlot = 1 << 16

	FlagBlock = 1 // header flags bit 0: block mode (the only mode of v1)

	// LostWord is the first word of a record that stands for an event lost
	// when a hook interrupted by a signal was abandoned (siglongjmp out of
	// the handler); the checker should resynchronise at it.
	LostWord = 0x7fffffffffffffff
	exitBit  = 1 << 63
)

// Header offsets.
const (
	hMagic      = 0
	hVersion    = 8
	hHeaderSize = 12
	hSlots      = 16
	hRecs       = 20
	hStride     = 24
	hTotal      = 32
	hFlags      = 40
	hClaimCtr   = 64
	hWaiters    = 128
)

// Slot offsets.
const (
	sState     = 0
	sOrigin    = 4
	sPid       = 8
	sTid       = 12
	sParentPid = 16
	sParentTid = 20
	sClaimSeq  = 24
	sImageID   = 32
	sHead      = 64
	sWaiting   = 72
	sTail      = 128
)

// Environment variables read by libkcfm_rt.
const (
	EnvFD      = "KCFM_RING_FD"       // decimal fd number of the arena memfd
	EnvStallMS = "KCFM_RING_STALL_MS" // ms without consumer progress before the program gives up; 0 = never; default 5000
)

// Exit statuses of a program whose runtime gives up (fail closed).
const (
	ExitSetup = 123 // KCFM_RING_FD set but unusable (bad fd, not an arena, wrong version)
	ExitStall = 124 // the consumer made no progress for KCFM_RING_STALL_MS (ring full or no free slot)
)

// RuntimeSyscalls are the system calls libkcfm_rt itself may make; a
// filter for an instrumented program must allow them (none is sensitive:
// its mmap has no PROT_EXEC). clock_gettime normally goes through the vDSO.
var RuntimeSyscalls = []string{
	"fstat", "newfstatat", "mmap", "munmap", "madvise", "rt_sigprocmask", "gettid", "getpid",
	"sched_yield", "nanosleep", "clock_nanosleep", "clock_gettime", "write", "exit_group",
}

// State of a slot.
type State uint32

// Slot states.
const (
	Free     State = 0
	Claiming State = 1 // a thread is filling in pid/tid
	Claimed  State = 2 // in use by a live (or not yet reaped) thread
	Exited   State = 3 // the thread ran its exit destructor; drain, then recycle
)

func (s State) String() string {
	switch s {
	case Free:
		return "free"
	case Claiming:
		return "claiming"
	case Claimed:
		return "claimed"
	case Exited:
		return "exited"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// Origin says how the thread that owns a slot came to be.
type Origin uint32

// Slot origins.
const (
	OriginNone   Origin = 0
	OriginStart  Origin = 1 // first thread of a program image (after exec, or the initial one)
	OriginThread Origin = 2 // another thread of the same image
	OriginFork   Origin = 3 // first thread of a forked child; ParentPid/ParentTid name the forking thread
)

func (o Origin) String() string {
	switch o {
	case OriginNone:
		return "none"
	case OriginStart:
		return "start"
	case OriginThread:
		return "thread"
	case OriginFork:
		return "fork"
	}
	return fmt.Sprintf("origin(%d)", uint32(o))
}

// Record is one function event.
type Record struct {
	Fn   uint64 // address of the function entered or left
	Site uint64 // call site (return address in the caller)
	Exit bool   // false: call, true: return
	Lost bool   // placeholder for an event lost to an abandoned hook (Fn, Site 0)
}

func decode(w0, w1 uint64) Record {
	if w0 == LostWord {
		return Record{Lost: true}
	}
	return Record{Fn: w0 &^ exitBit, Site: w1, Exit: w0&exitBit != 0}
}

// SlotInfo is a snapshot of a slot's header. Every field except Index and
// Tail comes from the untrusted program.
type SlotInfo struct {
	Index                int
	State                State
	Origin               Origin
	Pid, Tid             int
	ParentPid, ParentTid int
	ClaimSeq             uint64
	ImageID              uint64
	Head                 uint64 // published by the producer
	Tail                 uint64 // the reader's own position
	Waiting              bool   // producer is blocked on a full ring
}

// Errors.
var (
	ErrCorrupt   = errors.New("ring arena: corrupt content")
	ErrNoSlot    = errors.New("ring arena: no slot for this thread")
	ErrClosed    = errors.New("ring arena: closed")
	ErrNotSealed = errors.New("ring arena: memfd is not sealed against shrinking (the program could truncate it and crash the reader)")
)

type consumer struct {
	mu        sync.Mutex
	tail      uint64
	claiming  int // Reap passes that saw the slot stuck in Claiming
	corrupted bool
	buf       []Record // DrainSlot's batch buffer
}

// Arena is a mapped ring arena. Its methods are safe for concurrent use;
// draining one slot is serialised, different slots drain in parallel.
type Arena struct {
	life   sync.RWMutex // R: any access to mem; W: Close
	closed bool
	mapped bool // mem is our mmap (not a test buffer)
	f      *os.File
	mem    []byte
	slots  int
	recs   int
	mask   uint64
	stride int
	cons   []consumer
}

// Geometry checks and derived sizes.
func geometry(slots, recs int) (stride, total int, err error) {
	if slots < 1 || slots > MaxSlots {
		return 0, 0, fmt.Errorf("slot count %d out of range 1..%d", slots, MaxSlots)
	}
	if recs < MinRecordsPerSlot || recs > MaxRecordsPerSlot || recs&(recs-1) != 0 {
		return 0, 0, fmt.Errorf("records per slot %d must be a power of two in %d..%d", recs, MinRecordsPerSlot, MaxRecordsPerSlot)
	}
	stride = SlotHeaderSize + recs*RecordSize
	return stride, HeaderSize + slots*stride, nil
}

// NewArena creates a sealed memfd arena with the given geometry (0 means
// the default). Pass File() to the program and set KCFM_RING_FD to the fd
// number it gets there (runtime/launcher does both).
func NewArena(slots, recsPerSlot int) (*Arena, error) {
	if slots == 0 {
		slots = DefaultSlots
	}
	if recsPerSlot == 0 {
		recsPerSlot = DefaultRecordsPerSlot
	}
	stride, total, err := geometry(slots, recsPerSlot)
	if err != nil {
		return nil, fmt.Errorf("ring.NewArena: %v", err)
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil, errors.New("ring.NewArena: the arena format is little-endian; this host is not")
	}
	fd, err := unix.MemfdCreate("kcfm-ring", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("ring.NewArena: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "kcfm-ring")
	if err := unix.Ftruncate(fd, int64(total)); err != nil {
		f.Close()
		return nil, fmt.Errorf("ring.NewArena: ftruncate %d: %w", total, err)
	}
	mem, err := unix.Mmap(fd, 0, total, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ring.NewArena: mmap: %w", err)
	}
	copy(mem[hMagic:], Magic)
	le := binary.LittleEndian
	le.PutUint32(mem[hVersion:], Version)
	le.PutUint32(mem[hHeaderSize:], HeaderSize)
	le.PutUint32(mem[hSlots:], uint32(slots))
	le.PutUint32(mem[hRecs:], uint32(recsPerSlot))
	le.PutUint64(mem[hStride:], uint64(stride))
	le.PutUint64(mem[hTotal:], uint64(total))
	le.PutUint32(mem[hFlags:], FlagBlock)
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		unix.Munmap(mem)
		f.Close()
		return nil, fmt.Errorf("ring.NewArena: sealing: %w", err)
	}
	a := newArena(f, mem, slots, recsPerSlot, stride)
	a.mapped = true
	return a, nil
}

func newArena(f *os.File, mem []byte, slots, recs, stride int) *Arena {
	return &Arena{f: f, mem: mem, slots: slots, recs: recs, mask: uint64(recs - 1), stride: stride, cons: make([]consumer, slots)}
}

// Open maps an existing arena (for example one FlowMonitor created and
// passed to FlowChecker) and validates its header. The Arena takes
// ownership of f. The memfd must be sealed against shrinking.
func Open(f *os.File) (*Arena, error) {
	fd := int(f.Fd())
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&unix.F_SEAL_SHRINK == 0 {
		return nil, ErrNotSealed
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("ring.Open: fstat: %w", err)
	}
	if st.Size < HeaderSize || st.Size > HeaderSize+MaxSlots*(SlotHeaderSize+MaxRecordsPerSlot*RecordSize) {
		return nil, fmt.Errorf("%w: file size %d", ErrCorrupt, st.Size)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("ring.Open: mmap: %w", err)
	}
	a, err := openMem(f, mem)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	a.mapped = true
	return a, nil
}

// openMem validates the header in mem (whose length is the file size) and
// returns an Arena over it.
func openMem(f *os.File, mem []byte) (*Arena, error) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil, errors.New("ring.Open: the arena format is little-endian; this host is not")
	}
	if len(mem) < HeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, less than the %d-byte header", ErrCorrupt, len(mem), HeaderSize)
	}
	le := binary.LittleEndian
	if string(mem[hMagic:hMagic+8]) != Magic {
		return nil, fmt.Errorf("%w: bad magic %q (want %q)", ErrCorrupt, mem[hMagic:hMagic+8], Magic)
	}
	if v := le.Uint32(mem[hVersion:]); v != Version {
		return nil, fmt.Errorf("%w: version %d, this reader knows %d", ErrCorrupt, v, Version)
	}
	if h := le.Uint32(mem[hHeaderSize:]); h != HeaderSize {
		return nil, fmt.Errorf("%w: header size %d (want %d)", ErrCorrupt, h, HeaderSize)
	}
	slots, recs := int(le.Uint32(mem[hSlots:])), int(le.Uint32(mem[hRecs:]))
	stride, total, err := geometry(slots, recs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if s := le.Uint64(mem[hStride:]); s != uint64(stride) {
		return nil, fmt.Errorf("%w: slot stride %d (want %d for %d records)", ErrCorrupt, s, stride, recs)
	}
	if t := le.Uint64(mem[hTotal:]); t != uint64(total) || len(mem) != total {
		return nil, fmt.Errorf("%w: total size %d, mapping %d (want %d)", ErrCorrupt, t, len(mem), total)
	}
	if fl := le.Uint32(mem[hFlags:]); fl != FlagBlock {
		return nil, fmt.Errorf("%w: flags %#x (want %#x)", ErrCorrupt, fl, FlagBlock)
	}
	return newArena(f, mem, slots, recs, stride), nil
}

// File returns the arena's memfd (close-on-exec in this process; the
// launcher dups it into the child without the flag).
func (a *Arena) File() *os.File { return a.f }

// Slots returns the number of slots.
func (a *Arena) Slots() int { return a.slots }

// RecordsPerSlot returns the capacity of each ring.
func (a *Arena) RecordsPerSlot() int { return a.recs }

// Size returns the arena size in bytes.
func (a *Arena) Size() int { return len(a.mem) }

// Close unmaps the arena and closes the memfd.
func (a *Arena) Close() error {
	a.life.Lock()
	defer a.life.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	var err error
	if a.mapped {
		err = unix.Munmap(a.mem)
	}
	a.mem = nil
	if a.f != nil {
		if e := a.f.Close(); err == nil {
			err = e
		}
	}
	return err
}

func (a *Arena) p32(slot int, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&a.mem[HeaderSize+slot*a.stride+off]))
}
func (a *Arena) p64(slot int, off int) *uint64 {
	return (*uint64)(unsafe.Pointer(&a.mem[HeaderSize+slot*a.stride+off]))
}

func (a *Arena) info(i int) SlotInfo {
	return SlotInfo{
		Index:     i,
		State:     State(atomic.LoadUint32(a.p32(i, sState))),
		Origin:    Origin(atomic.LoadUint32(a.p32(i, sOrigin))),
		Pid:       int(atomic.LoadUint32(a.p32(i, sPid))),
		Tid:       int(atomic.LoadUint32(a.p32(i, sTid))),
		ParentPid: int(atomic.LoadUint32(a.p32(i, sParentPid))),
		ParentTid: int(atomic.LoadUint32(a.p32(i, sParentTid))),
		ClaimSeq:  atomic.LoadUint64(a.p64(i, sClaimSeq)),
		ImageID:   atomic.LoadUint64(a.p64(i, sImageID)),
		Head:      atomic.LoadUint64(a.p64(i, sHead)),
		Waiting:   atomic.LoadUint32(a.p32(i, sWaiting)) != 0,
	}
}

// SlotInfos returns a snapshot of every slot that is not free.
func (a *Arena) SlotInfos() []SlotInfo {
	a.life.RLock()
	defer a.life.RUnlock()
	if a.closed {
		return nil
	}
	var out []SlotInfo
	for i := 0; i < a.slots; i++ {
		si := a.info(i)
		if si.State == Free {
			continue
		}
		c := &a.cons[i]
		c.mu.Lock()
		si.Tail = c.tail
		c.mu.Unlock()
		out = append(out, si)
	}
	return out
}

func live(s State) bool { return s == Claimed || s == Exited }

// Lookup returns the in-use slots of thread tid, oldest claim first (an
// exec leaves the old image's slot behind the new one's).
func (a *Arena) Lookup(tid int) []SlotInfo {
	return a.find(func(si SlotInfo) bool { return si.Tid == tid })
}

// ByPid returns the in-use slots of process pid, oldest claim first.
func (a *Arena) ByPid(pid int) []SlotInfo {
	return a.find(func(si SlotInfo) bool { return si.Pid == pid })
}

func (a *Arena) find(match func(SlotInfo) bool) []SlotInfo {
	var out []SlotInfo
	for _, si := range a.SlotInfos() {
		if live(si.State) && match(si) {
			out = append(out, si)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ClaimSeq < out[j].ClaimSeq })
	return out
}

// Drain hands every record thread tid has published so far to fn, in
// order, from all of its slots (oldest claim first). Call it while the
// thread is stopped in a notified system call: its ring then holds
// everything it did before the call. It returns the number of records and
// ErrNoSlot if the thread has no slot (it made no event yet).
func (a *Arena) Drain(tid int, fn func(Record) error) (int, error) {
	sl := a.Lookup(tid)
	if len(sl) == 0 {
		return 0, ErrNoSlot
	}
	total := 0
	for _, si := range sl {
		n, err := a.DrainSlot(si.Index, fn)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// DrainSlot drains one slot up to the head published when it starts. A
// record is consumed even when fn returns an error; the error is returned
// unchanged. A head more than one ring ahead of the reader is corruption:
// the reader skips to it and returns ErrCorrupt.
func (a *Arena) DrainSlot(index int, fn func(Record) error) (int, error) {
	return a.drain(index, nil, func(recs []Record) (int, error) {
		for i, r := range recs {
			if err := fn(r); err != nil {
				return i + 1, err
			}
		}
		return len(recs), nil
	})
}

// DrainSlotBatch is DrainSlot handing records over in batches of up to
// len(buf) (decoded into buf): cheaper per record than a callback each.
// fn returns how many records of the batch it consumed; fewer than all
// only together with an error, which stops the drain there (the records
// after the consumed ones stay in the ring) and is returned.
func (a *Arena) DrainSlotBatch(index int, buf []Record, fn func([]Record) (int, error)) (int, error) {
	if len(buf) == 0 {
		return 0, errors.New("ring arena: DrainSlotBatch needs a buffer")
	}
	return a.drain(index, buf, fn)
}

// drain reads the published records of a slot in batches (into buf, or
// into the slot's own buffer when buf is nil) and hands them to fn.
func (a *Arena) drain(index int, buf []Record, fn func([]Record) (int, error)) (int, error) {
	a.life.RLock()
	defer a.life.RUnlock()
	if a.closed {
		return 0, ErrClosed
	}
	if index < 0 || index >= a.slots {
		return 0, fmt.Errorf("ring arena: slot %d out of range 0..%d", index, a.slots-1)
	}
	c := &a.cons[index]
	c.mu.Lock()
	defer c.mu.Unlock()
	if buf == nil {
		if c.buf == nil {
			c.buf = make([]Record, 64)
		}
		buf = c.buf
	}
	headp, tailp := a.p64(index, sHead), a.p64(index, sTail)
	head := atomic.LoadUint64(headp)
	avail := head - c.tail
	if int64(avail) <= 0 {
		return 0, nil // nothing, or a head briefly behind us while a hook republishes it
	}
	if avail > uint64(a.recs) {
		si := a.info(index)
		c.tail = head
		atomic.StoreUint64(tailp, c.tail)
		return 0, fmt.Errorf("%w: slot %d (pid %d tid %d): head %d is %d records ahead of tail, ring holds %d", ErrCorrupt, index, si.Pid, si.Tid, head, avail, a.recs)
	}
	recs := unsafe.Pointer(&a.mem[HeaderSize+index*a.stride+SlotHeaderSize])
	mask, tail := a.mask, c.tail
	n := 0
	for tail != head {
		k := 0
		for ; k < len(buf) && tail+uint64(k) != head; k++ {
			p := unsafe.Add(recs, ((tail+uint64(k))&mask)*RecordSize)
			buf[k] = decode(*(*uint64)(p), *(*uint64)(unsafe.Add(p, 8)))
		}
		used, err := fn(buf[:k])
		if used < 0 || used > k {
			used = k
		}
		tail += uint64(used)
		n += used
		c.tail = tail
		atomic.StoreUint64(tailp, tail) // let a blocked producer go on
		if err != nil {
			return n, err
		}
		if used < k {
			return n, nil
		}
	}
	return n, nil
}

// DrainAll drains every in-use slot, then recycles the exited slots whose
// thread is gone. fn gets the slot's header as read when its drain began.
// A callback error stops it at once and is returned; ErrCorrupt of single
// slots is collected and returned (joined) after the other slots were
// drained. (DrainSlot is cheaper per record: no SlotInfo copy.)
func (a *Arena) DrainAll(fn func(SlotInfo, Record) error) (int, error) {
	total := 0
	var corrupt []error
	for i := 0; i < a.slots; i++ {
		a.life.RLock()
		if a.closed {
			a.life.RUnlock()
			return total, ErrClosed
		}
		st := State(atomic.LoadUint32(a.p32(i, sState)))
		if !live(st) || atomic.LoadUint64(a.p64(i, sHead)) == a.tailOf(i) {
			a.life.RUnlock()
			if st == Exited {
				a.recycleIfDead(i)
			}
			continue
		}
		info := a.info(i)
		a.life.RUnlock()
		n, err := a.DrainSlot(i, func(r Record) error { return fn(info, r) })
		total += n
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				corrupt = append(corrupt, err)
				continue
			}
			return total, err
		}
		if st == Exited {
			a.recycleIfDead(i)
		}
	}
	return total, errors.Join(corrupt...)
}

func (a *Arena) tailOf(i int) uint64 {
	c := &a.cons[i]
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tail
}

// Reap recycles every fully drained slot whose thread no longer exists
// (including threads that never ran their exit destructor: the main thread
// after exit, killed processes, the old image after exec). It returns the
// number of slots freed. Call it periodically and when producers wait for
// a free slot (Waiters).
func (a *Arena) Reap() int {
	n := 0
	for i := 0; i < a.slots; i++ {
		if a.recycleIfDead(i) {
			n++
		}
	}
	return n
}

// Waiters returns how many times a producer found no free slot (a counter
// the producers increment; a change means Reap is needed).
func (a *Arena) Waiters() uint64 {
	a.life.RLock()
	defer a.life.RUnlock()
	if a.closed {
		return 0
	}
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&a.mem[hWaiters])))
}

func threadGone(pid, tid int) bool {
	if pid <= 0 || tid <= 0 {
		return false
	}
	return unix.Tgkill(pid, tid, 0) == syscall.ESRCH
}

func (a *Arena) recycleIfDead(i int) bool {
	a.life.RLock()
	defer a.life.RUnlock()
	if a.closed {
		return false
	}
	c := &a.cons[i]
	c.mu.Lock()
	defer c.mu.Unlock()
	si := a.info(i)
	switch si.State {
	case Claimed, Exited:
		c.claiming = 0
		if si.Head != c.tail || !threadGone(si.Pid, si.Tid) {
			return false
		}
		// Gone and drained; re-read head in case it moved before death.
		if atomic.LoadUint64(a.p64(i, sHead)) != c.tail {
			return false
		}
	case Claiming:
		c.claiming++
		if c.claiming < 2 || (si.Pid != 0 && !threadGone(si.Pid, si.Tid)) {
			return false
		}
		c.claiming = 0
	default:
		return false
	}
	for _, off := range []int{sOrigin, sPid, sTid, sParentPid, sParentTid, sWaiting} {
		atomic.StoreUint32(a.p32(i, off), 0)
	}
	atomic.StoreUint64(a.p64(i, sClaimSeq), 0)
	atomic.StoreUint64(a.p64(i, sImageID), 0)
	atomic.StoreUint64(a.p64(i, sHead), c.tail) // the next owner continues at the reader's position
	atomic.StoreUint64(a.p64(i, sTail), c.tail)
	atomic.StoreUint32(a.p32(i, sState), uint32(Free))
	return true
}
