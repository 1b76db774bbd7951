/* kcfm_http_server — request routing, static files, the status endpoint.
 *
 *   GET|HEAD /api/status   JSON: requests, uptime, pid, connections
 *   POST     /api/echo     echoes the body (echo.c)
 *   GET|HEAD /<path>       a regular file below --root; a directory serves
 *                          its index.html
 * Other methods get 405 with an Allow header.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "demo_layout.h"
#include "server.h"

/* The Date header, formatted once per second. */
static char date_buf[40];
static time_t date_sec = -1;

static const char *http_date(void)
{
	time_t t = time(NULL);
	if (t != date_sec) {
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(date_buf, sizeof date_buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		date_sec = t;
	}
	return date_buf;
}

/* Formats the status line and headers into buf; returns the length, or 0
 * when it does not fit. */
static size_t format_head(char *buf, size_t size, struct conn *c, int status, const char *content_type,
                          unsigned long long content_length, const char *extra_headers)
{
	int n = snprintf(buf, size,
	                 "HTTP/1.1 %d %s\r\n"
	                 "Server: " SERVER_NAME "/" SERVER_VERSION "\r\n"
	                 "Date: %s\r\n"
	                 "Content-Type: %s\r\n"
	                 "Content-Length: %llu\r\n"
	                 "Connection: %s\r\n"
	                 "%s\r\n",
	                 status, hp_reason(status), http_date(), content_type, content_length,
	                 c->keep_alive ? "keep-alive" : "close", extra_headers ? extra_headers : "");
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

void respond(struct conn *c, int status, const char *content_type, const char *body, size_t body_len,
             int head_only, const char *extra_headers)
{
	char head[1024];
	size_t hlen = format_head(head, sizeof head, c, status, content_type, body_len, extra_headers);
	c->responded = 1;
	if (hlen == 0 || conn_out_append(c, head, hlen) < 0 ||
	    (!head_only && body_len > 0 && conn_out_append(c, body, body_len) < 0)) {
		/* Out of memory: drop the connection after what was queued. */
		c->keep_alive = 0;
	}
}

void respond_error(struct conn *c, int status, const struct hp_request *req)
{
	char body[128];
	int head_only = req != NULL && hp_method_is(req, "HEAD");
	int n = snprintf(body, sizeof body, "%d %s\n", status, hp_reason(status));
	/* The connection stays open: the request was framed correctly. Framing
	 * errors (parse errors, a body that is too large) clear keep_alive
	 * before they get here (server.c). */
	respond(c, status, "text/plain; charset=utf-8", body, (size_t)n, head_only, NULL);
}

static void respond_405(struct conn *c, const struct hp_request *req, const char *allow)
{
	char body[64], extra[64];
	int n = snprintf(body, sizeof body, "405 %s\n", hp_reason(405));
	snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
	respond(c, 405, "text/plain; charset=utf-8", body, (size_t)n, hp_method_is(req, "HEAD"), extra);
}

/* Opens rel (relative to the root) for reading: regular files only, a
 * directory's index.html, no symbolic link as the last component. Returns
 * the descriptor or -status. */
static int open_file(const char *rel, struct stat *st, const char **served_name)
{
	int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK; /* NONBLOCK: no hang on a FIFO */
	int fd = openat(g_root_fd, rel[0] ? rel : ".", flags);
	if (fd < 0)
		return errno == EACCES ? -403 : -404;
	if (fstat(fd, st) < 0) {
		close(fd);
		return -500;
	}
	*served_name = rel;
	if (S_ISDIR(st->st_mode)) {
		int idx = openat(fd, "index.html", flags);
		close(fd);
		if (idx < 0)
			return errno == EACCES ? -403 : -404;
		fd = idx;
		if (fstat(fd, st) < 0) {
			close(fd);
			return -500;
		}
		*served_name = "index.html";
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -404;
	}
	return fd;
}

static void serve_file(struct conn *c, const struct hp_request *req, int head_only)
{
	char rel[1024], head[1024];
	const char *name = "";
	struct stat st;
	size_t hlen, size;
	int fd, status;

	status = hp_target_to_path(req->target, req->target_len, rel, sizeof rel);
	if (status != 0) {
		respond_error(c, status, req);
		return;
	}
	fd = open_file(rel, &st, &name);
	if (fd < 0) {
		respond_error(c, -fd, req);
		return;
	}
	size = (size_t)st.st_size;
	hlen = format_head(head, sizeof head, c, 200, hp_mime_type(name), (unsigned long long)size, NULL);
	if (hlen == 0) {
		close(fd);
		respond_error(c, 500, req);
		return;
	}
	if (head_only || size == 0 || size > SMALL_FILE_MAX) {
		if (conn_out_append(c, head, hlen) < 0) {
			close(fd);
			c->keep_alive = 0;
			c->responded = 1;
			return;
		}
		c->responded = 1;
		if (head_only || size == 0) {
			close(fd);
		} else {
			c->file_fd = fd; /* the body goes out with sendfile */
			c->file_off = 0;
			c->file_left = (off_t)size;
		}
		return;
	}
	/* Small file: header and body in one write. */
	{
		size_t base = c->out_len, got = 0;
		char *dst;
		if (conn_out_append(c, head, hlen) < 0 || (dst = conn_out_reserve(c, size)) == NULL) {
			close(fd);
			c->out_len = base;
			respond_error(c, 500, req);
			return;
		}
		while (got < size) {
			ssize_t n = read(fd, dst + got, size - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		close(fd);
		if (got != size) { /* the file changed while we read it */
			c->out_len = base;
			respond_error(c, 500, req);
			return;
		}
		c->out_len += size;
		c->responded = 1;
	}
}

void api_status(struct conn *c, const struct hp_request *req)
{
	char body[512];
	int n = snprintf(body, sizeof body,
	                 "{\"server\":\"" SERVER_NAME "/" SERVER_VERSION "\",\"pid\":%d,\"uptime_s\":%.3f,"
	                 "\"requests\":%llu,\"connections\":{\"open\":%llu,\"accepted\":%llu},\"bytes_out\":%llu"
#ifdef KCFM_HTTP_VULNERABLE_DEMO
	                 /* DEMO INFO LEAK: the address of this function, "for
	                  * diagnostics". With it an attacker computes the address
	                  * of any function in the (PIE) binary. */
	                 ",\"diagnostics\":{\"handler\":\"" KCFM_DEMO_LEAK_SYMBOL "\",\"address\":\"0x%" PRIxPTR "\"}"
#endif
	                 "}\n",
	                 (int)g_stats.pid, now_monotonic() - g_stats.started, g_stats.requests, g_stats.open_conns,
	                 g_stats.accepted, g_stats.bytes_out
#ifdef KCFM_HTTP_VULNERABLE_DEMO
	                 ,
	                 (uintptr_t)&api_status
#endif
	);
	respond(c, 200, "application/json", body, (size_t)n, hp_method_is(req, "HEAD"), NULL);
}

void handle_request(struct conn *c, const struct hp_request *req, const char *body, size_t body_len)
{
	size_t plen = hp_target_path_len(req->target, req->target_len);
	int get = hp_method_is(req, "GET"), head = hp_method_is(req, "HEAD");

	if (plen == 11 && memcmp(req->target, "/api/status", 11) == 0) {
		if (get || head)
			api_status(c, req);
		else
			respond_405(c, req, "GET, HEAD");
		return;
	}
	if (plen == 9 && memcmp(req->target, "/api/echo", 9) == 0) {
		if (hp_method_is(req, "POST"))
			api_echo(c, body, body_len);
		else
			respond_405(c, req, "POST");
		return;
	}
	if (get || head)
		serve_file(c, req, head);
	else
		respond_405(c, req, "GET, HEAD");
}
