// Calls through pointers to member functions are indirect calls with
// the member function's type.
// FLAGS: -std=c++17
struct Obj {
  int a(int);
  int b(int);
};
using Method = int (Obj::*)(int);

int call(Obj *o, Method m, bool pick) {
  Method n = pick ? &Obj::a : &Obj::b;
  return (o->*m)(1) + (o->*n)(2);
}
