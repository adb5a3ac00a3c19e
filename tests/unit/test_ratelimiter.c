/* The handshake rate limiter with an injected clock: the burst, the refill rate, how sources
 * are keyed (IPv4, IPv6 /64, v4-mapped), a full table, collection of idle sources, and many
 * threads asking at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>

#include "wg/device.h"
#include "wg/messages.h"
#include "wg/ratelimiter.h"

#define SEC WG_NSEC_PER_SEC
#define T0 (1000 * SEC)
#define COST (SEC / RATELIMIT_PER_SEC)

static struct ratelimiter rl;

static int setup(void **state)
{
	return ratelimiter_init(&rl);
}

static int teardown(void **state)
{
	ratelimiter_uninit(&rl);
	return 0;
}

static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

static bool allow(const char *ip, uint16_t port, uint64_t now)
{
	struct sockaddr_storage ss = addr(ip, port);

	return ratelimiter_allow(&rl, (struct sockaddr *)&ss, now);
}

/* How many of n messages sent at one instant get through. */
static int burst(const char *ip, uint64_t now, int n)
{
	int ok = 0;

	for (int i = 0; i < n; i++)
		ok += allow(ip, (uint16_t)(1000 + i), now);
	return ok;
}

static void test_burst_then_refuse(void **state)
{
	for (int i = 0; i < RATELIMIT_BURST; i++)
		assert_true(allow("198.18.0.1", 51820, T0));
	for (int i = 0; i < 100; i++)
		assert_false(allow("198.18.0.1", 51820, T0));
	/* the port is not part of the source */
	assert_false(allow("198.18.0.1", 4444, T0));
	/* another address has its own bucket */
	assert_int_equal(burst("198.18.0.2", T0, 20), RATELIMIT_BURST);
	assert_int_equal(ratelimiter_count(&rl), 2);
}

/* Asking spends nothing: a source asked about a thousand times still has its whole burst,
 * and the answer follows what allow would say, refill included. */
static void test_has_token(void **state)
{
	struct sockaddr_storage ss = addr("198.18.0.1", 51820);
	const struct sockaddr *sa = (const struct sockaddr *)&ss;

	for (int i = 0; i < 1000; i++)
		assert_true(ratelimiter_has_token(&rl, sa, T0));
	assert_int_equal(ratelimiter_count(&rl), 0);
	assert_int_equal(burst("198.18.0.1", T0, 20), RATELIMIT_BURST);
	assert_false(ratelimiter_has_token(&rl, sa, T0));
	assert_false(ratelimiter_has_token(&rl, sa, T0 + WG_NSEC_PER_SEC / RATELIMIT_PER_SEC - 1));
	assert_true(ratelimiter_has_token(&rl, sa, T0 + WG_NSEC_PER_SEC / RATELIMIT_PER_SEC));
	assert_true(allow("198.18.0.1", 1, T0 + WG_NSEC_PER_SEC / RATELIMIT_PER_SEC));
	assert_false(ratelimiter_has_token(&rl, sa, T0 + WG_NSEC_PER_SEC / RATELIMIT_PER_SEC));
}

static void test_refill_rate(void **state)
{
	uint64_t t = T0;
	int ok = 0;

	assert_int_equal(burst("198.18.0.1", t, 10), RATELIMIT_BURST);
	/* just short of one token's worth of time: still nothing */
	assert_false(allow("198.18.0.1", 1, t + COST - 1));
	assert_true(allow("198.18.0.1", 1, t + COST));
	assert_false(allow("198.18.0.1", 1, t + COST));
	/* offered 1000/s for 10 s, steady state: 20/s, give or take the burst */
	t += COST;
	for (int i = 1; i <= 10000; i++)
		ok += allow("198.18.0.1", 1, t + (uint64_t)i * SEC / 1000);
	assert_true(ok >= 10 * RATELIMIT_PER_SEC - 1 && ok <= 10 * RATELIMIT_PER_SEC + 1);
	/* idle for long: a burst again, never more (credit is capped) */
	t += 10 * SEC + 600 * SEC / 1000;
	assert_int_equal(burst("198.18.0.1", t, 20), RATELIMIT_BURST);
}

static void test_clock_going_back(void **state)
{
	/* callers on several threads read the clock before taking the lock */
	assert_int_equal(burst("198.18.0.1", T0, 10), RATELIMIT_BURST);
	assert_false(allow("198.18.0.1", 1, T0 - SEC));
	assert_false(allow("198.18.0.1", 1, T0 + COST - 1));
	assert_true(allow("198.18.0.1", 1, T0 + COST));
}

static void test_v6_prefix(void **state)
{
	/* one /64: addresses differing only in the interface identifier share a bucket */
	assert_int_equal(burst("2001:db8:1:2::1", T0, 3), 3);
	assert_int_equal(burst("2001:db8:1:2:ffff:ffff:ffff:ffff", T0, 10), RATELIMIT_BURST - 3);
	assert_false(allow("2001:db8:1:2:abcd::9", 1, T0));
	/* the next /64 does not */
	assert_int_equal(burst("2001:db8:1:3::1", T0, 10), RATELIMIT_BURST);
	assert_int_equal(burst("2001:db8:2:2::1", T0, 10), RATELIMIT_BURST);
	assert_int_equal(ratelimiter_count(&rl), 3);
}

static void test_v4_mapped(void **state)
{
	/* a v4-mapped source is its IPv4 address, not the /64 ::ffff:0:0 all IPv4 shares */
	assert_int_equal(burst("::ffff:198.18.0.1", T0, 3), 3);
	assert_int_equal(burst("198.18.0.1", T0, 10), RATELIMIT_BURST - 3);
	assert_int_equal(burst("::ffff:198.18.0.2", T0, 10), RATELIMIT_BURST);
	assert_int_equal(burst("::ffff:198.18.1.1", T0, 10), RATELIMIT_BURST);
	/* and an IPv6 prefix that happens to hold the same bits is another source */
	assert_int_equal(burst("c612:1::", T0, 10), RATELIMIT_BURST);
	assert_int_equal(ratelimiter_count(&rl), 4);
}

/* The key the buckets use, as the workers' one-millisecond "spent source" cache compares it:
 * a flood rotating the low bits of its /64 or its port is one source. */
static void test_same_source(void **state)
{
	struct { const char *a, *b; bool same; } c[] = {
		{ "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true },
		{ "2001:db8:1:2::1", "2001:db8:1:3::1", false },
		{ "198.18.0.1", "::ffff:198.18.0.1", true },
		{ "198.18.0.1", "198.18.0.2", false },
		{ "::ffff:198.18.0.1", "::ffff:198.18.0.2", false },
		{ "c612:1::", "198.18.0.1", false },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct sockaddr_storage a = addr(c[i].a, 1000), b = addr(c[i].b, (uint16_t)(2000 + i));

		assert_int_equal(endpoint_same_source((struct sockaddr *)&a, (struct sockaddr *)&b), c[i].same);
		assert_int_equal(endpoint_same_source((struct sockaddr *)&b, (struct sockaddr *)&a), c[i].same);
	}
	struct sockaddr un = { .sa_family = AF_UNIX };
	struct sockaddr_storage a = addr("198.18.0.1", 1);
	assert_false(endpoint_same_source(&un, &un));
	assert_false(endpoint_same_source((struct sockaddr *)&a, NULL));
}

static void test_other_family(void **state)
{
	struct sockaddr sa = { .sa_family = AF_UNIX };

	assert_false(ratelimiter_allow(&rl, &sa, T0));
	assert_false(ratelimiter_allow(&rl, NULL, T0));
	assert_int_equal(ratelimiter_count(&rl), 0);
}

static void src_n(struct sockaddr_in *s, uint32_t n)
{
	memset(s, 0, sizeof(*s));
	s->sin_family = AF_INET;
	s->sin_addr.s_addr = htonl(0xc6120000u + n);	/* 198.18.0.0/15 */
}

static void test_table_full(void **state)
{
	struct sockaddr_in s;
	const uint32_t n = 3 * RATELIMIT_MAX_ENTRIES;

	/* flood with three times as many sources as entries within one instant */
	for (uint32_t i = 0; i < n; i++) {
		src_n(&s, i);
		assert_true(ratelimiter_allow(&rl, (struct sockaddr *)&s, T0 + i));
		assert_true(ratelimiter_count(&rl) <= RATELIMIT_MAX_ENTRIES);
	}
	assert_int_equal(ratelimiter_count(&rl), RATELIMIT_MAX_ENTRIES);
	assert_int_equal(rl.evicted, n - RATELIMIT_MAX_ENTRIES);
	/* the most recent sources are still limited */
	src_n(&s, n - 1);
	for (int i = 1; i < RATELIMIT_BURST; i++)
		assert_true(ratelimiter_allow(&rl, (struct sockaddr *)&s, T0 + n));
	assert_false(ratelimiter_allow(&rl, (struct sockaddr *)&s, T0 + n));
	/* a new source (a real peer) still gets its burst */
	assert_int_equal(burst("2001:db8::1", T0 + n, 10), RATELIMIT_BURST);
	assert_int_equal(ratelimiter_count(&rl), RATELIMIT_MAX_ENTRIES);
	/* and a source that stays busy is not the one pushed out */
	for (uint32_t i = 0; i < RATELIMIT_MAX_ENTRIES; i++) {
		src_n(&s, n + i);
		ratelimiter_allow(&rl, (struct sockaddr *)&s, T0 + n + i);
		if (i % 100 == 0)
			allow("2001:db8::1", 1, T0 + n + i);
	}
	assert_false(allow("2001:db8::1", 1, T0 + 2 * n));
	/* once idle, everything is collected */
	ratelimiter_gc(&rl, T0 + 2 * n + SEC + 1);
	assert_int_equal(ratelimiter_count(&rl), 0);
	assert_int_equal(burst("198.18.0.1", T0 + 3 * SEC, 10), RATELIMIT_BURST);
}

static void test_gc(void **state)
{
	allow("198.18.0.1", 1, T0);
	allow("198.18.0.2", 1, T0 + SEC / 2);
	allow("2001:db8::1", 1, T0 + SEC / 2);
	assert_int_equal(ratelimiter_count(&rl), 3);
	ratelimiter_gc(&rl, T0 + SEC);
	assert_int_equal(ratelimiter_count(&rl), 3);
	ratelimiter_gc(&rl, T0 + SEC + 1);
	assert_int_equal(ratelimiter_count(&rl), 2);
	/* a source seen again is moved to the back and survives */
	allow("198.18.0.2", 1, T0 + SEC + 2);
	ratelimiter_gc(&rl, T0 + SEC / 2 + SEC + 1);
	assert_int_equal(ratelimiter_count(&rl), 1);
	/* collection also happens lazily, on the next call */
	assert_true(allow("198.18.0.3", 1, T0 + 10 * SEC));
	assert_int_equal(ratelimiter_count(&rl), 1);
	/* the table is all there again */
	ratelimiter_gc(&rl, T0 + 20 * SEC);
	assert_int_equal(ratelimiter_count(&rl), 0);
	for (uint32_t i = 0; i < RATELIMIT_MAX_ENTRIES; i++) {
		struct sockaddr_in s;
		src_n(&s, i);
		ratelimiter_allow(&rl, (struct sockaddr *)&s, T0 + 21 * SEC);
	}
	assert_int_equal(ratelimiter_count(&rl), RATELIMIT_MAX_ENTRIES);
	assert_int_equal(rl.evicted, 0);
}

enum { THREADS = 8, PER_THREAD = 20000, SHARED_SOURCES = 16 };

struct worker {
	int id;
	unsigned int allowed_shared, allowed_own;
};

static uint64_t shared_clock;

/* Every thread hits SHARED_SOURCES sources all threads share and one of its own, with the
 * clock advancing under it; the totals say whether a bucket was ever double-spent. */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct sockaddr_in6 s6;

	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:100::", &s6.sin6_addr);
	for (int i = 0; i < PER_THREAD; i++) {
		uint64_t now = __atomic_add_fetch(&shared_clock, 1000, __ATOMIC_RELAXED);
		struct sockaddr_in s;
		src_n(&s, (uint32_t)(i % SHARED_SOURCES));
		w->allowed_shared += ratelimiter_allow(&rl, (struct sockaddr *)&s, now);
		s6.sin6_addr.s6_addr[7] = (uint8_t)w->id;
		s6.sin6_addr.s6_addr[15] = (uint8_t)i;	/* same /64 */
		w->allowed_own += ratelimiter_allow(&rl, (struct sockaddr *)&s6, now);
		if (i % 1000 == 0)
			ratelimiter_gc(&rl, now);
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t th[THREADS];
	struct worker w[THREADS];
	unsigned int shared = 0;
	uint64_t span;

	shared_clock = T0;
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	span = shared_clock - T0;
	/* each source may pass its burst plus what the elapsed clock refilled, no more */
	for (int i = 0; i < THREADS; i++) {
		shared += w[i].allowed_shared;
		assert_true(w[i].allowed_own >= RATELIMIT_BURST);
		assert_true(w[i].allowed_own <= RATELIMIT_BURST + span / COST + 1);
	}
	assert_true(shared >= SHARED_SOURCES * RATELIMIT_BURST);
	assert_true(shared <= SHARED_SOURCES * (RATELIMIT_BURST + span / COST + 1));
	assert_int_equal(ratelimiter_count(&rl), SHARED_SOURCES + THREADS);
}

static void test_device_owns_one(void **state)
{
	struct wg_device dev;
	struct sockaddr_storage ss = addr("198.18.0.9", 1);

	assert_int_equal(wg_device_init(&dev, "wgtest", NULL), 0);
	assert_int_equal(burst("198.18.0.9", T0, 1), 1);	/* the fixture's, not the device's */
	for (int i = 0; i < RATELIMIT_BURST; i++)
		assert_true(ratelimiter_allow(&dev.ratelimiter, (struct sockaddr *)&ss, T0));
	assert_false(ratelimiter_allow(&dev.ratelimiter, (struct sockaddr *)&ss, T0));
	assert_string_equal(wg_drop_name(WG_DROP_RATELIMITED), "ratelimited");
	wg_device_uninit(&dev);
	/* uninit twice and on a zeroed limiter is harmless */
	ratelimiter_uninit(&dev.ratelimiter);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_burst_then_refuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_has_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refill_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_going_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v6_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v4_mapped, setup, teardown),
		cmocka_unit_test(test_same_source),
		cmocka_unit_test_setup_teardown(test_other_family, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_owns_one, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
