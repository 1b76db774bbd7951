/* Call-heavy workload: a recursive-descent evaluator of arithmetic
 * expressions (mutually recursive functions, so every call is a function
 * event), evaluating the same generated expression N times. Prints the
 * time per evaluation in ns and the number of calls it makes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

struct parser {
	const char *s;
	long calls;
};

long parse_expr(struct parser *p);

int peek(struct parser *p)
{
	p->calls++;
	while (*p->s == ' ')
		p->s++;
	return *p->s;
}

long parse_number(struct parser *p)
{
	p->calls++;
	long v = 0;
	while (*p->s >= '0' && *p->s <= '9')
		v = v * 10 + (*p->s++ - '0');
	return v;
}

/* Error reporting makes the evaluator's functions ones that can make a
 * system call: they are neither silent nor (being recursive) flat, so
 * every call of parse_expr/term/factor is a function event. */
void syntax_error(const struct parser *p, const char *what)
{
	fprintf(stderr, "callheavy: %s at \"%.10s\"\n", what, p->s);
}

long parse_factor(struct parser *p)
{
	p->calls++;
	if (peek(p) == '(') {
		p->s++;
		long v = parse_expr(p);
		if (peek(p) == ')')
			p->s++;
		else
			syntax_error(p, "missing )");
		return v;
	}
	if (peek(p) == '-') {
		p->s++;
		return -parse_factor(p);
	}
	if (peek(p) < '0' || peek(p) > '9')
		syntax_error(p, "number expected");
	return parse_number(p);
}

long parse_term(struct parser *p)
{
	p->calls++;
	long v = parse_factor(p);
	for (;;) {
		int c = peek(p);
		if (c == '*') {
			p->s++;
			v *= parse_factor(p);
		} else if (c == '%') {
			p->s++;
			long d = parse_factor(p);
			v = d ? v % d : 0;
		} else {
			return v;
		}
	}
}

long parse_expr(struct parser *p)
{
	p->calls++;
	long v = parse_term(p);
	for (;;) {
		int c = peek(p);
		if (c == '+') {
			p->s++;
			v += parse_term(p);
		} else if (c == '-') {
			p->s++;
			v -= parse_term(p);
		} else {
			return v;
		}
	}
}

/* A deterministic expression of about n terms with nested parentheses. */
static void generate(char *out, size_t size, int n)
{
	size_t o = 0;
	unsigned x = 12345;
	int depth = 0;
	for (int i = 0; i < n && o + 32 < size; i++) {
		x = x * 1103515245u + 12345u;
		if (x % 5 == 0 && depth < 8) {
			out[o++] = '(';
			depth++;
		}
		o += (size_t)snprintf(out + o, size - o, "%u", (x >> 8) % 97 + 1);
		if (x % 7 == 0 && depth > 0) {
			out[o++] = ')';
			depth--;
		}
		if (i + 1 < n)
			out[o++] = "+-*%"[(x >> 3) % 4];
	}
	while (depth-- > 0)
		out[o++] = ')';
	out[o] = 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: callheavy ITERATIONS\n");
		return 2;
	}
	long iters = atol(argv[1]);
	static char expr[8192];
	generate(expr, sizeof expr, 200);
	long sum = 0, calls = 0;
	for (long i = 0; i < iters / 10; i++) {
		struct parser p = {expr, 0};
		sum += parse_expr(&p);
	}
	double t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		struct parser p = {expr, 0};
		sum += parse_expr(&p);
		calls = p.calls;
	}
	double dt = now_ns() - t0;
	printf("%.1f %ld %ld\n", dt / iters, calls, sum);
	return 0;
}
