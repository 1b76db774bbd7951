// try/catch: an exception in the body (thrown, or from any call) reaches
// every handler; handlers are landing states; throw; rethrows outward.
// FLAGS: -std=c++17
#include <stdexcept>
int risky(int), handle(int), finally(), outer();

int guarded(int x) {
  try {
    risky(x);
    if (x < 0)
      throw std::runtime_error("neg");
    risky(x + 1);
  } catch (const std::runtime_error &e) {
    handle(1);
  } catch (...) {
    handle(2);
    throw;
  }
  return finally();
}

void nested() {
  try {
    try {
      risky(1);
    } catch (int) {
      handle(3);
      throw;
    }
  } catch (...) {
    outer();
  }
}
