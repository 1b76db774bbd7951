/*
 * kcfm_rt.h - public interface of libkcfm_rt, the KCFM function-event runtime.
 *
 * A program built for monitoring is compiled with -finstrument-functions and
 * linked with libkcfm_rt (the kcfm CMake functions do both). The runtime
 * implements __cyg_profile_func_enter/__cyg_profile_func_exit: every call and
 * return of an instrumented function is written to a per-thread ring in a
 * shared-memory arena that the monitor hands over in the environment variable
 * KCFM_RING_FD. Without that variable the hooks return at once and the program
 * runs normally.
 *
 * Nothing in this header is needed for monitoring to work; it lets a program
 * (or a test) ask about the runtime and exclude its own functions.
 *
 * Format of the arena: "Format: ring arena v1" in docs/runtime-mechanisms.md.
 */
#ifndef KCFM_RT_H
#define KCFM_RT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the runtime's interface and arena format (ring arena v1). */
#define KCFM_RT_ABI_VERSION 1

/* Environment variables read by the runtime. */
#define KCFM_RT_ENV_FD "KCFM_RING_FD"            /* decimal fd of the arena memfd */
#define KCFM_RT_ENV_STALL_MS "KCFM_RING_STALL_MS" /* give up after this many ms without consumer progress; 0 = never; default 5000 */

/* Exit statuses of a program whose runtime gives up (fail closed). */
#define KCFM_RT_EXIT_SETUP 123 /* KCFM_RING_FD is set but not a usable arena */
#define KCFM_RT_EXIT_STALL 124 /* the monitor consumed nothing for KCFM_RING_STALL_MS */

/* Mark a function that must never produce events (IFUNC resolvers, code that
 * runs on threads made by a raw clone() without CLONE_SETTLS, ...). */
#if defined(__GNUC__) || defined(__clang__)
#define KCFM_NO_INSTRUMENT __attribute__((no_instrument_function))
#else
#define KCFM_NO_INSTRUMENT
#endif

/* 1 if events of this process go to a monitor's arena, 0 if not (no
 * KCFM_RING_FD). Attaches on first use. */
int kcfm_rt_attached(void);

/* The arena slot of the calling thread (claiming one if it has none yet), or
 * -1 when detached. Slots are what the monitor's ring.Arena reports. */
int kcfm_rt_slot_index(void);

/* KCFM_RT_ABI_VERSION of the linked runtime. */
unsigned kcfm_rt_abi_version(void);

/* The instrumentation hooks (GCC/Clang call them; declared for reference). */
void __cyg_profile_func_enter(void *this_fn, void *call_site) KCFM_NO_INSTRUMENT;
void __cyg_profile_func_exit(void *this_fn, void *call_site) KCFM_NO_INSTRUMENT;

#ifdef __cplusplus
}
#endif
#endif /* KCFM_RT_H */
