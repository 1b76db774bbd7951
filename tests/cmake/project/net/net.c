#include "net.h"
#include <fcntl.h>
#include <unistd.h>

/* net_probe opens a file and reads it in NET_BUFSIZE chunks (a stand-in for
 * I/O done by a shared library of the program). */
int net_probe(const char *path) {
	char buf[NET_BUFSIZE];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
	return 0;
}
