// Functions run before main and at exit.
int setup(void), teardown(void);

__attribute__((constructor)) static void init(void) { setup(); }

__attribute__((destructor)) static void fini(void) { teardown(); }

__attribute__((constructor(101))) void early(void);
void early(void) { setup(); }

int main(void) { return 0; }
