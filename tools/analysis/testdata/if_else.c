// if/else, nested if, else-if chains.
int a(int), b(int), c(int), d(int);

void simple(int x) {
  if (a(x))
    b(1);
  else
    c(2);
  d(3);
}

void no_else(int x) {
  if (x > 0)
    a(1);
  b(2);
}

void chain(int x) {
  if (x == 1)
    a(1);
  else if (x == 2)
    b(2);
  else if (c(x))
    d(3);
}

void nested(int x, int y) {
  if (x) {
    if (y)
      a(1);
  } else {
    b(2);
  }
}
