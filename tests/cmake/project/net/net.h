#ifndef NET_H
#define NET_H
int net_probe(const char *path);
#endif
