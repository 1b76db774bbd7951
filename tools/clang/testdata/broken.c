int f(void) { return undefined_name; }
