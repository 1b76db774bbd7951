// A project header: its functions are graphed with --headers.
int util_base(int);
static inline int util_twice(int x) { return util_base(x) + util_base(x + 1); }
