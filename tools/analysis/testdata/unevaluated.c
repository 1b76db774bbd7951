// Operands of sizeof (and _Generic's controlling expression) are not
// evaluated: their calls are optional at most.
int f(int), g(int);

unsigned long s(void) { return sizeof(f(1)) + g(2); }

int gen(int x) { return _Generic(f(x), int: g(1), default: g(2)); }
