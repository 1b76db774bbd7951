package seccomp

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Notification ioctls (linux/seccomp.h; the same numbers on every
// architecture that uses the generic ioctl encoding, x86_64 and arm64
// included).
const (
	ioctlNotifRecv     = 0xc0502100 // SECCOMP_IOCTL_NOTIF_RECV, struct seccomp_notif
	ioctlNotifSend     = 0xc0182101 // SECCOMP_IOCTL_NOTIF_SEND, struct seccomp_notif_resp
	ioctlNotifIDValid  = 0x40082102 // SECCOMP_IOCTL_NOTIF_ID_VALID, __u64
	ioctlNotifSetFlags = 0x40082104 // SECCOMP_IOCTL_NOTIF_SET_FLAGS, value (6.6+)

	notifFdSyncWakeUp  = 1 // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
	respFlagContinue   = 1 // SECCOMP_USER_NOTIF_FLAG_CONTINUE (5.5+)
	sizeofNotif        = 80
	sizeofNotifResp    = 24
	pollIn, pollHupErr = unix.POLLIN, unix.POLLHUP | unix.POLLERR
)

// Notif is struct seccomp_notif: one system call waiting for an answer.
type Notif struct {
	ID    uint64 // cookie for Respond / IDValid
	Pid   uint32 // thread id of the calling task, in the listener's pid namespace
	Flags uint32
	Data  Data
}

type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// Compile-time layout checks against the kernel structs.
var (
	_ [sizeofNotif - unsafe.Sizeof(Notif{})]byte
	_ [unsafe.Sizeof(Notif{}) - sizeofNotif]byte
	_ [sizeofNotifResp - unsafe.Sizeof(notifResp{})]byte
	_ [unsafe.Sizeof(notifResp{}) - sizeofNotifResp]byte
)

// Response answers a notification.
type Response struct {
	Continue bool          // run the system call as if no filter were there
	Errno    syscall.Errno // else fail it with this errno …
	Val      int64         // … or, with Errno 0, return Val without running it
}

// Continue lets the system call run.
func Continue() Response { return Response{Continue: true} }

// Fail makes the system call fail with e without running it.
func Fail(e syscall.Errno) Response { return Response{Errno: e} }

// Return makes the system call return v without running it.
func Return(v int64) Response { return Response{Val: v} }

// Errors of Listener.
var (
	ErrClosed    = errors.New("seccomp listener closed")
	ErrNoTasks   = errors.New("seccomp listener: no task uses the filter any more")
	ErrNotifGone = errors.New("seccomp notification no longer valid (task died or the call was interrupted)")
)

// Listener is a seccomp user-notification fd.
//
// Recv should be called from one goroutine; Respond and IDValid may be
// called from any goroutine, concurrently with Recv. The ioctls use
// RawSyscall; only a blocking wait goes through the scheduler, so an idle
// supervisor does not hold a P. Locking the receiving goroutine to its
// thread helps latency further.
//
// Waiting: by default Recv polls the fd (and an eventfd Close writes)
// before it receives ("poll" mode), so Close wakes it at once. With
// ListenerOptions.Direct, on kernels with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
// (6.6+, which also end a blocked NOTIF_RECV when the last task leaves the
// filter) Recv blocks in the ioctl itself ("direct" mode): about 2 µs less
// per notification here, but Close no longer interrupts a blocked Recv.
// Older kernels can leave a NOTIF_RECV blocked after the target exited, so
// there Direct is ignored.
type Listener struct {
	mu       sync.Mutex
	users    int  // Recv/Respond/IDValid calls in flight
	closing  bool // Close was called; the fds go when users drops to 0
	fdClosed bool
	fd       int
	wake     int // eventfd written by Close to wake a polling Recv
	sync     bool
	poll     bool
}

// ListenerOptions tune NewListenerWith.
type ListenerOptions struct {
	// Direct selects direct mode where the kernel allows it (see
	// Listener): a blocked Recv then returns ErrClosed after Close only at
	// the next notification or when the target exits, so stop the target
	// (kill it) to end the loop.
	Direct bool
}

// NewListener is NewListenerWith(fd, ListenerOptions{}).
func NewListener(fd int) (*Listener, error) { return NewListenerWith(fd, ListenerOptions{}) }

// NewListenerWith takes ownership of a notification fd (from
// Program.Install or a launcher hand-over). It turns on
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP when the kernel has it (6.6+);
// SyncWakeUp reports whether it did. Without it a notification wakes the
// supervisor on whatever CPU is free, which costs up to 8× under load: pin
// the supervisor and the target to one CPU on such kernels.
func NewListenerWith(fd int, o ListenerOptions) (*Listener, error) {
	if fd < 0 {
		return nil, fmt.Errorf("seccomp listener: bad fd %d", fd)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("seccomp listener: eventfd: %w", err)
	}
	l := &Listener{fd: fd, wake: wake}
	_, _, e := syscall.RawSyscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifSetFlags, notifFdSyncWakeUp)
	l.sync = e == 0
	l.poll = !o.Direct || !l.sync
	return l, nil
}

// Fd returns the notification fd (owned by the Listener).
func (l *Listener) Fd() int { return l.fd }

// SyncWakeUp reports whether synchronous wake-ups are on.
func (l *Listener) SyncWakeUp() bool { return l.sync }

// Polls reports whether Recv polls before receiving (see Listener).
func (l *Listener) Polls() bool { return l.poll }

func (l *Listener) acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.users++
	return true
}

func (l *Listener) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users--
	l.closeIfIdle()
}

func (l *Listener) closeIfIdle() {
	if l.closing && l.users == 0 && !l.fdClosed {
		l.fdClosed = true
		unix.Close(l.wake)
		unix.Close(l.fd)
	}
}

func (l *Listener) isClosing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closing
}

// Recv waits for the next notification and stores it in n. It returns
// ErrNoTasks once every task that used the filter has exited (and been
// reaped), and ErrClosed after Close.
func (l *Listener) Recv(n *Notif) error {
	if !l.acquire() {
		return ErrClosed
	}
	defer l.release()
	if l.poll {
		return l.recvPoll(n)
	}
	for {
		*n = Notif{} // the kernel requires a zeroed buffer
		_, _, e := syscall.Syscall(unix.SYS_IOCTL, uintptr(l.fd), ioctlNotifRecv, uintptr(unsafe.Pointer(n)))
		if l.isClosing() {
			return ErrClosed // the notification, if any, fails with ENOSYS when the fd goes
		}
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		case syscall.ENOENT:
			// No users left, or the waiting task went away in between.
			fds := [1]unix.PollFd{{Fd: int32(l.fd), Events: pollIn}}
			zero := unix.Timespec{}
			if _, err := unix.Ppoll(fds[:], &zero, nil); err == nil && fds[0].Revents&pollIn == 0 && fds[0].Revents&pollHupErr != 0 {
				return ErrNoTasks
			}
			continue
		}
		return fmt.Errorf("seccomp listener: NOTIF_RECV: %w", e)
	}
}

func (l *Listener) recvPoll(n *Notif) error {
	zero := unix.Timespec{}
	for {
		fds := [2]unix.PollFd{{Fd: int32(l.fd), Events: pollIn}, {Fd: int32(l.wake), Events: pollIn}}
		// A notification is often already pending: check without blocking
		// (and without a scheduler round trip), then block through the
		// scheduler.
		cnt, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 2, uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
		if e == 0 && cnt == 0 {
			_, err := unix.Ppoll(fds[:], nil, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("seccomp listener: ppoll: %w", err)
			}
		} else if e == syscall.EINTR {
			continue
		} else if e != 0 {
			return fmt.Errorf("seccomp listener: ppoll: %w", e)
		}
		if fds[1].Revents != 0 || l.isClosing() {
			return ErrClosed
		}
		if fds[0].Revents&pollIn != 0 {
			*n = Notif{}
			_, _, e := syscall.RawSyscall(unix.SYS_IOCTL, uintptr(l.fd), ioctlNotifRecv, uintptr(unsafe.Pointer(n)))
			switch e {
			case 0:
				return nil
			case syscall.ENOENT, syscall.EINTR:
				continue // the waiting task went away between poll and recv
			}
			return fmt.Errorf("seccomp listener: NOTIF_RECV: %w", e)
		}
		if fds[0].Revents&pollHupErr != 0 {
			return ErrNoTasks
		}
	}
}

// Respond answers notification id.
func (l *Listener) Respond(id uint64, r Response) error {
	if !l.acquire() {
		return ErrClosed
	}
	defer l.release()
	resp := notifResp{ID: id, Val: r.Val}
	switch {
	case r.Continue:
		resp.Flags = respFlagContinue
		resp.Val = 0
	case r.Errno != 0:
		resp.Error = -int32(r.Errno)
		resp.Val = 0
	}
	_, _, e := syscall.RawSyscall(unix.SYS_IOCTL, uintptr(l.fd), ioctlNotifSend, uintptr(unsafe.Pointer(&resp)))
	switch e {
	case 0:
		return nil
	case syscall.ENOENT:
		return ErrNotifGone
	case syscall.EINVAL:
		if r.Continue {
			return fmt.Errorf("seccomp listener: NOTIF_SEND with FLAG_CONTINUE: %w (%w: needs Linux 5.5)", e, ErrNotSupported)
		}
	}
	return fmt.Errorf("seccomp listener: NOTIF_SEND: %w", e)
}

// IDValid reports whether notification id is still pending (the task has
// not died or been interrupted). Call it after reading the task's memory
// to make the read meaningful.
func (l *Listener) IDValid(id uint64) bool {
	if !l.acquire() {
		return false
	}
	defer l.release()
	_, _, e := syscall.RawSyscall(unix.SYS_IOCTL, uintptr(l.fd), ioctlNotifIDValid, uintptr(unsafe.Pointer(&id)))
	return e == 0
}

// Close stops the listener: Recv, Respond and IDValid return ErrClosed
// from now on, a Recv blocked in poll mode returns at once, and the fd is
// closed as soon as no call is in flight (tasks still waiting for an answer
// then get ENOSYS). In direct mode a blocked Recv returns ErrClosed at the
// next notification or when the target exits; kill the target to stop
// sooner.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return nil
	}
	l.closing = true
	one := [8]byte{1}
	unix.Write(l.wake, one[:])
	l.closeIfIdle()
	return nil
}
