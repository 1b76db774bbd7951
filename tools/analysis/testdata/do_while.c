// do-while runs its body at least once; do { } while (0) exactly once.
int more(void), step(int), fini(void);

#define ONCE(x) do { step(x); } while (0)

void at_least_once(void) {
  do {
    step(1);
  } while (more());
  fini();
}

void macro_once(void) {
  ONCE(2);
  ONCE(3);
}

void do_continue(void) {
  do {
    if (step(4))
      continue;
    step(5);
  } while (more());
}
