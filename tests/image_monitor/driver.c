/* kcfm_image_driver — the test driver of the monitored kcfm_http_server
 * images (tests/image_monitor). It runs inside the guest as einit's driver
 * entity, uses the example's own client and exploit (kcfm_http_get,
 * kcfm_exploit), checks every fact itself and prints "KCFM-TEST:" marker
 * lines that the ctest tests read from the serial console. Exit 0 only if
 * every step passed.
 *
 * usage: kcfm_image_driver [--port N] [--control-port N] [--bin DIR] [--www DIR]
 *                          [--incidents FILE] [--requests N] [--wait SEC]
 *
 * Steps:
 *  1. wait until the monitored server answers GET /api/status; its pid;
 *  2. normal traffic: N × (/index.html /page.txt /api/status) over keep-alive
 *     plus an echo, every answer 200, bodies equal to the files; the incident
 *     log stays empty and the server keeps its pid;
 *  3. control: an UNMONITORED copy of the same server on another port; the
 *     exploit's "file" and "shell" attacks succeed against it (the file is
 *     created by dump_state with the copy's pid; the command runs as the
 *     copy's child) — so the attack is real in this guest;
 *  4. the "file" attack on the monitored server: no answer (exit 3), the
 *     file does not exist, one anomaly incident ("call dump_state", verdict
 *     kill, syscall openat), then the server answers again with a new pid;
 *  5. the "shell" attack: the same with "call run_hook" at clone, the
 *     command did not run;
 *  6. normal traffic again: all answered, no further anomaly.
 *
 * As /bin/sh (argv[0] "sh"; the image has no shell), it is a minimal
 * `sh -c 'WORDS > FILE'` that writes "WORDS ran as pid P, child of Q" into
 * FILE, so that a hijacked run_hook() leaves visible evidence when it is
 * not stopped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char port[16] = "8080", control_port[16] = "8081";
static const char *bindir = "/bin", *www = "/srv/www", *incidents = "/run/kcfm/incidents.jsonl";
static int requests = 20, wait_s = 90;
static char get_bin[256], exploit_bin[256], server_bin[256];
static long inc_off; /* incident log bytes already read */
static struct timespec t0;

static double elapsed(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
}

static void mark(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("KCFM-TEST: ");
	vprintf(fmt, ap);
	printf(" [t=%.2fs]\n", elapsed());
	va_end(ap);
	fflush(stdout);
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("KCFM-TEST: FAIL ");
	vprintf(fmt, ap);
	printf(" [t=%.2fs]\n", elapsed());
	va_end(ap);
	fflush(stdout);
	exit(1);
}

/* ---- minimal sh -c -------------------------------------------------------- */

static int mini_sh(int argc, char **argv)
{
	char cmd[1024], *gt, *file, *end;
	int fd;
	if (argc != 3 || strcmp(argv[1], "-c") != 0) {
		fprintf(stderr, "sh: this image's /bin/sh only runs: sh -c 'WORDS > FILE'\n");
		return 2;
	}
	snprintf(cmd, sizeof cmd, "%s", argv[2]);
	gt = strchr(cmd, '>');
	if (gt == NULL) {
		fprintf(stderr, "sh: no '> FILE' in %s\n", argv[2]);
		return 2;
	}
	*gt = '\0';
	for (file = gt + 1; *file == ' '; file++)
		;
	end = file + strlen(file);
	while (end > file && end[-1] == ' ')
		*--end = '\0';
	end = gt;
	while (end > cmd && end[-1] == ' ')
		*--end = '\0';
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "sh: %s: %s\n", file, strerror(errno));
		return 1;
	}
	dprintf(fd, "%s ran as pid %d, child of %d\n", cmd, (int)getpid(), (int)getppid());
	close(fd);
	return 0;
}

/* ---- running the tools ---------------------------------------------------- */

struct out {
	char *buf;
	size_t len;
	int status; /* exit status, or 128+signal */
};

/* run executes argv (no shell), capturing standard output; standard error
 * goes to the console. */
static struct out run(char *const argv[])
{
	struct out o = {NULL, 0, -1};
	size_t cap = 0;
	int p[2], ws;
	pid_t pid;
	if (pipe2(p, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(p[1], 1);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t n;
		if (cap - o.len < 4096) {
			cap = cap ? cap * 2 : 65536;
			o.buf = realloc(o.buf, cap + 1);
			if (o.buf == NULL)
				fail("out of memory");
		}
		n = read(p[0], o.buf + o.len, cap - o.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		o.len += (size_t)n;
	}
	close(p[0]);
	o.buf[o.len] = '\0';
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	o.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return o;
}

static void echo_lines(const char *prefix, const char *text)
{
	const char *s = text;
	while (*s) {
		const char *nl = strchr(s, '\n');
		int n = nl ? (int)(nl - s) : (int)strlen(s);
		printf("%s%.*s\n", prefix, n, s);
		s += n + (nl != NULL);
	}
	fflush(stdout);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(b);
		return NULL;
	}
	fclose(f);
	b[n] = '\0';
	if (len)
		*len = (size_t)n;
	return b;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* json_num returns the number after "key": in s, or -1. */
static long json_num(const char *s, const char *key)
{
	char pat[64];
	const char *p;
	snprintf(pat, sizeof pat, "\"%s\":", key);
	p = strstr(s, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* json_str copies the string after "key":" in s. */
static int json_str(const char *s, const char *key, char *dst, size_t n)
{
	char pat[64];
	const char *p, *e;
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	p = strstr(s, pat);
	if (p == NULL)
		return -1;
	p += strlen(pat);
	e = strchr(p, '"');
	if (e == NULL || (size_t)(e - p) >= n)
		return -1;
	memcpy(dst, p, (size_t)(e - p));
	dst[e - p] = '\0';
	return 0;
}

/* print_incident prints the incident record on the console, with its list
 * of expected events cut to the first three (the full record is in the log). */
static void print_incident(const char *line)
{
	const char *e = strstr(line, "\"expected\":[");
	const char *end, *p, *cut = NULL;
	int n = 0, q = 0;
	if (e == NULL || (end = strchr(e, ']')) == NULL) {
		printf("KCFM-TEST: incident: %s\n", line);
		fflush(stdout);
		return;
	}
	e += strlen("\"expected\":[");
	for (p = e; p < end; p++) {
		if (*p == '"' && (++q % 2) == 0) {
			n++;
			if (n == 3)
				cut = p + 1;
		}
	}
	if (n <= 3 || cut == NULL)
		printf("KCFM-TEST: incident: %s\n", line);
	else
		printf("KCFM-TEST: incident: %.*s,\"... %d more\"%s\n", (int)(cut - line), line, n - 3, end);
	fflush(stdout);
}

/* status_pid asks GET /api/status on p; returns the server's pid or -1. */
static long status_pid(const char *p)
{
	char *argv[] = {get_bin, "-t", "5", "127.0.0.1", (char *)p, "/api/status", NULL};
	struct out o = run(argv);
	long pid = o.status == 0 ? json_num(o.buf, "pid") : -1;
	free(o.buf);
	return pid;
}

static long wait_answer(const char *p, long not_pid, int seconds)
{
	double until = elapsed() + seconds;
	while (elapsed() < until) {
		long pid = status_pid(p);
		if (pid > 0 && pid != not_pid)
			return pid;
		usleep(100 * 1000);
	}
	return -1;
}

/* new_incidents returns the incident lines appended since the last call. */
static char *new_incidents(void)
{
	size_t len = 0;
	char *all = read_file(incidents, &len);
	char *fresh;
	if (all == NULL)
		return strdup("");
	if ((long)len < inc_off)
		fail("the incident log %s shrank", incidents);
	fresh = strdup(all + inc_off);
	inc_off = (long)len;
	free(all);
	return fresh;
}

/* ---- the steps ------------------------------------------------------------- */

static void normal_traffic(const char *what, long pid)
{
	char n[16];
	char *argv[12];
	struct out o;
	int ok = 0, total = 0, k = 0;
	const char *s;
	size_t flen;
	char *file;
	snprintf(n, sizeof n, "%d", requests);
	argv[k++] = get_bin; argv[k++] = "-s"; argv[k++] = "-t"; argv[k++] = "20"; argv[k++] = "-n"; argv[k++] = n;
	argv[k++] = "127.0.0.1"; argv[k++] = port; argv[k++] = "/index.html"; argv[k++] = "/page.txt";
	argv[k++] = "/api/status"; argv[k] = NULL;
	o = run(argv);
	if (o.status != 0)
		fail("%s: kcfm_http_get exit %d", what, o.status);
	for (s = o.buf; *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : s + strlen(s)) {
		total++;
		if (strncmp(s, "200\n", 4) == 0)
			ok++;
	}
	free(o.buf);
	if (total != 3 * requests || ok != total)
		fail("%s: %d of %d answers were 200 (expected %d)", what, ok, total, 3 * requests);
	/* bodies, byte for byte */
	for (int i = 0; i < 2; i++) {
		const char *name = i == 0 ? "index.html" : "page.txt";
		char path[512], url[512];
		snprintf(path, sizeof path, "%s/%s", www, name);
		snprintf(url, sizeof url, "/%s", name);
		char *gargv[] = {get_bin, "-t", "10", "127.0.0.1", port, url, NULL};
		file = read_file(path, &flen);
		if (file == NULL)
			fail("%s: cannot read %s", what, path);
		o = run(gargv);
		if (o.status != 0 || o.len != flen || memcmp(o.buf, file, flen) != 0)
			fail("%s: GET %s: %zu bytes (exit %d), the file has %zu", what, url, o.len, o.status, flen);
		free(o.buf);
		free(file);
		total++;
	}
	{
		char *eargv[] = {get_bin, "-t", "10", "-X", "POST", "-d", "hello from the driver", "127.0.0.1", port, "/api/echo", NULL};
		o = run(eargv);
		if (o.status != 0 || strcmp(o.buf, "hello from the driver") != 0)
			fail("%s: echo answered %s (exit %d)", what, o.buf, o.status);
		free(o.buf);
		total++;
	}
	char *inc = new_incidents();
	if (*inc != '\0') {
		echo_lines("KCFM-TEST: unexpected incident: ", inc);
		fail("%s: anomalies on normal traffic", what);
	}
	free(inc);
	long now = status_pid(port);
	if (now != pid)
		fail("%s: the server's pid changed from %ld to %ld without an attack", what, pid, now);
	mark("%s: %d requests answered (%d x 200 over keep-alive, bodies equal to the files, echo), 0 anomalies, server pid %ld unchanged",
	     what, total, 3 * requests, pid);
}

static pid_t start_control(void)
{
	pid_t pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl(server_bin, server_bin, "--root", www, "--port", control_port, "--state-file", "/tmp/control.state",
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void control(void)
{
	pid_t pid = start_control();
	long spid = wait_answer(control_port, -1, 30);
	char *argv1[] = {exploit_bin, "--binary", server_bin, "127.0.0.1", control_port, "file", "/tmp/kcfm_control_file", NULL};
	char *argv2[] = {exploit_bin, "--binary", server_bin, "127.0.0.1", control_port, "shell", "id > /tmp/kcfm_control_shell", NULL};
	struct out o;
	char *c;
	char want[64];
	if (spid != pid)
		fail("control: the unmonitored copy did not answer (pid %ld, started %d)", spid, (int)pid);
	o = run(argv1);
	echo_lines("  exploit (control, file): ", o.buf);
	c = read_file("/tmp/kcfm_control_file", NULL);
	snprintf(want, sizeof want, "pid=%d\n", (int)pid);
	if (o.status != 0 || c == NULL || strstr(c, want) == NULL)
		fail("control: the file attack on the unmonitored server did not work (exit %d, file %s)", o.status,
		     c ? c : "missing");
	free(o.buf);
	free(c);
	o = run(argv2);
	echo_lines("  exploit (control, shell): ", o.buf);
	snprintf(want, sizeof want, "child of %d\n", (int)pid);
	for (int i = 0; i < 50 && !exists("/tmp/kcfm_control_shell"); i++)
		usleep(100 * 1000);
	c = read_file("/tmp/kcfm_control_shell", NULL);
	/* the image's /bin/sh (this program) says whose child it was */
	if (o.status != 0 || c == NULL || (strstr(c, "child of ") != NULL && strstr(c, want) == NULL))
		fail("control: the shell attack on the unmonitored server did not work (exit %d, file %s)", o.status,
		     c ? c : "missing");
	free(o.buf);
	free(c);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	mark("control: against an UNMONITORED copy (pid %d) the exploit works: dump_state created /tmp/kcfm_control_file, "
	     "run_hook ran a command as its child", (int)pid);
}

static char *append(char *a, char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *r = realloc(a, la + lb + 1);
	if (r == NULL)
		fail("out of memory");
	memcpy(r + la, b, lb + 1);
	free(b);
	return r;
}

/* complete_anomaly returns the first complete anomaly record in log (its
 * newline replaced by NUL in the copy *line), or NULL. */
static const char *complete_anomaly(const char *log, char *line, size_t n)
{
	const char *a = strstr(log, "{\"v\":1,\"type\":\"anomaly\"");
	const char *nl = a ? strchr(a, '\n') : NULL;
	if (nl == NULL || (size_t)(nl - a) >= n)
		return NULL;
	memcpy(line, a, (size_t)(nl - a));
	line[nl - a] = '\0';
	return nl + 1;
}

static long attack(const char *mode, const char *arg, const char *evidence, const char *want_event, long want_sys,
                   const char *sysname, long pid)
{
	char *argv[] = {exploit_bin, "--binary", server_bin, "127.0.0.1", port, (char *)mode, (char *)arg, NULL};
	static char line[1 << 20];
	struct out o;
	char *log = strdup(""), event[128], verdict[32], action[32], how[160];
	const char *after = NULL, *r;
	double until;
	long sys, npid;
	o = run(argv);
	echo_lines("  exploit: ", o.buf);
	if (o.status != 3)
		fail("%s attack: kcfm_exploit exit %d, expected 3 (payload delivered, no answer)", mode, o.status);
	free(o.buf);
	/* the incident (FlowMonitor writes it when FlowChecker reports) */
	for (until = elapsed() + 20; elapsed() < until; usleep(100 * 1000)) {
		log = append(log, new_incidents());
		if ((after = complete_anomaly(log, line, sizeof line)) != NULL)
			break;
	}
	if (after == NULL)
		fail("%s attack: no anomaly incident in %s (it has: %s)", mode, incidents, log);
	if (strstr(log, "{\"v\":1,\"type\":\"anomaly\"") != log)
		fail("%s attack: records before the anomaly: %s", mode, log);
	print_incident(line);
	if (json_str(line, "event", event, sizeof event) < 0 || json_str(line, "verdict", verdict, sizeof verdict) < 0 ||
	    json_str(line, "action", action, sizeof action) < 0)
		fail("%s attack: incident lacks event/verdict/action", mode);
	/* FlowChecker finds the hijacked call either when the held syscall
	 * makes it drain the ring (syscall = that number), or earlier, in the
	 * background drain of the function events (syscall -1): then the
	 * process was killed before it reached the syscall at all. */
	sys = json_num(line, "syscall");
	if (strcmp(event, want_event) != 0 || strcmp(verdict, "kill") != 0 || strcmp(action, "restart") != 0 ||
	    (sys != want_sys && sys != -1))
		fail("%s attack: incident event=%s verdict=%s action=%s syscall=%ld, expected event=%s verdict=kill "
		     "action=restart syscall=%ld (or -1)",
		     mode, event, verdict, action, sys, want_event, want_sys);
	if (sys == -1)
		snprintf(how, sizeof how, "syscall=-1: found in the function events before the program reached %s", sysname);
	else
		snprintf(how, sizeof how, "syscall=%ld: %s held by the kernel and refused before it ran", sys, sysname);
	if (json_num(line, "pid") != pid)
		fail("%s attack: the incident names pid %ld, the server was %ld", mode, json_num(line, "pid"), pid);
	if (strstr(line, "\"function\":\"api_echo\"") == NULL)
		fail("%s attack: api_echo is not on the incident's stack", mode);

	npid = wait_answer(port, pid, 60);
	if (npid < 0)
		fail("%s attack: the server did not answer again within 60 s", mode);
	usleep(300 * 1000);
	if (exists(evidence))
		fail("%s attack: %s EXISTS: the hijacked call's syscall ran", mode, evidence);
	/* after the anomaly: exactly one restart record, nothing else */
	{
		size_t off = (size_t)(after - log);
		log = append(log, new_incidents());
		after = log + off;
	}
	r = strstr(after, "{\"v\":1,\"type\":\"restart\"");
	if (r != after || strchr(r, '\n') == NULL || strchr(r, '\n')[1] != '\0')
		fail("%s attack: expected one restart record after the anomaly, the log has: %s", mode, after);
	printf("KCFM-TEST: incident: %.*s\n", (int)(strchr(r, '\n') - r), r);
	free(log);
	mark("%s attack stopped: no answer, %s not created; incident event=\"%s\" (%s) verdict=kill action=restart; "
	     "restarted: pid %ld -> %ld, answering again",
	     mode, evidence, event, how, pid, npid);
	return npid;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	long pid;
	base = base ? base + 1 : argv[0];
	if (strcmp(base, "sh") == 0)
		return mini_sh(argc, argv);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL) {
			fprintf(stderr, "usage: kcfm_image_driver [--port N] [--control-port N] [--bin DIR] [--www DIR] "
			                "[--incidents FILE] [--requests N] [--wait SEC]\n");
			return 2;
		}
		if (strcmp(a, "--port") == 0)
			snprintf(port, sizeof port, "%s", v);
		else if (strcmp(a, "--control-port") == 0)
			snprintf(control_port, sizeof control_port, "%s", v);
		else if (strcmp(a, "--bin") == 0)
			bindir = v;
		else if (strcmp(a, "--www") == 0)
			www = v;
		else if (strcmp(a, "--incidents") == 0)
			incidents = v;
		else if (strcmp(a, "--requests") == 0)
			requests = atoi(v);
		else if (strcmp(a, "--wait") == 0)
			wait_s = atoi(v);
		else {
			fprintf(stderr, "kcfm_image_driver: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (requests < 1)
		requests = 1;
	snprintf(get_bin, sizeof get_bin, "%s/kcfm_http_get", bindir);
	snprintf(exploit_bin, sizeof exploit_bin, "%s/kcfm_exploit", bindir);
	snprintf(server_bin, sizeof server_bin, "%s/kcfm_http_server", bindir);
	setvbuf(stdout, NULL, _IOLBF, 0);

	pid = wait_answer(port, -1, wait_s);
	if (pid < 0)
		fail("the monitored server did not answer on port %s within %d s", port, wait_s);
	mark("monitored server answers on 127.0.0.1:%s (pid %ld)", port, pid);
	free(new_incidents()); /* start of the log */
	normal_traffic("normal traffic", pid);
	control();
	pid = attack("file", "/tmp/kcfm_pwned", "/tmp/kcfm_pwned", "call dump_state", SYS_openat, "openat", pid);
	pid = attack("shell", "id > /tmp/kcfm_pwned_shell", "/tmp/kcfm_pwned_shell", "call run_hook", SYS_clone, "clone", pid);
	normal_traffic("after the attacks", pid);
	mark("PASS: normal requests answered with 0 anomalies; both attacks stopped before their syscall, reported and "
	     "followed by a restart (%.1f s)", elapsed());
	return 0;
}
