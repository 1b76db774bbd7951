#include "greet.h"

#include <ctype.h>
#include <stdio.h>

static int is_shout(const char *name) {
	for (; *name; name++)
		if (islower((unsigned char)*name))
			return 0;
	return 1;
}

void format_greeting(char *buf, size_t size, const char *name) {
	if (is_shout(name))
		snprintf(buf, size, "HELLO, %s!", name);
	else
		snprintf(buf, size, "Hello, %s!", name);
}
