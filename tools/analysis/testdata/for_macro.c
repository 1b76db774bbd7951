// A for loop spelled in a macro body: positions collapse to the macro's
// use, so the parts cannot be told apart by their semicolons; every
// consistent reading is accepted. An assignment in a macro body cannot be
// told from && by position either, but its pointer type rules && out.
struct node;
struct node *first(void), *next(struct node *);
int valid(struct node *), visit(struct node *);

#define FOREACH(it) for (it = first(); valid(it); it = next(it))
#define UNTIL(it) for (; valid(it);)

void walk(void) {
  struct node *it;
  FOREACH(it)
    visit(it);
}

void walk2(struct node *it) {
  UNTIL(it)
    visit(it);
}
