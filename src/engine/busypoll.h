/* Polling for a short while after traffic before sleeping in epoll_wait, shared by the
 * encrypted tunnel's workers and simpletun. */
#ifndef CULVERT_BUSYPOLL_H
#define CULVERT_BUSYPOLL_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

enum {
	BUSYPOLL_DEFAULT_US = 50,
	BUSYPOLL_SHARE = 64,		/* spinning earns 1/64 of the time that passes */
	BUSYPOLL_CREDIT_WINDOWS = 4,	/* at most this many full windows saved up */
	BUSYPOLL_MAX_SKIP = 31,		/* after many empty windows, still try one in 32 */
};

struct busypoll {
	uint64_t budget_ns;	/* the longest window; 0: sleep right after each batch */
	uint64_t until;		/* monotonic ns; 0 while not polling */
	uint64_t start;		/* when this window (or this unpolled sleep) began */
	uint64_t credit_ns;	/* spin time earned and not yet spent */
	uint64_t refilled;	/* when credit was last earned */
	uint32_t misses;	/* windows in a row that ended without work */
	uint32_t skip;		/* kicks left to pass over without polling */
	bool sleeping_after_skip;	/* a skipped kick's sleep is being timed */
};

/* BUSYPOLL_DEFAULT_US, or CULVERT_BUSY_POLL_US from the environment (0 to 100000, a knob for
 * benchmarks); off makes it 0, as --no-busy-poll does. */
void busypoll_init(struct busypoll *bp, bool off);
/* epoll_wait that does not block while polling; an empty poll yields the CPU and returns 0,
 * so the caller's loop checks its stop flag as after any wake-up. */
int busypoll_wait(struct busypoll *bp, int epfd, struct epoll_event *evs, int max);
/* After a batch that moved packets: poll for up to the budget before sleeping again. */
void busypoll_kick(struct busypoll *bp);

/* The policy, as pure functions of the clock (exposed for tests). busypoll_kick_at decides
 * whether and how long to poll; busypoll_polled_at records what a poll (n events, or the
 * wake-up after a sleep) found; busypoll_polling_at says whether the next wait may block. */
void busypoll_kick_at(struct busypoll *bp, uint64_t now);
void busypoll_polled_at(struct busypoll *bp, uint64_t now, int n, bool slept);
bool busypoll_polling_at(struct busypoll *bp, uint64_t now);

#endif
