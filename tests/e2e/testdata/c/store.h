void store_put(int v);
int store_sum(void);
int store_save(const char *path);
