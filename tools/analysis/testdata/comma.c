// The comma operator sequences its operands.
int a(int), b(int), c(int);

int comma(void) { return (a(1), b(2)), c(3); }

void in_for(int n) {
  int i, j;
  for (i = 0, j = a(0); i < n; i++, j = b(j))
    c(j);
}
