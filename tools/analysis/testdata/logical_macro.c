// An && spelled in a macro body: libclang-15 cannot tell which operator
// it is, so the right operand becomes optional and unordered (sound).
int a(int), b(int), c(int);

#define BOTH(x, y) ((x) && (y))

void m(void) {
  if (BOTH(a(1), b(2)))
    c(3);
}

void plain_operands(int x) {
  if (BOTH(x, x + 1))
    c(4);
}
