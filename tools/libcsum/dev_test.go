package libcsum

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

func TestDevDump(t *testing.T) {
	p := os.Getenv("DEVLIBC")
	if p == "" {
		t.Skip()
	}
	arch, _ := sysnum.ParseArch(os.Getenv("DEVARCH"))
	t0 := time.Now()
	im, err := openImage(p, arch)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := analyse(im)
	s := a.summary()
	fmt.Println("time", time.Since(t0), "segs", len(a.segIdx), "nodes", len(a.nodes), "taken", len(a.taken), "funcs", len(s.Functions), s.Libc, s.LibcVersion, s.BuildID, s.Soname)
	for _, w := range a.warnings {
		fmt.Println("warn", w)
	}
	c := a.close()
	fmt.Println("IND:", len(c.sys[a.indNode].list()), SyscallNames(arch, c.sys[a.indNode].list()), c.unknown[a.indNode])
	for _, fn := range []string{"read", "write", "open", "openat", "syscall", "printf", "fopen", "malloc", "getpid", "qsort", "strlen", "memcpy", "getaddrinfo", "getpwnam", "pthread_create", "clock_gettime", "fork", "exit"} {
		f, ok := s.Lookup(fn)
		fmt.Println(fn, ok, len(f.Syscalls), f.UnknownSyscall, f.LoadsCode, f.NrArg, f.Notes)
		if len(f.Syscalls) < 30 {
			fmt.Println("   ", SyscallNames(arch, f.Syscalls))
		}
	}
}
