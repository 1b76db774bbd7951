#include "store.h"
#include <pthread.h>
#include <stdio.h>

static int items[64];
static int count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void store_put(int v) {
	pthread_mutex_lock(&lock);
	if (count < 64)
		items[count++] = v;
	pthread_mutex_unlock(&lock);
}

int store_sum(void) {
	int s = 0;
	for (int i = 0; i < count; i++)
		s += items[i];
	return s;
}

int store_save(const char *path) {
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	for (int i = 0; i < count; i++)
		fprintf(f, "%d\n", items[i]);
	return fclose(f);
}
