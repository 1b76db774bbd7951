// Raw syscall(N, ...) with a constant number becomes a syscall event; a
// non-constant number stays a call of syscall.
#include <sys/syscall.h>
#include <unistd.h>

long raw(const char *p) {
  syscall(SYS_write, 1, p, 3);
  syscall(SYS_getpid);
  return syscall(39 + 1);
}

long dynamic(long nr) { return syscall(nr, 0); }
