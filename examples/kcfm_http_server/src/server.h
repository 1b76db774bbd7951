/* kcfm_http_server — internal interfaces shared by the server's files.
 *
 * Architecture: one thread, one epoll loop (server.c). Every connection is a
 * struct conn with an input buffer (grown up to header limit + body limit)
 * and an output buffer; requests on a connection are handled strictly in
 * order (pipelined requests wait until the previous response is written).
 * Request handling (handlers.c) builds a complete response into the output
 * buffer, or a header plus an open file that is sent with sendfile(2).
 */
#ifndef KCFM_HTTP_SERVER_H
#define KCFM_HTTP_SERVER_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "httpparse.h"

#define SERVER_NAME "kcfm_http_server"
#define SERVER_VERSION "1.0"

/* Files up to this size are read into the output buffer and written with
 * the header in one write(); larger ones go out with sendfile(). */
#define SMALL_FILE_MAX (64 * 1024)

struct conn {
	int fd;
	char peer[64];          /* "addr:port" for the access log */
	char *in;               /* received, not yet consumed bytes */
	size_t in_len, in_cap;
	char *out;              /* response bytes not yet written */
	size_t out_len, out_off, out_cap;
	int file_fd;            /* body still to send with sendfile, or -1 */
	off_t file_off, file_left;
	int keep_alive;         /* keep the connection after this response */
	int responded;          /* a response was queued for the current request */
	int sent_continue;      /* "100 Continue" already sent for the current request */
	int want_write;         /* EPOLLOUT is armed */
	double last_active;     /* monotonic seconds */
	unsigned long requests; /* requests served on this connection */
	size_t slot;            /* index in the server's connection table */
};

struct server_config {
	const char *root;        /* document root */
	const char *bind_addr;   /* numeric IPv4 or IPv6 address */
	int port;                /* 0 = pick a free port */
	const char *state_file;  /* where SIGUSR1 dumps the state */
	const char *on_start;    /* shell command run once at start-up */
	size_t max_conns;
	size_t max_body;
	double idle_timeout;     /* seconds */
	double drain_timeout;    /* seconds given to in-flight requests on shutdown */
	int access_log;
};

struct server_stats {
	unsigned long long requests;    /* parsed requests (including errors) */
	unsigned long long accepted;    /* connections accepted */
	unsigned long long open_conns;  /* connections open now */
	unsigned long long bytes_out;   /* response bytes written */
	double started;                 /* monotonic seconds at start */
	pid_t pid;
};

/* Global state read by the maintenance routines and the status endpoint. */
extern struct server_stats g_stats;
extern const struct server_config *g_config;
extern int g_root_fd;

double now_monotonic(void);

/* handlers.c: handle one complete request whose body is body[0..body_len). */
void handle_request(struct conn *c, const struct hp_request *req, const char *body, size_t body_len);
/* Queue an error response (with a small text body). */
void respond_error(struct conn *c, int status, const struct hp_request *req);
/* Queue a complete response with an in-memory body (HEAD: headers only). */
void respond(struct conn *c, int status, const char *content_type, const char *body, size_t body_len,
             int head_only, const char *extra_headers);
/* The JSON status endpoint (its address is the demo's info leak). */
void api_status(struct conn *c, const struct hp_request *req);

/* echo.c: POST /api/echo. In the demo build this is the DELIBERATELY
 * VULNERABLE handler (see echo.c). */
void api_echo(struct conn *c, const char *body, size_t body_len);

/* maintenance.c: legitimate maintenance routines (and the demo's hijack
 * targets). */
void dump_state(const char *path);
void run_hook(const char *cmd);

/* server.c: append bytes to a connection's output buffer (0 or -1 on
 * allocation failure). */
int conn_out_append(struct conn *c, const char *data, size_t len);
/* Room for len more output bytes: returns where to write them (the caller
 * then adds len to c->out_len), or NULL on allocation failure. */
char *conn_out_reserve(struct conn *c, size_t len);

#endif
