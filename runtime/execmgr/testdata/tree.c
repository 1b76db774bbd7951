/* tree: builds a process tree that tries to outlive its leader.
 * usage: tree FILE [exit]
 * - 2 children, each with a grandchild (plain fork);
 * - 1 "daemon": a child that forks, the grandchild calls setsid() (leaves the
 *   session and process group) and the middle process exits, so the
 *   grandchild is orphaned;
 * - 1 child that ignores SIGTERM.
 * When all of them run, the leader writes their pids (one per line, leader
 * first) to FILE.tmp and renames it to FILE. With "exit" the leader then
 * exits 7, leaving the others orphaned; otherwise it pauses. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int up[2];

static void report(void) { pid_t p = getpid(); if (write(up[1], &p, sizeof p) != sizeof p) _exit(1); }

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: tree FILE [exit]\n"); return 2; }
  if (pipe(up)) return 1;
  int n = 0;
  for (int i = 0; i < 2; i++) {
    if (fork() == 0) {
      if (fork() == 0) { report(); for (;;) pause(); }
      report(); for (;;) pause();
    }
    n += 2;
  }
  if (fork() == 0) { /* daemon */
    if (fork() == 0) { setsid(); report(); for (;;) pause(); }
    _exit(0);
  }
  n += 1;
  if (fork() == 0) { signal(SIGTERM, SIG_IGN); report(); for (;;) pause(); }
  n += 1;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
  FILE *f = fopen(tmp, "w");
  if (!f) return 1;
  fprintf(f, "%d\n", (int)getpid());
  for (int i = 0; i < n; i++) {
    pid_t p;
    if (read(up[0], &p, sizeof p) != sizeof p) return 1;
    fprintf(f, "%d\n", (int)p);
  }
  fclose(f);
  rename(tmp, argv[1]);
  wait(NULL); /* reap the daemon's middle process */
  if (argc > 2 && strcmp(argv[2], "exit") == 0) return 7;
  for (;;) pause();
}
