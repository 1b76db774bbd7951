/* kcfm_http_server — maintenance routines.
 *
 * dump_state() is called from the main loop on SIGUSR1; run_hook() once at
 * start-up for --on-start. They are also the hijack targets of the demo
 * (see echo.c): in the program's control-flow signature their only callers
 * are those two places, so a call from anywhere else is an anomaly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"

extern char **environ;

/* Writes a snapshot of the server's counters to path (created or truncated,
 * mode 0600). */
void dump_state(const char *path)
{
	char buf[512];
	size_t off = 0;
	int n, fd;

	n = snprintf(buf, sizeof buf,
	             "server=%s/%s\npid=%d\nuptime_s=%.3f\nrequests=%llu\naccepted=%llu\nopen_connections=%llu\n"
	             "bytes_out=%llu\n",
	             SERVER_NAME, SERVER_VERSION, (int)g_stats.pid, now_monotonic() - g_stats.started,
	             g_stats.requests, g_stats.accepted, g_stats.open_conns, g_stats.bytes_out);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "%s: dump_state: %s: %s\n", SERVER_NAME, path, strerror(errno));
		return;
	}
	while (off < (size_t)n) {
		ssize_t w = write(fd, buf + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
	fprintf(stderr, "%s: state written to %s\n", SERVER_NAME, path);
}

/* Runs cmd with /bin/sh -c and waits for it (the server does not serve
 * meanwhile). */
void run_hook(const char *cmd)
{
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};
	int status;
	pid_t pid;

	fprintf(stderr, "%s: running hook: %s\n", SERVER_NAME, cmd);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: run_hook: fork: %s\n", SERVER_NAME, strerror(errno));
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL); /* the server blocks signals for its signalfd */
		signal(SIGPIPE, SIG_DFL);
		execve("/bin/sh", argv, environ);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "%s: run_hook: waitpid: %s\n", SERVER_NAME, strerror(errno));
			return;
		}
	}
	if (WIFEXITED(status))
		fprintf(stderr, "%s: hook exited with status %d\n", SERVER_NAME, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "%s: hook killed by signal %d\n", SERVER_NAME, WTERMSIG(status));
}
