/* Syscall-heavy workload: what a file server does per request, N times -
 * open a file read-only, stat it, read it in 4 KiB blocks, close it, write
 * a small answer to a sink. Prints the time per iteration in ns. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

long serve_one(const char *path, int sink, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	struct stat st;
	long total = 0;
	if (fstat(fd, &st) == 0) {
		ssize_t n;
		while ((n = read(fd, buf, size)) > 0)
			total += n;
	}
	close(fd);
	if (write(sink, buf, 64) != 64)
		return -1;
	return total;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: sysheavy FILE ITERATIONS\n");
		return 2;
	}
	long iters = atol(argv[2]);
	int sink = open("/dev/null", O_WRONLY);
	if (sink < 0) {
		perror("/dev/null");
		return 1;
	}
	static char buf[4096];
	for (long i = 0; i < iters / 10; i++)
		serve_one(argv[1], sink, buf, sizeof buf);
	double t0 = now_ns();
	for (long i = 0; i < iters; i++)
		if (serve_one(argv[1], sink, buf, sizeof buf) < 0) {
			perror(argv[1]);
			return 1;
		}
	printf("%.1f\n", (now_ns() - t0) / iters);
	return 0;
}
