// goto forward (error exits) and backward (retry loops).
int open_it(void), read_it(void), fail(int), cleanup(void), retry(void);

int with_cleanup(void) {
  if (!open_it())
    goto out;
  if (!read_it())
    goto close;
  return 1;
close:
  cleanup();
out:
  fail(0);
  return 0;
}

void again(void) {
top:
  if (retry())
    goto top;
  cleanup();
}
