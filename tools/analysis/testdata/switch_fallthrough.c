// switch with fall-through between cases, shared labels and default.
int a(int), b(int), c(int), d(int), e(int);

void sw(int x) {
  switch (x) {
  case 1:
    a(1);
    /* fall through */
  case 2:
  case 3:
    b(2);
    break;
  case 4:
    c(3);
    return;
  default:
    d(4);
  }
  e(5);
}

int sw_cond(int x) {
  switch (a(x)) {
  default:
    b(1);
    break;
  case 7:
    c(2);
  }
  return d(3);
}
