#include "worker.h"
#include <signal.h>
#include <string.h>
#include "fmt.h"
#include "store.h"

static volatile sig_atomic_t signals;

static void on_signal(int sig) {
	(void)sig;
	signals++;
}

void install_handler(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
}

int signal_count(void) { return signals; }

void *worker_main(void *arg) {
	long n = (long)arg;
	for (long i = 0; i < n; i++)
		store_put((int)i);
	fmt_line("worker", (int)n);
	return NULL;
}
