//go:build linux

package policy

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// The generated OCI profile, compiled to a kernel filter and installed by a
// tiny C loader (prctl NO_NEW_PRIVS + seccomp(SET_MODE_FILTER) + execv),
// confines real C programs: a benign program runs with zero denials, a
// syscall outside its signature is refused, and the register conditions of
// the checked syscalls hold in the kernel.

const loaderC = `
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
	static struct sock_filter insns[4096];
	if (argc < 3) {
		fprintf(stderr, "usage: loader FILTER PROGRAM [ARGS...]\n");
		return 120;
	}
	FILE *f = fopen(argv[1], "rb");
	if (f == NULL) {
		perror(argv[1]);
		return 121;
	}
	size_t n = fread(insns, sizeof insns[0], 4096, f);
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "loader: empty filter\n");
		return 122;
	}
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = insns };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("loader: PR_SET_NO_NEW_PRIVS");
		return 123;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("loader: seccomp");
		return 124;
	}
	execv(argv[2], argv + 2);
	return 125; /* nothing else: the filter may refuse write */
}
`

// benignC reads a file, maps and unmaps memory, writes to stdout.
const benignC = `
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
	char buf[64];
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		return 10;
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 11;
	memcpy(p, buf, n > 0 ? (size_t)n : 0);
	munmap(p, 4096);
	write(1, "ok\n", 3);
	return 0;
}
`

// badC is benignC plus one syscall its signature does not have (getpgrp).
const badC = `
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
	char buf[64];
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		return 10;
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 11;
	memcpy(p, buf, n > 0 ? (size_t)n : 0);
	munmap(p, 4096);
	write(1, "ok\n", 3);
	errno = 0;
	long r = syscall(SYS_getpgrp); /* the getpgrp() wrapper never sets errno */
	int len = snprintf(buf, sizeof buf, "getpgrp=%ld errno=%d\n", r < 0 ? -1L : 1L, errno);
	write(1, buf, len);
	return 0;
}
`

// condC exercises the conditions: read-only vs write open, plain vs
// executable mapping; it prints the errno of each (0 = success).
const condC = `
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int ro = open(argv[1], O_RDONLY);
	int e_ro = ro < 0 ? errno : 0;
	int wr = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int e_wr = wr < 0 ? errno : 0;
	void *mr = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int e_mr = mr == MAP_FAILED ? errno : 0;
	void *mx = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int e_mx = mx == MAP_FAILED ? errno : 0;
	char buf[128];
	int n = snprintf(buf, sizeof buf, "ro=%d wr=%d mr=%d mx=%d\n", e_ro, e_wr, e_mr, e_mx);
	write(1, buf, n);
	return 0;
}
`

// Signatures of the programs above in testgraph notation, with the glibc
// wrappers' syscalls as summaries.
var realLibc = map[string][]string{
	"open": {"openat"}, "read": {"read"}, "close": {"close"}, "mmap": {"mmap"}, "munmap": {"munmap"},
	"write": {"write"}, "memcpy": {}, "snprintf": {},
}

var benignUnits = []unit{{file: "benign.c", src: `
main: ext open; ret | ext open; ext read; ext close; ext mmap; ret | ext open; ext read; ext close; ext mmap; ext memcpy; ext munmap; ext write; ret
`}}

var condUnits = []unit{{file: "cond.c", src: `
main: ext open; ext open; ext mmap; ext mmap; ext snprintf; ext write; ret
`}}

func requireCC(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Fatalf("no C compiler (cc) on PATH: run scripts/setup.sh (installs gcc/clang)")
	}
	return cc
}

func requireSeccomp(t *testing.T) {
	t.Helper()
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); errors.Is(err, unix.EINVAL) {
		t.Skip("kernel built without CONFIG_SECCOMP")
	}
	b, err := os.ReadFile("/proc/self/status")
	if err == nil && !bytes.Contains(b, []byte("Seccomp_filters")) && !bytes.Contains(b, []byte("Seccomp:")) {
		t.Skip("kernel without seccomp filters")
	}
}

func compileC(t *testing.T, cc, dir, name, src string, static bool) string {
	t.Helper()
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	args := []string{"-O1", "-o", out, c}
	if static {
		args = append([]string{"-static"}, args...)
	}
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %s: %v\n%s (static glibc is in libc6-dev; run scripts/setup.sh)", name, err, b)
	}
	return out
}

// installFilter writes the compiled OCI profile of p for the loader.
func installFilter(t *testing.T, p *Policy, opt OCIOptions, path string) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteOCI(&b, p, opt); err != nil {
		t.Fatal(err)
	}
	prog, err := compileOCI(decodeSpec(t, b.Bytes()), p.Arch)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, encodeBPF(prog), 0o644); err != nil {
		t.Fatal(err)
	}
}

type runResult struct {
	stdout string
	status syscall.WaitStatus
}

func runConfined(t *testing.T, loader, filter string, prog ...string) runResult {
	t.Helper()
	cmd := exec.Command(loader, append([]string{filter}, prog...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %v: %v", prog, err)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Exited() && ws.ExitStatus() >= 120 && ws.ExitStatus() <= 125 {
		t.Fatalf("loader failed (status %d): %s", ws.ExitStatus(), errb.String())
	}
	return runResult{stdout: out.String(), status: ws}
}

func TestSeccompProfileConfinesRealPrograms(t *testing.T) {
	arch := sysnum.Host()
	if sysnum.For(arch) == nil {
		t.Skipf("host architecture %s is not supported by kcfm", arch)
	}
	cc := requireCC(t)
	requireSeccomp(t)
	dir := t.TempDir()
	loader := compileC(t, cc, dir, "loader", loaderC, false)
	benign := compileC(t, cc, dir, "benign", benignC, false)
	bad := compileC(t, cc, dir, "bad", badC, false)

	sig := linkSig(t, arch, "benign", benignUnits, realLibc)
	filter := filepath.Join(dir, "filter.bpf")

	t.Run("benign program: zero denials", func(t *testing.T) {
		p := mustCompute(t, sig, Options{})
		installFilter(t, p, OCIOptions{}, filter)
		r := runConfined(t, loader, filter, benign, benign)
		if !r.status.Exited() || r.status.ExitStatus() != 0 || r.stdout != "ok\n" {
			t.Fatalf("benign program under its own profile: status %v (signal %v), stdout %q; a denial kills it with SIGSYS", r.status, r.status.Signal(), r.stdout)
		}
	})
	t.Run("syscall outside the signature is killed", func(t *testing.T) {
		p := mustCompute(t, sig, Options{})
		installFilter(t, p, OCIOptions{}, filter)
		r := runConfined(t, loader, filter, bad, bad)
		if !r.status.Signaled() || r.status.Signal() != syscall.SIGSYS {
			t.Fatalf("getpgrp outside the allowlist: status %v, stdout %q; want death by SIGSYS", r.status, r.stdout)
		}
		if r.stdout != "ok\n" {
			t.Errorf("the program should have run up to getpgrp: stdout %q", r.stdout)
		}
	})
	t.Run("syscall outside the signature fails with errno", func(t *testing.T) {
		p := mustCompute(t, sig, Options{DefaultAction: ActErrno})
		installFilter(t, p, OCIOptions{}, filter)
		r := runConfined(t, loader, filter, bad, bad)
		if !r.status.Exited() || r.status.ExitStatus() != 0 || !strings.Contains(r.stdout, "getpgrp=-1 errno=1\n") {
			t.Fatalf("status %v, stdout %q; want getpgrp refused with EPERM", r.status, r.stdout)
		}
	})
	t.Run("conditions of the checked syscalls", func(t *testing.T) {
		cond := compileC(t, cc, dir, "cond", condC, true)
		csig := linkSig(t, arch, "cond", condUnits, realLibc)
		// execve is checked too; without a FlowChecker to approve the
		// loader's exec, leave it out here.
		p := mustCompute(t, csig, Options{Sensitive: without(testSensitive, "execve")})
		target := filepath.Join(dir, "written")
		// With a listener, checked calls are notified; the test compiler
		// answers them with EOPNOTSUPP (95) instead of a supervisor.
		installFilter(t, p, OCIOptions{ListenerPath: "/run/kcfm-test.sock"}, filter)
		r := runConfined(t, loader, filter, cond, cond, target)
		if want := "ro=0 wr=95 mr=0 mx=95\n"; r.stdout != want || !r.status.Exited() || r.status.ExitStatus() != 0 {
			t.Fatalf("notify profile: stdout %q status %v, want %q (read-only open and plain mmap stay in the kernel, write open and PROT_EXEC are checked)", r.stdout, r.status, want)
		}
		if _, err := os.Stat(target); err == nil {
			t.Errorf("the checked open created %s", target)
		}
		// Without a listener (Docker), checked calls are logged and run.
		installFilter(t, p, OCIOptions{}, filter)
		r = runConfined(t, loader, filter, cond, cond, target)
		if want := "ro=0 wr=0 mr=0 mx=0\n"; r.stdout != want {
			t.Fatalf("log profile: stdout %q status %v, want %q", r.stdout, r.status, want)
		}
	})
}
