/*
 * libkcfm_rt - function-event runtime of KCFM (see kcfm/kcfm_rt.h).
 *
 * Programs compiled with -finstrument-functions call the two hooks below at
 * every function entry and exit. When the monitor passed an arena
 * (KCFM_RING_FD), each thread claims a slot of the arena on its first event
 * and appends 16-byte records to that slot's single-producer ring; the
 * monitor's Go reader (runtime/ring) drains it. Layout and protocol:
 * "Format: ring arena v1" in docs/runtime-mechanisms.md - keep the two in sync.
 *
 * Hot path (one event): a signal-atomic fetch-and-add on the thread's
 * reservation counter, two stores, and (outside signal nesting) a release
 * store of the published head. No system call, no locked instruction on
 * x86-64. Block mode: a full ring makes the thread wait for the monitor; if
 * the monitor makes no progress for KCFM_RING_STALL_MS the process exits
 * with KCFM_RT_EXIT_STALL (fail closed).
 *
 * Signal handlers that interrupt a hook nest correctly: the interrupted hook
 * reserved its position first, nested hooks reserve the following ones, and
 * only the outermost hook publishes, after every nested record is written.
 *
 * Everything here is built with no_instrument_function (and the library
 * with -fno-instrument-functions), or the hooks would recurse.
 */
#define _GNU_SOURCE
#include "kcfm/kcfm_rt.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NI __attribute__((no_instrument_function))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- format: ring arena v1 (must match runtime/ring/ring.go) ---- */

#define ARENA_MAGIC "KCFMRING"
#define ARENA_VERSION 1u
#define ARENA_HEADER_SIZE 4096u
#define SLOT_HEADER_SIZE 256u
#define RECORD_SIZE 16u
#define MAX_SLOTS 4096u
#define MIN_RECS 16u
#define MAX_RECS (1u << 24)
#define FLAG_BLOCK 1u
#define REC_EXIT_BIT (1ull << 63)
#define REC_LOST 0x7fffffffffffffffull

enum { SLOT_FREE = 0, SLOT_CLAIMING = 1, SLOT_CLAIMED = 2, SLOT_EXITED = 3 };
enum { ORIGIN_NONE = 0, ORIGIN_START = 1, ORIGIN_THREAD = 2, ORIGIN_FORK = 3 };

struct arena_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint32_t slots;
	uint32_t recs_per_slot;
	uint64_t slot_stride;
	uint64_t total_size;
	uint32_t flags;
	uint32_t reserved;
	uint8_t pad0[64 - 48];
	uint64_t claim_counter; /* producers: fetch_add at claim */
	uint8_t pad1[128 - 72];
	uint64_t slot_waiters; /* producers: +1 each time no slot was free */
};

struct slot_header {
	uint32_t state;
	uint32_t origin;
	uint32_t pid;
	uint32_t tid;
	uint32_t parent_pid;
	uint32_t parent_tid;
	uint64_t claim_seq;
	uint64_t image_id;
	uint8_t pad0[64 - 40];
	uint64_t head; /* producer: published end (records [tail, head) are readable) */
	uint32_t waiting; /* producer: 1 while blocked on a full ring */
	uint8_t pad1[128 - 76];
	uint64_t tail; /* consumer: next record it will read */
	uint8_t pad2[256 - 136];
};

struct record {
	uint64_t w0; /* function address | REC_EXIT_BIT on return */
	uint64_t w1; /* call site */
};

_Static_assert(offsetof(struct arena_header, claim_counter) == 64, "layout");
_Static_assert(offsetof(struct arena_header, slot_waiters) == 128, "layout");
_Static_assert(sizeof(struct slot_header) == SLOT_HEADER_SIZE, "layout");
_Static_assert(offsetof(struct slot_header, head) == 64, "layout");
_Static_assert(offsetof(struct slot_header, waiting) == 72, "layout");
_Static_assert(offsetof(struct slot_header, tail) == 128, "layout");
_Static_assert(sizeof(struct record) == RECORD_SIZE, "layout");

/* ---- process state ---- */

enum { MODE_UNINIT = 0, MODE_DETACHED = 1, MODE_ATTACHED = 2, MODE_INITIALIZING = 3 };

#define MAX_LEVELS 8 /* nesting levels whose reservations are tracked */
#define LIVE_MARK 0x4b43464du /* "KCFM": set in a MADV_WIPEONFORK page, reads 0 in a forked child */

static struct {
	int mode;
	uint8_t *base;
	size_t size;
	struct arena_header *hdr;
	uint32_t nslots;
	uint64_t recs;
	uint64_t mask;
	uint64_t stride;
	int64_t stall_ns; /* 0: wait forever */
	uint64_t image_id;
	int started; /* a thread of this image has claimed a slot */
	pthread_key_t key;
} G;

#define DETACHED_MARK 0x44455441u /* g_live points here when there is no monitor */
static volatile uint32_t live_none;
static volatile uint32_t live_detached = DETACHED_MARK;
static volatile uint32_t *g_live = &live_none;

struct tls {
	/* hot: one cache line */
	uint64_t res; /* next position to reserve; signal-atomic increments */
	long depth; /* hooks of this thread in progress (signal nesting) */
	uintptr_t outer_sp; /* frame of the outermost hook in progress */
	uint64_t tail_cache;
	struct record *recs;
	struct slot_header *slot;
	uint64_t mask;
	uint64_t cap;
	/* per nesting level: reserved position + 1 while not yet written, else 0 */
	uint64_t pos[8];
	int32_t pid, tid;
	int32_t slot_index;
	int fork_pending;
	int32_t fork_ppid, fork_ptid;
} __attribute__((aligned(64)));

static __thread struct tls T __attribute__((tls_model("initial-exec")));

/* ---- small helpers ---- */

#define sigfence() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Fetch-and-add that is atomic with respect to signal handlers on the same
 * thread (the only other writer of a thread-local counter). */
NI static inline uint64_t sig_fetch_inc(uint64_t *p)
{
#if defined(__x86_64__)
	uint64_t v = 1;
	__asm__ volatile("xaddq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
	return v;
#else
	return __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
#endif
}

NI static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

NI static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

NI static void say(const char *msg)
{
	size_t n = strlen(msg);
	while (n > 0) {
		ssize_t w = write(2, msg, n);
		if (w <= 0)
			break;
		msg += w;
		n -= (size_t)w;
	}
}

/* Fail closed: report and end the process at once (no atexit handlers, no
 * signal a handler could catch). */
NI __attribute__((noreturn)) static void die(int code, const char *what)
{
	char buf[512];
	snprintf(buf, sizeof buf, "kcfm_rt: pid %ld tid %ld: %s; terminating (fail closed, exit %d)\n",
		 (long)getpid(), (long)syscall(SYS_gettid), what, code);
	say(buf);
	for (;;)
		syscall(SYS_exit_group, code);
}

/* Wait between polls of shared state: spin, then yield, then sleep. */
struct backoff {
	unsigned spins;
	long sleep_ns;
	int64_t since; /* last progress */
};

NI static void backoff_reset(struct backoff *b)
{
	b->spins = 0;
	b->sleep_ns = 20000;
	b->since = 0;
}

/* Returns 0 while still within the stall budget. */
NI static int backoff_wait(struct backoff *b)
{
	if (b->spins < 256) {
		b->spins++;
		cpu_relax();
		return 0;
	}
	if (b->spins < 320) {
		b->spins++;
		sched_yield();
		return 0;
	}
	int64_t now = now_ns();
	if (b->since == 0)
		b->since = now;
	else if (G.stall_ns > 0 && now - b->since >= G.stall_ns)
		return 1;
	struct timespec ts = {0, b->sleep_ns};
	nanosleep(&ts, NULL);
	if (b->sleep_ns < 1000000)
		b->sleep_ns *= 2;
	return 0;
}

/* ---- attach ---- */

NI static int parse_long(const char *s, long *out)
{
	if (s == NULL || *s == 0)
		return 0;
	long v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (LONG_MAX - 9) / 10)
			return 0;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 1;
}

NI static void on_thread_exit(void *unused)
{
	(void)unused;
	/* The slot stays this thread's: destructors that run later may still
	 * produce events. The reader recycles it once the thread is gone. */
	if (T.slot != NULL)
		__atomic_store_n(&T.slot->state, SLOT_EXITED, __ATOMIC_RELEASE);
}

NI static void fork_reset(void)
{
	struct tls *t = &T;
	int32_t ppid = t->pid, ptid = t->tid;
	if (ppid == 0)
		ppid = (int32_t)getppid();
	memset(t, 0, sizeof *t);
	t->fork_pending = 1;
	t->fork_ppid = ppid;
	t->fork_ptid = ptid;
	if (g_live != &live_none && g_live != &live_detached)
		*g_live = LIVE_MARK;
}

NI static void atfork_child(void)
{
	if (__atomic_load_n(&G.mode, __ATOMIC_ACQUIRE) == MODE_ATTACHED)
		fork_reset();
}

NI static void do_attach(void)
{
	char msg[256];
	long fd;
	const char *env = getenv(KCFM_RT_ENV_FD);
	if (env == NULL || *env == 0) {
		g_live = &live_detached;
		__atomic_store_n(&G.mode, MODE_DETACHED, __ATOMIC_RELEASE);
		return;
	}
	if (!parse_long(env, &fd) || fd > INT_MAX) {
		snprintf(msg, sizeof msg, KCFM_RT_ENV_FD "=%.40s is not a file descriptor number", env);
		die(KCFM_RT_EXIT_SETUP, msg);
	}
	struct stat st;
	if (fstat((int)fd, &st) != 0) {
		snprintf(msg, sizeof msg, KCFM_RT_ENV_FD "=%ld: fstat: %s", fd, strerror(errno));
		die(KCFM_RT_EXIT_SETUP, msg);
	}
	if (st.st_size < (off_t)ARENA_HEADER_SIZE) {
		snprintf(msg, sizeof msg, KCFM_RT_ENV_FD "=%ld: %lld bytes, too small for an arena", fd, (long long)st.st_size);
		die(KCFM_RT_EXIT_SETUP, msg);
	}
	size_t size = (size_t)st.st_size;
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	if (m == MAP_FAILED) {
		snprintf(msg, sizeof msg, KCFM_RT_ENV_FD "=%ld: mmap: %s", fd, strerror(errno));
		die(KCFM_RT_EXIT_SETUP, msg);
	}
	struct arena_header *h = m;
	uint64_t recs = h->recs_per_slot;
	if (memcmp(h->magic, ARENA_MAGIC, 8) != 0 || h->version != ARENA_VERSION ||
	    h->header_size != ARENA_HEADER_SIZE || h->slots < 1 || h->slots > MAX_SLOTS || recs < MIN_RECS ||
	    recs > MAX_RECS || (recs & (recs - 1)) != 0 || h->slot_stride != SLOT_HEADER_SIZE + recs * RECORD_SIZE ||
	    h->total_size != ARENA_HEADER_SIZE + (uint64_t)h->slots * h->slot_stride || h->total_size != size ||
	    h->flags != FLAG_BLOCK) {
		snprintf(msg, sizeof msg, KCFM_RT_ENV_FD "=%ld is not a ring arena of version %u", fd, ARENA_VERSION);
		die(KCFM_RT_EXIT_SETUP, msg);
	}
	long stall_ms = 5000;
	const char *se = getenv(KCFM_RT_ENV_STALL_MS);
	if (se != NULL && *se && (!parse_long(se, &stall_ms) || stall_ms > 86400000L)) {
		snprintf(msg, sizeof msg, KCFM_RT_ENV_STALL_MS "=%.40s is not a number of milliseconds", se);
		die(KCFM_RT_EXIT_SETUP, msg);
	}

	G.base = m;
	G.size = size;
	G.hdr = h;
	G.nslots = h->slots;
	G.recs = recs;
	G.mask = recs - 1;
	G.stride = h->slot_stride;
	G.stall_ns = (int64_t)stall_ms * 1000000;

	const uint8_t *rnd = (const uint8_t *)getauxval(AT_RANDOM);
	uint64_t id = 0;
	if (rnd != NULL)
		memcpy(&id, rnd, sizeof id);
	G.image_id = id | 1; /* never 0 */

	/* Slots this pid left claimed under an earlier image (exec) belong to
	 * threads that no longer exist: mark them exited. */
	uint32_t pid = (uint32_t)getpid();
	for (uint32_t i = 0; i < G.nslots; i++) {
		struct slot_header *s = (struct slot_header *)(G.base + ARENA_HEADER_SIZE + i * G.stride);
		uint32_t want = SLOT_CLAIMED;
		if (__atomic_load_n(&s->pid, __ATOMIC_RELAXED) == pid &&
		    __atomic_load_n(&s->image_id, __ATOMIC_RELAXED) != G.image_id)
			__atomic_compare_exchange_n(&s->state, &want, SLOT_EXITED, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	}

	if (pthread_key_create(&G.key, on_thread_exit) != 0)
		die(KCFM_RT_EXIT_SETUP, "pthread_key_create failed");
	pthread_atfork(NULL, NULL, atfork_child);

	/* A page that reads as zero in a child forked without the atfork
	 * handlers (raw clone, _Fork): the hot path notices and resets. */
	void *pg = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pg != MAP_FAILED) {
#ifdef MADV_WIPEONFORK
		madvise(pg, 4096, MADV_WIPEONFORK);
#endif
		*(volatile uint32_t *)pg = LIVE_MARK;
		__atomic_store_n(&g_live, (volatile uint32_t *)pg, __ATOMIC_RELEASE);
	} else {
		die(KCFM_RT_EXIT_SETUP, "mmap of the fork-detection page failed");
	}
	__atomic_store_n(&G.mode, MODE_ATTACHED, __ATOMIC_RELEASE);
}

/* Returns 1 when attached. Runs once; other threads wait for it. */
NI static int attach(void)
{
	int m = __atomic_load_n(&G.mode, __ATOMIC_ACQUIRE);
	if (m == MODE_ATTACHED)
		return 1;
	if (m == MODE_DETACHED)
		return 0;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int expect = MODE_UNINIT;
	if (__atomic_compare_exchange_n(&G.mode, &expect, MODE_INITIALIZING, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		do_attach();
	else
		while (__atomic_load_n(&G.mode, __ATOMIC_ACQUIRE) == MODE_INITIALIZING)
			sched_yield();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return __atomic_load_n(&G.mode, __ATOMIC_ACQUIRE) == MODE_ATTACHED;
}

__attribute__((constructor(101))) NI static void kcfm_rt_init(void) { attach(); }

/* ---- slots ---- */

NI static struct slot_header *slot_at(uint32_t i)
{
	return (struct slot_header *)(G.base + ARENA_HEADER_SIZE + (uint64_t)i * G.stride);
}

NI __attribute__((noinline, cold)) static int claim_slot(struct tls *t)
{
	/* Another thread may still be attaching (it publishes g_live before
	 * the mode): wait for it. */
	while (__atomic_load_n(&G.mode, __ATOMIC_ACQUIRE) == MODE_INITIALIZING)
		sched_yield();
	if (__atomic_load_n(&G.mode, __ATOMIC_ACQUIRE) != MODE_ATTACHED)
		return 0;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (t->recs != NULL) { /* a signal handler claimed it meanwhile */
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return 1;
	}
	int32_t pid = (int32_t)getpid(), tid = (int32_t)syscall(SYS_gettid);
	uint32_t origin = ORIGIN_THREAD, ppid = 0, ptid = 0;
	if (t->fork_pending) {
		origin = ORIGIN_FORK;
		ppid = (uint32_t)t->fork_ppid;
		ptid = (uint32_t)t->fork_ptid;
	} else if (__atomic_exchange_n(&G.started, 1, __ATOMIC_ACQ_REL) == 0) {
		origin = ORIGIN_START;
	}
	struct slot_header *s = NULL;
	uint32_t idx = 0;
	struct backoff b;
	backoff_reset(&b);
	for (int counted = 0;;) {
		for (uint32_t k = 0; k < G.nslots; k++) {
			idx = ((uint32_t)tid + k) % G.nslots;
			struct slot_header *c = slot_at(idx);
			uint32_t want = SLOT_FREE;
			if (__atomic_load_n(&c->state, __ATOMIC_RELAXED) == SLOT_FREE &&
			    __atomic_compare_exchange_n(&c->state, &want, SLOT_CLAIMING, 0, __ATOMIC_ACQ_REL,
							__ATOMIC_RELAXED)) {
				s = c;
				break;
			}
		}
		if (s != NULL)
			break;
		if (!counted) {
			__atomic_fetch_add(&G.hdr->slot_waiters, 1, __ATOMIC_RELAXED);
			counted = 1;
		}
		if (backoff_wait(&b))
			die(KCFM_RT_EXIT_STALL, "no free ring slot: the monitor recycled none within " KCFM_RT_ENV_STALL_MS);
	}
	__atomic_store_n(&s->pid, (uint32_t)pid, __ATOMIC_RELAXED);
	__atomic_store_n(&s->tid, (uint32_t)tid, __ATOMIC_RELAXED);
	__atomic_store_n(&s->origin, origin, __ATOMIC_RELAXED);
	__atomic_store_n(&s->parent_pid, ppid, __ATOMIC_RELAXED);
	__atomic_store_n(&s->parent_tid, ptid, __ATOMIC_RELAXED);
	__atomic_store_n(&s->image_id, G.image_id, __ATOMIC_RELAXED);
	__atomic_store_n(&s->waiting, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->claim_seq, __atomic_fetch_add(&G.hdr->claim_counter, 1, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
#ifdef MADV_POPULATE_WRITE
	/* Fault the ring in now rather than one page per 256 events on the
	 * hot path (Linux 5.14+; harmless to fail). */
	madvise(s, G.stride, MADV_POPULATE_WRITE);
#endif
	/* The reader left head == its tail when it recycled the slot. */
	uint64_t head = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE);
	t->res = head;
	t->tail_cache = __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE);
	t->depth = 0;
	t->pid = pid;
	t->tid = tid;
	t->slot_index = (int32_t)idx;
	t->mask = G.mask;
	t->cap = G.recs;
	t->slot = s;
	t->fork_pending = 0;
	__atomic_store_n(&s->state, SLOT_CLAIMED, __ATOMIC_RELEASE);
	pthread_setspecific(G.key, (void *)1); /* runs on_thread_exit at pthread_exit */
	sigfence();
	t->recs = (struct record *)((uint8_t *)s + SLOT_HEADER_SIZE);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 1;
}

/* ---- producing ---- */

NI static inline __attribute__((always_inline)) void publish(struct tls *t)
{
	uint64_t v;
	do {
		v = __atomic_load_n(&t->res, __ATOMIC_RELAXED);
		__atomic_store_n(&t->slot->head, v, __ATOMIC_RELEASE);
		sigfence();
	} while (UNLIKELY(__atomic_load_n(&t->res, __ATOMIC_RELAXED) != v));
}

/* Fill the reservations of the interrupted hooks at levels [0, d) that are
 * still unwritten with LOST records and publish everything up to `upto`.
 * Used when those hooks cannot complete: abandoned by a siglongjmp out of a
 * handler, or (upto != res) a handler waiting for space that only the
 * interrupted hook's publication could free. A hook whose reservation was
 * filled here sees pos[level] cleared and does not write its record. */
NI __attribute__((noinline, cold)) static void recover(struct tls *t, long d, uint64_t upto)
{
	uint64_t head = __atomic_load_n(&t->slot->head, __ATOMIC_RELAXED);
	for (long l = 0; l < d && l < MAX_LEVELS; l++) {
		uint64_t p = t->pos[l];
		if (p != 0 && p - 1 - head < t->cap) {
			t->recs[(p - 1) & t->mask].w0 = REC_LOST;
			t->recs[(p - 1) & t->mask].w1 = 0;
		}
		t->pos[l] = 0;
	}
	sigfence();
	if (upto - head <= t->cap) /* never backwards, never more than a ring */
		__atomic_store_n(&t->slot->head, upto, __ATOMIC_RELEASE);
}

NI __attribute__((noinline, cold)) static void wait_space(struct tls *t, uint64_t h, long d)
{
	struct backoff b;
	backoff_reset(&b);
	uint64_t last = t->tail_cache;
	__atomic_store_n(&t->slot->waiting, 1, __ATOMIC_RELAXED);
	for (;;) {
		uint64_t tl = __atomic_load_n(&t->slot->tail, __ATOMIC_ACQUIRE);
		if (h - tl < t->cap) {
			t->tail_cache = tl;
			break;
		}
		if (d > 0 && tl == __atomic_load_n(&t->slot->head, __ATOMIC_RELAXED)) {
			/* A signal handler fills the ring while the hook it
			 * interrupted holds the publication back: only giving up
			 * that hook's record can free space. */
			recover(t, d, h);
		}
		if (tl != last) {
			last = tl;
			backoff_reset(&b);
		}
		if (backoff_wait(&b))
			die(KCFM_RT_EXIT_STALL, "ring full and the monitor consumed nothing within " KCFM_RT_ENV_STALL_MS);
	}
	__atomic_store_n(&t->slot->waiting, 0, __ATOMIC_RELAXED);
}

/* The depth measure of hooks (a signal handler runs below the frames it
 * interrupted): the frame address of the hook itself, which the standard
 * prologue puts at the same distance from its caller in both hooks (the
 * stack pointer inside the hook would move with whatever the compiler
 * spills first, differently in the two hooks). */
#define hook_sp() ((uintptr_t)__builtin_frame_address(0))

/* The general case: first event of a thread, hooks nested by signal
 * handlers, hooks abandoned by siglongjmp. */
NI __attribute__((noinline)) static void emit_slow(uint64_t w0, uint64_t w1, uintptr_t sp)
{
	struct tls *t = &T;
	if (UNLIKELY(t->recs == NULL) && !claim_slot(t))
		return;
	uintptr_t saved_sp = t->outer_sp;
	long d = t->depth;
	if (LIKELY(d == 0))
		t->outer_sp = sp; /* before depth: a handler in between sees depth 0 and restores it */
	sigfence();
	t->depth = d + 1;
	sigfence();
	if (UNLIKELY(d != 0) && UNLIKELY(sp >= t->outer_sp)) {
		/* Hooks are in progress but we are not deeper on the stack than
		 * the outermost one, as a signal handler interrupting it would
		 * be: they were abandoned by a siglongjmp out of a handler. */
		recover(t, d, __atomic_load_n(&t->res, __ATOMIC_RELAXED));
		d = 0;
		saved_sp = sp;
		t->outer_sp = sp;
	}
	uint64_t h = sig_fetch_inc(&t->res);
	if (LIKELY(d < MAX_LEVELS))
		t->pos[d] = h + 1;
	sigfence();
	if (UNLIKELY(h - t->tail_cache >= t->cap))
		wait_space(t, h, d);
	if (LIKELY(d >= MAX_LEVELS || t->pos[d] == h + 1)) {
		struct record *r = &t->recs[h & t->mask];
		r->w0 = w0;
		r->w1 = w1;
	}
	sigfence();
	if (LIKELY(d < MAX_LEVELS))
		t->pos[d] = 0;
	sigfence();
	t->depth = d;
	sigfence();
	if (LIKELY(d == 0)) {
		/* Only now: while depth is still raised, outer_sp must stay ours. */
		t->outer_sp = saved_sp;
		publish(t);
	}
}

/* End of a depth-0 event: release the reservation bookkeeping, publish. */
NI static inline __attribute__((always_inline)) void emit_finish(struct tls *t, uintptr_t saved_sp)
{
	sigfence();
	t->pos[0] = 0;
	sigfence();
	t->depth = 0;
	sigfence();
	t->outer_sp = saved_sp;
	publish(t);
}

/* Write the record of the depth-0 reservation h (unless a nested handler
 * gave it up as lost meanwhile), then finish the event. */
NI static inline __attribute__((always_inline)) void emit_complete(struct tls *t, uint64_t h, uint64_t w0,
								      uint64_t w1, uintptr_t saved_sp)
{
	if (LIKELY(t->pos[0] == h + 1)) {
		struct record *r = &t->recs[h & t->mask];
		r->w0 = w0;
		r->w1 = w1;
	}
	emit_finish(t, saved_sp);
}

/* A depth-0 event that found the ring full: wait, then complete it. */
NI __attribute__((noinline, cold)) static void emit_full(struct tls *t, uint64_t h, uint64_t w0, uint64_t w1,
							 uintptr_t saved_sp)
{
	wait_space(t, h, 0);
	emit_complete(t, h, w0, w1, saved_sp);
}

/* One event, the common case: the thread has its slot and no other hook of
 * it is in progress. Same protocol as emit_slow at depth 0, without its
 * branches, so that the compiler keeps it free of calls and register saves
 * (a full ring is the only call, on a cold path). */
NI static inline __attribute__((always_inline)) void emit(uint64_t w0, uint64_t w1)
{
	struct tls *t = &T;
	/* The hook's own stack pointer (emit is inlined into the hooks): all
	 * hooks measure their depth at the same point of their frame. */
	uintptr_t sp = hook_sp();
	if (UNLIKELY(t->recs == NULL) || UNLIKELY(t->depth != 0)) {
		emit_slow(w0, w1, sp);
		return;
	}
	uintptr_t saved_sp = t->outer_sp;
	t->outer_sp = sp; /* before depth: a handler in between sees depth 0 and restores it */
	sigfence();
	t->depth = 1;
	sigfence();
	uint64_t h = sig_fetch_inc(&t->res);
	t->pos[0] = h + 1;
	sigfence();
	if (UNLIKELY(h - t->tail_cache >= t->cap)) {
		emit_full(t, h, w0, w1, saved_sp); /* tail call: nothing live after it */
		return;
	}
	emit_complete(t, h, w0, w1, saved_sp);
}

NI __attribute__((noinline, cold)) static int slow_live(void)
{
	if (__atomic_load_n(&G.mode, __ATOMIC_ACQUIRE) == MODE_ATTACHED) {
		fork_reset(); /* forked without the atfork handler: page wiped */
		return 1;
	}
	return attach();
}

/* An event while the process is not (yet, or no longer known to be)
 * attached: attach, or notice a fork; a tail call from the hooks, so that
 * their fast path saves no registers. */
NI __attribute__((noinline, cold)) static void emit_unattached(uint64_t w0, uint64_t w1)
{
	if (slow_live())
		emit(w0, w1);
}

NI void __cyg_profile_func_enter(void *this_fn, void *call_site)
{
	uint32_t live = *g_live;
	if (UNLIKELY(live != LIVE_MARK)) {
		if (LIKELY(live == DETACHED_MARK))
			return;
		emit_unattached((uint64_t)(uintptr_t)this_fn, (uint64_t)(uintptr_t)call_site);
		return;
	}
	emit((uint64_t)(uintptr_t)this_fn, (uint64_t)(uintptr_t)call_site);
}

NI void __cyg_profile_func_exit(void *this_fn, void *call_site)
{
	uint32_t live = *g_live;
	if (UNLIKELY(live != LIVE_MARK)) {
		if (LIKELY(live == DETACHED_MARK))
			return;
		emit_unattached((uint64_t)(uintptr_t)this_fn | REC_EXIT_BIT, (uint64_t)(uintptr_t)call_site);
		return;
	}
	emit((uint64_t)(uintptr_t)this_fn | REC_EXIT_BIT, (uint64_t)(uintptr_t)call_site);
}

/* ---- public API ---- */

NI int kcfm_rt_attached(void)
{
	return attach();
}

NI int kcfm_rt_slot_index(void)
{
	if (*g_live != LIVE_MARK && !slow_live())
		return -1;
	if (T.recs == NULL && !claim_slot(&T))
		return -1;
	return T.slot_index;
}

NI unsigned kcfm_rt_abi_version(void)
{
	return KCFM_RT_ABI_VERSION;
}
