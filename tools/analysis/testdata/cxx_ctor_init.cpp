// Constructor initialisers run before the body; a function-try-block's
// handlers cover them.
// FLAGS: -std=c++17
int init_a(), init_b(int), body(), handler();

struct Base {
  Base(int);
};
struct Widget : Base {
  Widget();
  int a, b;
};

Widget::Widget() try : Base(init_a()), a(init_a()), b(init_b(a)) {
  body();
} catch (...) {
  handler();
}
