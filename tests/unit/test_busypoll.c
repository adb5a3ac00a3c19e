/* busypoll: the budget from the environment, no blocking while polling, sleeping after it;
 * the adaptive policy against an injected clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "lib/clock.h"
#include "engine/busypoll.h"

static uint64_t budget_for(const char *env, bool off)
{
	struct busypoll bp;

	if (env)
		setenv("CULVERT_BUSY_POLL_US", env, 1);
	else
		unsetenv("CULVERT_BUSY_POLL_US");
	busypoll_init(&bp, off);
	unsetenv("CULVERT_BUSY_POLL_US");
	return bp.budget_ns;
}

static void test_budget(void **state)
{
	assert_int_equal(budget_for(NULL, false), BUSYPOLL_DEFAULT_US * 1000ull);
	assert_int_equal(budget_for(NULL, true), 0);
	assert_int_equal(budget_for("0", false), 0);
	assert_int_equal(budget_for("200", false), 200000);
	assert_int_equal(budget_for("100000", false), 100000000ull);
	assert_int_equal(budget_for("100001", false), BUSYPOLL_DEFAULT_US * 1000ull);  /* out of range */
	assert_int_equal(budget_for("12x", false), BUSYPOLL_DEFAULT_US * 1000ull);
	assert_int_equal(budget_for("200", true), 0);   /* the option wins */
}

static double now_s(void)
{
	return (double)clock_mono_ns() / 1e9;
}

static void test_wait(void **state)
{
	struct busypoll bp;
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	int ep = epoll_create1(0), efd = eventfd(0, EFD_NONBLOCK);
	uint64_t one = 1;

	assert_true(ep >= 0 && efd >= 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
	setenv("CULVERT_BUSY_POLL_US", "20000", 1);
	busypoll_init(&bp, false);
	unsetenv("CULVERT_BUSY_POLL_US");

	/* polling: an empty wait returns rather than blocking (nothing would wake it); the yield
	 * after it took over 15 ms on a loaded 2-core machine, so the bound is loose */
	busypoll_kick(&bp);
	double t = now_s();
	assert_int_equal(busypoll_wait(&bp, ep, out, 4), 0);
	assert_true(now_s() - t < 0.5);
	assert_int_equal(write(efd, &one, 8), 8);
	assert_int_equal(busypoll_wait(&bp, ep, out, 4), 1);

	/* budget spent: the wait blocks until the event (written from a child after 50 ms) */
	assert_int_equal(read(efd, &one, 8), 8);
	usleep(25000);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(50000);
		_exit(write(efd, &one, 8) == 8 ? 0 : 1);
	}
	t = now_s();
	assert_int_equal(busypoll_wait(&bp, ep, out, 4), 1);
	assert_true(now_s() - t > 0.03);
	assert_int_equal(bp.until, 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(efd);
	close(ep);
}

enum { US = 1000, MS = 1000 * US };

static void policy_init(struct busypoll *bp)
{
	unsetenv("CULVERT_BUSY_POLL_US");
	busypoll_init(bp, false);
}

/* One window from a kick at t: found after `after` ns (0: nothing found), returns the spin. */
static uint64_t window(struct busypoll *bp, uint64_t t, uint64_t after)
{
	busypoll_kick_at(bp, t);
	if (!bp->until)
		return 0;
	uint64_t len = bp->until - t;
	if (after && after < len) {
		assert_true(busypoll_polling_at(bp, t + after));
		busypoll_polled_at(bp, t + after, 1, false);
		assert_int_equal(bp->until, 0);
		return after;
	}
	assert_true(busypoll_polling_at(bp, t + len / 2));
	assert_false(busypoll_polling_at(bp, t + len));
	return len;
}

/* Pings 50 ms apart: the reply is found 30 us into the window after the request, the window
 * after the reply ends empty; every kick still gets the whole budget, so idle RTT is kept. */
static void test_sparse_keeps_full_windows(void **state)
{
	struct busypoll bp;
	uint64_t t = 1 * MS;

	policy_init(&bp);
	for (int i = 0; i < 200; i++, t += 50 * MS) {
		busypoll_kick_at(&bp, t);
		assert_int_equal(bp.until, t + BUSYPOLL_DEFAULT_US * US);
		busypoll_polled_at(&bp, t + 30 * US, 1, false);
		busypoll_kick_at(&bp, t + 40 * US);
		assert_int_equal(bp.until, t + 40 * US + BUSYPOLL_DEFAULT_US * US);
		assert_false(busypoll_polling_at(&bp, t + 40 * US + BUSYPOLL_DEFAULT_US * US));
		assert_int_equal(bp.skip, 0);
	}
}

/* Bursts 400 us apart whose windows end empty: the loop backs off, then probes one kick in
 * BUSYPOLL_MAX_SKIP + 1; over a second it spins well under the earned share. */
static void test_empty_windows_back_off(void **state)
{
	struct busypoll bp;
	uint64_t t = 1 * MS, spun = 0;
	int polled = 0, kicks = 0;

	policy_init(&bp);
	for (; t < 1001 * MS; t += 400 * US, kicks++) {
		uint64_t s = window(&bp, t, 0);
		spun += s;
		polled += s > 0;
		if (!s)	/* skipped: the next burst wakes it after 400 us, beyond the budget */
			busypoll_polled_at(&bp, t + 400 * US - 1, 1, true);
	}
	assert_true(bp.skip > 0 || bp.misses > 1);
	assert_true(polled < kicks / 8);
	assert_true(spun < 1000 * MS / BUSYPOLL_SHARE);
	assert_true(polled > kicks / 64);	/* it keeps probing */
}

/* A skipped kick whose sleep ends within the budget would have paid: polling resumes. */
static void test_short_sleep_resumes(void **state)
{
	struct busypoll bp;
	uint64_t t = 1 * MS;

	policy_init(&bp);
	while (!bp.skip) {
		window(&bp, t, 0);
		t += 1 * MS;
	}
	busypoll_kick_at(&bp, t);
	assert_int_equal(bp.until, 0);
	busypoll_polled_at(&bp, t + 10 * US, 1, true);
	assert_int_equal(bp.skip, 0);
	assert_int_equal(bp.misses, 0);
	busypoll_kick_at(&bp, t + 20 * US);
	assert_true(bp.until != 0);
}

/* Windows that always find work after 45 us, back to back: the credit caps spinning at the
 * earned share of the time (plus what was saved up), so a loaded loop mostly sleeps. */
static void test_credit_caps_spin(void **state)
{
	struct busypoll bp;
	uint64_t t = 1 * MS, spun = 0;

	policy_init(&bp);
	while (t < 1001 * MS) {
		uint64_t s = window(&bp, t, 45 * US);
		spun += s;
		t += s ? s : 45 * US;
		if (!s)
			busypoll_polled_at(&bp, t, 1, true);
	}
	assert_true(spun <= 1000 * MS / BUSYPOLL_SHARE + BUSYPOLL_CREDIT_WINDOWS * BUSYPOLL_DEFAULT_US * US);
	assert_true(spun >= 1000 * MS / BUSYPOLL_SHARE / 2);
	/* after a pause the credit is back: a full window again */
	t += 100 * MS;
	busypoll_kick_at(&bp, t);
	assert_int_equal(bp.until, t + BUSYPOLL_DEFAULT_US * US);
}

/* Off (budget 0): never polls, whatever it is told. */
static void test_off_never_polls(void **state)
{
	struct busypoll bp;

	busypoll_init(&bp, true);
	busypoll_kick_at(&bp, 5 * MS);
	assert_int_equal(bp.until, 0);
	assert_false(busypoll_polling_at(&bp, 5 * MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_sparse_keeps_full_windows),
		cmocka_unit_test(test_empty_windows_back_off),
		cmocka_unit_test(test_short_sleep_resumes),
		cmocka_unit_test(test_credit_caps_spin),
		cmocka_unit_test(test_off_never_polls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
