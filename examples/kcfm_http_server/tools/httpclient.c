/* Minimal blocking HTTP/1.1 client; see httpclient.h. */
#define _GNU_SOURCE
#include "httpclient.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static char errbuf[256];

static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	return -1;
}

const char *hc_error(void)
{
	return errbuf;
}

int hc_connect(struct hc_conn *c, const char *host, const char *port, double timeout_s)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv;
	int rc, fd = -1, saved = 0;

	c->fd = -1;
	c->len = 0;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		return fail("%s:%s: %s", host, port, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		tv.tv_sec = (time_t)timeout_s;
		tv.tv_usec = (suseconds_t)((timeout_s - (double)tv.tv_sec) * 1e6);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return fail("connect %s:%s: %s", host, port, strerror(saved));
	c->fd = fd;
	return 0;
}

void hc_close(struct hc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

int hc_send_all(struct hc_conn *c, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("send: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads more bytes into the buffer; returns bytes read, 0 at the end, -1. */
static ssize_t fill(struct hc_conn *c)
{
	ssize_t n;
	if (c->len == sizeof c->buf)
		return fail("response header larger than %zu bytes", sizeof c->buf);
	for (;;) {
		n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return fail("timed out waiting for the server");
		return fail("recv: %s", strerror(errno));
	}
	c->len += (size_t)n;
	return n;
}

static void consume(struct hc_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

int hc_header(const struct hc_response *r, const char *name, char *out, size_t out_size)
{
	size_t nlen = strlen(name);
	const char *line = strstr(r->head, "\r\n");
	while (line != NULL && line[2] != 0) {
		const char *p = line + 2, *end = strstr(p, "\r\n");
		if (end == NULL)
			break;
		if ((size_t)(end - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			size_t vlen;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			vlen = (size_t)(end - v);
			while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			if (out_size > 0) {
				if (vlen >= out_size)
					vlen = out_size - 1;
				memcpy(out, v, vlen);
				out[vlen] = 0;
			}
			return 1;
		}
		line = end;
	}
	return 0;
}

void hc_free_response(struct hc_response *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof *r);
}

int hc_read_response(struct hc_conn *c, int head_request, struct hc_response *r)
{
	char value[64];
	size_t hend;
	long long clen = -1;
	int first = 1;

	memset(r, 0, sizeof *r);
	for (;;) {
		char *e;
		/* the header section */
		for (;;) {
			ssize_t n;
			e = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
			if (e != NULL)
				break;
			n = fill(c);
			if (n < 0)
				return -1;
			if (n == 0) {
				if (first && c->len == 0) {
					fail("connection closed by the server without a response");
					return -2;
				}
				return fail("connection closed in the middle of a response header");
			}
			first = 0;
		}
		hend = (size_t)(e - c->buf) + 4;
		if (hend < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0 || c->buf[8] != ' ')
			return fail("not an HTTP/1.x response: %.20s", c->buf);
		r->status = atoi(c->buf + 9);
		if (r->status < 100 || r->status > 999)
			return fail("bad status line: %.40s", c->buf);
		if (r->status >= 200)
			break;
		consume(c, hend); /* 1xx: an interim response */
	}
	r->head = malloc(hend + 1);
	if (r->head == NULL)
		return fail("out of memory");
	memcpy(r->head, c->buf, hend);
	r->head[hend] = 0;
	r->head_len = hend;
	consume(c, hend);
	if (hc_header(r, "Connection", value, sizeof value) && strcasecmp(value, "close") == 0)
		r->server_closes = 1;
	if (hc_header(r, "Content-Length", value, sizeof value)) {
		char *end;
		clen = strtoll(value, &end, 10);
		if (*end != 0 || clen < 0)
			return fail("bad Content-Length: %s", value);
	}
	if (head_request || r->status == 204 || r->status == 304)
		clen = 0;
	if (clen >= 0) {
		size_t want = (size_t)clen;
		r->body = malloc(want + 1);
		if (r->body == NULL)
			return fail("out of memory");
		while (r->body_len < want) {
			size_t take;
			if (c->len == 0) {
				ssize_t n = fill(c);
				if (n < 0)
					return -1;
				if (n == 0)
					return fail("connection closed after %zu of %zu body bytes", r->body_len, want);
			}
			take = c->len < want - r->body_len ? c->len : want - r->body_len;
			memcpy(r->body + r->body_len, c->buf, take);
			r->body_len += take;
			consume(c, take);
		}
		r->body[r->body_len] = 0;
		return 0;
	}
	/* no Content-Length: the body ends with the connection */
	r->server_closes = 1;
	for (;;) {
		ssize_t n;
		char *p = realloc(r->body, r->body_len + c->len + 1);
		if (p == NULL)
			return fail("out of memory");
		r->body = p;
		memcpy(r->body + r->body_len, c->buf, c->len);
		r->body_len += c->len;
		r->body[r->body_len] = 0;
		c->len = 0;
		n = fill(c);
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
	}
}
