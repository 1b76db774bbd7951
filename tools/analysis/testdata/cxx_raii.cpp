// Destructors run at scope exit (also on break, return and exceptions)
// and at the end of the full expression for temporaries: they are
// optional events at those points (copy elision may remove them).
// FLAGS: -std=c++17
int work(int), more();

struct Guard {
  Guard();
  ~Guard();
};
struct Plain {
  int x;
};
struct Value {
  Value(int);
  ~Value();
  int get() const;
};
Value make();

int scopes() {
  Guard g;
  Plain p{1};
  while (more()) {
    Guard inner;
    if (work(1))
      break;
    work(2);
  }
  return work(3);
}

int temporaries() { return make().get() + Value(4).get(); }

void arrays() {
  Guard gs[3];
  work(5);
}
