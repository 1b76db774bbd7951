//go:build linux

package filter

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/kcfm-linux/kcfm/internal/model"
	"github.com/kcfm-linux/kcfm/internal/sysnum"
	"github.com/kcfm-linux/kcfm/runtime/seccomp"
	"github.com/kcfm-linux/kcfm/tools/analysis"
	"github.com/kcfm-linux/kcfm/tools/libcsum"
	"github.com/kcfm-linux/kcfm/tools/link"
	"github.com/kcfm-linux/kcfm/tools/policy"
)

// The whole build-time pipeline on a real C program: libclang graph
// (tools/analysis), link with the shipped glibc summaries, policy with the
// runtime's sensitive set, rendered as the launcher's filter
// (runtime/seccomp) and installed on the compiled program: it runs with
// zero denials, and a syscall its signature does not allow is killed.

const e2eC = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int count_lines(const char *path) {
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	int n = 0, c;
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

int main(int argc, char **argv) {
	if (argc < 2)
		return 2;
	int n = count_lines(argv[1]);
	char *buf = malloc(64);
	if (buf == NULL)
		return 3;
	snprintf(buf, 64, "lines=%d\n", n);
	fputs(buf, stdout);
	free(buf);
	if (argc > 2) /* the "attack": a syscall number from the command line */
		syscall(atoi(argv[2]));
	return 0;
}
`

// The loader: read the filter, install it with seccomp(SET_MODE_FILTER)
// after PR_SET_NO_NEW_PRIVS, exec the program.
const e2eLoaderC = `
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
	static struct sock_filter insns[8192];
	if (argc < 3) return 120;
	FILE *f = fopen(argv[1], "rb");
	if (f == NULL) { perror(argv[1]); return 121; }
	size_t n = fread(insns, sizeof insns[0], 8192, f);
	fclose(f);
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = insns };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("prctl"); return 123; }
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { perror("seccomp"); return 124; }
	execv(argv[2], argv + 2);
	return 125;
}
`

func TestRealProgramUnderItsFilter(t *testing.T) {
	arch := sysnum.Host()
	if arch != sysnum.X86_64 && arch != sysnum.AArch64 {
		t.Skipf("host architecture %s is not supported by kcfm", arch)
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Fatal("no C compiler (cc): run scripts/setup.sh")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "lines.c")
	if err := os.WriteFile(src, []byte(e2eC), 0o644); err != nil {
		t.Fatal(err)
	}
	g, _, err := analysis.Run(analysis.Input{File: src, Argv: []string{"cc", "-O1"}}, analysis.Options{})
	if err != nil {
		t.Fatalf("graph: %v", err)
	}
	sum, err := libcsum.Embedded("glibc", arch)
	if err != nil {
		t.Fatal(err)
	}
	sig, _, err := link.Link([]*model.TUGraph{g}, nil, link.Options{Arch: arch, Program: "lines", Summaries: link.FromLibc(sum)})
	if err != nil {
		t.Fatal(err)
	}
	sens, err := Sensitive(arch, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// execve is notified, and no FlowChecker runs here to approve the
	// loader's exec: this filter lets it (and the other checked calls) run.
	p, err := policy.Compute(sig, policy.Options{Sensitive: sens})
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.Rules {
		if p.Rules[i].Action == policy.ActNotify {
			p.Rules[i].Action = policy.ActLog
		}
	}
	spec, err := Spec(p)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := spec.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	filter := filepath.Join(dir, "filter.bpf")
	if err := os.WriteFile(filter, prog.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, loader, loaderSrc := filepath.Join(dir, "lines"), filepath.Join(dir, "loader"), filepath.Join(dir, "loader.c")
	if err := os.WriteFile(loaderSrc, []byte(e2eLoaderC), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{{"-O1", "-o", bin, src}, {"-O1", "-o", loader, loaderSrc}} {
		if out, err := exec.Command(cc, c...).CombinedOutput(); err != nil {
			t.Fatalf("cc: %v\n%s", err, out)
		}
	}
	run := func(args ...string) (string, syscall.WaitStatus) {
		cmd := exec.Command(loader, append([]string{filter, bin}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Exited() && ws.ExitStatus() >= 120 {
			t.Fatalf("loader failed: %s", errb.String())
		}
		return out.String(), ws
	}
	out, ws := run(src)
	if !ws.Exited() || ws.ExitStatus() != 0 || out != "lines="+strconv.Itoa(bytes.Count([]byte(e2eC), []byte("\n")))+"\n" {
		t.Fatalf("program under its own filter: status %v (signal %v), output %q", ws, ws.Signal(), out)
	}
	// A syscall outside the allowlist (the signature's syscall() call takes
	// a number only known at run time, so the linker allows everything the
	// libc can make; pick one the libc never makes).
	tab := sysnum.For(arch)
	outside := -1
	for _, name := range []string{"getppid", "getpgrp", "getsid", "sysinfo", "times", "getcpu", "vhangup", "sync", "acct", "syslog"} {
		if nr, ok := tab.Nr(name); ok && !p.IsAllowed(nr) {
			outside = nr
			break
		}
	}
	if outside < 0 {
		for nr := 0; nr <= tab.Max(); nr++ {
			if tab.Name(nr) != "" && !p.IsAllowed(nr) && spec.Decide(&seccomp.Data{Nr: int32(nr), Arch: arch.AuditArch()}) == seccomp.KillProcess {
				outside = nr
				break
			}
		}
	}
	if outside < 0 {
		t.Fatalf("the signature allows every syscall of %s", arch)
	}
	_, ws = run(src, strconv.Itoa(outside))
	if !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("syscall %s outside the allowlist: status %v, want SIGSYS", tab.Name(outside), ws)
	}
}
