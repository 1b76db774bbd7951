// C++ globals with dynamic initialisation run before main; their
// destructors at exit; static locals are initialised once.
// FLAGS: -std=c++17
int compute(int), log_line(int);

struct Logger {
  Logger(int level);
  ~Logger();
};

Logger global(1);
int computed = compute(2);
static Logger *never = nullptr;

int counter() {
  static Logger local(compute(3));
  return log_line(4);
}

int main() { return counter(); }
