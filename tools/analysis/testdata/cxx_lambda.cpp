// Lambdas are functions of their own (kind lambda), linked to their
// calls through the closure's operator().
// FLAGS: -std=c++17
#include <algorithm>
#include <vector>
int work(int), visit(int);

int run(std::vector<int> &v, int k) {
  auto add = [&](int x) { return work(x) + k; };
  int r = add(1);
  std::for_each(v.begin(), v.end(), [](int x) { visit(x); });
  auto gen = [](auto y) { return visit(y); };
  return r + gen(2);
}
