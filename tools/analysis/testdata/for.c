// for loops with and without init, condition, increment.
int init(void), cond(int), inc(int), body(int), after(void);

void full(int n) {
  int i;
  for (i = 0; i < n; i++)
    body(i);
  after();
}

void calls_in_header(void) {
  int i;
  for (i = init(); cond(i); i = inc(i))
    body(i);
}

void no_parts(void) {
  for (;;) {
    if (cond(0))
      break;
    body(1);
  }
  after();
}

void cond_only(int i) {
  for (; cond(i);)
    body(i);
}

void init_only(int i) {
  for (i = init();;)
    body(i);
}

void inc_only(int i) {
  for (;; i = inc(i))
    body(i);
}

void decl_init(void) {
  for (int j = init(); j < 3; j++)
    body(j);
}
