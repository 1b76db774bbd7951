/* A program with a real control-flow hijack: main copies an input file
 * into a fixed-size name field without a bound; the 8 bytes after the
 * field are a function pointer that main then calls with the name.
 *
 * Normal flow: process() calls greet(name), then save_log(LOG).
 * Maintenance flow (--maintenance CMD): main calls run_maintenance(CMD),
 * which runs a shell.
 * The tests overwrite the pointer with the address of save_log (a right
 * syscall in an order the program cannot produce: the log file before the
 * greeting), of run_maintenance (a function the program calls, but never
 * from process(): it would spawn a shell), or of system's PLT entry (libc
 * code the program never runs from here: a syscall from unexpected code). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct handler {
	char name[16];
	void (*fn)(const char *);
};

static char input[256];

void greet(const char *s) { printf("hello %.16s\n", s); }

void save_log(const char *path) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		write(fd, "greeted\n", 8);
		close(fd);
	}
}

void run_maintenance(const char *cmd) {
	if (system(cmd) != 0)
		fprintf(stderr, "maintenance failed\n");
}

/* process is the request path with the bug. */
static int process(const char *in_path, const char *log_path) {
	struct handler h;
	h.fn = greet;
	FILE *f = fopen(in_path, "rb");
	if (f == NULL)
		return 1;
	size_t n = fread(input, 1, sizeof input, f);
	fclose(f);
	memcpy(h.name, input, n); /* the bug: no bound */
	h.fn(h.name);
	save_log(log_path);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: vuln INPUT LOG | vuln --maintenance CMD\n");
		return 2;
	}
	if (strcmp(argv[1], "--maintenance") == 0) {
		run_maintenance(argv[2]);
		return 0;
	}
	return process(argv[1], argv[2]);
}
