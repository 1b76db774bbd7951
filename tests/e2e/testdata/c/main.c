/* A benign multi-file C program exercising what the model must accept:
 * threads, fork + exec, a signal handler, qsort and atexit callbacks,
 * setjmp/longjmp, a static library (store) and a shared library (fmt). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fmt.h"
#include "store.h"
#include "worker.h"

static jmp_buf recover;

static int cmp_int(const void *a, const void *b) {
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static void goodbye(void) { fmt_line("goodbye", 0); }

static void risky(int depth) {
	if (depth == 0)
		longjmp(recover, 1);
	risky(depth - 1);
}

static int run_child(void) {
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(int argc, char **argv) {
	atexit(goodbye);
	install_handler();

	int values[] = {5, 3, 9, 1, 7};
	qsort(values, 5, sizeof values[0], cmp_int);
	for (int i = 0; i < 5; i++)
		store_put(values[i]);
	fmt_line("sum", store_sum());

	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, worker_main, (void *)(long)(i + 1));
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);

	raise(SIGUSR1);
	fmt_line("signals", signal_count());

	if (setjmp(recover) == 0)
		risky(3);
	else
		fmt_line("recovered", 1);

	fmt_line("child", run_child());
	if (argc > 1 && strcmp(argv[1], "--write") == 0)
		store_save(argc > 2 ? argv[2] : "/dev/null");
	return 0;
}
