// Direct and mutual recursion are ordinary calls.
int fact(int n) { return n <= 1 ? 1 : n * fact(n - 1); }

int odd(int);
int even(int n) { return n == 0 ? 1 : odd(n - 1); }
int odd(int n) { return n == 0 ? 0 : even(n - 1); }
