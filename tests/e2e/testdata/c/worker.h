void *worker_main(void *arg);
void install_handler(void);
int signal_count(void);
