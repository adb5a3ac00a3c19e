/* The control connections of a running loop, with a stand-in processor whose uapi answers a get:
 * LOOP_MAX_CONNS connections that never send anything lock later clients out, but only until
 * their deadline, when they are closed and counted; so is one that sent half a request; one
 * that keeps completing requests stays open past it. The deadline is shortened to a few ticks. */
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
#include <sys/socket.h>

#include "engine/loop.h"
#include "engine/loop_int.h"
#include "engine/proc.h"
#include "wg/uapi.h"
#include "wg/uapi_client.h"

enum { IDLE_TICKS = 5 };	/* 500 ms */

static int m_get(void *dev, struct uapi_buf *out)
{
	uapi_buf_printf(out, "listen_port=7\n");
	return 0;
}

static const struct uapi_ops m_uapi = { .get = m_get };

static int p_attach(void *ctx, const struct loop_attach *a) { return 0; }
static void p_input(void *ctx, struct wg_pkt *pkts, unsigned int n) {}
static void p_drop(void *ctx, enum wg_drop why, uint64_t n) {}
static void p_net_config(void *ctx, uint16_t *port, uint32_t *fwmark) { *port = 0; *fwmark = 0; }
static void p_bound(void *ctx, uint16_t port, const char *desc) {}

static const struct loop_proc_ops stand_in = {
	.attach = p_attach,
	.tun_input = p_input,
	.net_input = p_input,
	.drop = p_drop,
	.net_config = p_net_config,
	.bound = p_bound,
	.uapi = &m_uapi,
};

static struct wg_loop *loop;
static pthread_t runner;
static bool running;
static int tun_sv[2];
static char dir[] = "/tmp/culvert-loopctl-XXXXXX";

static void *run(void *arg)
{
	wg_loop_run(arg);
	return NULL;
}

static int setup(void **state)
{
	const struct loop_proc proc = { &stand_in, NULL };
	const struct wg_loop_opts o = { .transport = LOOP_XPORT_UDP, .no_busy_poll = true };
	int lfd;

	if (!mkdtemp(dir) || (lfd = uapi_listen(dir, "lc0")) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, tun_sv) < 0)
		return -1;
	if (loop_new(&loop, &proc, &tun_sv[0], 1, lfd, &o) < 0)
		return -1;
	loop->conn_idle_ticks = IDLE_TICKS;	/* before the loop's thread reads it */
	running = !pthread_create(&runner, NULL, run, loop);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stalled_closed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
