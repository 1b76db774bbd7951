// Operands of + (and of most operators) are unsequenced in C.
int a(int), b(int), c(int);
int arr[10];

int plus(void) { return a(1) + b(2); }

int three(void) { return a(1) * b(2) - c(3); }

void subscript(void) { arr[a(1)] = b(2); }
