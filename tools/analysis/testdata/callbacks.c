// Functions handed to library functions that call them back.
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
void on_sig(int), on_alarm(int), on_info(int, siginfo_t *, void *), bye(void), init_once(void);
void *worker(void *);
int cmp(const void *, const void *);
static pthread_once_t once = PTHREAD_ONCE_INIT;

int main(void) {
  struct sigaction sa = {0};
  pthread_t t;
  int v[4] = {3, 1, 2, 0}, key = 2;
  signal(SIGINT, on_sig);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  sa.sa_sigaction = on_info;
  sigaction(SIGUSR1, &sa, NULL);
  atexit(bye);
  pthread_once(&once, init_once);
  pthread_create(&t, NULL, worker, NULL);
  qsort(v, 4, sizeof v[0], cmp);
  bsearch(&key, v, 4, sizeof v[0], cmp);
  pthread_join(t, NULL);
  return 0;
}
