/* httpparse — a small, strict HTTP/1.x request parser (no allocation, no I/O).
 *
 * It is a library of its own so that the example shows a program whose
 * control-flow signature combines the program's graph with a graph library
 * (kcfm_make_graph_lib(httpparse)).
 *
 * The parser works on a buffer that holds the start of a connection's input:
 * hp_parse_request() returns HP_INCOMPLETE until the whole header section
 * (request line, header fields, empty line) is in the buffer, then fills a
 * struct hp_request whose pointers point into that buffer. The body (if any)
 * is not part of the parse: it follows at buf + req->header_len and is
 * content_length bytes long.
 *
 * What is accepted (RFC 9112, origin-form only):
 *   request-line = method SP request-target SP HTTP-version CRLF
 *   method       = token;  request-target starts with '/', visible ASCII
 *   HTTP-version = "HTTP/1.0" | "HTTP/1.1"  (other "HTTP/d.d" -> 505)
 *   field-line   = token ":" OWS value OWS CRLF  (no obsolete line folding)
 * Every rejection carries the HTTP status the server should answer with.
 */
#ifndef HTTPPARSE_H
#define HTTPPARSE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HP_MAX_HEADERS 64           /* more header fields -> 431 */
#define HP_MAX_HEADER_BYTES 8192    /* larger header section -> 431 */

enum hp_result {
	HP_OK = 0,          /* a complete header section was parsed */
	HP_INCOMPLETE = 1,  /* need more input */
	HP_ERROR = -1       /* malformed or unsupported; see *status */
};

struct hp_header {
	const char *name;
	size_t name_len;
	const char *value;  /* without leading/trailing whitespace */
	size_t value_len;
};

struct hp_request {
	const char *method;
	size_t method_len;
	const char *target;       /* raw request-target, e.g. "/a%20b?x=1" */
	size_t target_len;
	int version_minor;        /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
	struct hp_header headers[HP_MAX_HEADERS];
	size_t num_headers;
	size_t header_len;        /* bytes of the header section incl. the empty line */
	long long content_length; /* -1 when there is no Content-Length */
	int keep_alive;           /* persistence after this request (version + Connection) */
	int has_transfer_encoding;
};

/* Parses the header section at buf[0..len). On HP_ERROR, *status is the
 * HTTP status to answer (400, 413, 431, 501 or 505). max_body bounds
 * Content-Length (larger -> 413). */
int hp_parse_request(const char *buf, size_t len, size_t max_body,
                     struct hp_request *req, int *status);

/* Returns the value of the first header field named `name` (ASCII
 * case-insensitive), or NULL; *value_len receives its length. */
const char *hp_header_value(const struct hp_request *req, const char *name,
                            size_t *value_len);

/* 1 if the method equals m (case-sensitive, as methods are). */
int hp_method_is(const struct hp_request *req, const char *m);

/* Turns the request-target into a relative file path below the document
 * root: drops the query, percent-decodes, removes empty and "." segments,
 * and rejects ".." segments, NUL bytes, control characters and bad escapes.
 * "/" becomes "" (the root itself). Writes a NUL-terminated path of at most
 * out_size-1 bytes (no leading '/'). Returns 0, or the HTTP status to answer
 * (400 for an unsafe or malformed path, 414 when it does not fit). */
int hp_target_to_path(const char *target, size_t target_len, char *out,
                      size_t out_size);

/* The request-target without the query string: *path_len bytes at target. */
size_t hp_target_path_len(const char *target, size_t target_len);

/* Content-Type for a file name, chosen by its extension (ASCII
 * case-insensitive); "application/octet-stream" when unknown. */
const char *hp_mime_type(const char *path);

/* Reason phrase of a status code ("OK", "Not Found", ...). */
const char *hp_reason(int status);

#ifdef __cplusplus
}
#endif

#endif
