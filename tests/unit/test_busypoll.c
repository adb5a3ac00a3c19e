/* busypoll: the budget from the environment, no blocking while polling, sleeping after it. */
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
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
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

	/* polling: an empty wait returns at once */
	busypoll_kick(&bp);
	double t = now_s();
	assert_int_equal(busypoll_wait(&bp, ep, out, 4), 0);
	assert_true(now_s() - t < 0.015);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
