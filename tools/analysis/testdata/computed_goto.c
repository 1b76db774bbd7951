// Computed goto: goto *p may reach every label whose address is taken.
// FLAGS: -std=gnu11
int op_add(void), op_sub(void), fetch(void), halt_vm(void);

void interp(void) {
  static void *table[] = {&&do_add, &&do_sub, &&do_halt};
  goto *table[fetch()];
do_add:
  op_add();
  goto *table[fetch()];
do_sub:
  op_sub();
  goto *table[fetch()];
do_halt:
  halt_vm();
not_a_target:
  return;
}
