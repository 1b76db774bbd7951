/* kcfm_http_get — a tiny HTTP/1.1 client for the example's tests and for
 * images without curl. All requests go over one keep-alive connection (a
 * new one only when the server closes it).
 *
 * usage: kcfm_http_get [options] HOST PORT PATH...
 *   -X METHOD   request method (default GET)
 *   -d DATA     request body
 *   -H 'N: V'   extra header (repeatable)
 *   -n N        send the list of paths N times (default 1)
 *   -c          ask the server to close after the last request
 *   -r RAW      send RAW verbatim (\r \n \t \\ \xHH escapes) instead of
 *               building requests from the paths, then read N responses
 *               (-n, default 1; several = pipelined requests)
 *   -i          print the response head before each body
 *   -s          print only the status code of each response, one a line
 *   -q          do not print response bodies
 *   -v          a line per response and a summary on standard error:
 *               "<METHOD> <PATH> -> <STATUS> length=<N> connection=<K>"
 *               "<R> response(s) on <C> connection(s)"
 *   -t SEC      timeout of each read/write (default 10)
 * Exit status: 0 when every response was read (whatever its status), 1 on a
 * network or protocol error, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpclient.h"

#define MAX_HEADERS 16

static void usage(void)
{
	fprintf(stderr, "usage: kcfm_http_get [-X METHOD] [-d DATA] [-H 'Name: value']... [-n N] [-c] [-r RAW]\n"
	                "                     [-i|-s|-q] [-v] [-t SEC] HOST PORT [PATH...]\n");
	exit(2);
}

/* Decodes \r \n \t \\ \xHH in place; returns the length. */
static size_t unescape(char *s)
{
	char *r = s, *w = s;
	while (*r) {
		if (r[0] == '\\' && r[1] != 0) {
			r++;
			switch (*r) {
			case 'r': *w++ = '\r'; r++; break;
			case 'n': *w++ = '\n'; r++; break;
			case 't': *w++ = '\t'; r++; break;
			case '\\': *w++ = '\\'; r++; break;
			case 'x': {
				char hex[3] = {0, 0, 0};
				if (r[1] && r[2]) {
					hex[0] = r[1];
					hex[1] = r[2];
					*w++ = (char)strtol(hex, NULL, 16);
					r += 3;
				} else {
					*w++ = 'x';
					r++;
				}
				break;
			}
			default: *w++ = '\\'; *w++ = *r++; break;
			}
		} else {
			*w++ = *r++;
		}
	}
	*w = 0;
	return (size_t)(w - s);
}

int main(int argc, char **argv)
{
	const char *method = "GET", *data = NULL, *raw = NULL;
	const char *headers[MAX_HEADERS];
	size_t nheaders = 0, raw_len = 0;
	int repeat = 1, close_last = 0, show_head = 0, status_only = 0, quiet = 0, verbose = 0;
	double timeout = 10;
	struct hc_conn *conn;
	int opt, connected = 0, connections = 0, responses = 0, i, rep, npaths;
	char **paths;

	while ((opt = getopt(argc, argv, "X:d:H:n:cr:isqvt:")) != -1) {
		switch (opt) {
		case 'X': method = optarg; break;
		case 'd': data = optarg; break;
		case 'H':
			if (nheaders == MAX_HEADERS) {
				fprintf(stderr, "kcfm_http_get: at most %d -H options\n", MAX_HEADERS);
				return 2;
			}
			headers[nheaders++] = optarg;
			break;
		case 'n': repeat = atoi(optarg); break;
		case 'c': close_last = 1; break;
		case 'r': raw = optarg; break;
		case 'i': show_head = 1; break;
		case 's': status_only = 1; break;
		case 'q': quiet = 1; break;
		case 'v': verbose = 1; break;
		case 't': timeout = atof(optarg); break;
		default: usage();
		}
	}
	if (argc - optind < 2 || repeat < 1 || timeout <= 0)
		usage();
	paths = argv + optind + 2;
	npaths = argc - optind - 2;
	if (raw != NULL) {
		char *copy = strdup(raw);
		if (copy == NULL)
			return 1;
		raw_len = unescape(copy);
		raw = copy;
		npaths = 1; /* repeat = number of responses to read */
	} else if (npaths == 0) {
		usage();
	}
	conn = malloc(sizeof *conn);
	if (conn == NULL)
		return 1;

	for (rep = 0; rep < repeat; rep++) {
		for (i = 0; i < npaths; i++) {
			int last = rep == repeat - 1 && i == npaths - 1;
			int is_head = raw == NULL && strcmp(method, "HEAD") == 0;
			struct hc_response r;
			int rc;

			if (!connected) {
				if (hc_connect(conn, argv[optind], argv[optind + 1], timeout) < 0) {
					fprintf(stderr, "kcfm_http_get: %s\n", hc_error());
					return 1;
				}
				connected = 1;
				connections++;
			}
			if (raw != NULL) {
				rc = rep == 0 ? hc_send_all(conn, raw, raw_len) : 0;
			} else {
				static char req[32768];
				size_t len = (size_t)snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s:%s\r\n", method,
				                              paths[i], argv[optind], argv[optind + 1]);
				size_t h;
				for (h = 0; h < nheaders && len < sizeof req; h++)
					len += (size_t)snprintf(req + len, sizeof req - len, "%s\r\n", headers[h]);
				if (data != NULL && len < sizeof req)
					len += (size_t)snprintf(req + len, sizeof req - len, "Content-Length: %zu\r\n",
					                        strlen(data));
				if (close_last && last && len < sizeof req)
					len += (size_t)snprintf(req + len, sizeof req - len, "Connection: close\r\n");
				if (len + 2 >= sizeof req) {
					fprintf(stderr, "kcfm_http_get: request too long\n");
					return 2;
				}
				memcpy(req + len, "\r\n", 2);
				len += 2;
				rc = hc_send_all(conn, req, len);
				if (rc == 0 && data != NULL)
					rc = hc_send_all(conn, data, strlen(data));
			}
			if (rc < 0 || (rc = hc_read_response(conn, is_head, &r)) < 0) {
				fprintf(stderr, "kcfm_http_get: %s %s: %s\n", method, raw ? "(raw)" : paths[i], hc_error());
				return 1;
			}
			responses++;
			if (status_only) {
				printf("%d\n", r.status);
			} else {
				if (show_head)
					fwrite(r.head, 1, r.head_len, stdout);
				if (!quiet)
					fwrite(r.body, 1, r.body_len, stdout);
			}
			if (verbose)
				fprintf(stderr, "%s %s -> %d length=%zu connection=%d\n", raw ? "RAW" : method,
				        raw ? "-" : paths[i], r.status, r.body_len, connections);
			if (r.server_closes) {
				hc_close(conn);
				connected = 0;
				if (raw != NULL && !last) {
					fprintf(stderr, "kcfm_http_get: the server closed the connection after %d response(s)\n",
					        responses);
					return 1;
				}
			}
			hc_free_response(&r);
		}
	}
	if (connected)
		hc_close(conn);
	if (verbose)
		fprintf(stderr, "%d response(s) on %d connection(s)\n", responses, connections);
	fflush(stdout);
	return 0;
}
