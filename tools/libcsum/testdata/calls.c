/* Soundness probe for libc summaries (tools/libcsum, TestDynamicSoundness).
 *
 * Calls many common libc functions, each bracketed by two marker system
 * calls made with a raw syscall instruction (not through libc): number
 * MARK_BASE + 2*i before call i and MARK_BASE + 2*i + 1 after it. The
 * numbers are far above any real system call, so the kernel answers ENOSYS
 * and no libc function can ever make them. The test traces the program with
 * `strace -f -n`, attributes every syscall a thread makes between the two
 * markers of call i to function i (a thread or process created inside a
 * bracket inherits it), and checks each one is in that function's summary.
 *
 * `calls --list` prints "index name" for every call and exits.
 * Build: cc -O0 -fno-builtin -pthread calls.c   (or musl-gcc)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <ctype.h>
#include <semaphore.h>
#include <sys/random.h>
#include <poll.h>
#include <sched.h>

#define MARK_BASE 0x10000L

static long raw_mark(long nr) {
#if defined(__x86_64__)
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = 0;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8) : "memory");
	return x0;
#else
#error unsupported architecture
#endif
}

static int listing;
static int idx;

#define CALL(name, stmt)                                      \
	do {                                                      \
		if (listing) {                                        \
			printf("%d %s\n", idx, name);                     \
		} else {                                              \
			raw_mark(MARK_BASE + 2L * idx);                   \
			stmt;                                             \
			raw_mark(MARK_BASE + 2L * idx + 1);               \
		}                                                     \
		idx++;                                                \
	} while (0)

static int cmp_int(const void *a, const void *b) {
	return *(const int *)a - *(const int *)b;
}
static void *thread_fn(void *arg) { return arg; }
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void once_fn(void) {}
static volatile sig_atomic_t got_sig;
static void on_sig(int s) { got_sig = s; }
static void at_exit_fn(void) {}

int main(int argc, char **argv) {
	listing = argc > 1 && strcmp(argv[1], "--list") == 0;
	char dir[] = "/tmp/kcfm-calls-XXXXXX";
	char buf[4096], path[512], path2[512];
	int fd = -1, fds[2] = {-1, -1}, sv[2] = {-1, -1}, n = 0;
	long l = 0;
	double d = 0;
	void *p = NULL, *q = NULL;
	char *s = NULL;
	FILE *f = NULL;
	struct stat st;
	struct timespec ts;
	struct timeval tv;
	struct tm tm;
	time_t t = 0;
	DIR *dp = NULL;
	struct dirent *de = NULL;
	pthread_t th;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_key_t key;
	sem_t sem;
	int arr[64];
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_in sa;
	socklen_t slen = sizeof sa;
	int lsock = -1, csock = -1, asock = -1;
	struct utsname un;
	struct rlimit rl;
	struct rusage ru;
	struct sigaction act;
	sigset_t set;
	struct passwd *pw = NULL;
	struct group *gr = NULL;
	struct iovec iov[2];
	pid_t pid = 0;
	int status = 0;
	size_t msize = 0;
	char *mbuf = NULL;
	(void)de; (void)pw; (void)gr; (void)l; (void)d; (void)q;

	if (!listing && mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/a", dir);
	snprintf(path2, sizeof path2, "%s/b", dir);
	for (int i = 0; i < 64; i++) arr[i] = (i * 37) % 64;

	/* memory */
	CALL("malloc", p = malloc(100));
	CALL("free", free(p));
	CALL("malloc", p = malloc(1 << 20)); /* mmap threshold */
	CALL("realloc", p = realloc(p, 2 << 20));
	CALL("free", free(p));
	CALL("calloc", p = calloc(10, 10));
	CALL("free", free(p));
	CALL("posix_memalign", posix_memalign(&p, 64, 256));
	CALL("free", free(p));
	CALL("aligned_alloc", p = aligned_alloc(64, 128));
	CALL("free", free(p));
	CALL("mmap", p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	CALL("mprotect", mprotect(p, 4096, PROT_READ));
	CALL("munmap", munmap(p, 4096));
	/* strings */
	CALL("strlen", n = strlen(dir));
	CALL("strcpy", strcpy(buf, "hello world"));
	CALL("strncpy", strncpy(buf, "hello", 6));
	CALL("strcmp", n = strcmp(buf, "hello"));
	CALL("strncmp", n = strncmp(buf, "help", 3));
	CALL("strchr", s = strchr(buf, 'l'));
	CALL("strrchr", s = strrchr(buf, 'l'));
	CALL("strstr", s = strstr(dir, "calls"));
	CALL("strdup", s = strdup(dir));
	CALL("free", free(s));
	CALL("strndup", s = strndup(dir, 4));
	CALL("free", free(s));
	CALL("memcpy", memcpy(buf, dir, 8));
	CALL("memmove", memmove(buf + 1, buf, 8));
	CALL("memset", memset(buf, 0, sizeof buf));
	CALL("memcmp", n = memcmp(buf, dir, 4));
	CALL("memchr", p = memchr(dir, 'X', strlen(dir)));
	CALL("strerror", s = strerror(ENOENT));
	CALL("strtol", l = strtol("12345", NULL, 10));
	CALL("strtoul", l = strtoul("ff", NULL, 16));
	CALL("strtod", d = strtod("3.25", NULL));
	CALL("atoi", n = atoi("42"));
	CALL("strcasecmp", n = strcasecmp("ABC", "abc"));
	CALL("strspn", n = strspn("aaab", "a"));
	CALL("strcspn", n = strcspn("aaab", "b"));
	CALL("toupper", n = toupper('a'));
	CALL("snprintf", snprintf(buf, sizeof buf, "%d %s %f", 7, "x", 1.5));
	CALL("sprintf", sprintf(buf, "%ld", 123456789L));
	CALL("sscanf", sscanf("10 20", "%d %ld", &n, &l));
	/* stdio */
	CALL("printf", printf("calls: %s\n", "printf"));
	CALL("puts", puts("calls: puts"));
	CALL("putchar", putchar('\n'));
	CALL("fputs", fputs("calls: fputs\n", stdout));
	CALL("fprintf", fprintf(stderr, "calls: fprintf %d\n", 1));
	CALL("fflush", fflush(stdout));
	CALL("fopen", f = fopen(path, "w+"));
	CALL("fwrite", fwrite("abcdefgh\nsecond line\n", 1, 21, f));
	CALL("fputc", fputc('z', f));
	CALL("fflush", fflush(f));
	CALL("fseek", fseek(f, 0, SEEK_SET));
	CALL("ftell", l = ftell(f));
	CALL("fgets", fgets(buf, sizeof buf, f));
	CALL("fgetc", n = fgetc(f));
	CALL("ungetc", ungetc('s', f));
	CALL("getc", n = getc(f));
	CALL("fread", fread(buf, 1, 4, f));
	CALL("rewind", rewind(f));
	CALL("fileno", n = fileno(f));
	CALL("fclose", fclose(f));
	CALL("fopen", f = fopen(path, "r"));
	CALL("setvbuf", setvbuf(f, NULL, _IONBF, 0));
	CALL("fread", fread(buf, 1, 8, f));
	CALL("fclose", fclose(f));
	CALL("tmpfile", f = tmpfile());
	CALL("fclose", fclose(f));
	CALL("open_memstream", f = open_memstream(&mbuf, &msize));
	CALL("fprintf", fprintf(f, "memstream %d", 5));
	CALL("fclose", fclose(f));
	CALL("free", free(mbuf));
	CALL("fmemopen", f = fmemopen(buf, sizeof buf, "w"));
	CALL("fclose", fclose(f));
	CALL("perror", perror("calls: perror"));
	/* files */
	CALL("open", fd = open(path, O_RDWR));
	CALL("read", read(fd, buf, 10));
	CALL("write", write(fd, "xyz", 3));
	CALL("lseek", lseek(fd, 0, SEEK_SET));
	CALL("pread", pread(fd, buf, 4, 2));
	CALL("pwrite", pwrite(fd, "q", 1, 0));
	CALL("fstat", fstat(fd, &st));
	CALL("fcntl", fcntl(fd, F_GETFL));
	CALL("ftruncate", ftruncate(fd, 5));
	CALL("fsync", fsync(fd));
	iov[0].iov_base = "ab"; iov[0].iov_len = 2; iov[1].iov_base = "cd"; iov[1].iov_len = 2;
	CALL("writev", writev(fd, iov, 2));
	CALL("dup", n = dup(fd));
	CALL("close", close(n));
	CALL("dup2", dup2(fd, 50));
	CALL("close", close(50));
	CALL("close", close(fd));
	CALL("stat", stat(path, &st));
	CALL("lstat", lstat(path, &st));
	CALL("access", access(path, R_OK));
	CALL("chmod", chmod(path, 0600));
	CALL("rename", rename(path, path2));
	CALL("link", link(path2, path));
	snprintf(buf, 1024, "%s/c", dir);
	CALL("symlink", symlink(path2, buf));
	CALL("readlink", readlink(buf, buf + 1024, 100));
	CALL("realpath", s = realpath(buf, NULL));
	CALL("free", free(s));
	CALL("unlink", unlink(buf));
	CALL("truncate", truncate(path2, 2));
	CALL("umask", umask(022));
	snprintf(buf, 1024, "%s/d", dir);
	CALL("mkdir", mkdir(buf, 0700));
	CALL("rmdir", rmdir(buf));
	CALL("opendir", dp = opendir(dir));
	CALL("readdir", de = readdir(dp));
	CALL("closedir", closedir(dp));
	CALL("getcwd", getcwd(buf, sizeof buf));
	CALL("chdir", chdir(dir));
	CALL("chdir", chdir("/"));
	CALL("pipe", pipe(fds));
	CALL("write", write(fds[1], "p", 1));
	CALL("read", read(fds[0], buf, 1));
	CALL("close", close(fds[0]));
	CALL("close", close(fds[1]));
	snprintf(buf, 1024, "%s/tmpXXXXXX", dir);
	CALL("mkstemp", fd = mkstemp(buf));
	CALL("close", close(fd));
	CALL("unlink", unlink(buf));
	CALL("remove", remove(path));
	CALL("remove", remove(path2));
	/* time */
	CALL("time", t = time(NULL));
	CALL("clock_gettime", clock_gettime(CLOCK_MONOTONIC, &ts));
	CALL("clock_gettime", clock_gettime(CLOCK_REALTIME, &ts));
	CALL("gettimeofday", gettimeofday(&tv, NULL));
	CALL("localtime_r", localtime_r(&t, &tm));
	CALL("gmtime_r", gmtime_r(&t, &tm));
	CALL("mktime", t = mktime(&tm));
	CALL("strftime", strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm));
	CALL("clock", l = clock());
	ts.tv_sec = 0; ts.tv_nsec = 1000;
	CALL("nanosleep", nanosleep(&ts, NULL));
	CALL("usleep", usleep(1));
	/* process */
	CALL("getpid", pid = getpid());
	CALL("getppid", pid = getppid());
	CALL("getuid", n = getuid());
	CALL("geteuid", n = geteuid());
	CALL("getgid", n = getgid());
	CALL("getenv", s = getenv("PATH"));
	CALL("setenv", setenv("KCFM_CALLS", "1", 1));
	CALL("unsetenv", unsetenv("KCFM_CALLS"));
	CALL("uname", uname(&un));
	CALL("sysconf", l = sysconf(_SC_NPROCESSORS_ONLN));
	CALL("sysconf", l = sysconf(_SC_PAGESIZE));
	CALL("getrlimit", getrlimit(RLIMIT_NOFILE, &rl));
	CALL("getrusage", getrusage(RUSAGE_SELF, &ru));
	CALL("gethostname", gethostname(buf, 256));
	memset(&act, 0, sizeof act);
	act.sa_handler = on_sig;
	CALL("sigaction", sigaction(SIGUSR1, &act, NULL));
	CALL("signal", signal(SIGUSR2, on_sig));
	CALL("sigemptyset", sigemptyset(&set));
	CALL("sigaddset", sigaddset(&set, SIGUSR2));
	CALL("sigprocmask", sigprocmask(SIG_BLOCK, &set, NULL));
	CALL("sigprocmask", sigprocmask(SIG_UNBLOCK, &set, NULL));
	CALL("raise", raise(SIGUSR1));
	pid = listing ? 0 : getpid();
	CALL("kill", kill(pid, 0));
	CALL("alarm", alarm(0));
	CALL("fork", pid = fork());
	if (!listing && pid == 0)
		_exit(0);
	CALL("waitpid", waitpid(pid, &status, 0));
	CALL("atexit", atexit(at_exit_fn));
	/* sockets */
	CALL("socket", lsock = socket(AF_INET, SOCK_STREAM, 0));
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	n = 1;
	CALL("setsockopt", setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &n, sizeof n));
	CALL("bind", bind(lsock, (struct sockaddr *)&sa, sizeof sa));
	CALL("listen", listen(lsock, 4));
	CALL("getsockname", getsockname(lsock, (struct sockaddr *)&sa, &slen));
	CALL("socket", csock = socket(AF_INET, SOCK_STREAM, 0));
	CALL("connect", connect(csock, (struct sockaddr *)&sa, sizeof sa));
	CALL("accept", asock = accept(lsock, NULL, NULL));
	CALL("send", send(csock, "hi", 2, 0));
	CALL("recv", recv(asock, buf, 2, 0));
	CALL("sendto", sendto(asock, "yo", 2, 0, NULL, 0));
	CALL("recvfrom", recvfrom(csock, buf, 2, 0, NULL, NULL));
	CALL("shutdown", shutdown(csock, SHUT_RDWR));
	CALL("close", close(csock));
	CALL("close", close(asock));
	CALL("close", close(lsock));
	CALL("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CALL("close", close(sv[0]));
	CALL("close", close(sv[1]));
	CALL("inet_pton", inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr));
	CALL("inet_ntop", inet_ntop(AF_INET, &sa.sin_addr, buf, 64));
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	CALL("getaddrinfo", getaddrinfo("localhost", "80", &hints, &ai));
	CALL("freeaddrinfo", if (ai) freeaddrinfo(ai));
	CALL("getpwnam", pw = getpwnam("root"));
	CALL("getpwuid", pw = getpwuid(0));
	CALL("getgrnam", gr = getgrnam("root"));
	/* threads */
	CALL("pthread_create", pthread_create(&th, NULL, thread_fn, NULL));
	CALL("pthread_join", pthread_join(th, NULL));
	CALL("pthread_mutex_lock", pthread_mutex_lock(&mu));
	CALL("pthread_mutex_unlock", pthread_mutex_unlock(&mu));
	CALL("pthread_once", pthread_once(&once, once_fn));
	CALL("pthread_self", th = pthread_self());
	CALL("pthread_key_create", pthread_key_create(&key, NULL));
	CALL("pthread_setspecific", pthread_setspecific(key, &key));
	CALL("pthread_getspecific", p = pthread_getspecific(key));
	CALL("sem_init", sem_init(&sem, 0, 1));
	CALL("sem_wait", sem_wait(&sem));
	CALL("sem_post", sem_post(&sem));
	CALL("sem_destroy", sem_destroy(&sem));
	/* credentials after a thread existed: glibc's setxid broadcast */
	n = getuid();
	CALL("setuid", setuid(n));
	n = getgid();
	CALL("setgid", setgid(n));
	CALL("pthread_mutex_trylock", pthread_mutex_trylock(&mu));
	CALL("pthread_mutex_unlock", pthread_mutex_unlock(&mu));
	CALL("pthread_sigmask", pthread_sigmask(SIG_BLOCK, NULL, &set));
	/* more strings, formatting, time */
	snprintf(buf, sizeof buf, "a b,c");
	CALL("strtok", s = strtok(buf, " "));
	CALL("memmem", p = memmem(path, strlen(path), "/", 1));
	CALL("strnlen", n = strnlen(path, 3));
	CALL("stpcpy", s = stpcpy(buf, "x"));
	CALL("asprintf", n = asprintf(&s, "%d %s", 42, "x"));
	CALL("free", free(s));
	CALL("dprintf", dprintf(2, "%s", ""));
	CALL("isatty", n = isatty(0));
	CALL("getpagesize", n = getpagesize());
	CALL("sched_yield", sched_yield());
	CALL("poll", poll(NULL, 0, 0));
	CALL("ctime_r", s = ctime_r(&t, buf));
	CALL("gmtime", gmtime(&t));
	CALL("localtime", localtime(&t));
	/* misc */
	CALL("qsort", qsort(arr, 64, sizeof arr[0], cmp_int));
	n = 17;
	CALL("bsearch", p = bsearch(&n, arr, 64, sizeof arr[0], cmp_int));
	CALL("srand", srand(1));
	CALL("rand", n = rand());
	CALL("random", l = random());
	CALL("getrandom", getrandom(buf, 16, 0));
	CALL("rmdir", rmdir(dir));
	CALL("exit", exit(0));
	return 0;
}
