// && and ||: the right operand's calls happen only sometimes.
int a(int), b(int), c(int), d(int);

int and_or(int x) {
  if (a(1) && b(2))
    c(3);
  if (a(4) || b(5))
    d(6);
  return 0;
}

int chain(void) { return a(1) && b(2) && c(3); }

int mixed(void) { return (a(1) || b(2)) && c(3); }

int value(void) {
  int r = a(1) || b(2);
  return r;
}
