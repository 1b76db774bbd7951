// Early returns, calls in return expressions, falling off the end.
int check(int), compute(int), log_it(int);

int early(int x) {
  if (check(x))
    return 0;
  log_it(x);
  return compute(x) + 1;
}

void fall_off(int x) {
  if (x)
    log_it(1);
}

int nested_call(int x) { return compute(check(x)); }
