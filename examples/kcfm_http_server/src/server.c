/* kcfm_http_server — a small HTTP/1.1 static file server (the KCFM demo).
 *
 * One thread, one level-triggered epoll loop, non-blocking sockets. Signals
 * arrive through a signalfd in the same loop (no asynchronous handlers):
 *   SIGTERM, SIGINT  stop accepting, close the listening socket and idle
 *                    connections, finish the requests in flight (at most
 *                    --drain-timeout seconds), exit 0;
 *   SIGUSR1          write a state snapshot to --state-file (dump_state).
 * Keep-alive is the default for HTTP/1.1; idle connections are closed after
 * --idle-timeout seconds. No fork per request: the only fork is the optional
 * start-up hook (--on-start).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

struct server_stats g_stats;
const struct server_config *g_config;
int g_root_fd = -1;

static struct conn **conns;   /* table of open connections, by slot */
static size_t *free_slots;    /* stack of free slot numbers */
static size_t n_free;
static int epfd = -1, listen_fd = -1, sig_fd = -1;
static int listen_paused;
static int draining;
static double drain_deadline;

/* Port numbers in network byte order, written byte by byte. (glibc's
 * htons/ntohs are inline functions of a system header, which kcfm treats as
 * unknown external calls; plain byte arithmetic keeps the signature exact.) */
static int port_from_net(const in_port_t *p)
{
	const unsigned char *b = (const unsigned char *)p;
	return b[0] << 8 | b[1];
}

static void port_to_net(in_port_t *p, int port)
{
	unsigned char *b = (unsigned char *)p;
	b[0] = (unsigned char)(port >> 8);
	b[1] = (unsigned char)port;
}

/* epoll tags of the two non-connection descriptors */
static char tag_listen, tag_signal;

double now_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", SERVER_NAME, what, strerror(errno));
	exit(1);
}

/* ---- connections ---------------------------------------------------------- */

static int set_events(struct conn *c, unsigned events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void listener_resume(void)
{
	if (listen_paused && listen_fd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tag_listen};
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev) == 0)
			listen_paused = 0;
	}
}

static void listener_pause(void)
{
	if (!listen_paused && listen_fd >= 0) {
		struct epoll_event ev = {.events = 0, .data.ptr = &tag_listen};
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev) == 0)
			listen_paused = 1;
	}
}

static void conn_close(struct conn *c)
{
	close(c->fd); /* also removes it from the epoll set */
	if (c->file_fd >= 0)
		close(c->file_fd);
	conns[c->slot] = NULL;
	free_slots[n_free++] = c->slot;
	g_stats.open_conns--;
	free(c->in);
	free(c->out);
	free(c);
	listener_resume();
}

char *conn_out_reserve(struct conn *c, size_t len)
{
	if (c->out == NULL || c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;
		while (cap < c->out_len + len)
			cap *= 2;
		p = realloc(c->out, cap);
		if (p == NULL)
			return NULL;
		c->out = p;
		c->out_cap = cap;
	}
	return c->out + c->out_len;
}

int conn_out_append(struct conn *c, const char *data, size_t len)
{
	char *dst = conn_out_reserve(c, len);
	if (dst == NULL)
		return -1;
	memcpy(dst, data, len);
	c->out_len += len;
	return 0;
}

static int conn_in_reserve(struct conn *c, size_t want)
{
	size_t limit = HP_MAX_HEADER_BYTES + g_config->max_body;
	size_t cap = c->in_cap;
	char *p;
	if (want <= c->in_cap)
		return 0;
	if (want > limit)
		return -1;
	while (cap < want)
		cap *= 2;
	if (cap > limit)
		cap = limit;
	p = realloc(c->in, cap);
	if (p == NULL)
		return -1;
	c->in = p;
	c->in_cap = cap;
	return 0;
}

/* Writes pending output. Returns 1 when everything was written, 0 when the
 * socket is full (EPOLLOUT armed), -1 on error. */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_NOSIGNAL | (c->file_left > 0 ? MSG_MORE : 0));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				goto blocked;
			return -1;
		}
		c->out_off += (size_t)n;
		g_stats.bytes_out += (unsigned long long)n;
	}
	c->out_off = c->out_len = 0;
	while (c->file_left > 0) {
		size_t chunk = c->file_left > (1 << 20) ? (1 << 20) : (size_t)c->file_left;
		ssize_t n = sendfile(c->fd, c->file_fd, &c->file_off, chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				goto blocked;
			return -1;
		}
		if (n == 0)
			return -1; /* the file shrank: Content-Length cannot be kept */
		c->file_left -= n;
		g_stats.bytes_out += (unsigned long long)n;
	}
	if (c->file_fd >= 0) {
		close(c->file_fd);
		c->file_fd = -1;
	}
	if (c->want_write) {
		if (set_events(c, EPOLLIN) < 0)
			return -1;
		c->want_write = 0;
	}
	return 1;
blocked:
	/* A slow reader that takes data is not idle (we only get here again
	 * after EPOLLOUT, i.e. after the peer read something). */
	c->last_active = now_monotonic();
	/* Stop reading while the peer does not read our responses. */
	if (!c->want_write) {
		if (set_events(c, EPOLLOUT) < 0)
			return -1;
		c->want_write = 1;
	}
	return 0;
}

/* Parses and handles the next request in c->in. Returns 1 if it queued
 * output (a response or "100 Continue"), 0 if more input is needed. */
static int conn_handle_next(struct conn *c)
{
	struct hp_request req;
	int status;
	size_t need, body_len;
	int r;

	if (c->in_len == 0)
		return 0;
	r = hp_parse_request(c->in, c->in_len, g_config->max_body, &req, &status);
	if (r == HP_INCOMPLETE) {
		if (c->in_len == c->in_cap && conn_in_reserve(c, c->in_cap * 2) < 0) {
			c->keep_alive = 0;
			respond_error(c, 431, NULL);
			return 1;
		}
		return 0;
	}
	if (r == HP_ERROR) {
		g_stats.requests++;
		c->keep_alive = 0; /* the framing is lost: answer and close */
		c->in_len = 0;
		respond_error(c, status, NULL);
		return 1;
	}
	body_len = req.content_length > 0 ? (size_t)req.content_length : 0;
	need = req.header_len + body_len;
	if (c->in_len < need) {
		size_t vlen;
		const char *expect = hp_header_value(&req, "expect", &vlen);
		if (conn_in_reserve(c, need) < 0) {
			c->keep_alive = 0;
			respond_error(c, 413, &req);
			return 1;
		}
		if (expect != NULL && vlen == 12 && strncasecmp(expect, "100-continue", 12) == 0 &&
		    !c->sent_continue && req.version_minor == 1) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			c->sent_continue = 1;
			if (conn_out_append(c, cont, sizeof cont - 1) < 0)
				return 0;
			return 1;
		}
		return 0;
	}

	g_stats.requests++;
	c->requests++;
	c->keep_alive = req.keep_alive && !draining;
	c->responded = 0;
	handle_request(c, &req, c->in + req.header_len, body_len);
	if (!c->responded)
		respond_error(c, 500, &req); /* a handler that did not answer */
	if (g_config->access_log)
		fprintf(stderr, "%s \"%.*s %.*s\" %lu\n", c->peer, (int)req.method_len, req.method,
		        (int)req.target_len, req.target, (unsigned long)(c->out_len - c->out_off));
	c->sent_continue = 0;
	if (c->keep_alive) {
		memmove(c->in, c->in + need, c->in_len - need);
		c->in_len -= need;
	} else {
		c->in_len = 0;
	}
	return 1;
}

/* Writes what is pending, then handles the requests that are complete in the
 * input buffer, one at a time, as long as the socket takes the responses. */
static void conn_service(struct conn *c)
{
	for (;;) {
		int r = conn_flush(c);
		if (r < 0) {
			conn_close(c);
			return;
		}
		if (r == 0)
			return;
		if (c->responded && !c->keep_alive) {
			conn_close(c);
			return;
		}
		if (draining && c->in_len == 0) {
			conn_close(c);
			return;
		}
		c->responded = 0;
		if (!conn_handle_next(c))
			return;
	}
}

static void conn_readable(struct conn *c)
{
	ssize_t n;
	if (c->in_len == c->in_cap && conn_in_reserve(c, c->in_cap * 2) < 0) {
		conn_close(c); /* cannot happen with the parser's limits; be safe */
		return;
	}
	n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	if (n == 0) {
		conn_close(c); /* the peer closed its side */
		return;
	}
	c->in_len += (size_t)n;
	c->last_active = now_monotonic();
	conn_service(c);
}

static void accept_all(void)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof sa;
		struct conn *c;
		struct epoll_event ev;
		int one = 1;
		int fd;

		if (n_free == 0) {
			listener_pause(); /* resumed when a connection closes */
			return;
		}
		fd = accept4(listen_fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				fprintf(stderr, "%s: accept: %s (pausing)\n", SERVER_NAME, strerror(errno));
				listener_pause();
			}
			return; /* EAGAIN, or a connection that went away */
		}
		c = calloc(1, sizeof *c);
		if (c == NULL || (c->in = malloc(4096)) == NULL) {
			free(c);
			close(fd);
			return;
		}
		c->in_cap = 4096;
		c->fd = fd;
		c->file_fd = -1;
		c->last_active = now_monotonic();
		if (g_config->access_log) {
			char host[INET6_ADDRSTRLEN] = "?";
			int port = 0;
			if (sa.ss_family == AF_INET) {
				struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
				inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
				port = port_from_net(&s4->sin_port);
			} else if (sa.ss_family == AF_INET6) {
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
				inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
				port = port_from_net(&s6->sin6_port);
			}
			snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->slot = free_slots[--n_free];
		conns[c->slot] = c;
		g_stats.accepted++;
		g_stats.open_conns++;
	}
}

/* ---- shutdown and signals -------------------------------------------------- */

static void start_drain(int sig)
{
	size_t i;
	if (draining)
		return;
	draining = 1;
	drain_deadline = now_monotonic() + g_config->drain_timeout;
	if (listen_fd >= 0) {
		close(listen_fd);
		listen_fd = -1;
	}
	/* The others finish their current response and close; idle ones are
	 * closed by close_idle() after this batch of events (closing them here
	 * would free connections that may still have events in the batch). */
	for (i = 0; i < g_config->max_conns; i++)
		if (conns[i] != NULL)
			conns[i]->keep_alive = 0;
	fprintf(stderr, "%s: %s: shutting down, %llu connection(s) in flight\n", SERVER_NAME, strsignal(sig),
	        g_stats.open_conns);
}

static void read_signals(void)
{
	struct signalfd_siginfo si;
	while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			start_drain((int)si.ssi_signo);
		else if (si.ssi_signo == SIGUSR1)
			dump_state(g_config->state_file);
	}
}

/* While draining: connections with nothing in flight. */
static void close_idle(void)
{
	size_t i;
	for (i = 0; i < g_config->max_conns; i++) {
		struct conn *c = conns[i];
		if (c != NULL && c->in_len == 0 && c->out_len == 0 && c->file_left == 0)
			conn_close(c);
	}
}

static void sweep(double now)
{
	size_t i;
	for (i = 0; i < g_config->max_conns; i++) {
		struct conn *c = conns[i];
		if (c == NULL)
			continue;
		if ((draining && now >= drain_deadline) || now - c->last_active >= g_config->idle_timeout)
			conn_close(c);
	}
}

/* ---- start-up -------------------------------------------------------------- */

static int open_listener(const struct server_config *cfg, int *port_out)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int one = 1, fd;

	memset(&sa, 0, sizeof sa);
	if (strchr(cfg->bind_addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
		s6->sin6_family = AF_INET6;
		port_to_net(&s6->sin6_port, cfg->port);
		if (inet_pton(AF_INET6, cfg->bind_addr, &s6->sin6_addr) != 1)
			goto bad_addr;
		salen = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
		s4->sin_family = AF_INET;
		port_to_net(&s4->sin_port, cfg->port);
		if (inet_pton(AF_INET, cfg->bind_addr, &s4->sin_addr) != 1)
			goto bad_addr;
		salen = sizeof *s4;
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
		fprintf(stderr, "%s: bind %s port %d: %s\n", SERVER_NAME, cfg->bind_addr, cfg->port, strerror(errno));
		exit(1);
	}
	if (listen(fd, 511) < 0)
		die("listen");
	salen = sizeof sa;
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
		die("getsockname");
	*port_out = port_from_net(sa.ss_family == AF_INET6 ? &((struct sockaddr_in6 *)&sa)->sin6_port
	                                                   : &((struct sockaddr_in *)&sa)->sin_port);
	return fd;
bad_addr:
	fprintf(stderr, "%s: --bind %s: not a numeric IPv4 or IPv6 address\n", SERVER_NAME, cfg->bind_addr);
	exit(2);
}

static void usage(FILE *f, int code)
{
	fprintf(f,
	        "usage: %s [options]\n"
	        "  --root DIR           document root (default: .)\n"
	        "  --port N             TCP port (default 8080; 0 = any free port)\n"
	        "  --bind ADDR          numeric address to listen on (default 127.0.0.1)\n"
	        "  --state-file PATH    where SIGUSR1 writes a state snapshot\n"
	        "                       (default /tmp/kcfm_http_server.<pid>.state)\n"
	        "  --on-start CMD       run CMD with /bin/sh -c once before serving\n"
	        "  --max-conns N        simultaneous connections (default 1024)\n"
	        "  --max-body BYTES     largest request body (default 65536)\n"
	        "  --idle-timeout SEC   close idle connections after SEC (default 60)\n"
	        "  --drain-timeout SEC  on SIGTERM/SIGINT, wait at most SEC for requests in flight (default 5)\n"
	        "  --access-log         one line per request on standard error\n"
	        "  --help, --version\n"
	        "Prints \"%s: listening on ADDR:PORT\" on standard output when ready.\n",
	        SERVER_NAME, SERVER_NAME);
	exit(code);
}

static double parse_num(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != 0 || v < min || v > max) {
		fprintf(stderr, "%s: %s %s: expected a number in [%g, %g]\n", SERVER_NAME, opt, s, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"root", required_argument, NULL, 'r'},
		{"port", required_argument, NULL, 'p'},
		{"bind", required_argument, NULL, 'b'},
		{"state-file", required_argument, NULL, 's'},
		{"on-start", required_argument, NULL, 'o'},
		{"max-conns", required_argument, NULL, 'c'},
		{"max-body", required_argument, NULL, 'm'},
		{"idle-timeout", required_argument, NULL, 'i'},
		{"drain-timeout", required_argument, NULL, 'd'},
		{"access-log", no_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static struct server_config cfg = {
		.root = ".",
		.bind_addr = "127.0.0.1",
		.port = 8080,
		.max_conns = 1024,
		.max_body = 65536,
		.idle_timeout = 60,
		.drain_timeout = 5,
	};
	static char default_state[64];
	struct epoll_event ev, events[64];
	sigset_t mask;
	double last_sweep;
	int opt, port;
	size_t i;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'r': cfg.root = optarg; break;
		case 'p': cfg.port = (int)parse_num("--port", optarg, 0, 65535); break;
		case 'b': cfg.bind_addr = optarg; break;
		case 's': cfg.state_file = optarg; break;
		case 'o': cfg.on_start = optarg; break;
		case 'c': cfg.max_conns = (size_t)parse_num("--max-conns", optarg, 1, 65536); break;
		case 'm': cfg.max_body = (size_t)parse_num("--max-body", optarg, 0, 64 << 20); break;
		case 'i': cfg.idle_timeout = parse_num("--idle-timeout", optarg, 0.1, 86400); break;
		case 'd': cfg.drain_timeout = parse_num("--drain-timeout", optarg, 0, 3600); break;
		case 'l': cfg.access_log = 1; break;
		case 'h': usage(stdout, 0); break;
		case 'V': printf("%s %s\n", SERVER_NAME, SERVER_VERSION); return 0;
		default: usage(stderr, 2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", SERVER_NAME, argv[optind]);
		usage(stderr, 2);
	}
	g_stats.pid = getpid();
	if (cfg.state_file == NULL) {
		snprintf(default_state, sizeof default_state, "/tmp/%s.%d.state", SERVER_NAME, (int)g_stats.pid);
		cfg.state_file = default_state;
	}
	g_config = &cfg;

	g_root_fd = open(cfg.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g_root_fd < 0) {
		fprintf(stderr, "%s: --root %s: %s\n", SERVER_NAME, cfg.root, strerror(errno));
		return 1;
	}
	conns = calloc(cfg.max_conns, sizeof *conns);
	free_slots = malloc(cfg.max_conns * sizeof *free_slots);
	if (conns == NULL || free_slots == NULL)
		die("malloc");
	for (i = 0; i < cfg.max_conns; i++)
		free_slots[i] = cfg.max_conns - 1 - i;
	n_free = cfg.max_conns;

	/* Signals are read from a signalfd in the loop; the start-up hook's
	 * child gets the default mask back (run_hook). */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die("sigprocmask");
	sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0)
		die("signalfd");

	listen_fd = open_listener(&cfg, &port);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.ptr = &tag_listen;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		die("epoll_ctl");
	ev.data.ptr = &tag_signal;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sig_fd, &ev) < 0)
		die("epoll_ctl");

	if (cfg.on_start != NULL)
		run_hook(cfg.on_start);

	g_stats.started = now_monotonic();
	printf("%s: listening on %s:%d root=%s pid=%d\n", SERVER_NAME, cfg.bind_addr, port, cfg.root,
	       (int)g_stats.pid);
	fflush(stdout);

	last_sweep = g_stats.started;
	while (!draining || g_stats.open_conns > 0) {
		int n = epoll_wait(epfd, events, (int)(sizeof events / sizeof events[0]), draining ? 100 : 1000);
		double now;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < (size_t)n; i++) {
			void *tag = events[i].data.ptr;
			if (tag == &tag_listen) {
				if (!draining)
					accept_all();
			} else if (tag == &tag_signal) {
				read_signals();
			} else {
				/* Only a connection's own event closes it, and a batch
				 * holds one event per descriptor: c is live. */
				struct conn *c = tag;
				if (events[i].events & EPOLLOUT)
					conn_service(c);
				else
					conn_readable(c);
			}
		}
		if (draining)
			close_idle();
		now = now_monotonic();
		if (now - last_sweep >= 1.0 || (draining && now >= drain_deadline)) {
			sweep(now);
			last_sweep = now;
		}
	}
	close(epfd);
	close(sig_fd);
	close(g_root_fd);
	free(conns);
	free(free_slots);
	fprintf(stderr, "%s: stopped after %llu request(s) on %llu connection(s)\n", SERVER_NAME, g_stats.requests,
	        g_stats.accepted);
	return 0;
}
