package launcher

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"golang.org/x/sys/unix"
)

// ShimArg is argv[1] of the re-executed binary when it must act as the
// pre-exec shim.
const ShimArg = "__kcfm_shim"

const (
	envShimCtl   = "KCFM_SHIM_CTL_FD"
	protoVersion = 1
	maxFrame     = 64 << 20
)

// shimConfig is what the supervisor sends the shim (one frame).
type shimConfig struct {
	Version       int
	SupervisorPid int
	Path          string
	Argv          []string
	Env           []string
	Filter        []byte // seccomp.Program.Bytes(); empty: no filter
	Flags         uint   // seccomp.InstallFlags
	Secret        [3]uint64
}

// shimResult is the shim's answer; a listener fd rides along (SCM_RIGHTS)
// when Listener is set.
type shimResult struct {
	Pid      int
	Listener bool
	Flags    uint
	Stage    string
	Errno    int
	Err      string
}

// MaybeRunShim must be the first statement of main() in every binary that
// uses Start (FlowMonitor, FlowChecker, kcfm, test binaries via TestMain):
// Start re-executes the binary itself with argv[1] == ShimArg, and then
// MaybeRunShim does the shim's work and exits. Otherwise it returns at once.
func MaybeRunShim() {
	if len(os.Args) < 2 || os.Args[1] != ShimArg {
		return
	}
	os.Exit(runShim())
}

func runShim() int {
	ctl, err := strconv.Atoi(os.Getenv(envShimCtl))
	if err != nil || ctl < 3 {
		fmt.Fprintf(os.Stderr, "kcfm shim: %s=%q: not started by launcher.Start\n", envShimCtl, os.Getenv(envShimCtl))
		return 2
	}
	unix.CloseOnExec(ctl) // the program must not inherit it
	cfg, err := readConfig(ctl)
	if err != nil {
		sendResult(ctl, shimResult{Err: err.Error()}, -1)
		return 1
	}
	res, lfd := spawn(cfg)
	if err := sendResult(ctl, res, lfd); err != nil {
		fmt.Fprintf(os.Stderr, "kcfm shim: %v\n", err)
		return 1
	}
	return 0
}

func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("unexpected end of stream")
		}
		b = b[n:]
	}
	return nil
}

func readConfig(fd int) (*shimConfig, error) {
	var hdr [4]byte
	if err := readFull(fd, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n > maxFrame {
		return nil, fmt.Errorf("config frame of %d bytes", n)
	}
	b := make([]byte, n)
	if err := readFull(fd, b); err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	var c shimConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decoding config: %w", err)
	}
	if c.Version != protoVersion {
		return nil, fmt.Errorf("config version %d, shim speaks %d (supervisor and shim must be the same binary)", c.Version, protoVersion)
	}
	return &c, nil
}

func frame(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4, 4+len(b))
	binary.LittleEndian.PutUint32(out, uint32(len(b)))
	return append(out, b...), nil
}

func sendResult(fd int, r shimResult, lfd int) error {
	b, err := frame(r)
	if err != nil {
		return err
	}
	var oob []byte
	if lfd >= 0 {
		oob = unix.UnixRights(lfd)
	}
	err = unix.Sendmsg(fd, b, oob, nil, unix.MSG_NOSIGNAL)
	if lfd >= 0 {
		unix.Close(lfd)
	}
	return err
}

// spawn makes the child that installs the filter and execs the program.
func spawn(c *shimConfig) (shimResult, int) {
	fail := func(format string, a ...any) (shimResult, int) {
		return shimResult{Err: fmt.Sprintf(format, a...)}, -1
	}
	path, err := unix.BytePtrFromString(c.Path)
	if err != nil {
		return fail("program path: %v", err)
	}
	argv, err := cStrings(c.Argv)
	if err != nil {
		return fail("arguments: %v", err)
	}
	envv, err := cStrings(c.Env)
	if err != nil {
		return fail("environment: %v", err)
	}
	a := &childArgs{
		supervisorPid: uintptr(c.SupervisorPid),
		path:          path,
		argv:          &argv[0],
		envv:          &envv[0],
		flags:         uintptr(c.Flags),
	}
	for i, s := range c.Secret {
		a.secret[i] = uintptr(s)
	}
	var prog seccomp.Program
	if len(c.Filter) > 0 {
		if prog, err = seccomp.ParseProgram(c.Filter); err != nil {
			return fail("filter: %v", err)
		}
		fp := prog.Fprog()
		a.prog = &fp
	}
	page, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return fail("result page: %v", err)
	}
	defer unix.Munmap(page)
	a.page = (*[pgWords]uint64)(unsafe.Pointer(&page[0]))

	// The child inherits this thread's blocked mask, so no Go signal
	// handler runs in it before it has reset them.
	runtime.LockOSThread()
	all, old := ^uint64(0), uint64(0)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	pid, e := forkChild(a)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	runtime.UnlockOSThread()
	runtime.KeepAlive(argv)
	runtime.KeepAlive(envv)
	runtime.KeepAlive(prog)
	runtime.KeepAlive(a)
	if e != 0 {
		return fail("clone: %v", e)
	}
	res := shimResult{Pid: int(pid), Flags: uint(a.page[pgFlags])}
	lfd := -1
	if l := a.page[pgListener]; l != 0 {
		lfd = int(l - 1)
	}
	if st, en := a.page[pgStage], a.page[pgErrno]; st != stageExec || en != 0 {
		if lfd >= 0 {
			unix.Close(lfd)
		}
		res.Stage = stageNames[st]
		if res.Stage == "" {
			res.Stage = fmt.Sprintf("stage %d", st)
		}
		res.Errno = int(en)
		res.Err = fmt.Sprintf("%s: %v", res.Stage, syscall.Errno(en))
		return res, -1
	}
	res.Listener = lfd >= 0
	return res, lfd
}

// cStrings returns a NULL-terminated array of C strings.
func cStrings(ss []string) ([]*byte, error) {
	out := make([]*byte, len(ss)+1)
	for i, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}
