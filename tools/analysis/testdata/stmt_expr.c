// GNU statement expressions: their statements run where the expression
// is evaluated; a return inside one leaves the function.
// FLAGS: -std=gnu11
int a(int), b(int), c(int);

#define MAX(x, y) ({ __typeof__(x) _x = (x); __typeof__(y) _y = (y); _x > _y ? _x : _y; })

int se(int v) {
  int r = ({ int t = a(v); if (t < 0) return -1; b(t); });
  return c(r);
}

int typeof_macro(void) { return MAX(a(1), b(2)); }
