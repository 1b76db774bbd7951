// Callables handed to std::thread (and pthread_create) are callbacks.
// FLAGS: -std=c++17 -pthread
#include <thread>
void job(int);
int work(int);

void spawn() {
  std::thread a(job, 1);
  std::thread b([] { work(2); });
  a.join();
  b.join();
}
