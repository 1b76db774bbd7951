#ifndef PARSE_H
#define PARSE_H
struct kv {
	char key[32];
	char value[32];
};
int parse_pairs(const char *s, struct kv *out, int max);
#endif
