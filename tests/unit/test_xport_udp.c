/* The UDP transport on a running loop of two workers, with a stand-in processor, inside a
 * private network namespace: rebinds in quick succession on worker 0 (as one uapi set with a
 * listen-port and an fwmark makes), while worker 1 swaps its socket at its own pace, leave each
 * worker reading a socket of the port, lose no datagram sent after them, and leak no socket. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "engine/loop.h"
#include "engine/loop_int.h"
#include "engine/proc.h"
#include "loop_stand_in.h"
#include "netns_private.h"

enum {
	WORKERS = 2,
	SOURCES = 64,	/* source ports per check: SO_REUSEPORT spreads them over both sockets */
	ROUNDS = 100,
};

/* What the stand-in processor saw; written on the loop's threads, read by the test. */
static struct seen {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wg_loop *loop;
	uint16_t port;		/* bound */
	uint16_t want;		/* asked for: 0 until the first bind chose one */
	uint64_t frames;
	uint64_t per_worker[WORKERS];
	unsigned int rounds;	/* rounds of rebinds still to do on the tick */
	uint64_t done;		/* rounds done */
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int p_attach(void *ctx, const struct loop_attach *a)
{
	seen.loop = a->loop;
	return 0;
}

static void p_net_input(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	pthread_mutex_lock(&seen.lock);
	seen.frames += n;
	seen.per_worker[loop_cur(seen.loop)->id] += n;
	pthread_cond_broadcast(&seen.cond);
	pthread_mutex_unlock(&seen.lock);
}

/* On worker 0, as the uapi's rebinds are. */
static void p_tick(void *ctx)
{
	bool go;

	pthread_mutex_lock(&seen.lock);
	go = seen.rounds > 0;
	pthread_mutex_unlock(&seen.lock);
	if (!go)
		return;
	/* (the worker wakes for the first and is busy taking it when the second comes, at
	 * some point of its way: each round lets it get a little further) */
	loop_rebind(seen.loop);
	usleep(seen.done * 4 % 200);
	loop_rebind(seen.loop);
	pthread_mutex_lock(&seen.lock);
	seen.rounds--;
	seen.done++;
	pthread_cond_broadcast(&seen.cond);
	pthread_mutex_unlock(&seen.lock);
}

static void p_drop(void *ctx, enum wg_drop why, uint64_t n) {}

static void p_net_config(void *ctx, uint16_t *port, uint32_t *fwmark)
{
	pthread_mutex_lock(&seen.lock);
	*port = seen.want;
	pthread_mutex_unlock(&seen.lock);
	*fwmark = 0;
}

static void p_bound(void *ctx, uint16_t port, const char *desc)
{
	pthread_mutex_lock(&seen.lock);
	seen.port = port;
	pthread_mutex_unlock(&seen.lock);
}

static const struct loop_proc_ops stand_in = {
	.attach = p_attach,
	.tun_input = stand_in_pkts,
	.net_input = p_net_input,
	.tick = p_tick,
	.drop = p_drop,
	.net_config = p_net_config,
	.bound = p_bound,
};

static struct wg_loop *loop;
static pthread_t runner;
static int tun_sv[WORKERS][2];

/* A loop of two workers on a random port, each "tun" one end of a socket pair. */
static int setup(void **state)
{
	const struct loop_proc proc = { &stand_in, NULL };
	const struct wg_loop_opts o = { .transport = LOOP_XPORT_UDP, .no_busy_poll = true };
	int tun[WORKERS];

	if (netns_private() < 0)
		return -1;
	for (int i = 0; i < WORKERS; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, tun_sv[i]) < 0)
			return -1;
		tun[i] = tun_sv[i][0];
	}
	if (loop_new(&loop, &proc, tun, WORKERS, -1, &o) < 0 || wg_loop_bind(loop) < 0 || !seen.port)
		return -1;
	seen.want = seen.port;
	return pthread_create(&runner, NULL, stand_in_run, loop) ? -1 : 0;
}

static int teardown(void **state)
{
	loop_stop(loop, 0);
	pthread_join(runner, NULL);
	wg_loop_free(loop);	/* closes tun_sv[i][0] */
	for (int i = 0; i < WORKERS; i++)
		close(tun_sv[i][1]);
	return 0;
}

/* Until *v reaches n, 5 s at most; its value then. */
static uint64_t wait_for(const uint64_t *v, uint64_t n)
{
	struct timespec ts;
	uint64_t got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&seen.lock);
	for (;;) {
		got = *v;
		if (got >= n || pthread_cond_timedwait(&seen.cond, &seen.lock, &ts) == ETIMEDOUT)
			break;
	}
	got = *v;
	pthread_mutex_unlock(&seen.lock);
	return got;
}

/* One datagram from each of SOURCES fresh source ports: every one arrives, and both workers'
 * sockets had a share. */
static void all_arrive(void)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(seen.port) };
	uint64_t before, w_before[WORKERS];
	uint8_t msg[40] = { 1 };

	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	pthread_mutex_lock(&seen.lock);
	before = seen.frames;
	memcpy(w_before, seen.per_worker, sizeof(w_before));
	pthread_mutex_unlock(&seen.lock);
	for (int i = 0; i < SOURCES; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		assert_true(fd >= 0);
		assert_int_equal(sendto(fd, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)),
				 (ssize_t)sizeof(msg));
		close(fd);
	}
	assert_int_equal(wait_for(&seen.frames, before + SOURCES), before + SOURCES);
	pthread_mutex_lock(&seen.lock);
	for (int i = 0; i < WORKERS; i++)
		assert_true(seen.per_worker[i] > w_before[i]);
	pthread_mutex_unlock(&seen.lock);
}

static unsigned int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_rebinds_race_worker_swaps(void **state)
{
	unsigned int fds;

	all_arrive();
	fds = open_fds();
	for (unsigned int r = 1; r <= ROUNDS; r++) {
		pthread_mutex_lock(&seen.lock);
		seen.rounds = 1;
		pthread_mutex_unlock(&seen.lock);
		assert_int_equal(wait_for(&seen.done, r), r);
		assert_int_equal(seen.port, seen.want);
		/* (a datagram sent before worker 1 swapped may land in its old socket and go with
		 * it; the swap takes microseconds once the worker is woken) */
		usleep(50000);
		all_arrive();
	}
	assert_int_equal(open_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rebinds_race_worker_swaps, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
