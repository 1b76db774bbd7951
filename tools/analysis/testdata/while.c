// while loops: condition evaluated before every iteration.
int more(void), step(int), done(void);

void loop(void) {
  while (more())
    step(1);
  done();
}

void forever(void) {
  while (1) {
    if (more())
      break;
    step(2);
  }
  done();
}

void empty_body(int n) {
  while (n-- > 0)
    ;
  done();
}
