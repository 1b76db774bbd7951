#include "parse.h"
#include <string.h>

static int copy_token(char *dst, const char *src, size_t n) {
	if (n >= 32)
		return -1;
	memcpy(dst, src, n);
	dst[n] = 0;
	return 0;
}

int parse_pairs(const char *s, struct kv *out, int max) {
	int n = 0;
	while (*s && n < max) {
		const char *eq = strchr(s, '=');
		if (!eq)
			return -1;
		const char *end = strchr(eq, ';');
		if (!end)
			end = eq + strlen(eq);
		if (copy_token(out[n].key, s, (size_t)(eq - s)) < 0 ||
		    copy_token(out[n].value, eq + 1, (size_t)(end - eq - 1)) < 0)
			return -1;
		n++;
		s = *end ? end + 1 : end;
	}
	return n;
}
