/* After a batch that moved packets, a loop polls (epoll_wait with no timeout) for a short while
 * before it sleeps: an answer that comes back within the budget (the other half of a
 * request/response exchange, the next packet of a burst) then costs no wake-up. Each empty
 * poll yields the CPU so that a task woken on it (the peer daemon, the application) runs at
 * once rather than after the spin; with 2 vCPUs a spin that does not yield made idle pings
 * slower. Only data starts a spin, so a daemon without traffic sleeps.
 *
 * What a spin buys is latency for sparse traffic (a ping, a keystroke, a request); under
 * steady moderate load (a stream capped at 1 Gbit/s) the windows ended empty between the
 * sender's bursts and a quarter of the daemons' CPU went to them. Two bounds keep the first
 * and drop the second:
 *  - spin time is earned: 1/BUSYPOLL_SHARE of the wall time that passes, saved up to
 *    BUSYPOLL_CREDIT_WINDOWS windows, so sparse traffic always has full windows while a
 *    busy loop can spin at most ~1.5% of the time;
 *  - windows that end empty in a row make the loop skip the next 1, 3, 7 ... kicks (up to
 *    BUSYPOLL_MAX_SKIP); a window that finds work, or a skipped kick whose sleep ended within
 *    the budget (the spin would have paid), starts polling on every kick again.
 * A request/response exchange alternates a window that finds the answer and one that ends
 * empty, so it never backs off. */
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "lib/clock.h"
#include "engine/busypoll.h"

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
	*bp = (struct busypoll){ .budget_ns = off ? 0 : (uint64_t)us * 1000 };
	bp->credit_ns = bp->budget_ns * BUSYPOLL_CREDIT_WINDOWS;
}

static void earn(struct busypoll *bp, uint64_t now)
{
	uint64_t cap = bp->budget_ns * BUSYPOLL_CREDIT_WINDOWS;

	if (now > bp->refilled) {
		/* the first call after init starts the clock with a full credit */
		if (bp->refilled)
			bp->credit_ns += (now - bp->refilled) / BUSYPOLL_SHARE;
		bp->refilled = now;
	}
	if (bp->credit_ns > cap)
		bp->credit_ns = cap;
}

/* A window ended at now; found says whether it found work. */
static void window_end(struct busypoll *bp, uint64_t now, bool found)
{
	uint64_t spent = now > bp->start ? now - bp->start : 0;

	bp->credit_ns = spent < bp->credit_ns ? bp->credit_ns - spent : 0;
	bp->until = 0;
	if (found) {
		bp->misses = 0;
		bp->skip = 0;
		return;
	}
	if (bp->misses < 8)
		bp->misses++;
	if (bp->misses > 1) {
		uint32_t s = (1u << (bp->misses - 1)) - 1;
		bp->skip = s < BUSYPOLL_MAX_SKIP ? s : BUSYPOLL_MAX_SKIP;
	}
}

void busypoll_kick_at(struct busypoll *bp, uint64_t now)
{
	bp->sleeping_after_skip = false;
	if (!bp->budget_ns)
		return;
	earn(bp, now);
	bp->start = now;
	if (bp->skip) {
		bp->skip--;
		bp->until = 0;
		bp->sleeping_after_skip = true;
		return;
	}
	/* a window shorter than a tenth of the budget buys too little to be worth starting */
	uint64_t w = bp->credit_ns < bp->budget_ns ? bp->credit_ns : bp->budget_ns;
	bp->until = w >= bp->budget_ns / 10 && w ? now + w : 0;
}

bool busypoll_polling_at(struct busypoll *bp, uint64_t now)
{
	if (bp->until && now >= bp->until)
		window_end(bp, now, false);
	return bp->until != 0;
}

void busypoll_polled_at(struct busypoll *bp, uint64_t now, int n, bool slept)
{
	if (n <= 0)
		return;
	if (!slept) {
		if (bp->until)
			window_end(bp, now, true);
		return;
	}
	/* woken from a sleep: had the skipped window been polled, would it have found this? */
	if (bp->sleeping_after_skip && now - bp->start < bp->budget_ns) {
		bp->misses = 0;
		bp->skip = 0;
	}
	bp->sleeping_after_skip = false;
}

int busypoll_wait(struct busypoll *bp, int epfd, struct epoll_event *evs, int max)
{
	bool polling = bp->until && busypoll_polling_at(bp, clock_mono_ns());
	int n = epoll_wait(epfd, evs, max, polling ? 0 : -1);

	if (n == 0 && polling)
		sched_yield();
	else if (n > 0 && (polling || bp->sleeping_after_skip))
		busypoll_polled_at(bp, clock_mono_ns(), n, !polling);
	return n;
}

void busypoll_kick(struct busypoll *bp)
{
	if (bp->budget_ns)
		busypoll_kick_at(bp, clock_mono_ns());
}
