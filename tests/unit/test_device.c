/* Two WireGuard devices wired together in-process: a fake UDP network and a fake clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ip_craft.h"
#include "wg/device.h"
#include "wg/peer.h"
#include "wg/allowedips.h"
#include "wg/crypto.h"
#include "lib/packet.h"
#include "wire/icmp.h"

enum { MAX_Q = 512, BUF = 2048 };

struct dgram {
	uint8_t data[BUF];
	uint32_t len;
	struct endpoint src, dst;
};

struct host;
struct net {
	uint64_t now;
	struct host *hosts[2];
	struct dgram q[MAX_Q];
	unsigned int nq;
	bool drop_all;
	bool src_gone;		/* udp_send: the source of ep has gone, send from another */
	unsigned int room;	/* udp_send: with full set, datagrams that fit before it is full */
	bool full;
};

struct host {
	struct net *net;
	struct wg_device dev;
	struct endpoint addr;
	uint8_t tun[MAX_Q][BUF];	/* packets the device wrote to its tun */
	uint32_t tun_len[MAX_Q];
	unsigned int ntun;
	struct wg_peer *peer;		/* its one peer */
};

static int fake_udp_send(void *ctx, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct host *h = ctx;

	if (h->net->src_gone)
		endpoint_clear_local(ep);
	if (h->net->full && n > h->net->room)
		n = h->net->room;
	if (h->net->full && !n)
		return -EAGAIN;
	for (unsigned int i = 0; i < n; i++) {
		assert_true(h->net->nq < MAX_Q);
		assert_true(pkts[i].len <= BUF);
		struct dgram *d = &h->net->q[h->net->nq++];
		memcpy(d->data, pkts[i].data, pkts[i].len);
		d->len = pkts[i].len;
		d->src = h->addr;
		d->dst = *ep;
	}
	return (int)n;
}

static int fake_tun_write(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	struct host *h = ctx;

	for (unsigned int i = 0; i < n; i++) {
		assert_true(h->ntun < MAX_Q);
		memcpy(h->tun[h->ntun], pkts[i].data, pkts[i].len);
		h->tun_len[h->ntun++] = pkts[i].len;
	}
	return (int)n;
}

static uint64_t fake_now(void *ctx)
{
	return ((struct host *)ctx)->net->now;
}

static void fake_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	uint64_t t = ((struct host *)ctx)->net->now + 1700000000ULL * WG_NSEC_PER_SEC;

	*sec = (int64_t)(t / WG_NSEC_PER_SEC);
	*nsec = (int64_t)(t % WG_NSEC_PER_SEC);
}

static void set_addr(struct endpoint *ep, const char *ip, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->in4.sin_family = AF_INET;
	ep->in4.sin_port = htons(port);
	inet_pton(AF_INET, ip, &ep->in4.sin_addr);
}

/* Delivers one queued datagram (FIFO); false when the queue is empty. */
static bool deliver_one(struct net *net)
{
	static uint8_t buf[WG_PKT_HEADROOM + BUF + WG_PKT_TAILROOM];
	struct wg_pkt pkt;
	struct dgram d;

	if (!net->nq)
		return false;
	d = net->q[0];
	memmove(&net->q[0], &net->q[1], (net->nq - 1) * sizeof(net->q[0]));
	net->nq--;
	if (net->drop_all)
		return true;
	for (int i = 0; i < 2; i++) {
		if (!endpoint_equal(&net->hosts[i]->addr, &d.dst))
			continue;
		memcpy(buf + WG_PKT_HEADROOM, d.data, d.len);
		pkt.data = buf + WG_PKT_HEADROOM;
		pkt.len = d.len;
		pkt.ep = d.src;
		/* what the engine reads with IP_PKTINFO: the address the datagram was sent to */
		pkt.ep.local.in = d.dst.in4.sin_addr;
		wg_device_udp_input(&net->hosts[i]->dev, &pkt, 1);
	}
	return true;
}

static void pump(struct net *net)
{
	for (int guard = 0; guard < 10000 && deliver_one(net); guard++)
		;
}

static void host_init(struct net *net, struct host *h, const char *ip, uint16_t port, const uint8_t priv[32])
{
	struct wg_device_ops ops = {
		.udp_send = fake_udp_send, .tun_write = fake_tun_write,
		.now = fake_now, .wall = fake_wall, .ctx = h,
	};

	h->net = net;
	set_addr(&h->addr, ip, port);
	assert_int_equal(wg_device_init(&h->dev, "test", &ops), 0);
	assert_int_equal(wg_device_set_private_key(&h->dev, priv), 0);
	h->dev.listen_port = port;
}

static void add_aip(struct host *h, const char *cidr_ip, uint8_t cidr)
{
	uint8_t a[4];

	inet_pton(AF_INET, cidr_ip, a);
	assert_int_equal(aip_insert(h->dev.aip, AF_INET, a, cidr, h->peer), 0);
}

struct pair {
	struct net net;
	struct host a, b;
};

/* a = 198.18.0.1:51820 with tunnel 198.19.0.1, b = 198.18.0.2:51821 with 198.19.0.2; only a
 * knows b's endpoint (b learns a's from the handshake). */
static struct pair *pair_new(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	uint8_t ka[32], kb[32];

	assert_non_null(p);
	crypto_x25519_keygen(ka);
	crypto_x25519_keygen(kb);
	p->net.now = 1000 * WG_NSEC_PER_SEC;
	p->net.hosts[0] = &p->a;
	p->net.hosts[1] = &p->b;
	host_init(&p->net, &p->a, "198.18.0.1", 51820, ka);
	host_init(&p->net, &p->b, "198.18.0.2", 51821, kb);
	p->a.peer = wg_device_add_peer(&p->a.dev, p->b.dev.identity.static_public);
	p->b.peer = wg_device_add_peer(&p->b.dev, p->a.dev.identity.static_public);
	assert_non_null(p->a.peer);
	assert_non_null(p->b.peer);
	wg_peer_set_endpoint(p->a.peer, &p->b.addr);
	add_aip(&p->a, "198.19.0.2", 32);
	add_aip(&p->b, "198.19.0.1", 32);
	crypto_wipe(ka, sizeof(ka));
	crypto_wipe(kb, sizeof(kb));
	return p;
}

static void pair_free(struct pair *p)
{
	wg_device_uninit(&p->a.dev);
	wg_device_uninit(&p->b.dev);
	free(p);
}

/* Host h reads one packet from its tun device. */
static void tun_send(struct host *h, const char *src, const char *dst, uint32_t len, uint8_t seed)
{
	static uint8_t buf[WG_PKT_HEADROOM + BUF + WG_PKT_TAILROOM];
	struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM };

	pkt.len = make_ip4(pkt.data, src, dst, len, seed);
	wg_device_tun_input(&h->dev, &pkt, 1);
}

static void assert_got(struct host *h, unsigned int i, const char *src, const char *dst, uint32_t len, uint8_t seed)
{
	uint8_t want[BUF];

	assert_true(h->ntun > i);
	make_ip4(want, src, dst, len, seed);
	assert_int_equal(h->tun_len[i], len);
	assert_memory_equal(h->tun[i], want, len);
}

static void test_handshake_and_data(void **state)
{
	struct pair *p = pair_new();

	/* The first packet waits in the staging queue while the handshake runs. */
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 100, 1);
	assert_int_equal(p->a.peer->staged_count, 1);
	assert_int_equal(p->net.nq, 1);
	assert_int_equal(p->net.q[0].data[0], WG_MSG_INITIATION);
	pump(&p->net);
	assert_non_null(p->a.peer->kp_current);
	assert_non_null(p->b.peer->kp_current);	/* confirmed by a's first data message */
	assert_null(p->b.peer->kp_next);
	assert_int_equal(p->a.peer->staged_count, 0);
	assert_int_equal(p->b.ntun, 1);
	assert_got(&p->b, 0, "198.19.0.1", "198.19.0.2", 100, 1);
	assert_true(endpoint_equal(&p->b.peer->endpoint, &p->a.addr));
	assert_true(p->a.peer->last_handshake_sec > 0);

	/* Both ways, several sizes (padding must be stripped by the IP length). */
	for (uint32_t len = 20; len < 1400; len += 97) {
		tun_send(&p->b, "198.19.0.2", "198.19.0.1", len, (uint8_t)len);
		tun_send(&p->a, "198.19.0.1", "198.19.0.2", len, (uint8_t)(len + 1));
	}
	pump(&p->net);
	unsigned int na = 0;
	for (uint32_t len = 20; len < 1400; len += 97) {
		assert_got(&p->a, na, "198.19.0.2", "198.19.0.1", len, (uint8_t)len);
		assert_got(&p->b, na + 1, "198.19.0.1", "198.19.0.2", len, (uint8_t)(len + 1));
		na++;
	}
	assert_true(p->a.peer->tx_bytes > 0 && p->a.peer->rx_bytes > 0);
	for (int d = 0; d < WG_DROP__COUNT; d++) {
		assert_int_equal(p->a.dev.drops[d], 0);
		assert_int_equal(p->b.dev.drops[d], 0);
	}
	pair_free(p);
}

static void test_no_route(void **state)
{
	struct pair *p = pair_new();

	tun_send(&p->a, "198.19.0.1", "198.19.0.77", 60, 0);
	assert_int_equal(p->a.dev.drops[WG_DROP_NO_PEER_FOR_DST], 1);
	assert_int_equal(p->net.nq, 0);
	/* b does not know a's endpoint yet: nothing can go out */
	tun_send(&p->b, "198.19.0.2", "198.19.0.1", 60, 0);
	assert_int_equal(p->b.dev.drops[WG_DROP_NO_ENDPOINT], 1);
	assert_int_equal(p->net.nq, 0);
	/* nor is an initiation made for nowhere (the tick's retries asked for one every 5 s): no
	 * index, no ephemeral key, no DH under the device lock */
	wg_device_lock(&p->b.dev);
	assert_int_equal(wg_peer_send_initiation(p->b.peer, true), -EDESTADDRREQ);
	wg_device_unlock(&p->b.dev);
	assert_int_equal(p->b.dev.drops[WG_DROP_NO_ENDPOINT], 2);
	assert_int_equal(p->b.peer->hs_index, 0);
	assert_int_equal(p->net.nq, 0);
	pair_free(p);
}

/* a's own datagram to b's endpoint, read back from a's tun (the route to the endpoint leads
 * into the tunnel): dropped as routing_loop, never sent; the same from another port passes. */
static void test_routing_loop(void **state)
{
	static uint8_t buf[WG_PKT_HEADROOM + BUF + WG_PKT_TAILROOM];
	struct pair *p = pair_new();
	struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM };

	add_aip(&p->a, "198.18.0.2", 32);
	pkt.len = make_ip4(pkt.data, "198.18.0.1", "198.18.0.2", 60, 0);
	pkt.data[20] = 51820 >> 8, pkt.data[21] = 51820 & 0xff;
	pkt.data[22] = 51821 >> 8, pkt.data[23] = 51821 & 0xff;
	wg_device_tun_input(&p->a.dev, &pkt, 1);
	assert_int_equal(p->a.dev.drops[WG_DROP_ROUTING_LOOP], 1);
	assert_int_equal(p->net.nq, 0);
	assert_string_equal(wg_drop_name(WG_DROP_ROUTING_LOOP), "routing_loop");
	/* another source port: someone else's traffic to that address, sent on (a handshake) */
	pkt.len = make_ip4(pkt.data, "198.18.0.1", "198.18.0.2", 60, 0);
	pkt.data[20] = 51822 >> 8, pkt.data[21] = 51822 & 0xff;
	pkt.data[22] = 51821 >> 8, pkt.data[23] = 51821 & 0xff;
	wg_device_tun_input(&p->a.dev, &pkt, 1);
	assert_int_equal(p->a.dev.drops[WG_DROP_ROUTING_LOOP], 1);
	assert_true(p->net.nq > 0);
	pair_free(p);
}

/* An IPv4 or IPv6 packet from src to dst carrying one echo: the ICMP transport's (its magic,
 * as role sends it) or, with role < 0, an ordinary ping. Its length. */
static uint32_t make_echo(uint8_t *out, bool v6, const char *src, const char *dst, int role)
{
	static const char data[] = "abcdefgh";
	size_t h = v6 ? 40 : 20, n = 8 + sizeof(data);

	memset(out, 0, h);
	if (role >= 0) {
		n = icmpw_build(out + h, BUF - h, v6, (enum icmpw_role)role, 0x1234, 7, 0, data, sizeof(data));
	} else {
		memset(out + h, 0, 8);
		out[h] = v6 ? PKT_ICMP6_ECHO_REQUEST : PKT_ICMP_ECHO_REQUEST;
		memcpy(out + h + 8, data, sizeof(data));
	}
	assert_true(n > 0);
	if (!v6) {
		out[0] = 0x45;
		out[2] = (uint8_t)((20 + n) >> 8), out[3] = (uint8_t)(20 + n);
		out[8] = 64;
		out[9] = PKT_IPPROTO_ICMP;
		inet_pton(AF_INET, src, out + 12);
		inet_pton(AF_INET, dst, out + 16);
		return (uint32_t)(20 + n);
	}
	out[0] = 0x60;
	out[4] = (uint8_t)(n >> 8), out[5] = (uint8_t)n;
	out[6] = PKT_IPPROTO_ICMPV6;
	out[7] = 64;
	inet_pton(AF_INET6, src, out + 8);
	inet_pton(AF_INET6, dst, out + 24);
	return (uint32_t)(40 + n);
}

/* The ICMP transport has no ports: a's own echo to b's endpoint address read back from a's tun
 * (request as a dialler, reply as a listener) is the loop, over IPv4 and IPv6; an ordinary
 * ping to that address and a transport echo to another address pass on. */
static void test_routing_loop_icmp(void **state)
{
	static uint8_t buf[WG_PKT_HEADROOM + BUF + WG_PKT_TAILROOM];
	struct pair *p = pair_new();
	struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM };
	struct endpoint ep6;
	uint64_t loops = 0;

	p->a.dev.transport = PKT_IPPROTO_ICMP;
	add_aip(&p->a, "198.18.0.0", 24);
	uint8_t net6[16];

	inet_pton(AF_INET6, "2001:db8:18::", net6);
	assert_int_equal(aip_insert(p->a.dev.aip, AF_INET6, net6, 64, p->a.peer), 0);
	for (int v6 = 0; v6 <= 1; v6++) {
		const char *me = v6 ? "2001:db8:18::1" : "198.18.0.1", *peer = v6 ? "2001:db8:18::2" : "198.18.0.2";
		const char *other = v6 ? "2001:db8:18::3" : "198.18.0.3";

		if (v6) {
			memset(&ep6, 0, sizeof(ep6));
			ep6.in6.sin6_family = AF_INET6;
			ep6.in6.sin6_port = htons(1);	/* a port means nothing to ICMP */
			inet_pton(AF_INET6, peer, &ep6.in6.sin6_addr);
			wg_peer_set_endpoint(p->a.peer, &ep6);
		}
		unsigned int staged = p->a.peer->staged_count;

		for (int role = ICMPW_LISTENER; role <= ICMPW_DIALLER; role++) {
			pkt.len = make_echo(pkt.data, v6, me, peer, role);
			wg_device_tun_input(&p->a.dev, &pkt, 1);
			assert_int_equal(p->a.dev.drops[WG_DROP_ROUTING_LOOP], ++loops);
		}
		assert_int_equal(p->a.peer->staged_count, staged);
		/* someone's ping to the peer's address, and our echo to an address that is no
		 * endpoint: tunnel traffic, staged for the peer until the handshake completes */
		pkt.len = make_echo(pkt.data, v6, me, peer, -1);
		wg_device_tun_input(&p->a.dev, &pkt, 1);
		pkt.len = make_echo(pkt.data, v6, me, other, ICMPW_DIALLER);
		wg_device_tun_input(&p->a.dev, &pkt, 1);
		assert_int_equal(p->a.dev.drops[WG_DROP_ROUTING_LOOP], loops);
		assert_int_equal(p->a.peer->staged_count, staged + 2);
	}
	assert_true(p->net.nq > 0);	/* the handshake the staged packets wait for */
	pair_free(p);
}

/* MTU 65535: a 65480-byte IPv4 packet with DF is more than one UDP datagram carries after
 * encryption; it is dropped as too_big and its sender gets "fragmentation needed" naming the
 * largest that fits (65472), from the packet's destination, checksums right. */
static void test_too_big_icmp(void **state)
{
	static uint8_t big[WG_PKT_HEADROOM + 65535 + WG_PKT_TAILROOM];
	struct pair *p = pair_new();
	struct wg_pkt pkt = { .data = big + WG_PKT_HEADROOM };
	uint8_t want_src[4], want_dst[4];

	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 100, 1);
	pump(&p->net);
	assert_non_null(p->a.peer->kp_current);
	p->a.dev.mtu = 65535;
	pkt.len = make_ip4(pkt.data, "198.19.0.1", "198.19.0.2", 65480, 0);
	pkt.data[6] = 0x40;	/* DF */
	wg_device_tun_input(&p->a.dev, &pkt, 1);
	assert_int_equal(p->a.dev.drops[WG_DROP_TOO_BIG], 1);
	assert_int_equal(p->net.nq, 0);
	assert_int_equal(p->a.ntun, 1);
	const uint8_t *o = p->a.tun[0];
	assert_int_equal(p->a.tun_len[0], 20 + 8 + 20 + 8);
	assert_int_equal(o[9], 1);
	inet_pton(AF_INET, "198.19.0.2", want_src);
	inet_pton(AF_INET, "198.19.0.1", want_dst);
	assert_memory_equal(o + 12, want_src, 4);
	assert_memory_equal(o + 16, want_dst, 4);
	assert_int_equal(pkt_csum(o, 20), 0);
	assert_int_equal(o[20], 3);
	assert_int_equal(o[21], 4);
	assert_int_equal(o[26] << 8 | o[27], 65472);
	assert_int_equal(pkt_csum(o + 20, 36), 0);
	assert_memory_equal(o + 28, pkt.data, 28);
	/* without DF the sender did not ask: dropped, no answer */
	pkt.data[6] = 0;
	wg_device_tun_input(&p->a.dev, &pkt, 1);
	assert_int_equal(p->a.dev.drops[WG_DROP_TOO_BIG], 2);
	assert_int_equal(p->a.ntun, 1);
	pair_free(p);
}

static void test_unallowed_source(void **state)
{
	struct pair *p = pair_new();

	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 3);
	pump(&p->net);
	assert_int_equal(p->b.ntun, 1);
	/* a forwards a packet whose source is not one of a's allowed IPs on b */
	tun_send(&p->a, "198.19.0.99", "198.19.0.2", 80, 4);
	pump(&p->net);
	assert_int_equal(p->b.ntun, 1);
	assert_int_equal(p->b.dev.drops[WG_DROP_UNALLOWED_SRC], 1);
	/* once allowed, it passes */
	add_aip(&p->b, "198.19.0.96", 30);
	tun_send(&p->a, "198.19.0.99", "198.19.0.2", 80, 5);
	pump(&p->net);
	assert_int_equal(p->b.ntun, 2);
	assert_got(&p->b, 1, "198.19.0.99", "198.19.0.2", 80, 5);
	pair_free(p);
}

static void test_roaming(void **state)
{
	struct pair *p = pair_new();

	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 1);
	pump(&p->net);
	assert_true(endpoint_equal(&p->b.peer->endpoint, &p->a.addr));
	/* a moves to a new address and port: b answers there after a's next packet */
	set_addr(&p->a.addr, "198.18.5.9", 40000);
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 2);
	pump(&p->net);
	assert_int_equal(p->b.ntun, 2);
	assert_true(endpoint_equal(&p->b.peer->endpoint, &p->a.addr));
	tun_send(&p->b, "198.19.0.2", "198.19.0.1", 90, 3);
	assert_int_equal(p->net.nq, 1);
	assert_true(endpoint_equal(&p->net.q[0].dst, &p->a.addr));
	pump(&p->net);
	assert_got(&p->a, 0, "198.19.0.2", "198.19.0.1", 90, 3);
	/* an unauthenticated packet from elsewhere does not move the endpoint */
	struct endpoint evil;
	set_addr(&evil, "198.18.66.6", 666);
	static uint8_t junk[WG_PKT_HEADROOM + 100 + WG_PKT_TAILROOM];
	struct wg_pkt pkt = { .data = junk + WG_PKT_HEADROOM, .len = 100, .ep = evil };
	memset(pkt.data, 0, 100);
	pkt.data[0] = WG_MSG_DATA;
	memcpy(pkt.data + 4, &p->b.peer->kp_current->local_index, 4);	/* little-endian host */
	pkt.data[8] = 200;	/* a counter not seen yet, so it reaches the AEAD */
	wg_device_udp_input(&p->b.dev, &pkt, 1);
	assert_int_equal(p->b.dev.drops[WG_DROP_DECRYPT_FAILED], 1);
	assert_true(endpoint_equal(&p->b.peer->endpoint, &p->a.addr));
	pair_free(p);
}

static void test_replay(void **state)
{
	struct pair *p = pair_new();
	struct dgram copy;

	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 1);
	pump(&p->net);
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 2);
	assert_int_equal(p->net.nq, 1);
	copy = p->net.q[0];
	pump(&p->net);
	assert_int_equal(p->b.ntun, 2);
	p->net.q[p->net.nq++] = copy;
	pump(&p->net);
	assert_int_equal(p->b.ntun, 2);
	assert_int_equal(p->b.dev.drops[WG_DROP_REPLAY], 1);
	pair_free(p);
}

static void test_garbage(void **state)
{
	struct pair *p = pair_new();
	static uint8_t buf[WG_PKT_HEADROOM + 200 + WG_PKT_TAILROOM];
	struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM, .ep = p->a.addr };
	const uint8_t sizes[] = { 0, 1, 3, 4, 31, 32, 64, 92, 148, 150 };

	for (int type = 0; type < 6; type++)
		for (size_t i = 0; i < sizeof(sizes); i++) {
			memset(pkt.data, 0x5a, 200);
			pkt.data[0] = (uint8_t)type;
			if (sizes[i] >= 4)
				memset(pkt.data + 1, 0, 3);
			pkt.len = sizes[i];
			wg_device_udp_input(&p->b.dev, &pkt, 1);
		}
	assert_int_equal(p->b.ntun, 0);
	assert_int_equal(p->net.nq, 0);
	assert_true(p->b.dev.drops[WG_DROP_SHORT_FRAME] > 0);
	assert_true(p->b.dev.drops[WG_DROP_BAD_TYPE] > 0);
	assert_true(p->b.dev.drops[WG_DROP_BAD_MAC1] > 0);
	assert_true(p->b.dev.drops[WG_DROP_UNKNOWN_INDEX] > 0);
	pair_free(p);
}

static void advance(struct pair *p, uint64_t secs)
{
	/* tick every 100 ms like the daemon */
	for (uint64_t i = 0; i < secs * 10; i++) {
		p->net.now += WG_NSEC_PER_SEC / 10;
		wg_device_tick(&p->a.dev);
		wg_device_tick(&p->b.dev);
		pump(&p->net);
	}
}

static void test_rekey(void **state)
{
	struct pair *p = pair_new();
	struct noise_keypair *first;

	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 1);
	pump(&p->net);
	first = p->a.peer->kp_current;
	uint32_t first_idx = first->local_index;
	advance(p, 60);
	assert_ptr_equal(p->a.peer->kp_current, first);	/* too young to rekey */
	advance(p, 61);
	/* REKEY_AFTER_TIME passed: the initiator's next send starts a new handshake */
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 2);
	pump(&p->net);
	assert_ptr_not_equal(p->a.peer->kp_current, first);
	assert_ptr_equal(p->a.peer->kp_previous, first);
	assert_int_equal(p->a.peer->kp_previous->local_index, first_idx);
	assert_int_equal(p->b.ntun, 2);
	tun_send(&p->b, "198.19.0.2", "198.19.0.1", 80, 3);
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 4);
	pump(&p->net);
	assert_got(&p->a, p->a.ntun - 1, "198.19.0.2", "198.19.0.1", 80, 3);
	assert_got(&p->b, p->b.ntun - 1, "198.19.0.1", "198.19.0.2", 80, 4);
	pair_free(p);
}

static void test_expiry_and_retry(void **state)
{
	struct pair *p = pair_new();

	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 1);
	pump(&p->net);
	assert_non_null(p->a.peer->kp_current);
	/* nothing sent for REJECT_AFTER_TIME: keys are gone on both sides */
	advance(p, 181);
	assert_null(p->a.peer->kp_current);
	assert_null(p->b.peer->kp_current);
	/* a lossy network: the initiation is retried every REKEY_TIMEOUT */
	p->net.drop_all = true;
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 2);
	pump(&p->net);
	uint64_t tx = p->a.peer->tx_bytes;
	advance(p, 11);
	assert_true(p->a.peer->tx_bytes >= tx + 2 * WG_MSG_INITIATION_LEN);
	p->net.drop_all = false;
	advance(p, 6);
	assert_non_null(p->a.peer->kp_current);
	assert_int_equal(p->a.peer->staged_count, 0);
	assert_got(&p->b, p->b.ntun - 1, "198.19.0.1", "198.19.0.2", 80, 2);
	pair_free(p);
}

static void test_persistent_keepalive(void **state)
{
	struct pair *p = pair_new();

	/* with a persistent keepalive, a brings the session up on its own */
	wg_peer_set_persistent_keepalive(p->a.peer, 25);
	advance(p, 1);
	assert_non_null(p->a.peer->kp_current);
	assert_non_null(p->b.peer->kp_current);
	assert_int_equal(p->b.ntun, 0);	/* keepalives never reach the tun device */
	uint64_t rx = p->b.peer->rx_bytes;
	advance(p, 26);
	assert_true(p->b.peer->rx_bytes > rx);
	pair_free(p);
}

static void test_remove_peer(void **state)
{
	struct pair *p = pair_new();

	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 1);
	pump(&p->net);
	assert_true(p->b.dev.n_index > 0);
	wg_device_remove_peer(&p->b.dev, p->b.peer);
	assert_int_equal(p->b.dev.n_index, 0);
	assert_int_equal(aip_count(p->b.dev.aip), 0);
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 2);
	pump(&p->net);
	assert_int_equal(p->b.ntun, 1);
	assert_int_equal(p->b.dev.drops[WG_DROP_UNKNOWN_INDEX], 1);
	pair_free(p);
}

static void test_cookie_under_load(void **state)
{
	struct pair *p = pair_new();

	/* b's handshake queue was deep a moment ago: it is under load */
	wg_device_note_load(&p->b.dev, p->net.now);
	assert_int_equal(wg_peer_send_initiation(p->a.peer, false), 0);
	assert_true(deliver_one(&p->net));	/* initiation -> cookie reply */
	assert_int_equal(p->b.dev.drops[WG_DROP_COOKIE_SENT], 1);
	assert_null(p->b.peer->kp_next);
	assert_int_equal(p->net.nq, 1);
	assert_int_equal(p->net.q[0].data[0], WG_MSG_COOKIE_REPLY);
	pump(&p->net);
	assert_int_equal(p->a.dev.drops[WG_DROP_BAD_COOKIE], 0);
	assert_true(p->a.peer->cookie.have_cookie);
	/* the retry carries MAC2 and is served although b is still under load */
	assert_int_equal(wg_peer_send_initiation(p->a.peer, true), 0);
	pump(&p->net);
	assert_int_equal(p->b.dev.drops[WG_DROP_COOKIE_SENT], 1);
	assert_non_null(p->a.peer->kp_current);
	pair_free(p);
}

/* Replies leave from the address the peer sent to; one the engine had to give up (it has gone
 * from the host) is forgotten, and the next packet from the peer teaches it again. */
static void test_source_address(void **state)
{
	struct pair *p = pair_new();
	struct in_addr want;

	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 1);
	pump(&p->net);
	inet_pton(AF_INET, "198.18.0.2", &want);	/* b's address that a sent to */
	assert_int_equal(p->b.peer->endpoint.local.in.s_addr, want.s_addr);
	/* a reaches b at another of b's addresses: b answers from that one */
	set_addr(&p->b.addr, "198.18.0.22", 51821);
	wg_peer_set_endpoint(p->a.peer, &p->b.addr);
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 2);
	pump(&p->net);
	assert_int_equal(p->b.ntun, 2);
	tun_send(&p->b, "198.19.0.2", "198.19.0.1", 90, 3);
	assert_int_equal(p->net.nq, 1);
	inet_pton(AF_INET, "198.18.0.22", &want);
	assert_int_equal(p->net.q[0].dst.local.in.s_addr, want.s_addr);
	assert_true(endpoint_equal(&p->net.q[0].dst, &p->a.addr));
	pump(&p->net);
	/* the address goes: the send falls over, the peer's endpoint keeps no source */
	p->net.src_gone = true;
	tun_send(&p->b, "198.19.0.2", "198.19.0.1", 90, 4);
	assert_int_equal(p->b.peer->endpoint.local.in.s_addr, 0);
	assert_true(endpoint_equal(&p->b.peer->endpoint, &p->a.addr));
	p->net.src_gone = false;
	pump(&p->net);
	assert_int_equal(p->a.ntun, 2);
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 5);
	pump(&p->net);
	assert_int_equal(p->b.peer->endpoint.local.in.s_addr, want.s_addr);
	assert_int_equal(p->b.dev.drops[WG_DROP_SEND_FAILED] + p->b.dev.drops[WG_DROP_SEND_FULL], 0);
	pair_free(p);
}

/* A full socket loses what did not fit, counted as send_full, and the device goes on. */
static void test_send_full(void **state)
{
	struct pair *p = pair_new();

	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 1);
	pump(&p->net);
	p->net.full = true;
	p->net.room = 0;
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 2);
	assert_int_equal(p->a.dev.drops[WG_DROP_SEND_FULL], 1);
	/* a batch of which two fit */
	static uint8_t bufs[5][WG_PKT_HEADROOM + 200 + WG_PKT_TAILROOM];
	struct wg_pkt pkts[5];
	for (int i = 0; i < 5; i++) {
		pkts[i].data = bufs[i] + WG_PKT_HEADROOM;
		pkts[i].len = make_ip4(pkts[i].data, "198.19.0.1", "198.19.0.2", 100, (uint8_t)(10 + i));
	}
	p->net.room = 2;
	wg_device_tun_input(&p->a.dev, pkts, 5);
	assert_int_equal(p->a.dev.drops[WG_DROP_SEND_FULL], 4);
	assert_int_equal(p->a.dev.drops[WG_DROP_SEND_FAILED], 0);
	assert_int_equal(p->net.nq, 2);
	p->net.full = false;
	pump(&p->net);
	tun_send(&p->a, "198.19.0.1", "198.19.0.2", 80, 3);
	pump(&p->net);
	assert_int_equal(p->b.ntun, 4);
	assert_got(&p->b, 3, "198.19.0.1", "198.19.0.2", 80, 3);
	assert_string_equal(wg_drop_name(WG_DROP_SEND_FULL), "send_full");
	pair_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_data),
		cmocka_unit_test(test_no_route),
		cmocka_unit_test(test_unallowed_source),
		cmocka_unit_test(test_roaming),
		cmocka_unit_test(test_source_address),
		cmocka_unit_test(test_send_full),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_rekey),
		cmocka_unit_test(test_expiry_and_retry),
		cmocka_unit_test(test_persistent_keepalive),
		cmocka_unit_test(test_remove_peer),
		cmocka_unit_test(test_cookie_under_load),
		cmocka_unit_test(test_routing_loop),
		cmocka_unit_test(test_routing_loop_icmp),
		cmocka_unit_test(test_too_big_icmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
