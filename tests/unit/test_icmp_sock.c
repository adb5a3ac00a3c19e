/* ICMP transport sockets over loopback, inside a private network namespace: a dialler's socket
 * is handed only its own replies, so another dialler's burst on the same host cannot crowd them
 * out of its receive buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "wire/icmp.h"
#include "wire/icmp_sock.h"
#include "netns_private.h"

enum { ID_US = 0x1111, ID_OTHER = 0x2222, FLOOD = 300, BIG = 1400 };

/* Every test in a fresh namespace of its own: loopback traffic there is private. */
static int setup(void **st)
{
	(void)st;
	if (netns_private() < 0)
		return -1;
	return 0;
}

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage a = { 0 };

	if (strchr(ip, ':')) {
		a.ss_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&a)->sin6_addr), 1);
	} else {
		a.ss_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &((struct sockaddr_in *)&a)->sin_addr), 1);
	}
	return a;
}

/* The socket takes replies from ip with identifier id only. */
static int dial1(struct icmpw_sock *s, const char *ip, uint16_t id)
{
	struct icmpw_dialled d = { .addr = addr(ip), .id = id };

	return icmpw_sock_dial(s, &d, 1);
}

/* An echo reply with identifier id carrying len bytes, to `to`, leaving from `from`. */
static void reply(struct icmpw_sock *tx, const char *from, const char *to, uint16_t id, uint16_t seq,
		  size_t len)
{
	static uint8_t msg[BIG], out[BIG + ICMPW_OVERHEAD];
	struct sockaddr_storage f = addr(from);
	struct icmpw_dgram d = { .buf = out, .peer = addr(to) };

	memset(msg, 0x5a, len);
	d.len = icmpw_build(out, sizeof(out), tx->v6, ICMPW_LISTENER, id, seq, 0, msg, len);
	assert_true(d.len > 0);
	if (tx->v6)
		d.local.in6 = ((struct sockaddr_in6 *)&f)->sin6_addr;
	else
		d.local.in = ((struct sockaddr_in *)&f)->sin_addr;
	assert_int_equal(icmpw_sock_send(tx, &d, 1), 1);
}

/* Everything queued on s within wait_ms: how many carry want_id; *others: how many not. */
static unsigned int drain(struct icmpw_sock *s, uint16_t want_id, int wait_ms, unsigned int *others)
{
	static uint8_t bufs[32][2048];
	struct icmpw_dgram d[32];
	unsigned int got = 0;

	*others = 0;
	for (int i = 0; i < 32; i++)
		d[i] = (struct icmpw_dgram){ .buf = bufs[i], .cap = sizeof(bufs[i]) };
	for (;;) {
		struct pollfd p = { s->fd, POLLIN, 0 };
		int n;

		if (poll(&p, 1, wait_ms) <= 0)
			return got;
		n = icmpw_sock_recv(s, d, 32);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			struct icmpw_msg m;
			enum icmpw_drop why;

			assert_true(icmpw_parse(d[i].icmp, d[i].len, s->v6, ICMPW_DIALLER, BIG, &m, &why));
			if (m.id == want_id)
				got++;
			else
				++*others;
		}
	}
}

/* A burst of big replies to another dialler on this host, never read by anyone, then one to
 * us: ours must arrive, and nothing else. */
static void sibling_burst(bool v6, const char *lo)
{
	struct icmpw_sock us, tx;
	unsigned int others;

	assert_int_equal(icmpw_sock_open(&us, v6, ICMPW_DIALLER), 0);
	assert_int_equal(dial1(&us, lo, ID_US), 0);
	assert_int_equal(icmpw_sock_open(&tx, v6, ICMPW_LISTENER), 0);
	for (uint16_t i = 0; i < FLOOD; i++)
		reply(&tx, lo, lo, ID_OTHER, i, BIG);
	reply(&tx, lo, lo, ID_US, 1, BIG);
	assert_int_equal(drain(&us, ID_US, 200, &others), 1);
	assert_int_equal(others, 0);
	icmpw_sock_close(&us);
	icmpw_sock_close(&tx);
}

static void test_sibling_burst_v4(void **st) { (void)st; sibling_burst(false, "127.0.0.1"); }
static void test_sibling_burst_v6(void **st) { (void)st; sibling_burst(true, "::1"); }

/* Our identifier from another listener (two diallers on one host may share an identifier
 * toward different listeners): not ours. */
static void test_other_listener(void **st)
{
	struct icmpw_sock us, tx;
	unsigned int others;

	(void)st;
	assert_int_equal(icmpw_sock_open(&us, false, ICMPW_DIALLER), 0);
	assert_int_equal(dial1(&us, "127.0.0.2", ID_US), 0);
	assert_int_equal(icmpw_sock_open(&tx, false, ICMPW_LISTENER), 0);
	reply(&tx, "127.0.0.1", "127.0.0.1", ID_US, 1, 10);
	assert_int_equal(drain(&us, ID_US, 100, &others) + others, 0);
	reply(&tx, "127.0.0.2", "127.0.0.1", ID_US, 2, 10);
	assert_int_equal(drain(&us, ID_US, 200, &others), 1);
	assert_int_equal(others, 0);
	/* Dialling anew (the endpoint moved) replaces the filter. */
	assert_int_equal(dial1(&us, "127.0.0.1", ID_OTHER), 0);
	reply(&tx, "127.0.0.2", "127.0.0.1", ID_US, 3, 10);
	reply(&tx, "127.0.0.1", "127.0.0.1", ID_OTHER, 4, 10);
	assert_int_equal(drain(&us, ID_OTHER, 200, &others), 1);
	assert_int_equal(others, 0);
	icmpw_sock_close(&us);
	icmpw_sock_close(&tx);
}

/* Replies that reached the socket before it was dialled are not left for the dialler to
 * sort out: a burst to another dialler at that moment would be read first. */
static void test_queued_before_dial(void **st)
{
	struct icmpw_sock us, tx;
	unsigned int others;

	(void)st;
	assert_int_equal(icmpw_sock_open(&us, true, ICMPW_DIALLER), 0);
	assert_int_equal(icmpw_sock_open(&tx, true, ICMPW_LISTENER), 0);
	for (uint16_t i = 0; i < 3; i++)
		reply(&tx, "::1", "::1", ID_OTHER, i, 100);
	assert_int_equal(dial1(&us, "::1", ID_US), 0);
	reply(&tx, "::1", "::1", ID_US, 7, 100);
	assert_int_equal(drain(&us, ID_US, 200, &others), 1);
	assert_int_equal(others, 0);
	icmpw_sock_close(&us);
	icmpw_sock_close(&tx);
}

/* One socket serving several diallers (the engine's): each pair passes, nothing else; a
 * later list replaces the filter without discarding what the diallers still listed got. */
static void shared(bool v6, const char *a1, const char *a2)
{
	struct icmpw_sock us, tx;
	struct icmpw_dialled d[ICMPW_DIAL_MAX];
	unsigned int others, n = ICMPW_DIAL_MAX;

	assert_int_equal(icmpw_sock_open(&us, v6, ICMPW_DIALLER), 0);
	assert_int_equal(icmpw_sock_open(&tx, v6, ICMPW_LISTENER), 0);
	/* Fill the list: the pairs we test are the first and the last. */
	for (unsigned int i = 0; i < n; i++)
		d[i] = (struct icmpw_dialled){ .addr = addr(i % 2 ? a2 : a1), .id = (uint16_t)(0x3000 + i) };
	d[0].id = ID_US;
	d[n - 1].id = ID_OTHER;
	assert_int_equal(icmpw_sock_dial(&us, d, n), 0);
	reply(&tx, a1, a1, ID_US, 1, 10);          /* d[0] */
	reply(&tx, a2, a1, ID_OTHER, 2, 10);       /* d[n-1]: a2, as n is even */
	reply(&tx, a2, a1, ID_US, 3, 10);          /* our identifier, the other address */
	reply(&tx, a1, a1, 0x2999, 4, 10);         /* listed nowhere */
	assert_int_equal(drain(&us, ID_US, 200, &others), 1);
	assert_int_equal(others, 1);
	/* d[n-1] stops dialling; what reached us for d[0] meanwhile stays. */
	reply(&tx, a1, a1, ID_US, 5, 10);
	assert_int_equal(icmpw_sock_dial(&us, d, n - 1), 0);
	reply(&tx, a2, a1, ID_OTHER, 6, 10);
	assert_int_equal(drain(&us, ID_US, 200, &others), 1);
	assert_int_equal(others, 0);
	/* None left: nothing. */
	assert_int_equal(icmpw_sock_dial(&us, d, 0), 0);
	reply(&tx, a1, a1, ID_US, 7, 10);
	assert_int_equal(drain(&us, ID_US, 100, &others) + others, 0);
	assert_int_equal(icmpw_sock_dial(&us, d, ICMPW_DIAL_MAX + 1), -EINVAL);
	d[0].addr = addr(v6 ? "127.0.0.1" : "::1");
	assert_int_equal(icmpw_sock_dial(&us, d, 1), -EINVAL);
	icmpw_sock_close(&us);
	icmpw_sock_close(&tx);
}

static void test_shared_v4(void **st) { (void)st; shared(false, "127.0.0.1", "127.0.0.2"); }

/* ::1 is the only IPv6 loopback address; a second one comes from lo's own prefix. */
static void test_shared_v6(void **st)
{
	(void)st;
	assert_int_equal(system("ip -6 addr add 2001:db8::2/128 dev lo nodad"), 0);
	shared(true, "::1", "2001:db8::2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_sibling_burst_v4, setup),
		cmocka_unit_test_setup(test_sibling_burst_v6, setup),
		cmocka_unit_test_setup(test_other_listener, setup),
		cmocka_unit_test_setup(test_queued_before_dial, setup),
		cmocka_unit_test_setup(test_shared_v4, setup),
		cmocka_unit_test_setup(test_shared_v6, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
