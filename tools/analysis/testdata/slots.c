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

// Arrays of arithmetic elements: no element holds a function pointer,
// but a function cast to an integer is still a store into the table.
#include <stdint.h>
static const unsigned char bytes[] = {1, 2, 3, [7] = 4};
intptr_t itab[] = {1, (intptr_t)a, 3, [5] = (intptr_t)&b};
intptr_t inested[2][2] = {{1, 2}, {3, (intptr_t)c}};
int braced[3] = {1, {2}, 3};
