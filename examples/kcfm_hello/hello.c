/* kcfm_hello: the smallest monitored program.
 *
 * It greets the names given on the command line and appends each greeting to
 * a log file (argv[1] with -o FILE), which gives it a small but real set of
 * system calls: write to stdout, open/write/close of the log. Its signature
 * allows exactly these, in this order, from these functions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greet.h"

static void usage(const char *prog) {
	fprintf(stderr, "usage: %s [-o LOGFILE] NAME...\n", prog);
	exit(2);
}

int main(int argc, char **argv) {
	const char *log_path = NULL;
	int first = 1;
	if (argc > 2 && strcmp(argv[1], "-o") == 0) {
		log_path = argv[2];
		first = 3;
	}
	if (first >= argc)
		usage(argv[0]);

	FILE *log = NULL;
	if (log_path != NULL) {
		log = fopen(log_path, "a");
		if (log == NULL) {
			fprintf(stderr, "kcfm_hello: %s: %s\n", log_path, strerror(errno));
			return 1;
		}
	}
	for (int i = first; i < argc; i++) {
		char line[256];
		format_greeting(line, sizeof line, argv[i]);
		puts(line);
		if (log != NULL)
			fprintf(log, "%s\n", line);
	}
	if (log != NULL)
		fclose(log);
	return 0;
}
