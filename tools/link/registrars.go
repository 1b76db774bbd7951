package link

import "github.com/kcfm-linux/kcfm/internal/model"

// callbackKind says when a library calls back a function registered with it.
type callbackKind int

const (
	// cbSync: called back during the registrar's own call (qsort).
	cbSync callbackKind = iota + 1
	// cbThread: runs as the root of a new thread (pthread_create).
	cbThread
	// cbSignal: may run asynchronously at any point (signal handlers).
	cbSignal
	// cbExit: runs when the process exits (atexit, on_exit).
	cbExit
	// cbThreadExit: runs when a thread exits (pthread_key_create).
	cbThreadExit
)

// registrars maps library functions that take a callback to when they call
// it. The table is documented in docs/linking.md; keep the two in step.
var registrars = map[string]callbackKind{
	"qsort": cbSync, "qsort_r": cbSync, "bsearch": cbSync,
	"lfind": cbSync, "lsearch": cbSync,
	"tsearch": cbSync, "tfind": cbSync, "tdelete": cbSync, "twalk": cbSync, "twalk_r": cbSync, "tdestroy": cbSync,
	"ftw": cbSync, "nftw": cbSync, "ftw64": cbSync, "nftw64": cbSync,
	"scandir": cbSync, "scandirat": cbSync, "scandir64": cbSync, "glob": cbSync, "glob64": cbSync,
	"pthread_once": cbSync, "call_once": cbSync, "dl_iterate_phdr": cbSync,
	"pthread_create": cbThread, "thrd_create": cbThread,
	"signal": cbSignal, "sigaction": cbSignal, "sigset": cbSignal, "bsd_signal": cbSignal, "sysv_signal": cbSignal,
	"__sysv_signal": cbSignal,
	// C++ (registrar names as kcfm graph records them) and raw clone.
	"std::thread": cbThread, "std::jthread": cbThread, "std::async": cbThread, "clone": cbThread,
	"std::call_once": cbSync,
	"atexit":         cbExit, "on_exit": cbExit, "at_quick_exit": cbExit, "__cxa_atexit": cbExit,
	"pthread_key_create": cbThreadExit, "tss_create": cbThreadExit,
	"pthread_atfork": cbSync, // handlers run inside fork()
}

// exitInvokers are library functions that run the exit handlers.
var exitInvokers = map[string]bool{"exit": true, "quick_exit": true}

// forkInvokers run pthread_atfork handlers.
var forkInvokers = map[string]bool{"fork": true, "vfork": false, "_Fork": false}

// threadExitInvokers run thread-exit handlers (TLS destructors).
var threadExitInvokers = map[string]bool{"pthread_exit": true, "thrd_exit": true}

func kindFlag(k callbackKind) uint32 {
	switch k {
	case cbSync:
		return model.FnSyncCallback
	case cbThread:
		return model.FnThreadStart
	case cbSignal:
		return model.FnSignalHandler
	case cbExit, cbThreadExit:
		return model.FnExitHandler
	}
	return 0
}

// loaderSyscalls are the syscalls the dynamic loader and libc start-up and
// exit make outside any program function (before main, after it returns,
// in a new thread before its start routine), and the execve that starts the
// program (static profiles are installed before it). restart_syscall is the
// kernel's restart of an interrupted sleep after a signal handler. Names,
// resolved per arch.
var loaderSyscalls = []string{
	"execve", "brk", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64",
	"access", "faccessat", "openat", "open", "read", "pread64", "close", "fstat", "newfstatat", "statx",
	"mmap", "mprotect", "munmap", "madvise", "getrandom", "uname", "readlink", "readlinkat",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "futex", "getpid", "gettid",
	"exit", "exit_group", "write", "writev", "lseek", "ioctl", "clock_gettime", "clock_nanosleep",
	"sched_getaffinity", "sched_yield", "membarrier", "getuid", "geteuid", "getgid", "getegid",
	"nanosleep", "restart_syscall", "getppid", // getppid: the runtime library's fork handler
}
