#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "net.h"
#include "parse.h"
#include "util.h"

int main(int argc, char **argv) {
	const char *input = argc > 1 ? argv[1] : "a=1;b=2";
	struct kv kv[8];
	int n = parse_pairs(input, kv, 8);
	if (n < 0) {
		fprintf(stderr, "bad input\n");
		return 1;
	}
	for (int i = 0; i < n; i++)
		printf("%s=%s (%d)\n", kv[i].key, kv[i].value, checksum(kv[i].key));
	if (argc > 2)
		return net_probe(argv[2]) == 0 ? 0 : 3;
	return 0;
}
