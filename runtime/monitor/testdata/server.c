/* server: the monitored program of the FlowMonitor/FlowChecker tests.
 *
 * usage: server SOCKET            serve requests on the Unix socket SOCKET
 *        server --crash           abort at once (crash-loop tests)
 *
 * One request per connection, one line, one answer line:
 *   ping          -> pong
 *   create PATH   -> evil(PATH): open(PATH, O_CREAT|O_WRONLY) -> "created" (the test double flags it)
 *   read PATH     -> open(PATH, O_RDONLY) (not sensitive)     -> "read"
 *   spawn         -> forks a child and a grandchild that sleep -> their pids
 *   daemon        -> forks a child that leaves the process group (setsid) and sleeps -> its pid
 *   thread        -> starts a thread that connects back nowhere and ends -> "thread"
 *   exec PATH     -> execs PATH SOCKET (the connection is closed; PATH is normally this server)
 *   crash         -> abort()
 *   exit N        -> exit(N)
 * The socket is created before the server accepts, so a connect that
 * succeeds means the (new) instance is serving. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

__attribute__((noinline)) int evil(const char *path) {
  int fd = open(path, O_CREAT | O_WRONLY, 0600);
  if (fd >= 0) close(fd);
  return fd;
}

__attribute__((noinline)) int harmless(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd >= 0) close(fd);
  return fd;
}

static void *thread_main(void *arg) { (void)arg; return NULL; }

__attribute__((noinline)) static void answer(int c, const char *s) {
  if (write(c, s, strlen(s)) < 0) {}
}

static const char *sock_path;

static void serve(int c) {
  char buf[512];
  ssize_t n = read(c, buf, sizeof buf - 1);
  if (n <= 0) return;
  buf[n] = 0;
  buf[strcspn(buf, "\r\n")] = 0;
  char out[256];
  if (!strcmp(buf, "ping")) answer(c, "pong\n");
#ifndef KCFM_TEST_NO_CREATE /* the signature of this variant never calls evil() */
  else if (!strncmp(buf, "create ", 7)) { evil(buf + 7); answer(c, "created\n"); }
#endif
  else if (!strncmp(buf, "read ", 5)) { harmless(buf + 5); answer(c, "read\n"); }
  else if (!strcmp(buf, "spawn")) {
    int p[2];
    if (pipe(p)) { answer(c, "error\n"); return; }
    pid_t child = fork();
    if (child == 0) {
      pid_t g = fork();
      if (g == 0) { for (;;) pause(); }
      if (write(p[1], &g, sizeof g) < 0) {}
      for (;;) pause();
    }
    pid_t g = 0;
    if (read(p[0], &g, sizeof g) < 0) {}
    close(p[0]); close(p[1]);
    snprintf(out, sizeof out, "%d %d\n", (int)child, (int)g);
    answer(c, out);
  } else if (!strcmp(buf, "daemon")) {
    int p[2];
    if (pipe(p)) { answer(c, "error\n"); return; }
    pid_t d = fork();
    if (d == 0) {
      setsid();
      harmless("/"); /* a function event after setsid: the checker learns this process */
      pid_t me = getpid();
      if (write(p[1], &me, sizeof me) < 0) {}
      for (;;) pause();
    }
    if (read(p[0], &d, sizeof d) < 0) {}
    close(p[0]); close(p[1]);
    snprintf(out, sizeof out, "%d\n", (int)d);
    answer(c, out);
  } else if (!strcmp(buf, "thread")) {
    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, NULL);
    answer(c, "thread\n");
  } else if (!strncmp(buf, "exec ", 5)) {
    char *argv[] = {buf + 5, (char *)sock_path, NULL};
    close(c);
    execv(buf + 5, argv);
    _exit(127);
  } else if (!strcmp(buf, "crash")) abort();
  else if (!strncmp(buf, "exit ", 5)) exit(atoi(buf + 5));
  else answer(c, "unknown\n");
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: server SOCKET | server --crash\n"); return 2; }
  if (!strcmp(argv[1], "--crash")) abort();
  signal(SIGPIPE, SIG_IGN);
  sock_path = argv[1];
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[1]);
  unlink(argv[1]);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) { perror("server: listen"); return 1; }
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    serve(c);
    close(c);
  }
}
