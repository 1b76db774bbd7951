// Calls in initialisers of declarations, in declaration order; a static
// local's initialiser runs once (optional); typeof and VLA bounds.
// FLAGS: -std=gnu11
int f(int), g(int), h(int), n(void);

void locals(void) {
  int x = f(1), y = g(x);
  h(y);
}

void static_local(void) {
  static int s;
  static int once = 0;
  int z = f(s + once);
  h(z);
}

void vla_and_typeof(void) {
  int v[n()];
  __typeof__(g(1)) t = h(v[0]);
  f(t);
}
