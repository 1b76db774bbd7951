// OPTIONS: headers
// FLAGS: -I.
#include <stdio.h>
#include "headers_util.h"

int main(void) { return printf("%d\n", util_twice(2)); }
