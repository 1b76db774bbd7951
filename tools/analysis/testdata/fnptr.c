// Indirect calls carry the canonical function type and the slot the
// pointer was loaded from: a variable, a field, a table, a parameter
// (parameters are written by callers: they escape).
typedef int (*handler_t)(int);
struct ops {
  handler_t cb;
  void (*done)(void);
};
int h1(int), h2(int);
static handler_t fp = h1;
static const handler_t table[] = {h1, h2};

int via_var(int x) { return fp(x); }

int via_field(struct ops *o, int x) {
  int r = o->cb(x);
  o->done();
  return r;
}

int via_table(int i, int x) { return table[i](x); }

int via_param(handler_t cb, int x) { return cb(x); }

int via_deref(int x) { return (*fp)(x); }

handler_t get(void);
int via_call(int x) { return get()(x); }
