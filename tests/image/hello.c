/* Test entity for the KCFM image tests (tests/image): one static C program
 * with two modes, so that an image can run it as a daemon and as the driver.
 *
 *   hello server PORT   echo server on 127.0.0.1:PORT; if einit passed a
 *                       channel (KCFM_CHANNEL_echo), also answers "pong: <msg>"
 *                       on it. Prints "listening on 127.0.0.1:PORT" when ready.
 *   hello client PORT   says hello, round-trips a message through the server
 *                       over loopback TCP and, if it has the channel, through
 *                       the channel; exits 0 only if everything matched.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static int channel_fd(void) {
    const char *v = getenv("KCFM_CHANNEL_echo");
    if (v == NULL || *v == '\0')
        return -1;
    char *end;
    long fd = strtol(v, &end, 10);
    if (*end != '\0' || fd < 3 || fd > 1024) {
        printf("bad KCFM_CHANNEL_echo=%s\n", v);
        exit(2);
    }
    return (int)fd;
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    return a;
}

static int server(int port) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(port);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 8) < 0) {
        printf("echo: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    int ch = channel_fd();
    printf("echo: listening on 127.0.0.1:%d%s\n", port, ch >= 0 ? " and on channel echo" : "");
    fflush(stdout);
    for (;;) {
        struct pollfd p[2] = {{ls, POLLIN, 0}, {ch, POLLIN, 0}};
        if (poll(p, ch >= 0 ? 2 : 1, -1) < 0)
            continue;
        if (p[0].revents & POLLIN) {
            int c = accept(ls, NULL, NULL);
            char buf[256];
            ssize_t n = c >= 0 ? read(c, buf, sizeof buf) : -1;
            if (n > 0)
                write(c, buf, (size_t)n);
            if (c >= 0)
                close(c);
        }
        if (ch >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
            char buf[200], out[256];
            ssize_t n = recv(ch, buf, sizeof buf - 1, 0);
            if (n <= 0) {
                ch = -1; /* client gone */
                continue;
            }
            buf[n] = '\0';
            int m = snprintf(out, sizeof out, "pong: %s", buf);
            send(ch, out, (size_t)m, 0);
        }
    }
}

static int client(int port) {
    struct utsname u;
    uname(&u);
    printf("hello from static C as %s on %s %s\n", getenv("KCFM_ENTITY") ? getenv("KCFM_ENTITY") : "?", u.release, u.machine);
    char msg[64], buf[256];
    snprintf(msg, sizeof msg, "ping %d", (int)getpid());
    int ok = 0;
    for (int try = 0; try < 20 && !ok; try++) { /* the server may still be starting */
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = loopback(port);
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
            write(s, msg, strlen(msg));
            ssize_t n = read(s, buf, sizeof buf - 1);
            buf[n > 0 ? n : 0] = '\0';
            if (strcmp(buf, msg) != 0) {
                printf("hello: loopback echo returned \"%s\", sent \"%s\"\n", buf, msg);
                return 1;
            }
            ok = 1;
        } else {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        close(s);
    }
    if (!ok) {
        printf("hello: cannot reach the echo server on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("hello: loopback echo OK\n");
    int ch = channel_fd();
    if (ch >= 0) {
        send(ch, "hello", 5, 0);
        ssize_t n = recv(ch, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        if (strcmp(buf, "pong: hello") != 0) {
            printf("hello: channel returned \"%s\"\n", buf);
            return 1;
        }
        printf("hello: channel OK\n");
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "server") == 0)
        return server(atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "client") == 0)
        return client(atoi(argv[2]));
    fprintf(stderr, "usage: %s server|client PORT\n", argv[0]);
    return 2;
}
