// Range-for: the range expression once, then per iteration the loop
// variable's initialisation (operator* is visible) and the body.
// FLAGS: -std=c++17
int visit(int), after();

struct Bag {
  struct It {
    int *p;
    int operator*() const;
    It &operator++();
    bool operator!=(const It &) const;
  };
  It begin();
  It end();
};
Bag &bag();

void loop() {
  for (int v : bag())
    visit(v);
  after();
}

void array() {
  int a[3] = {1, 2, 3};
  for (int v : a) {
    if (visit(v))
      continue;
    after();
  }
}
