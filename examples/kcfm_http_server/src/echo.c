/* kcfm_http_server — POST /api/echo: answers with the request body.
 *
 * ##########################################################################
 * ##  DELIBERATELY VULNERABLE CODE (the KCFM demo), compiled in when      ##
 * ##  KCFM_HTTP_VULNERABLE_DEMO is defined (CMake option of the same      ##
 * ##  name, ON by default). Never reuse this handler.                      ##
 * ##########################################################################
 *
 * The bug: api_echo() copies the whole request body into a 256-byte buffer
 * with the length the client sent (Content-Length, up to --max-body), not
 * the buffer's size. Right behind the buffer, in the same struct, is the
 * function pointer that is called after the copy. A body of 256 + 8 bytes
 * replaces that pointer with 8 bytes of the attacker's choice, and the call
 * `job.complete(&job)` then jumps wherever the attacker wants, with a pointer
 * to the attacker's first 256 bytes as its argument.
 *
 * With the binary's base address known (the info leak of /api/status, see
 * handlers.c), the attacker points it at a function that takes one string:
 * dump_state(path) creates a file, run_hook(cmd) runs a shell command
 * (maintenance.c). Both are legitimate functions of the server, reached
 * normally only from the main loop (SIGUSR1) and from start-up
 * (--on-start). A plain syscall allowlist cannot tell the hijacked call from
 * the legitimate one — the syscalls are the same; KCFM sees that
 * api_echo's call site never calls them and stops the process before their
 * open/fork runs. tools/exploit.c is the attack, docs/examples.md the story.
 *
 * Without the option, api_echo() rejects bodies larger than the buffer with
 * 413, /api/status has no diagnostics, and there is nothing to exploit.
 */
#include <string.h>

#include "demo_layout.h"
#include "server.h"

#ifdef KCFM_HTTP_VULNERABLE_DEMO

struct echo_job {
	char data[KCFM_DEMO_ECHO_BUF];          /* copy of the request body */
	void (*complete)(struct echo_job *job); /* called when the copy is done */
	size_t len;
	struct conn *conn;
};

static void echo_complete(struct echo_job *job)
{
	respond(job->conn, 200, "application/octet-stream", job->data, job->len, 0, NULL);
}

void api_echo(struct conn *c, const char *body, size_t body_len)
{
	struct echo_job job;

	job.complete = echo_complete;
	job.len = body_len;
	job.conn = c;
	/* VULNERABLE: body_len comes from the client and is not checked
	 * against sizeof job.data (the demo's stack-struct overflow). */
	memcpy(job.data, body, body_len);
	job.complete(&job); /* the hijacked indirect call */
}

#else /* safe version */

void api_echo(struct conn *c, const char *body, size_t body_len)
{
	char data[KCFM_DEMO_ECHO_BUF];

	if (body_len > sizeof data) {
		respond_error(c, 413, NULL);
		return;
	}
	memcpy(data, body, body_len);
	respond(c, 200, "application/octet-stream", data, body_len, 0, NULL);
}

#endif
