// Functions whose address is taken (any use that is not a direct call)
// are the possible targets of indirect calls.
int f(int), g(int), h(int);
void register_it(int (*)(int));
int (*store)(int) = f;

void uses(void) {
  register_it(g);
  int (*p)(int) = &h;
  p(1);
  f(2);
}
