// Stores into function-pointer slots (assignments, initialiser lists,
// designated and positional, arrays, ?:), stores of non-functions, and
// slots whose address escapes.
#include <stddef.h>
typedef void (*fn_t)(int);
struct vtable {
  fn_t open;
  fn_t close;
  fn_t handler;
};
void a(int), b(int), c(int);
fn_t lookup(const char *);

struct vtable positional = {a, b};
struct vtable designated = {.close = c, .handler = a};
fn_t arr[3] = {a, b, NULL};
fn_t g_fp;

void set_fp(int which) { g_fp = which ? a : b; }

void set_unknown(void) { g_fp = lookup("x"); }

void set_field(struct vtable *v) {
  v->handler = c;
  v->open = NULL;
}

void escape(void) {
  fn_t *p = &g_fp;
  *p = a;
}

void fill(void) {
  struct vtable local = {.handler = b};
  local.handler(1);
  arr[1] = c;
}
