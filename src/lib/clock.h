/* The clocks, in nanoseconds: monotonic for intervals, deadlines and rate limits, the wall
 * clock only for what leaves the process (TAI64N timestamps, times shown to people). */
#ifndef CULVERT_CLOCK_H
#define CULVERT_CLOCK_H
#include <stdint.h>
#include <time.h>

#define CLOCK_NSEC_PER_SEC  1000000000ull
#define CLOCK_NSEC_PER_MSEC 1000000ull
#define CLOCK_NSEC_PER_USEC 1000ull

static inline uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * CLOCK_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* A tick old (1-4 ms), a fraction of the cost: for timestamps taken per packet. */
static inline uint64_t clock_mono_coarse_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC_COARSE);
}

static inline uint64_t clock_mono_ms(void)
{
	return clock_mono_ns() / CLOCK_NSEC_PER_MSEC;
}

static inline uint64_t clock_wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

#endif
