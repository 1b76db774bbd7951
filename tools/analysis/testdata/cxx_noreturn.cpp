// [[noreturn]] functions, std::terminate and std::exit end the path.
// FLAGS: -std=c++17
#include <cstdlib>
#include <exception>
[[noreturn]] void fail(int);
int check(int), work(int);

int f(int x) {
  if (check(x))
    fail(x);
  if (check(-x))
    std::terminate();
  if (check(x * 2))
    std::exit(1);
  return work(x);
}
