#include <stdio.h>
static int helper(int x) { return x * 2; }
int main(int argc, char **argv) {
  if (argc > 1)
    printf("%d\n", helper(argc));
  return 0;
}
