/* httpparse — strict HTTP/1.x request parser; see httpparse.h.
 *
 * Written as a few loops with little call depth: every function of a graph
 * library is instrumented (-finstrument-functions), so helper calls on the
 * per-request path cost a function event each. Character classes are macros
 * for that reason.
 */
#include "httpparse.h"

#include <string.h>

/* tchar of RFC 9110 §5.6.2 */
#define IS_TCHAR(c) \
	(((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') || \
	 ((c) != 0 && strchr("!#$%&'*+-.^_`|~", (c)) != NULL))
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_OWS(c) ((c) == ' ' || (c) == '\t')
/* field-vchar / SP / HTAB / obs-text */
#define IS_FIELD_CHAR(c) ((c) == '\t' || ((c) >= 0x20 && (c) != 0x7f))
#define LOWER(c) (((c) >= 'A' && (c) <= 'Z') ? (c) - 'A' + 'a' : (c))
#define HEXVAL(c) (IS_DIGIT(c) ? (c) - '0' : ((c) >= 'a' && (c) <= 'f') ? (c) - 'a' + 10 : \
                   ((c) >= 'A' && (c) <= 'F') ? (c) - 'A' + 10 : -1)

/* ASCII case-insensitive comparison of s[0..n) with the NUL-terminated lit. */
static int eq_nocase(const char *s, size_t n, const char *lit)
{
	size_t i;
	for (i = 0; i < n; i++) {
		unsigned char a = (unsigned char)s[i], b = (unsigned char)lit[i];
		if (b == 0 || LOWER(a) != LOWER(b))
			return 0;
	}
	return lit[n] == 0;
}

int hp_method_is(const struct hp_request *req, const char *m)
{
	return strlen(m) == req->method_len && memcmp(req->method, m, req->method_len) == 0;
}

const char *hp_header_value(const struct hp_request *req, const char *name, size_t *value_len)
{
	size_t i;
	for (i = 0; i < req->num_headers; i++) {
		const struct hp_header *h = &req->headers[i];
		if (eq_nocase(h->name, h->name_len, name)) {
			*value_len = h->value_len;
			return h->value;
		}
	}
	*value_len = 0;
	return NULL;
}

/* Header semantics after the syntax pass: Content-Length, Transfer-Encoding,
 * Connection, Host. */
static int check_headers(struct hp_request *req, size_t max_body, int *status)
{
	int close_seen = 0, keep_seen = 0, hosts = 0;
	size_t i, j;

	req->content_length = -1;
	req->has_transfer_encoding = 0;
	for (i = 0; i < req->num_headers; i++) {
		const struct hp_header *h = &req->headers[i];
		if (eq_nocase(h->name, h->name_len, "content-length")) {
			unsigned long long v = 0;
			if (h->value_len == 0) {
				*status = 400;
				return HP_ERROR;
			}
			for (j = 0; j < h->value_len; j++) {
				unsigned char c = (unsigned char)h->value[j];
				if (!IS_DIGIT(c)) {
					*status = 400;
					return HP_ERROR;
				}
				v = v * 10 + (unsigned)(c - '0');
				if (v > max_body) {
					*status = 413;
					return HP_ERROR;
				}
			}
			/* Repeated Content-Length fields must agree (RFC 9112 §6.3). */
			if (req->content_length >= 0 && (unsigned long long)req->content_length != v) {
				*status = 400;
				return HP_ERROR;
			}
			req->content_length = (long long)v;
		} else if (eq_nocase(h->name, h->name_len, "transfer-encoding")) {
			req->has_transfer_encoding = 1;
		} else if (eq_nocase(h->name, h->name_len, "host")) {
			hosts++;
		} else if (eq_nocase(h->name, h->name_len, "connection")) {
			/* comma-separated list of tokens */
			size_t start = 0;
			for (j = 0; j <= h->value_len; j++) {
				if (j == h->value_len || h->value[j] == ',') {
					size_t a = start, b = j;
					while (a < b && IS_OWS(h->value[a]))
						a++;
					while (b > a && IS_OWS(h->value[b - 1]))
						b--;
					if (eq_nocase(h->value + a, b - a, "close"))
						close_seen = 1;
					else if (eq_nocase(h->value + a, b - a, "keep-alive"))
						keep_seen = 1;
					start = j + 1;
				}
			}
		}
	}
	if (req->has_transfer_encoding) {
		/* Both framing headers: request smuggling risk (RFC 9112 §6.1). */
		*status = req->content_length >= 0 ? 400 : 501;
		return HP_ERROR;
	}
	if (req->version_minor == 1 && hosts != 1) {
		*status = 400; /* RFC 9112 §3.2: exactly one Host in HTTP/1.1 */
		return HP_ERROR;
	}
	if (hosts > 1) {
		*status = 400;
		return HP_ERROR;
	}
	if (req->version_minor == 1)
		req->keep_alive = !close_seen;
	else
		req->keep_alive = keep_seen && !close_seen;
	return HP_OK;
}

int hp_parse_request(const char *buf, size_t len, size_t max_body, struct hp_request *req, int *status)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t limit = len < HP_MAX_HEADER_BYTES ? len : HP_MAX_HEADER_BYTES;
	size_t start = 0, end = 0, i, pos;
	int found = 0;

	*status = 0;
	/* RFC 9112 §2.2: ignore empty lines before the request-line. */
	while (start + 1 < len && p[start] == '\r' && p[start + 1] == '\n')
		start += 2;
	/* End of the header section: the first CRLF CRLF. */
	for (i = start; i + 3 < limit; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
			end = i + 4;
			found = 1;
			break;
		}
	}
	if (!found) {
		if (len >= HP_MAX_HEADER_BYTES) {
			*status = 431;
			return HP_ERROR;
		}
		/* Reject an obviously bad request line early (no need to wait). */
		for (i = start; i < len && p[i] != ' ' && p[i] != '\r'; i++)
			if (!IS_TCHAR(p[i])) {
				*status = 400;
				return HP_ERROR;
			}
		return HP_INCOMPLETE;
	}

	memset(req, 0, offsetof(struct hp_request, headers));
	req->num_headers = 0;
	req->header_len = end;

	/* method */
	pos = start;
	req->method = buf + pos;
	while (pos < end && IS_TCHAR(p[pos]))
		pos++;
	req->method_len = pos - start;
	if (req->method_len == 0 || p[pos] != ' ') {
		*status = 400;
		return HP_ERROR;
	}
	pos++;
	/* request-target: origin-form, visible ASCII */
	if (p[pos] != '/') {
		*status = 400;
		return HP_ERROR;
	}
	req->target = buf + pos;
	while (pos < end && p[pos] > 0x20 && p[pos] < 0x7f)
		pos++;
	req->target_len = (size_t)(buf + pos - req->target);
	if (p[pos] != ' ') {
		*status = 400;
		return HP_ERROR;
	}
	pos++;
	/* HTTP-version CRLF */
	if (end - pos < 10 || memcmp(p + pos, "HTTP/", 5) != 0 || !IS_DIGIT(p[pos + 5]) ||
	    p[pos + 6] != '.' || !IS_DIGIT(p[pos + 7]) || p[pos + 8] != '\r' || p[pos + 9] != '\n') {
		*status = 400;
		return HP_ERROR;
	}
	if (p[pos + 5] != '1' || (p[pos + 7] != '0' && p[pos + 7] != '1')) {
		*status = 505;
		return HP_ERROR;
	}
	req->version_minor = p[pos + 7] - '0';
	pos += 10;

	/* field-lines until the empty line at end-2 */
	while (pos < end - 2) {
		struct hp_header *h;
		size_t name_start = pos, vstart, vend;
		if (req->num_headers == HP_MAX_HEADERS) {
			*status = 431;
			return HP_ERROR;
		}
		while (pos < end && IS_TCHAR(p[pos]))
			pos++;
		/* no name (includes obsolete line folding), or space before ':' */
		if (pos == name_start || p[pos] != ':') {
			*status = 400;
			return HP_ERROR;
		}
		h = &req->headers[req->num_headers];
		h->name = buf + name_start;
		h->name_len = pos - name_start;
		pos++;
		while (pos < end && IS_OWS(p[pos]))
			pos++;
		vstart = pos;
		while (pos < end && IS_FIELD_CHAR(p[pos]))
			pos++;
		if (pos + 1 >= end || p[pos] != '\r' || p[pos + 1] != '\n') {
			*status = 400; /* bare CR, LF or other control character */
			return HP_ERROR;
		}
		vend = pos;
		while (vend > vstart && IS_OWS(p[vend - 1]))
			vend--;
		h->value = buf + vstart;
		h->value_len = vend - vstart;
		req->num_headers++;
		pos += 2;
	}
	return check_headers(req, max_body, status);
}

size_t hp_target_path_len(const char *target, size_t target_len)
{
	size_t i;
	for (i = 0; i < target_len; i++)
		if (target[i] == '?' || target[i] == '#')
			break;
	return i;
}

int hp_target_to_path(const char *target, size_t target_len, char *out, size_t out_size)
{
	size_t n = hp_target_path_len(target, target_len);
	size_t i = 0, o = 0;

	if (out_size == 0)
		return 414;
	if (n == 0 || target[0] != '/')
		return 400;
	while (i < n) {
		size_t seg_start = o;
		/* skip the '/' separators */
		while (i < n && target[i] == '/')
			i++;
		if (i == n)
			break;
		if (o > 0) {
			if (o + 1 >= out_size)
				return 414;
			out[o++] = '/';
			seg_start = o;
		}
		while (i < n && target[i] != '/') {
			unsigned char c = (unsigned char)target[i];
			if (c == '%') {
				int hi, lo;
				if (i + 2 >= n)
					return 400; /* truncated escape */
				hi = HEXVAL((unsigned char)target[i + 1]);
				lo = HEXVAL((unsigned char)target[i + 2]);
				if (hi < 0 || lo < 0)
					return 400;
				c = (unsigned char)(hi * 16 + lo);
				/* An encoded separator or NUL would change the meaning of
				 * the path after the ".." check. */
				if (c == '/' || c == '\\' || c == 0)
					return 400;
				i += 3;
			} else {
				i++;
			}
			if (c < 0x20 || c == 0x7f)
				return 400;
			if (o + 1 >= out_size)
				return 414;
			out[o++] = (char)c;
		}
		/* the segment is out[seg_start..o) */
		if (o - seg_start == 1 && out[seg_start] == '.') {
			o = seg_start > 0 ? seg_start - 1 : 0; /* drop "." and its '/' */
		} else if (o - seg_start == 2 && out[seg_start] == '.' && out[seg_start + 1] == '.') {
			return 400; /* never climb: no ".." segments at all */
		}
	}
	out[o] = 0;
	return 0;
}

struct mime {
	const char *ext;
	const char *type;
};

static const struct mime mime_types[] = {
	{"html", "text/html; charset=utf-8"},
	{"htm", "text/html; charset=utf-8"},
	{"css", "text/css; charset=utf-8"},
	{"js", "text/javascript; charset=utf-8"},
	{"mjs", "text/javascript; charset=utf-8"},
	{"json", "application/json"},
	{"txt", "text/plain; charset=utf-8"},
	{"md", "text/markdown; charset=utf-8"},
	{"csv", "text/csv; charset=utf-8"},
	{"xml", "application/xml"},
	{"svg", "image/svg+xml"},
	{"png", "image/png"},
	{"jpg", "image/jpeg"},
	{"jpeg", "image/jpeg"},
	{"gif", "image/gif"},
	{"webp", "image/webp"},
	{"ico", "image/vnd.microsoft.icon"},
	{"wasm", "application/wasm"},
	{"pdf", "application/pdf"},
	{"woff", "font/woff"},
	{"woff2", "font/woff2"},
	{"gz", "application/gzip"},
	{"tar", "application/x-tar"},
};

const char *hp_mime_type(const char *path)
{
	const char *dot = NULL, *s;
	size_t i;
	for (s = path; *s; s++) {
		if (*s == '.')
			dot = s + 1;
		else if (*s == '/')
			dot = NULL;
	}
	if (dot != NULL) {
		for (i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
			if (eq_nocase(dot, strlen(dot), mime_types[i].ext))
				return mime_types[i].type;
	}
	return "application/octet-stream";
}

const char *hp_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
