// Methods, constructors, operators (member and free), conversion.
// FLAGS: -std=c++17
int log_it(int);

struct Counter {
  Counter(int start);
  int get() const;
  Counter &operator+=(int d);
  explicit operator bool() const;
  int n;
};

Counter operator+(const Counter &a, int b);

Counter::Counter(int start) : n(log_it(start)) {}
int Counter::get() const { return log_it(n); }
Counter &Counter::operator+=(int d) {
  n += d;
  return *this;
}

int use() {
  Counter c(1);
  c += 2;
  Counter d = c + 3;
  if (d)
    return d.get();
  return c.get();
}
