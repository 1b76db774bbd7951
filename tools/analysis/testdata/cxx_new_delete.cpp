// new calls the constructor; delete calls the destructor (a virtual call
// when the destructor is virtual).
// FLAGS: -std=c++17
struct Base {
  Base();
  virtual ~Base();
};
struct Leaf {
  Leaf(int);
  ~Leaf();
};
int work(int);

void lifecycle() {
  Base *b = new Base();
  Leaf *l = new Leaf(work(1));
  delete l;
  delete b;
}
