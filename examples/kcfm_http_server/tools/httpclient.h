/* A minimal blocking HTTP/1.1 client for the example's tools (kcfm_http_get,
 * kcfm_exploit): one connection, requests in sequence, responses framed by
 * Content-Length (or by the end of the connection). */
#ifndef KCFM_HTTPCLIENT_H
#define KCFM_HTTPCLIENT_H

#include <stddef.h>

#define HC_BUF_SIZE 65536

struct hc_conn {
	int fd;
	char buf[HC_BUF_SIZE]; /* received, not yet consumed bytes */
	size_t len;
};

struct hc_response {
	int status;
	char *head;       /* status line and header fields (NUL-terminated) */
	size_t head_len;
	char *body;       /* NUL-terminated for convenience */
	size_t body_len;
	int server_closes; /* "Connection: close" or read to the end */
};

/* Last error message of a failed call. */
const char *hc_error(void);

/* Connects to host:port (numeric or name) with send/receive timeouts.
 * Returns 0 or -1. */
int hc_connect(struct hc_conn *c, const char *host, const char *port, double timeout_s);
void hc_close(struct hc_conn *c);

int hc_send_all(struct hc_conn *c, const void *data, size_t len);

/* Reads one final response (1xx responses are skipped). head_request: the
 * request was HEAD (no body follows). Returns 0, -1 on error, or -2 when the
 * connection ended before the first byte of a response. */
int hc_read_response(struct hc_conn *c, int head_request, struct hc_response *r);
void hc_free_response(struct hc_response *r);

/* Value of header `name` in r->head (case-insensitive), copied into out
 * (NUL-terminated, truncated to out_size-1). Returns 1 if present. */
int hc_header(const struct hc_response *r, const char *name, char *out, size_t out_size);

#endif
