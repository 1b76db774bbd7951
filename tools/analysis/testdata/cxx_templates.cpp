// Templates are graphed as patterns (kind template); calls to
// specialisations name the template; dependent calls are recorded by
// name.
// FLAGS: -std=c++17
int helper(int);
int helper(double);

template <class T> T twice(T x) { return helper(x) + helper(x); }

template <class T> struct Box {
  T v;
  int show() const { return v.print(); }
  static int make() { return helper(1); }
};

struct Item {
  int print() const;
};

template <> int twice<int>(int x) { return helper(x) * 2; }

int use(Box<Item> &b) { return twice(1.5) + twice(2) + b.show() + Box<Item>::make(); }

// T(x) and bool(x) with dependent operands are not calls (unresolved
// constructions); a class template's constructors may run (optional).
template <class T> struct Wrap {
  Wrap(T);
};
template <class T> Wrap<T> wrap(T x) { return Wrap<T>(helper(x)); }
template <class T> bool truthy(T x) { return bool(x.ok()); }
