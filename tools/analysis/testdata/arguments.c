// Arguments (and the callee expression) are evaluated before the call,
// in an unspecified order: every interleaving is accepted.
int f(int, int), g(int), h(int), k(int);
int (*pick(int))(int);

int args(void) { return f(g(1), h(2)); }

int nested(void) { return f(g(h(1)), k(2)); }

int callee_expr(void) { return pick(g(1))(h(2)); }
