/* Polling for a short while after traffic before sleeping in epoll_wait, shared by the
 * encrypted tunnel's workers and simpletun. */
#ifndef CULVERT_BUSYPOLL_H
#define CULVERT_BUSYPOLL_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

enum { BUSYPOLL_DEFAULT_US = 50 };

struct busypoll {
	uint64_t budget_ns;	/* 0: sleep right after each batch */
	uint64_t until;		/* monotonic ns; 0 while not polling */
};

/* BUSYPOLL_DEFAULT_US, or CULVERT_BUSY_POLL_US from the environment (0 to 100000, a knob for
 * benchmarks); off makes it 0, as --no-busy-poll does. */
void busypoll_init(struct busypoll *bp, bool off);
/* epoll_wait that does not block while polling; an empty poll yields the CPU and returns 0,
 * so the caller's loop checks its stop flag as after any wake-up. */
int busypoll_wait(struct busypoll *bp, int epfd, struct epoll_event *evs, int max);
/* After a batch that moved packets: poll for the budget before sleeping again. */
void busypoll_kick(struct busypoll *bp);

#endif
