// Calls that never return end the path (halt): exit, _exit, abort,
// __builtin_unreachable, assert's failure, and functions declared
// _Noreturn or __attribute__((noreturn)).
#include <assert.h>
#include <stdlib.h>
#include <unistd.h>
int check(int), work(int);
_Noreturn void die(const char *msg);
void fatal(int code) __attribute__((noreturn));

void exits(int x) {
  if (check(x))
    exit(1);
  if (check(x + 1))
    _exit(2);
  if (check(x + 2))
    abort();
  work(x);
}

int own(int x) {
  if (x < 0)
    die("negative");
  if (x > 100)
    fatal(3);
  return work(x);
}

int unreachable(int x) {
  switch (x) {
  case 0:
    return work(0);
  default:
    __builtin_unreachable();
  }
}

void asserts(int x) {
  assert(check(x));
  work(x);
}

_Noreturn void die(const char *msg) {
  work(0);
  exit(9);
}
