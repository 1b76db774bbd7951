// Compiler builtins are not calls (no event), except the ones that end
// the path.
int work(int);

int b(int x) {
  if (__builtin_expect(work(x), 0))
    return 1;
  __builtin_prefetch(&x);
  return __builtin_popcount(x) + work(__builtin_constant_p(x));
}

void trap(int x) {
  if (x)
    __builtin_trap();
  work(1);
}
