// switch without default may skip every case; Duff's device puts case
// labels inside a loop.
int a(int), b(int), out(int);

void nodefault(int x) {
  switch (x) {
  case 1:
    a(1);
    break;
  case 2:
    b(2);
    break;
  }
  out(0);
}

void duff(int count) {
  int n = (count + 3) / 4;
  switch (count % 4) {
  case 0: do { out(1);
  case 3:      out(2);
  case 2:      out(3);
  case 1:      out(4);
          } while (--n > 0);
  }
}
