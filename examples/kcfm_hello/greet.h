#ifndef KCFM_HELLO_GREET_H
#define KCFM_HELLO_GREET_H
#include <stddef.h>
/* format_greeting writes "Hello, NAME!" (truncated to fit) into buf. */
void format_greeting(char *buf, size_t size, const char *name);
#endif
