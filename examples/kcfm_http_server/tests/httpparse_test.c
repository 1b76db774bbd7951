/* Unit and robustness tests of httpparse.
 *
 * 1. Table tests: requests that must parse (with the fields they must give)
 *    and requests that must be rejected with a given status.
 * 2. Path tests: hp_target_to_path() on good and hostile targets.
 * 3. Mutation test: random byte edits, truncations and splices of seed
 *    requests (deterministic seed, argv[1] iterations); every result must
 *    keep the parser's invariants. Built with ASan/UBSan when available.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpparse.h"

static int failures;

#define CHECK(cond, ...)                                          \
	do {                                                      \
		if (!(cond)) {                                    \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);             \
			fputc('\n', stderr);                      \
			failures++;                               \
		}                                                 \
	} while (0)

struct ok_case {
	const char *in;
	const char *method, *target;
	int minor;
	size_t headers;
	long long content_length;
	int keep_alive;
};

static const struct ok_case ok_cases[] = {
	{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", 1, 1, -1, 1},
	{"GET /x?y=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET", "/x?y=1", 1, 2, -1, 0},
	{"GET / HTTP/1.0\r\n\r\n", "GET", "/", 0, 0, -1, 0},
	{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", 0, 1, -1, 1},
	{"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close \r\n\r\n", "GET", "/", 1, 2, -1, 0},
	{"\r\n\r\nHEAD /a HTTP/1.1\r\nhost:a\r\n\r\n", "HEAD", "/a", 1, 1, -1, 1},
	{"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "POST", "/api/echo", 1, 2, 5, 1},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "POST", "/", 1, 3, 5, 1},
	{"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n", "GET", "/", 1, 3, -1, 1},
	{"M-SEARCH /%7e HTTP/1.1\r\nHost: a\r\n\r\n", "M-SEARCH", "/%7e", 1, 1, -1, 1},
};

struct err_case {
	const char *in;
	int status;
};

static const struct err_case err_cases[] = {
	{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
	{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
	{"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
	{"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400},
	{"GET / HTTP/1.1\r\n\r\n", 400},                                  /* no Host */
	{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},            /* two Hosts */
	{"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},                      /* space before colon */
	{"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},            /* obs-fold */
	{"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400},                    /* bare CR */
	{"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},                 /* bare LF */
	{"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400},                   /* control char */
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n", 413},
	{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
	{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
	{"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"G\x80T / HTTP/1.1\r\n", 400}, /* rejected before the header is complete */
};

static void test_tables(void)
{
	size_t i;
	for (i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
		const struct ok_case *t = &ok_cases[i];
		struct hp_request req;
		int status = -1;
		size_t len = strlen(t->in);
		int r = hp_parse_request(t->in, len, 1024, &req, &status);
		CHECK(r == HP_OK, "ok case %zu: result %d status %d", i, r, status);
		if (r != HP_OK)
			continue;
		CHECK(req.method_len == strlen(t->method) && memcmp(req.method, t->method, req.method_len) == 0,
		      "ok case %zu: method %.*s", i, (int)req.method_len, req.method);
		CHECK(req.target_len == strlen(t->target) && memcmp(req.target, t->target, req.target_len) == 0,
		      "ok case %zu: target %.*s", i, (int)req.target_len, req.target);
		CHECK(req.version_minor == t->minor, "ok case %zu: minor %d", i, req.version_minor);
		CHECK(req.num_headers == t->headers, "ok case %zu: %zu headers", i, req.num_headers);
		CHECK(req.content_length == t->content_length, "ok case %zu: content-length %lld", i,
		      req.content_length);
		CHECK(req.keep_alive == t->keep_alive, "ok case %zu: keep-alive %d", i, req.keep_alive);
		CHECK(req.header_len <= len && memcmp(t->in + req.header_len - 4, "\r\n\r\n", 4) == 0,
		      "ok case %zu: header_len %zu", i, req.header_len);
		/* every strict prefix is incomplete */
		{
			size_t k;
			for (k = 0; k < req.header_len; k++) {
				struct hp_request r2;
				int st2;
				int rr = hp_parse_request(t->in, k, 1024, &r2, &st2);
				CHECK(rr == HP_INCOMPLETE, "ok case %zu: prefix %zu gave %d (status %d)", i, k, rr, st2);
			}
		}
	}
	for (i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		struct hp_request req;
		int status = -1;
		int r = hp_parse_request(err_cases[i].in, strlen(err_cases[i].in), 1024, &req, &status);
		CHECK(r == HP_ERROR && status == err_cases[i].status, "error case %zu (%s): result %d status %d, want %d",
		      i, err_cases[i].in, r, status, err_cases[i].status);
	}
	/* a header section that never ends */
	{
		static char big[HP_MAX_HEADER_BYTES + 10];
		struct hp_request req;
		int status = 0;
		memset(big, 'a', sizeof big);
		memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
		CHECK(hp_parse_request(big, sizeof big, 0, &req, &status) == HP_ERROR && status == 431,
		      "endless header: status %d", status);
	}
	/* too many header fields */
	{
		static char many[HP_MAX_HEADER_BYTES];
		struct hp_request req;
		int status = 0, k;
		size_t len = (size_t)sprintf(many, "GET / HTTP/1.1\r\n");
		for (k = 0; k < HP_MAX_HEADERS + 1; k++)
			len += (size_t)sprintf(many + len, "H%d: v\r\n", k);
		len += (size_t)sprintf(many + len, "\r\n");
		CHECK(hp_parse_request(many, len, 0, &req, &status) == HP_ERROR && status == 431,
		      "too many headers: status %d", status);
	}
	/* header lookup */
	{
		const char *in = "GET / HTTP/1.1\r\nHost: a\r\nEXPECT:  100-continue \r\n\r\n";
		struct hp_request req;
		int status;
		size_t vlen;
		const char *v;
		CHECK(hp_parse_request(in, strlen(in), 0, &req, &status) == HP_OK, "expect parse");
		v = hp_header_value(&req, "expect", &vlen);
		CHECK(v != NULL && vlen == 12 && memcmp(v, "100-continue", 12) == 0, "expect value");
		CHECK(hp_header_value(&req, "missing", &vlen) == NULL && vlen == 0, "missing header");
		CHECK(hp_method_is(&req, "GET") && !hp_method_is(&req, "GE") && !hp_method_is(&req, "get"),
		      "method_is");
	}
}

struct path_case {
	const char *target;
	int status;
	const char *path;
};

static const struct path_case path_cases[] = {
	{"/", 0, ""},
	{"/index.html", 0, "index.html"},
	{"/a/b/c.txt?x=../..", 0, "a/b/c.txt"},
	{"//a///b/", 0, "a/b"},
	{"/./a/./b/.", 0, "a/b"},
	{"/a%20b", 0, "a b"},
	{"/%7Euser", 0, "~user"},
	{"/..", 400, NULL},
	{"/a/../b", 400, NULL},
	{"/a/..", 400, NULL},
	{"/%2e%2e/etc/passwd", 400, NULL},
	{"/.%2E/x", 400, NULL},
	{"/a%2fb", 400, NULL},
	{"/a%5cb", 400, NULL},
	{"/a%00b", 400, NULL},
	{"/a%0ab", 400, NULL},
	{"/a%", 400, NULL},
	{"/a%4", 400, NULL},
	{"/a%zz", 400, NULL},
	{"x", 400, NULL},
	{"/...", 0, "..."},
	{"/..a", 0, "..a"},
};

static void test_paths(void)
{
	size_t i;
	char out[64];
	for (i = 0; i < sizeof path_cases / sizeof path_cases[0]; i++) {
		const struct path_case *t = &path_cases[i];
		int st = hp_target_to_path(t->target, strlen(t->target), out, sizeof out);
		CHECK(st == t->status, "path %s: status %d, want %d", t->target, st, t->status);
		if (st == 0 && t->path != NULL)
			CHECK(strcmp(out, t->path) == 0, "path %s: got '%s', want '%s'", t->target, out, t->path);
	}
	CHECK(hp_target_to_path("/aaaaaaaaaa", 11, out, 8) == 414, "long path must give 414");
	CHECK(hp_target_to_path("/abcdefgh", 9, out, 8) == 414, "path of out_size bytes must give 414");
	CHECK(hp_target_to_path("/abcdefg", 8, out, 8) == 0 && strcmp(out, "abcdefg") == 0, "path that just fits");
	CHECK(strcmp(hp_mime_type("a/b.HTML"), "text/html; charset=utf-8") == 0, "mime html");
	CHECK(strcmp(hp_mime_type("x.json"), "application/json") == 0, "mime json");
	CHECK(strcmp(hp_mime_type("x.tar.gz"), "application/gzip") == 0, "mime gz");
	CHECK(strcmp(hp_mime_type("dir.d/noext"), "application/octet-stream") == 0, "mime in dotted dir");
	CHECK(strcmp(hp_mime_type("x."), "application/octet-stream") == 0, "mime empty ext");
	CHECK(strcmp(hp_reason(404), "Not Found") == 0 && strcmp(hp_reason(999), "Unknown") == 0, "reasons");
}

/* xorshift64*, deterministic */
static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;
static unsigned long long rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static void check_invariants(const char *buf, size_t len)
{
	struct hp_request req;
	int status = 0;
	int r = hp_parse_request(buf, len, 4096, &req, &status);
	if (r == HP_OK) {
		size_t i;
		CHECK(status == 0, "ok with status %d", status);
		CHECK(req.header_len >= 4 && req.header_len <= len, "header_len %zu of %zu", req.header_len, len);
		CHECK(req.method >= buf && req.method + req.method_len <= buf + req.header_len, "method bounds");
		CHECK(req.target >= buf && req.target + req.target_len <= buf + req.header_len, "target bounds");
		CHECK(req.num_headers <= HP_MAX_HEADERS, "header count");
		CHECK(req.content_length >= -1 && req.content_length <= 4096, "content length %lld", req.content_length);
		for (i = 0; i < req.num_headers; i++) {
			const struct hp_header *h = &req.headers[i];
			CHECK(h->name >= buf && h->name + h->name_len <= buf + req.header_len, "name bounds");
			CHECK(h->value >= buf && h->value + h->value_len <= buf + req.header_len, "value bounds");
		}
		{
			char path[256];
			int st = hp_target_to_path(req.target, req.target_len, path, sizeof path);
			if (st == 0) {
				CHECK(strlen(path) < sizeof path, "path length");
				CHECK(path[0] != '/', "absolute path %s", path);
				CHECK(strstr(path, "..") == NULL || (strcmp(path, "..") != 0 && strncmp(path, "../", 3) != 0 &&
				                                    strstr(path, "/../") == NULL &&
				                                    (strlen(path) < 3 || strcmp(path + strlen(path) - 3, "/..") != 0)),
				      "dot-dot segment in %s", path);
			} else {
				CHECK(st == 400 || st == 414, "path status %d", st);
			}
		}
	} else if (r == HP_ERROR) {
		CHECK(status == 400 || status == 413 || status == 431 || status == 501 || status == 505,
		      "unexpected error status %d", status);
	} else {
		CHECK(r == HP_INCOMPLETE && len < HP_MAX_HEADER_BYTES, "incomplete at %zu bytes", len);
	}
}

static void test_mutations(long iterations)
{
	static const char *seeds[] = {
		"GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
		"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nbody",
		"HEAD /a/%2e/b?q HTTP/1.0\r\nConnection: close\r\n\r\n",
		"GET /a/b/../c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x\r\n\r\n",
	};
	static const char alphabet[] = "\r\n :/%.?aA0\t\x7f\x80\x00GETHTTP/1.1";
	char buf[512];
	long it;
	for (it = 0; it < iterations; it++) {
		const char *seed = seeds[rnd() % (sizeof seeds / sizeof seeds[0])];
		size_t len = strlen(seed), k, edits = 1 + rnd() % 6;
		char *heap;
		memcpy(buf, seed, len);
		for (k = 0; k < edits; k++) {
			size_t pos = len ? rnd() % len : 0;
			switch (rnd() % 5) {
			case 0: buf[pos] = alphabet[rnd() % (sizeof alphabet - 1)]; break;
			case 1: buf[pos] = (char)rnd(); break;
			case 2: /* delete */
				if (len > 0) {
					memmove(buf + pos, buf + pos + 1, len - pos - 1);
					len--;
				}
				break;
			case 3: /* insert */
				if (len < sizeof buf) {
					memmove(buf + pos + 1, buf + pos, len - pos);
					buf[pos] = alphabet[rnd() % (sizeof alphabet - 1)];
					len++;
				}
				break;
			default: /* truncate */
				len = pos;
				break;
			}
		}
		/* exact-size heap copy, so ASan sees any read past the end */
		heap = malloc(len ? len : 1);
		if (heap == NULL)
			abort();
		memcpy(heap, buf, len);
		check_invariants(heap, len);
		free(heap);
	}
}

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? atol(argv[1]) : 200000;
	test_tables();
	test_paths();
	test_mutations(iterations);
	if (failures) {
		fprintf(stderr, "httpparse_test: %d failure(s)\n", failures);
		return 1;
	}
	printf("httpparse_test: PASS (%zu ok cases, %zu error cases, %zu path cases, %ld mutations)\n",
	       sizeof ok_cases / sizeof ok_cases[0], sizeof err_cases / sizeof err_cases[0],
	       sizeof path_cases / sizeof path_cases[0], iterations);
	return 0;
}
