// break and continue in nested loops and in a switch inside a loop.
int test(int), a(int), b(int), c(int);

void nested(int n) {
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < n; j++) {
      if (test(j))
        continue;
      if (test(-j))
        break;
      a(j);
    }
    b(i);
  }
  c(0);
}

void in_switch(int n) {
  while (test(n)) {
    switch (n) {
    case 1:
      continue;
    case 2:
      break;
    }
    a(n);
  }
}
