/* The facts about the deliberately vulnerable echo handler (echo.c) that the
 * exploit client (tools/exploit.c) relies on. An attacker would read them
 * from the published source, as the exploit does by including this header.
 */
#ifndef KCFM_DEMO_LAYOUT_H
#define KCFM_DEMO_LAYOUT_H

/* Size of the fixed buffer at the start of struct echo_job; the completion
 * function pointer follows it directly (offset KCFM_DEMO_ECHO_BUF, 8 bytes,
 * little-endian on x86-64 and aarch64). */
#define KCFM_DEMO_ECHO_BUF 256

/* /api/status reports the run-time address of this function ("diagnostics")
 * in the demo build: the info leak that defeats ASLR of the PIE binary. */
#define KCFM_DEMO_LEAK_SYMBOL "api_status"

/* Hijack targets: functions of the server that take one `const char *`
 * argument. The hijacked call passes the address of struct echo_job, whose
 * first bytes are the attacker's buffer, so the target receives the
 * attacker's string. */
#define KCFM_DEMO_TARGET_FILE "dump_state"  /* open(path, O_CREAT|O_TRUNC) */
#define KCFM_DEMO_TARGET_SHELL "run_hook"   /* fork + execve("/bin/sh", "-c", cmd) */

#endif
