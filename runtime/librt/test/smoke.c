/* Smoke test of libkcfm_rt without a monitor: the hooks must be no-ops and
 * the program must run normally. */
#include <stdio.h>
#include <stdlib.h>
#include "kcfm/kcfm_rt.h"

__attribute__((noinline)) static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

int main(int argc, char **argv)
{
	int expect_attached = argc > 1 ? atoi(argv[1]) : 0;
	if (kcfm_rt_abi_version() != KCFM_RT_ABI_VERSION) {
		fprintf(stderr, "ABI %u, header %d\n", kcfm_rt_abi_version(), KCFM_RT_ABI_VERSION);
		return 1;
	}
	if (kcfm_rt_attached() != expect_attached || (!expect_attached && kcfm_rt_slot_index() != -1)) {
		fprintf(stderr, "attached=%d slot=%d, expected attached=%d\n", kcfm_rt_attached(), kcfm_rt_slot_index(), expect_attached);
		return 1;
	}
	if (fib(20) != 6765)
		return 1;
	puts("ok");
	return 0;
}
