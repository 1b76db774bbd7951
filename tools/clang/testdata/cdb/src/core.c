#include "core.h"
int core(int x) { return CORE_SCALE * x; }
