/* After a batch that moved packets, a loop polls (epoll_wait with no timeout) for a short while
 * before it sleeps: an answer that comes back within the budget (the other half of a
 * request/response exchange, the next packet of a burst) then costs no wake-up. Each empty
 * poll yields the CPU so that a task woken on it (the peer daemon, the application) runs at
 * once rather than after the spin; with 2 vCPUs a spin that does not yield made idle pings
 * slower. Only data starts a spin, so a daemon without traffic sleeps. */
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "engine/busypoll.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void busypoll_init(struct busypoll *bp, bool off)
{
	const char *e = getenv("CULVERT_BUSY_POLL_US");
	unsigned long us = BUSYPOLL_DEFAULT_US;
	char *end;

	if (e && *e) {
		unsigned long v = strtoul(e, &end, 10);
		if (!*end && v <= 100000)
			us = v;
	}
	bp->budget_ns = off ? 0 : (uint64_t)us * 1000;
	bp->until = 0;
}

int busypoll_wait(struct busypoll *bp, int epfd, struct epoll_event *evs, int max)
{
	if (bp->until && now_ns() >= bp->until)
		bp->until = 0;
	int n = epoll_wait(epfd, evs, max, bp->until ? 0 : -1);
	if (n == 0 && bp->until)
		sched_yield();
	return n;
}

void busypoll_kick(struct busypoll *bp)
{
	if (bp->budget_ns)
		bp->until = now_ns() + bp->budget_ns;
}
