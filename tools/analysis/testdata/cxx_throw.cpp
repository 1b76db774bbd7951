// A throw outside any try ends the function's path (halt); a try without
// catch(...) may let the exception propagate.
// FLAGS: -std=c++17
int check(int), work(int), recover();

int f(int x) {
  if (check(x))
    throw 42;
  return work(x);
}

int g(int x) {
  try {
    return work(x);
  } catch (int) {
    return recover();
  }
}
