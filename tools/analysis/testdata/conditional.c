// ?: evaluates the condition, then one branch; GNU's x ?: y evaluates y
// only when x is zero.
// FLAGS: -std=gnu11
int a(int), b(int), c(int), d(int);

int cond(int x) { return x ? a(1) : b(2); }

int nested(int x) { return a(0) ? (x ? b(1) : c(2)) : d(3); }

int elvis(void) { return a(1) ?: b(2); }
