#ifndef APP_UTIL_H
#define APP_UTIL_H
int checksum(const char *s);
#endif
