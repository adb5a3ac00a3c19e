/* The TCP transport on a running loop, with a stand-in processor, inside a private network
 * namespace (127.0.0.1 there is the test's own): frames split across writes arrive whole, with
 * the connection's address as source; a length no WireGuard message has closes that one
 * connection and counts bad_frame while another keeps delivering; a send reaches the
 * connection of its endpoint as one frame; a full table makes room by closing the longest
 * silent unproven connection, and refuses a newcomer once every connection proved itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "engine/loop.h"
#include "engine/loop_int.h"
#include "engine/proc.h"
#include "loop_stand_in.h"
#include "netns_private.h"

enum {
	TABLE = 64,		/* the transport's connections (docs/design.md, "Bounds") */
	MSG = 40,		/* a frame length a WireGuard message can have */
	PROVE = 0x01,		/* first byte: the stand-in says the message authenticated, each
				 * connection a peer of its own */
	ECHO = 0x02,		/* first byte: it sends the message back to its source */
	PROVE_AS_7 = 0x03,	/* first byte: authenticated, a message of peer 7 */
};

/* What the stand-in processor saw; written on the loop's worker, read by the test. */
static struct seen {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wg_loop *loop;
	uint16_t port;
	uint64_t frames;
	uint8_t last[MSG];
	size_t last_len;
	struct endpoint last_ep;
	uint64_t drops[WG_DROP__COUNT];
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int p_attach(void *ctx, const struct loop_attach *a)
{
	seen.loop = a->loop;
	return 0;
}

static void p_net_input(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (pkts[i].len && pkts[i].data[0] == PROVE)
			loop_authenticated(seen.loop, &pkts[i].ep, 1000 + ntohs(pkts[i].ep.in4.sin_port));
		if (pkts[i].len && pkts[i].data[0] == PROVE_AS_7)
			loop_authenticated(seen.loop, &pkts[i].ep, 7);
		if (pkts[i].len && pkts[i].data[0] == ECHO)
			loop_net_send(seen.loop, &pkts[i].ep, &pkts[i], 1);
		pthread_mutex_lock(&seen.lock);
		seen.frames++;
		seen.last_len = pkts[i].len < MSG ? pkts[i].len : MSG;
		memcpy(seen.last, pkts[i].data, seen.last_len);
		seen.last_ep = pkts[i].ep;
		pthread_cond_broadcast(&seen.cond);
		pthread_mutex_unlock(&seen.lock);
	}
}

static void p_drop(void *ctx, enum wg_drop why, uint64_t n)
{
	pthread_mutex_lock(&seen.lock);
	seen.drops[why] += n;
	pthread_cond_broadcast(&seen.cond);
	pthread_mutex_unlock(&seen.lock);
}

static void p_net_config(void *ctx, uint16_t *port, uint32_t *fwmark)
{
	*port = 0;
	*fwmark = 0;
}

static void p_bound(void *ctx, uint16_t port, const char *desc)
{
	seen.port = port;
}

static const struct loop_proc_ops stand_in = {
	.attach = p_attach,
	.tun_input = stand_in_pkts,
	.net_input = p_net_input,
	.drop = p_drop,
	.net_config = p_net_config,
	.bound = p_bound,
};

static struct wg_loop *loop;
static pthread_t runner;
static int tun_sv[2] = { -1, -1 };

/* A loop with the TCP transport listening on an ephemeral port, its "tun" one end of a
 * socket pair (no vnet header, nothing to read). Each test its own namespace and loop. */
static int setup(void **state)
{
	const struct loop_proc proc = { &stand_in, NULL };
	const struct wg_loop_opts o = { .transport = LOOP_XPORT_TCP, .no_busy_poll = true };

	if (netns_private() < 0)
		return -1;
	pthread_mutex_lock(&seen.lock);
	memset(seen.drops, 0, sizeof(seen.drops));
	seen.frames = 0;
	seen.port = 0;
	pthread_mutex_unlock(&seen.lock);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, tun_sv) < 0)
		return -1;
	if (loop_new(&loop, &proc, &tun_sv[0], 1, -1, &o) < 0 || wg_loop_bind(loop) < 0 || !seen.port)
		return -1;
	return pthread_create(&runner, NULL, stand_in_run, loop) ? -1 : 0;
}

/* test_accept_without_fds's starvation, undone by teardown too when an assertion stops the
 * test half way, so that nothing after it runs short of descriptors. */
static struct {
	struct rlimit old;
	int fill[64], n;
	bool low;
} starve;

static void starve_end(void)
{
	while (starve.n)
		close(starve.fill[--starve.n]);
	if (starve.low)
		setrlimit(RLIMIT_NOFILE, &starve.old);
	starve.low = false;
}

static int teardown(void **state)
{
	starve_end();
	loop_stop(loop, 0);
	pthread_join(runner, NULL);
	wg_loop_free(loop);	/* closes tun_sv[0] */
	close(tun_sv[1]);
	return 0;
}

static int dial(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(seen.port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

/* A frame of len bytes (len < 256) whose payload starts with first, then a counter. */
static void frame(uint8_t *b, size_t len, uint8_t first)
{
	b[0] = (uint8_t)(len >> 8);
	b[1] = (uint8_t)len;
	for (size_t i = 0; i < len; i++)
		b[2 + i] = (uint8_t)(i ? i : first);
}

static void send_all(int fd, const void *b, size_t len)
{
	assert_int_equal(send(fd, b, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Until *counter (one of seen's) reaches n, 5 s at most; its value then. */
static uint64_t wait_count(const uint64_t *counter, uint64_t n)
{
	struct timespec ts;
	uint64_t got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&seen.lock);
	while (*counter < n && pthread_cond_timedwait(&seen.cond, &seen.lock, &ts) != ETIMEDOUT)
		;
	got = *counter;
	pthread_mutex_unlock(&seen.lock);
	return got;
}

static uint64_t wait_frames(uint64_t n)
{
	return wait_count(&seen.frames, n);
}

static uint64_t wait_drop(enum wg_drop why, uint64_t n)
{
	return wait_count(&seen.drops[why], n);
}

static uint8_t last_first(void)
{
	uint8_t v;

	pthread_mutex_lock(&seen.lock);
	v = seen.last[0];
	pthread_mutex_unlock(&seen.lock);
	return v;
}


/* Whether the server closed fd within 5 s (EOF or reset), reading and discarding any data. */
static bool closed_by_server(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t b[256];

	for (int i = 0; i < 50; i++) {
		if (poll(&p, 1, 100) == 1) {
			ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN))
				return true;
		}
	}
	return false;
}

static void test_frames_split_and_source(void **state)
{
	uint8_t b[2 + MSG];
	int fd = dial();

	frame(b, MSG, 0x55);
	/* one byte, the rest of the header and a little, then the rest */
	send_all(fd, b, 1);
	usleep(20000);
	send_all(fd, b + 1, 5);
	usleep(20000);
	send_all(fd, b + 6, sizeof(b) - 6);
	assert_int_equal(wait_frames(1), 1);
	pthread_mutex_lock(&seen.lock);
	assert_int_equal(seen.last_len, MSG);
	assert_memory_equal(seen.last, b + 2, MSG);
	assert_int_equal(seen.last_ep.sa.sa_family, AF_INET);	/* never v4-mapped */
	assert_int_equal(ntohs(seen.last_ep.in4.sin_port), local_port(fd));
	pthread_mutex_unlock(&seen.lock);
	/* two frames in one write arrive as two */
	uint8_t two[2 * (2 + MSG)];
	frame(two, MSG, 0x66);
	frame(two + 2 + MSG, MSG, 0x77);
	send_all(fd, two, sizeof(two));
	assert_int_equal(wait_frames(3), 3);
	assert_int_equal(last_first(), 0x77);
	close(fd);
}

/* A length below the smallest message (a keepalive, 32 bytes) and a length of 0 each close
 * their connection; the other connection is served throughout. */
static void test_lying_length_closes_one(void **state)
{
	uint8_t b[2 + MSG], bad[2 + 16];
	int good = dial(), liar = dial(), zero = dial();

	frame(b, MSG, 0x10);
	send_all(good, b, sizeof(b));
	assert_int_equal(wait_frames(1), 1);

	frame(bad, 16, 0x20);
	send_all(liar, bad, sizeof(bad));
	assert_true(closed_by_server(liar));
	assert_int_equal(wait_drop(WG_DROP_BAD_FRAME, 1), 1);

	const uint8_t none[2] = { 0, 0 };
	send_all(zero, none, sizeof(none));
	assert_true(closed_by_server(zero));
	assert_int_equal(wait_drop(WG_DROP_BAD_FRAME, 2), 2);

	frame(b, MSG, 0x11);
	send_all(good, b, sizeof(b));
	assert_int_equal(wait_frames(2), 2);
	assert_int_equal(last_first(), 0x11);
	assert_int_equal(wait_frames(2), 2);	/* nothing from the closed ones */
	close(good);
	close(liar);
	close(zero);
}

/* loop_net_send to a connection's endpoint writes one frame on that connection only. */
static void test_send_reaches_its_connection(void **state)
{
	uint8_t b[2 + MSG], back[2 + MSG];
	int a = dial(), other = dial();
	struct pollfd p = { .fd = other, .events = POLLIN };

	frame(b, MSG, ECHO);
	send_all(a, b, sizeof(b));
	assert_int_equal(wait_frames(1), 1);
	assert_int_equal(recv(a, back, sizeof(back), MSG_WAITALL), (ssize_t)sizeof(back));
	assert_memory_equal(back, b, sizeof(b));
	assert_int_equal(poll(&p, 1, 200), 0);
	close(a);
	close(other);
}

/* Connections that proved themselves keep their slots; one that did not is the one to go. */
static void test_full_table(void **state)
{
	int fds[TABLE + 2];
	uint8_t b[2 + MSG];

	/* TABLE - 1 proven connections and one silent unproven one, the oldest */
	fds[0] = dial();
	for (int i = 1; i < TABLE; i++) {
		fds[i] = dial();
		frame(b, MSG, PROVE);
		send_all(fds[i], b, sizeof(b));
		assert_int_equal(wait_frames((uint64_t)i), i);
	}
	/* a newcomer takes the unproven one's slot */
	fds[TABLE] = dial();
	assert_true(closed_by_server(fds[0]));
	assert_int_equal(wait_drop(WG_DROP_TCP_UNPROVEN, 1), 1);
	frame(b, MSG, PROVE);
	send_all(fds[TABLE], b, sizeof(b));
	assert_int_equal(wait_frames(TABLE), TABLE);
	/* every slot proven: the next newcomer is refused and nobody is pushed out */
	fds[TABLE + 1] = dial();
	assert_true(closed_by_server(fds[TABLE + 1]));
	assert_int_equal(wait_drop(WG_DROP_TCP_REFUSED, 1), 1);
	for (int i = 1; i <= TABLE; i++) {
		frame(b, MSG, 0x30);
		send_all(fds[i], b, sizeof(b));
	}
	assert_int_equal(wait_frames(2 * TABLE), 2 * TABLE);
	for (int i = 0; i < TABLE + 2; i++)
		close(fds[i]);
}

/* One peer holds one proven connection: proving another (a peer with many connections, or
 * whoever relays its messages first) leaves the older one unproven, the first to go when the
 * table is full. Otherwise one peer could prove all 64 and lock every other out. */
static void test_one_proven_per_peer(void **state)
{
	int fds[TABLE + 1];
	uint8_t b[2 + MSG];

	fds[0] = dial();
	frame(b, MSG, PROVE_AS_7);
	send_all(fds[0], b, sizeof(b));
	assert_int_equal(wait_frames(1), 1);
	fds[1] = dial();
	send_all(fds[1], b, sizeof(b));
	assert_int_equal(wait_frames(2), 2);
	for (int i = 2; i < TABLE; i++) {
		fds[i] = dial();
		frame(b, MSG, PROVE);
		send_all(fds[i], b, sizeof(b));
		assert_int_equal(wait_frames((uint64_t)i + 1), i + 1);
	}
	/* the full table's newcomer takes peer 7's older connection, not its newer one */
	fds[TABLE] = dial();
	assert_true(closed_by_server(fds[0]));
	assert_int_equal(wait_drop(WG_DROP_TCP_UNPROVEN, 1), 1);
	frame(b, MSG, 0x30);
	send_all(fds[1], b, sizeof(b));
	send_all(fds[TABLE], b, sizeof(b));
	assert_int_equal(wait_frames(TABLE + 2), TABLE + 2);
	for (int i = 0; i <= TABLE; i++)
		close(fds[i]);
}

/* Out of descriptors, accept fails while the connection stays pending: the worker must not
 * spin on its level-triggered listener. It stops listening for a tick (counting tcp_refused),
 * and once descriptors are free again the waiting connection is served. */
static void test_accept_without_fds(void **state)
{
	struct rlimit low;
	struct timespec t0, t1, c0, c1;
	uint8_t b[2 + MSG];
	int c, probe;
	uint64_t refused;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &starve.old), 0);
	probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(probe >= 0);
	close(probe);
	/* fillers take every descriptor, then give one back for the client's socket: the
	 * connection is pending before the worker can try to accept it, with none to spare */
	low = starve.old;
	low.rlim_cur = (rlim_t)probe + 8;
	assert_true(low.rlim_cur <= starve.old.rlim_cur);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	starve.low = true;
	while (starve.n < 64 && (starve.fill[starve.n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		starve.n++;
	assert_true(starve.n > 0 && starve.n < 64);
	assert_int_equal(errno, EMFILE);
	close(starve.fill[--starve.n]);
	c = dial();
	frame(b, MSG, 0x30);
	send_all(c, b, sizeof(b));
	assert_true(wait_drop(WG_DROP_TCP_REFUSED, 1) >= 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	usleep(400 * 1000);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_mutex_lock(&seen.lock);
	refused = seen.drops[WG_DROP_TCP_REFUSED];
	pthread_mutex_unlock(&seen.lock);
	double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("out of fds for %.2f s: %.3f s of CPU, tcp_refused %llu\n", wall, cpu,
		      (unsigned long long)refused);
	/* a spinning worker would take the whole wall time; a tick a time is a few ms */
	assert_true(cpu < wall / 4);
	assert_true(refused <= 2 + (uint64_t)(wall * 1000 / LOOP_TICK_MS));
	assert_int_equal(wait_frames(1), 0);
	/* descriptors back: the connection that waited is taken and its frame arrives */
	starve_end();
	assert_int_equal(wait_frames(1), 1);
	close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frames_split_and_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lying_length_closes_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_reaches_its_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_proven_per_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_without_fds, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
