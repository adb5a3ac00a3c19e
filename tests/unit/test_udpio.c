/* udpio: GSO sends and GRO receives over loopback, inside a private network namespace. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <stdlib.h>
#include <time.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <cmocka.h>
#include "lib/clock.h"
#include "engine/udpio.h"
#include "netns_private.h"

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

enum { NB = 8, BUFSZ = 65535, NPKT = 200 };
static uint8_t rxmem[NB][BUFSZ];
static uint8_t *rxbufs[NB];
static uint8_t txmem[NPKT][4000];
static struct udpio_pkt tx[NPKT], rx[NPKT + 64];
static struct udpio snd, rcv;

static int lo_mtu(unsigned int mtu)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), r = 0;
	if (fd < 0)
		return -1;
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_mtu = (int)mtu;
	r = ioctl(fd, SIOCSIFMTU, &ifr);
	close(fd);
	return r;
}

/* Every test runs in a fresh namespace of its own: 127.0.0.1 and ::1 there are private. */
static const char *want_to, *want_from;

static int setup(void **st)
{
	want_to = want_from = NULL;	/* a failed test may have left them */
	if (netns_private() < 0)
		return -1;
	for (int i = 0; i < NB; i++)
		rxbufs[i] = rxmem[i];
	return 0;
}

static union endpoint_addr addr(const char *ip, uint16_t port)
{
	union endpoint_addr a;
	memset(&a, 0, sizeof(a));
	if (strchr(ip, ':')) {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &a.in6.sin6_addr);
	} else {
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(port);
		inet_pton(AF_INET, ip, &a.in.sin_addr);
	}
	return a;
}

static uint16_t port_of(const struct udpio *u)
{
	union endpoint_addr a;
	socklen_t l = sizeof(a);
	assert_int_equal(getsockname(u->fd, &a.sa, &l), 0);
	return ntohs(a.sa.sa_family == AF_INET ? a.in.sin_port : a.in6.sin6_port);
}

/* n datagrams of size sz (the last one last_sz) to dst, distinct contents. */
static void make_tx(size_t n, size_t sz, size_t last_sz, union endpoint_addr dst)
{
	for (size_t i = 0; i < n; i++) {
		tx[i].buf = txmem[i];
		tx[i].len = i + 1 == n ? last_sz : sz;
		for (size_t j = 0; j < tx[i].len; j++)
			txmem[i][j] = (uint8_t)(i * 7 + j);
		tx[i].ep.addr = dst;
		memset(&tx[i].ep.local, 0, sizeof(tx[i].ep.local));
	}
}

/* When set (want_to, want_from: see setup), expect_rx also wants every datagram sent to this
 * address (udpio_pkt.ep.local) or, with want_from, sent from it. */

static void assert_ip(int family, const void *got, const char *ip)
{
	uint8_t a[16];
	assert_int_equal(inet_pton(family, ip, a), 1);
	assert_memory_equal(got, a, family == AF_INET ? 4 : 16);
}

/* Receives until n datagrams came and compares them with tx[first..first+n). */
static void expect_rx(struct udpio *u, size_t first, size_t n, int family)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = { .fd = u->fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 2000), 1);
		int r = udpio_recv(u, rxbufs, BUFSZ, NB, rx, sizeof(rx) / sizeof(rx[0]));
		assert_true(r > 0);
		for (int i = 0; i < r; i++, got++) {
			assert_true(got < n);
			assert_int_equal(rx[i].len, tx[first + got].len);
			assert_memory_equal(rx[i].buf, tx[first + got].buf, rx[i].len);
			assert_int_equal(rx[i].ep.addr.sa.sa_family, family);
			if (want_to)
				assert_ip(family, family == AF_INET ? (void *)&rx[i].ep.local.in : (void *)&rx[i].ep.local.in6, want_to);
			if (want_from)
				assert_ip(family, family == AF_INET ? (void *)&rx[i].ep.addr.in.sin_addr :
						 (void *)&rx[i].ep.addr.in6.sin6_addr, want_from);
		}
	}
	assert_int_equal(u->stats.rx_trunc, 0);
}

static void open_pair(const char *sip, const char *rip, const struct udpio_opts *so, const struct udpio_opts *ro)
{
	union endpoint_addr s = addr(sip, 0), r = addr(rip, 0);
	assert_int_equal(udpio_open(&snd, &s, so), 0);
	assert_int_equal(udpio_open(&rcv, &r, ro), 0);
}

static void close_pair(void)
{
	udpio_close(&snd);
	udpio_close(&rcv);
}

static void gso_roundtrip(const char *ip, bool gro)
{
	struct udpio_opts ro = { .no_gro = !gro };
	open_pair(ip, ip, NULL, &ro);
	char caps[160];
	printf("udpio %s: %s\n", ip, udpio_caps_str(&snd.caps, caps, sizeof(caps)));
	assert_true(snd.caps.gso);
	assert_int_equal(rcv.caps.gro, gro);
	assert_true(snd.caps.sndbuf >= UDPIO_DEFAULT_BUF);
	if (!netns_in_user_ns)	/* forced as the host's root */
		assert_true(snd.caps.sndbuf_forced);
	make_tx(50, 1200, 700, addr(ip, port_of(&rcv)));
	assert_int_equal(udpio_send(&snd, tx, 50), 50);
	assert_int_equal(snd.stats.tx_gso_msgs, 1);        /* 50 x 1200 < 64 KB and < 64 segments */
	expect_rx(&rcv, 0, 50, strchr(ip, ':') ? AF_INET6 : AF_INET);
	if (gro)
		assert_true(rcv.stats.rx_gro_msgs >= 1);
	else
		assert_int_equal(rcv.stats.rx_gro_msgs, 0);
	close_pair();
}

static void test_v4_gro(void **st) { gso_roundtrip("127.0.0.1", true); }
static void test_v4_no_gro(void **st) { gso_roundtrip("127.0.0.1", false); }
static void test_v6_gro(void **st) { gso_roundtrip("::1", true); }
static void test_v6_no_gro(void **st) { gso_roundtrip("::1", false); }

/* Runs break at the 64-segment and 64 KB limits, at another size and another peer. */
static void test_runs(void **st)
{
	open_pair("127.0.0.1", "127.0.0.1", NULL, NULL);
	make_tx(200, 300, 300, addr("127.0.0.1", port_of(&rcv)));
	assert_int_equal(udpio_send(&snd, tx, 130), 130);
	assert_int_equal(snd.stats.tx_gso_msgs, 3);        /* 64 + 64 + 2 */
	expect_rx(&rcv, 0, 130, AF_INET);
	make_tx(60, 1400, 1400, addr("127.0.0.1", port_of(&rcv)));
	tx[20].len = 1000;                                 /* short: ends a run */
	assert_int_equal(udpio_send(&snd, tx, 60), 60);    /* 21 | 39 (46 x 1400 > 64 KB is not hit) */
	assert_int_equal(snd.stats.tx_gso_msgs, 5);
	expect_rx(&rcv, 0, 60, AF_INET);
	make_tx(60, 3000, 3000, addr("127.0.0.1", port_of(&rcv)));
	assert_int_equal(udpio_send(&snd, tx, 60), 60);    /* 21 x 3000 = 63000: 21 + 21 + 18 */
	assert_int_equal(snd.stats.tx_gso_msgs, 8);
	expect_rx(&rcv, 0, 60, AF_INET);
	close_pair();
}

/* Segments that do not fit in out[] wait for the next calls instead of being dropped: after
 * jumbo datagrams (one per message) a receive asks for many messages, and when they turn out
 * to hold 64 small segments each, the calls hand them all over in order, without a syscall
 * until they are out. */
static void test_rx_carry(void **st)
{
	static uint8_t big[4][40000];
	enum { OUT = 8 };
	size_t got = 0;
	bool carried = false;

	open_pair("127.0.0.1", "127.0.0.1", NULL, NULL);
	assert_true(rcv.caps.gro);
	for (size_t i = 0; i < 4; i++) {
		tx[i] = (struct udpio_pkt){ .buf = big[i], .len = sizeof(big[i]), .ep.addr = addr("127.0.0.1", port_of(&rcv)) };
		memset(big[i], (int)i, sizeof(big[i]));
		assert_int_equal(udpio_send(&snd, &tx[i], 1), 1);
	}
	while (got < 4) {
		struct pollfd p = { .fd = rcv.fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 2000), 1);
		int r = udpio_recv(&rcv, rxbufs, BUFSZ, NB, rx, OUT);
		assert_true(r > 0);
		for (int i = 0; i < r; i++, got++) {
			assert_int_equal(rx[i].len, sizeof(big[0]));
			assert_int_equal(rx[i].buf[0], got);
		}
	}
	assert_int_equal(rcv.rx_seg_hint, sizeof(big[0]));	/* next: OUT / 2 messages */

	make_tx(192, 300, 300, addr("127.0.0.1", port_of(&rcv)));
	assert_int_equal(udpio_send(&snd, tx, 192), 192);	/* 3 x 64 segments */
	struct pollfd p = { .fd = rcv.fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 2000), 1);
	while (got - 4 < 192) {
		int r = udpio_recv(&rcv, rxbufs, BUFSZ, NB, rx, OUT);
		if (r == -EAGAIN) {
			assert_int_equal(poll(&p, 1, 2000), 1);
			continue;
		}
		assert_true(r > 0 && r <= OUT);
		carried |= udpio_rx_pending(&rcv);
		for (int i = 0; i < r; i++, got++) {
			assert_true(got - 4 < 192);
			assert_int_equal(rx[i].len, 300);
			assert_memory_equal(rx[i].buf, tx[got - 4].buf, 300);
		}
	}
	assert_true(carried);
	assert_false(udpio_rx_pending(&rcv));
	assert_int_equal(rcv.rx_seg_hint, 300);
	assert_int_equal(udpio_recv(&rcv, rxbufs, BUFSZ, NB, rx, OUT), -EAGAIN);
	assert_true(rcv.rx_drained);
	close_pair();
}

/* An IPv6 dual-stack socket talks to an IPv4 one; addresses come back as plain IPv4. */
static void test_dual_stack(void **st)
{
	open_pair("::", "127.0.0.1", NULL, NULL);
	assert_true(snd.caps.dual_stack);
	make_tx(10, 1000, 10, addr("127.0.0.1", port_of(&rcv)));
	assert_int_equal(udpio_send(&snd, tx, 10), 10);
	expect_rx(&rcv, 0, 10, AF_INET);
	/* and back: the IPv4 source comes to the v6 socket as v4-mapped, given to us as IPv4 */
	make_tx(3, 100, 100, addr("127.0.0.1", port_of(&snd)));
	assert_int_equal(udpio_send(&rcv, tx, 3), 3);
	expect_rx(&snd, 0, 3, AF_INET);
	assert_int_equal(ntohs(rx[0].ep.addr.in.sin_port), port_of(&rcv));
	close_pair();
}

/* GSO off by option: each datagram its own message. */
static void test_forced_fallback(void **st)
{
	struct udpio_opts so = { .no_gso = true };
	open_pair("127.0.0.1", "127.0.0.1", &so, NULL);
	assert_false(snd.caps.gso);
	make_tx(20, 1000, 1000, addr("127.0.0.1", port_of(&rcv)));
	assert_int_equal(udpio_send(&snd, tx, 20), 20);
	assert_int_equal(snd.stats.tx_gso_msgs, 0);
	expect_rx(&rcv, 0, 20, AF_INET);
	close_pair();
}

/* The kernel refuses a super-datagram whose segments exceed the MTU (EMSGSIZE): the run goes
 * out one datagram at a time (fragmented), GSO stays on. */
static void test_send_time_fallback(void **st)
{
	assert_int_equal(lo_mtu(1500), 0);
	open_pair("127.0.0.1", "127.0.0.1", NULL, NULL);
	make_tx(5, 2000, 2000, addr("127.0.0.1", port_of(&rcv)));
	assert_int_equal(udpio_send(&snd, tx, 5), 5);
	assert_int_equal(snd.stats.tx_gso_fallback, 1);
	assert_int_equal(snd.stats.tx_gso_msgs, 0);
	assert_true(snd.caps.gso);
	expect_rx(&rcv, 0, 5, AF_INET);
	close_pair();
}

static void test_errors(void **st)
{
	open_pair("127.0.0.1", "127.0.0.1", NULL, NULL);
	assert_int_equal(udpio_recv(&rcv, rxbufs, BUFSZ, NB, rx, 64), -EAGAIN);
	/* an unroutable IPv6 peer on an IPv4 socket is dropped and counted, the rest goes */
	make_tx(4, 100, 100, addr("127.0.0.1", port_of(&rcv)));
	tx[1].ep.addr = addr("::1", 9);
	assert_int_equal(udpio_send(&snd, tx, 4), 4);
	assert_int_equal(snd.stats.tx_dropped, 1);
	struct udpio_pkt keep[3] = { tx[0], tx[2], tx[3] };
	memcpy(tx, keep, sizeof(keep));
	expect_rx(&rcv, 0, 3, AF_INET);
	assert_int_equal(udpio_send(&snd, tx, UDPIO_MAX_BATCH + 1), -EINVAL);
	char buf[160];
	udpio_caps_str(&rcv.caps, buf, sizeof(buf));
	assert_non_null(strstr(buf, "gro on"));
	close_pair();
}

/* A SOCK_SEQPACKET pair keeps packet boundaries like a tun does. */
static void test_tun_helpers(void **st)
{
	int sv[2];
	size_t lens[4];
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	struct iovec w[3] = { { "abc", 3 }, { "de", 2 }, { "f", 1 } };
	assert_int_equal(udpio_tun_write(sv[1], w, 3, NULL), 3);
	assert_int_equal(udpio_tun_read(sv[0], rxbufs, 4, lens, 2), 2);
	assert_int_equal(lens[0], 3);
	assert_int_equal(lens[1], 2);
	assert_memory_equal(rxbufs[0], "abc", 3);
	assert_memory_equal(rxbufs[1], "de", 2);
	assert_int_equal(udpio_tun_read(sv[0], rxbufs, 4, lens, 4), 1);  /* stops at EAGAIN */
	assert_int_equal(lens[0], 1);
	assert_int_equal(udpio_tun_read(sv[0], rxbufs, 4, lens, 4), -EAGAIN);
	/* a write error other than EAGAIN drops the packet and goes on */
	uint64_t dropped = 0;
	close(sv[0]);
	assert_int_equal(udpio_tun_write(sv[1], w, 2, &dropped), 2);
	assert_int_equal(dropped, 2);
	close(sv[1]);
}

/* What udpio_put_src writes, udpio_parse_ctl reads back; and what the kernel sends along. */
static void test_ctl(void **st)
{
	union { struct cmsghdr h; char b[UDPIO_CTL_SPACE]; } ctl;
	struct msghdr mh = { .msg_control = ctl.b };
	struct endpoint_local src, got;
	union endpoint_addr d4 = addr("198.18.0.2", 1), d6 = addr("2001:db8::2", 1);
	size_t seg = 0;

	memset(&src, 0, sizeof(src));
	assert_int_equal(udpio_put_src(ctl.b, sizeof(ctl.b), &d4, &src), 0);	/* none: nothing */
	inet_pton(AF_INET, "198.18.0.1", &src.in);
	mh.msg_controllen = udpio_put_src(ctl.b, sizeof(ctl.b), &d4, &src);
	assert_int_equal(mh.msg_controllen, CMSG_SPACE(sizeof(struct in_pktinfo)));
	assert_int_equal(CMSG_FIRSTHDR(&mh)->cmsg_level, IPPROTO_IP);
	assert_int_equal(CMSG_FIRSTHDR(&mh)->cmsg_type, IP_PKTINFO);
	struct in_pktinfo pi;
	memcpy(&pi, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(pi));
	assert_int_equal(pi.ipi_ifindex, 0);	/* the route picks the interface */
	udpio_parse_ctl(&mh, &seg, &got);
	assert_memory_equal(&got, &src, sizeof(src));
	assert_int_equal(seg, 0);

	/* IPv6 link-local: the interface goes along */
	memset(&src, 0, sizeof(src));
	inet_pton(AF_INET6, "fe80::1", &src.in6);
	src.ifindex = 7;
	mh.msg_controllen = udpio_put_src(ctl.b, sizeof(ctl.b), &d6, &src);
	assert_int_equal(mh.msg_controllen, CMSG_SPACE(sizeof(struct in6_pktinfo)));
	assert_int_equal(CMSG_FIRSTHDR(&mh)->cmsg_type, IPV6_PKTINFO);
	udpio_parse_ctl(&mh, &seg, &got);
	assert_memory_equal(&got, &src, sizeof(src));
	/* a global one: the interface the datagram came in on is not kept */
	inet_pton(AF_INET6, "2001:db8::1", &src.in6);
	mh.msg_controllen = udpio_put_src(ctl.b, sizeof(ctl.b), &d6, &src);
	udpio_parse_ctl(&mh, &seg, &got);
	assert_memory_equal(&got.in6, &src.in6, 16);
	assert_int_equal(got.ifindex, 0);
	assert_int_equal(udpio_put_src(ctl.b, CMSG_SPACE(sizeof(struct in6_pktinfo)) - 1, &d6, &src), 0);

	/* a GRO size, then an IPv4 datagram's IPV6_PKTINFO on a dual-stack socket (v4-mapped) */
	struct cmsghdr *c = &ctl.h;
	int gs = 1200;
	struct in6_pktinfo pi6 = { .ipi6_ifindex = 3 };
	inet_pton(AF_INET6, "::ffff:198.18.0.1", &pi6.ipi6_addr);
	memset(ctl.b, 0, sizeof(ctl.b));
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_GRO;
	c->cmsg_len = CMSG_LEN(sizeof(gs));
	memcpy(CMSG_DATA(c), &gs, sizeof(gs));
	mh.msg_controllen = sizeof(ctl.b);
	c = CMSG_NXTHDR(&mh, c);
	c->cmsg_level = IPPROTO_IPV6;
	c->cmsg_type = IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi6));
	memcpy(CMSG_DATA(c), &pi6, sizeof(pi6));
	mh.msg_controllen = CMSG_SPACE(sizeof(gs)) + CMSG_SPACE(sizeof(pi6));
	udpio_parse_ctl(&mh, &seg, &got);
	assert_int_equal(seg, 1200);
	memset(&src, 0, sizeof(src));
	inet_pton(AF_INET, "198.18.0.1", &src.in);
	assert_memory_equal(&got, &src, sizeof(src));
	mh.msg_controllen = 0;	/* nothing: no source */
	udpio_parse_ctl(&mh, &seg, &got);
	assert_false(endpoint_local_isset(&got));
}

/* Datagrams (each segment of a GRO batch too) say which local address they were sent to, and
 * an answer from that address leaves from it, not from the one the kernel would pick. */
static void pktinfo_roundtrip(const char *bind_ip, const char *peer_ip, const char *local_ip)
{
	struct udpio_opts ro = { .pktinfo = true };
	int family = strchr(local_ip, ':') ? AF_INET6 : AF_INET;

	open_pair(peer_ip, bind_ip, NULL, &ro);
	assert_true(rcv.caps.pktinfo);
	/* A new IPv6 address is not routed at once (its first datagrams vanish as OutNoRoutes now
	 * and then): probe until one arrives. */
	int i;
	for (i = 0; i < 40; i++) {
		struct pollfd pf = { .fd = rcv.fd, .events = POLLIN };
		make_tx(1, 10, 10, addr(local_ip, port_of(&rcv)));
		assert_int_equal(udpio_send(&snd, tx, 1), 1);
		if (poll(&pf, 1, 50) == 1 && udpio_recv(&rcv, rxbufs, BUFSZ, NB, rx, 64) > 0)
			break;
	}
	assert_true(i < 40);
	while (udpio_recv(&rcv, rxbufs, BUFSZ, NB, rx, 64) > 0)
		;
	make_tx(40, 1000, 1000, addr(local_ip, port_of(&rcv)));
	assert_int_equal(udpio_send(&snd, tx, 40), 40);
	want_to = local_ip;
	expect_rx(&rcv, 0, 40, family);
	assert_true(rcv.stats.rx_gro_msgs >= 1);
	want_to = NULL;
	make_tx(3, 100, 100, addr(peer_ip, port_of(&snd)));
	for (int i = 0; i < 3; i++)
		tx[i].ep.local = rx[0].ep.local;
	assert_int_equal(udpio_send(&rcv, tx, 3), 3);
	want_from = local_ip;
	expect_rx(&snd, 0, 3, family);
	want_from = NULL;
	assert_int_equal(rcv.stats.tx_src_gone, 0);
	close_pair();
}

static void test_pktinfo_v4(void **st) { pktinfo_roundtrip("0.0.0.0", "127.0.0.1", "127.0.0.2"); }
static void test_pktinfo_dual_stack(void **st) { pktinfo_roundtrip("::", "127.0.0.1", "127.0.0.2"); }
static void test_pktinfo_v6(void **st)
{
	assert_int_equal(system("ip -6 addr add 2001:db8::1/128 dev lo nodad"), 0);
	pktinfo_roundtrip("::", "::1", "2001:db8::1");
}

/* A source the host does not have (removed since): the datagrams go from the kernel's choice,
 * the source is cleared in pkts[] to say so, every run from it at once. */
static void src_gone(const char *bind_ip, const char *ip, const char *gone)
{
	struct udpio_opts ro = { .pktinfo = true };
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	open_pair(bind_ip, ip, NULL, &ro);
	make_tx(30, 500, 500, addr(ip, port_of(&rcv)));
	tx[9].len = 400;	/* two runs: 10 and 20 */
	for (int i = 0; i < 30; i++)
		assert_int_equal(inet_pton(family, gone, family == AF_INET ? (void *)&tx[i].ep.local.in : (void *)&tx[i].ep.local.in6), 1);
	assert_int_equal(udpio_send(&snd, tx, 30), 30);
	assert_int_equal(snd.stats.tx_src_gone, 1);
	assert_int_equal(snd.stats.tx_dropped, 0);
	for (int i = 0; i < 30; i++)
		assert_false(endpoint_local_isset(&tx[i].ep.local));
	want_from = ip;
	expect_rx(&rcv, 0, 30, family);
	want_from = NULL;
	close_pair();
}

static void test_src_gone_v4(void **st) { src_gone("127.0.0.1", "127.0.0.1", "198.18.0.99"); }
static void test_src_gone_v6(void **st) { src_gone("::", "::1", "2001:db8::99"); }

static double now_ms(void)
{
	return (double)clock_mono_ns() / 1e6;
}

/* A full send buffer: udpio_send returns at once with what fit, then -EAGAIN; nothing waits.
 * A slow token bucket on lo keeps the datagrams queued, so they hold the sender's buffer. */
static void test_send_full(void **st)
{
	struct udpio_opts so = { .bufsize = 4096, .no_gso = true };

	assert_int_equal(system("tc qdisc add dev lo root tbf rate 8kbit burst 1600 limit 10000000"), 0);
	open_pair("127.0.0.1", "127.0.0.1", &so, NULL);
	assert_true(snd.caps.sndbuf < 65536);
	make_tx(100, 1000, 1000, addr("127.0.0.1", port_of(&rcv)));
	double t0 = now_ms();
	int r = udpio_send(&snd, tx, 100);
	assert_true(r > 0 && r < 100);
	assert_int_equal(udpio_send(&snd, tx + r, (size_t)(100 - r)), -EAGAIN);
	assert_true(now_ms() - t0 < 100);
	assert_int_equal(snd.stats.tx_dropped, 0);
	close_pair();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_v4_gro, setup),
		cmocka_unit_test_setup(test_v4_no_gro, setup),
		cmocka_unit_test_setup(test_v6_gro, setup),
		cmocka_unit_test_setup(test_v6_no_gro, setup),
		cmocka_unit_test_setup(test_runs, setup),
		cmocka_unit_test_setup(test_rx_carry, setup),
		cmocka_unit_test_setup(test_dual_stack, setup),
		cmocka_unit_test_setup(test_forced_fallback, setup),
		cmocka_unit_test_setup(test_send_time_fallback, setup),
		cmocka_unit_test_setup(test_errors, setup),
		cmocka_unit_test(test_tun_helpers),
		cmocka_unit_test(test_ctl),
		cmocka_unit_test_setup(test_pktinfo_v4, setup),
		cmocka_unit_test_setup(test_pktinfo_dual_stack, setup),
		cmocka_unit_test_setup(test_pktinfo_v6, setup),
		cmocka_unit_test_setup(test_src_gone_v4, setup),
		cmocka_unit_test_setup(test_src_gone_v6, setup),
		cmocka_unit_test_setup(test_send_full, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
