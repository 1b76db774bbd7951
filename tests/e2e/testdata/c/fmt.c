#include "fmt.h"
#include <stdio.h>
#include <unistd.h>

static int render(char *buf, size_t n, const char *what, int value) {
	return snprintf(buf, n, "%s: %d\n", what, value);
}

void fmt_line(const char *what, int value) {
	char buf[128];
	int n = render(buf, sizeof buf, what, value);
	if (n > 0)
		write(1, buf, (size_t)n);
}
