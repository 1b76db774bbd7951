#define CORE_SCALE 3
int core(int x);
