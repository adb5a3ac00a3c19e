/* The control connections of a running loop, with a stand-in processor whose uapi answers a get:
 * LOOP_MAX_CONNS connections that never send anything lock later clients out, but only until
 * their deadline, when they are closed and counted; so is one that sent half a request; one
 * that keeps completing requests stays open past it. A get that finds the connections' pool
 * full waits, and the tick runs it once there is room. The deadline is shortened to a few
 * ticks, the pool to under 1 MiB. (The pool's rules are test_uapi_conn's test_pool.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "engine/loop.h"
#include "engine/loop_int.h"
#include "engine/proc.h"
#include "wg/uapi.h"
#include "wg/uapi_client.h"
#include "loop_stand_in.h"

enum {
	IDLE_TICKS = 5,		/* 500 ms: test_stalled_closed's deadline */
	LONG_TICKS = 100,	/* 10 s: the others' */
	POOL = (1 << 20) - UAPI_CONN_FREE,
	BIG_GET = 300 << 10,	/* get=culvert's answer, past UAPI_CONN_FREE */
};

static int m_get(void *dev, struct uapi_buf *out)
{
	uapi_buf_printf(out, "listen_port=7\n");
	for (size_t n = 0; out->culvert_ext && n < BIG_GET; n += 100)
		uapi_buf_printf(out, "culvert_fill=%087d\n", 0);
	return 0;
}

static const struct uapi_ops m_uapi = { .get = m_get };

static const struct loop_proc_ops stand_in = {
	.attach = stand_in_attach,
	.tun_input = stand_in_pkts,
	.net_input = stand_in_pkts,
	.drop = stand_in_drop,
	.net_config = stand_in_net_config,
	.bound = stand_in_bound,
	.uapi = &m_uapi,
};

static struct wg_loop *loop;
static pthread_t runner;
static bool running;
static int tun_sv[2];
static char dir[64];

static int setup(void **state)
{
	const struct loop_proc proc = { &stand_in, NULL };
	const struct wg_loop_opts o = { .transport = LOOP_XPORT_UDP, .no_busy_poll = true };
	const unsigned int *idle_ticks = *state;
	int lfd;

	snprintf(dir, sizeof(dir), "/tmp/culvert-loopctl-XXXXXX");
	if (!mkdtemp(dir) || (lfd = uapi_listen(dir, "lc0")) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, tun_sv) < 0)
		return -1;
	if (loop_new(&loop, &proc, &tun_sv[0], 1, lfd, &o) < 0)
		return -1;
	loop->conn_idle_ticks = *idle_ticks;	/* before the loop's thread reads them */
	loop->ctl_pool.max = POOL;
	running = !pthread_create(&runner, NULL, stand_in_run, loop);
	return running ? 0 : -1;
}

static void stop(void)
{
	if (!running)
		return;
	loop_stop(loop, 0);
	pthread_join(runner, NULL);
	running = false;
}

static int teardown(void **state)
{
	char cmd[128];

	stop();
	wg_loop_free(loop);	/* closes tun_sv[0] and the listener */
	close(tun_sv[1]);
	uapi_unlink(dir, "lc0");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int connect_ctl(void)
{
	int fd = uapi_client_connect(dir, "lc0");

	assert_true(fd >= 0);
	return fd;
}

/* What fd is sent within ms, until the end of a response or the connection's; -1: closed
 * (or reset) with nothing, 0: nothing yet, else the bytes (NUL-terminated in buf). */
static ssize_t wait_answer(int fd, char *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < len - 1 && poll(&p, 1, ms) == 1) {
		ssize_t r = read(fd, buf + got, len - 1 - got);

		if (r <= 0)
			return got ? (ssize_t)got : -1;
		got += (size_t)r;
		buf[got] = 0;
		if (got >= 2 && !strcmp(buf + got - 2, "\n\n"))
			break;
	}
	buf[got] = 0;
	return (ssize_t)got;
}

/* A get on fd: whether it was answered. */
static bool get_on(int fd)
{
	char buf[256];

	if (send(fd, "get=1\n\n", 7, MSG_NOSIGNAL) != 7)
		return false;
	return wait_answer(fd, buf, sizeof(buf), 2000) > 0 && !strcmp(buf, "listen_port=7\nerrno=0\n\n");
}

/* A get on a new connection. */
static bool get_new(void)
{
	int fd = connect_ctl();
	bool ok = get_on(fd);

	close(fd);
	return ok;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	nanosleep(&ts, NULL);
}

static void test_stalled_closed(void **state)
{
	int idle[LOOP_MAX_CONNS], busy, t;
	char buf[256];

	assert_true(get_new());
	/* every place taken: by connections that send nothing, and one with half a request */
	for (int i = 0; i < LOOP_MAX_CONNS; i++)
		idle[i] = connect_ctl();
	assert_int_equal(send(idle[0], "set=1\nfwmark=1\n", 15, MSG_NOSIGNAL), 15);
	/* accepted in order: a later client finds no place */
	assert_false(get_new());
	for (int i = 0; i < LOOP_MAX_CONNS; i++)
		assert_int_equal(wait_answer(idle[i], buf, sizeof(buf), 0), 0);	/* still open */
	/* one place given back: the loop sees it closed (not at once) */
	close(idle[LOOP_MAX_CONNS - 1]);
	for (t = 0;; t++) {
		busy = connect_ctl();
		if (get_on(busy))
			break;
		close(busy);
		assert_true(t < 20);
		sleep_ms(20);
	}

	/* past their deadline each is closed, without an answer; busy, answered every tick or
	 * two, stays */
	for (t = 0; t < 4 * IDLE_TICKS; t++) {
		assert_true(get_on(busy));
		sleep_ms(LOOP_TICK_MS * 3 / 2);
	}
	for (int i = 0; i < LOOP_MAX_CONNS - 1; i++) {
		assert_int_equal(wait_answer(idle[i], buf, sizeof(buf), 2000), -1);
		close(idle[i]);
	}
	assert_true(get_on(busy));
	assert_true(get_new());
	close(busy);
	stop();
	assert_int_equal(loop->conns_idle_closed, LOOP_MAX_CONNS - 1);
}

/* Until the loop has read all fd sent. */
static void wait_read(int fd)
{
	int outq = 1;

	for (int t = 0; t < 500 && outq; t++) {
		assert_int_equal(ioctl(fd, SIOCOUTQ, &outq), 0);
		if (outq)
			sleep_ms(10);
	}
	assert_int_equal(outq, 0);
}

static void test_get_waits_for_room(void **state)
{
	size_t len = 600 << 10, off;
	char *req = malloc(len), *buf = malloc(1 << 20);
	int a = connect_ctl(), b = connect_ctl();
	ssize_t got;

	assert_non_null(req);
	assert_non_null(buf);
	/* A's request takes all the pool (a buffer of 1 MiB) */
	memcpy(req, "set=1\n", 6);
	for (off = 6; off + 9 <= len; off += 9)
		memcpy(req + off, "fwmark=1\n", 9);
	assert_int_equal(send(a, req, off, MSG_NOSIGNAL), (ssize_t)off);
	wait_read(a);
	/* B's get waits, and is not lost: once A is done, a tick runs it */
	assert_int_equal(send(b, "get=culvert\n\n", 13, MSG_NOSIGNAL), 13);
	assert_int_equal(wait_answer(b, buf, 1 << 20, 3 * LOOP_TICK_MS), 0);
	assert_int_equal(send(a, "\n", 1, MSG_NOSIGNAL), 1);
	assert_int_equal(wait_answer(a, buf, 1 << 20, 2000), 9);
	assert_string_equal(buf, "errno=0\n\n");
	got = wait_answer(b, buf, 1 << 20, 2000);
	assert_true(got > BIG_GET);
	assert_string_equal(buf + got - 9, "errno=0\n\n");
	close(a);
	close(b);
	free(buf);
	free(req);
}

int main(void)
{
	static const unsigned int idle = IDLE_TICKS, idle_long = LONG_TICKS;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate_setup_teardown(test_stalled_closed, setup, teardown, (void *)&idle),
		cmocka_unit_test_prestate_setup_teardown(test_get_waits_for_room, setup, teardown,
							 (void *)&idle_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
