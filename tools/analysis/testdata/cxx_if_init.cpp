// C++17 if/switch with initialiser and condition variables.
// FLAGS: -std=c++17
int get(), use(int), other(int), pick();

void f() {
  if (int v = get())
    use(v);
  if (int w = get(); w > 2)
    use(w);
  else
    other(w);
  if (get(); pick())
    use(1);
  switch (int s = pick(); s) {
  case 1:
    use(s);
    break;
  }
  while (int x = get())
    use(x);
}
