// setjmp returns twice: the state after it is a landing point (longjmp
// resumes there); longjmp never returns.
#include <setjmp.h>
int work(int), recover(void);
static jmp_buf env;
static sigjmp_buf senv;

void body(void) {
  if (setjmp(env)) {
    recover();
    return;
  }
  work(1);
  longjmp(env, 1);
}

void sig(void) {
  if (sigsetjmp(senv, 1) == 0)
    work(2);
  else
    recover();
  siglongjmp(senv, 2);
}
