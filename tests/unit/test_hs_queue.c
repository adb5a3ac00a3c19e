/* The handshake queue: bounded, "under load" from its depth (never from garbage), state
 * installed by the consumer only when the key and peer did not change meanwhile, a new private
 * key handshaking at once, and data delivered by a worker thread while a handshake thread
 * works through a flood. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <endian.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ip_craft.h"
#include "wg/allowedips.h"
#include "wg/crypto.h"
#include "wg/device.h"
#include "wg/peer.h"

enum { BUF = 256, OUTQ = 64, N_DATA = 20000, BATCH = 32 };
#define T0 (1000 * WG_NSEC_PER_SEC)

/* One device and what it sent: the last OUTQ datagrams kept, all counted. */
struct host {
	struct wg_device dev;
	struct endpoint addr;
	uint64_t now;
	pthread_mutex_t lock;		/* out[], n_out */
	uint8_t out[OUTQ][BUF];
	uint32_t out_len[OUTQ];
	unsigned int n_out;
	unsigned long sent, tun;	/* atomic */
	struct wg_peer *peer;
	unsigned long tun_without_session;	/* tun writes while the peer had no current session */
	uint8_t **capture;		/* a's data messages, when set */
	uint32_t *capture_len;
	unsigned int n_capture;
};

static int h_send(void *ctx, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct host *h = ctx;

	(void)ep;
	pthread_mutex_lock(&h->lock);
	for (unsigned int i = 0; i < n; i++) {
		if (h->capture && h->n_capture < N_DATA) {
			memcpy(h->capture[h->n_capture], pkts[i].data, pkts[i].len);
			h->capture_len[h->n_capture++] = pkts[i].len;
		} else if (h->n_out < OUTQ && pkts[i].len <= BUF) {
			memcpy(h->out[h->n_out], pkts[i].data, pkts[i].len);
			h->out_len[h->n_out++] = pkts[i].len;
		}
	}
	pthread_mutex_unlock(&h->lock);
	__atomic_add_fetch(&h->sent, n, __ATOMIC_RELAXED);
	return (int)n;
}

static int h_tun(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	struct host *h = ctx;

	(void)pkts;
	/* what another worker would find, were the packets answered at once */
	if (h->peer && !h->peer->kp_current)
		__atomic_add_fetch(&h->tun_without_session, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->tun, n, __ATOMIC_RELAXED);
	return (int)n;
}

static uint64_t h_now(void *ctx)
{
	return __atomic_load_n(&((struct host *)ctx)->now, __ATOMIC_RELAXED);
}

static void h_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	uint64_t t = h_now(ctx) + 1700000000ULL * WG_NSEC_PER_SEC;

	*sec = (int64_t)(t / WG_NSEC_PER_SEC);
	*nsec = (int64_t)(t % WG_NSEC_PER_SEC);
}

static void host_init(struct host *h, const char *ip, uint16_t port)
{
	struct wg_device_ops ops = { .udp_send = h_send, .tun_write = h_tun, .now = h_now,
				     .wall = h_wall, .ctx = h };
	uint8_t k[32];

	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->now = T0;
	h->addr.in4.sin_family = AF_INET;
	h->addr.in4.sin_port = htons(port);
	inet_pton(AF_INET, ip, &h->addr.in4.sin_addr);
	assert_int_equal(wg_device_init(&h->dev, "t", &ops), 0);
	crypto_x25519_keygen(k);
	assert_int_equal(wg_device_set_private_key(&h->dev, k), 0);
	crypto_wipe(k, sizeof(k));
}

static void host_free(struct host *h)
{
	wg_device_uninit(&h->dev);
	pthread_mutex_destroy(&h->lock);
}

/* b knows a as its peer (tunnel 198.19.0.1), a knows b (198.19.0.2) at b's address. */
static void link_hosts(struct host *a, struct host *b)
{
	uint8_t ip[4];

	a->peer = wg_device_add_peer(&a->dev, b->dev.identity.static_public);
	b->peer = wg_device_add_peer(&b->dev, a->dev.identity.static_public);
	assert_non_null(a->peer);
	assert_non_null(b->peer);
	wg_peer_set_endpoint(a->peer, &b->addr);
	inet_pton(AF_INET, "198.19.0.2", ip);
	assert_int_equal(aip_insert(a->dev.aip, AF_INET, ip, 32, a->peer), 0);
	inet_pton(AF_INET, "198.19.0.1", ip);
	assert_int_equal(aip_insert(b->dev.aip, AF_INET, ip, 32, b->peer), 0);
}

/* The two hosts most tests use: a at 198.18.0.1:1 and b at 198.18.0.2:2, each the other's peer. */
static void pair_init(struct host *a, struct host *b)
{
	host_init(a, "198.18.0.1", 1);
	host_init(b, "198.18.0.2", 2);
	link_hosts(a, b);
}

/* Delivers what from sent (and forgets it) to to, one datagram at a time. */
static unsigned int deliver(struct host *from, struct host *to)
{
	uint8_t buf[WG_PKT_HEADROOM + BUF + WG_PKT_TAILROOM];
	unsigned int n;

	pthread_mutex_lock(&from->lock);
	n = from->n_out;
	pthread_mutex_unlock(&from->lock);
	for (unsigned int i = 0; i < n; i++) {
		struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM, .len = from->out_len[i], .ep = from->addr };
		memcpy(pkt.data, from->out[i], pkt.len);
		wg_device_udp_input(&to->dev, &pkt, 1);
	}
	pthread_mutex_lock(&from->lock);
	from->n_out = 0;
	pthread_mutex_unlock(&from->lock);
	return n;
}

/* An initiation to b with a valid MAC1 and random content (what a flooder that knows b's
 * public key sends); from src. */
static void junk_initiation(struct host *b, struct wg_pkt *pkt, uint8_t *buf, const struct endpoint *src)
{
	struct cookie_maker m;

	cookie_maker_init(&m, b->dev.identity.static_public);
	pkt->data = buf;
	pkt->len = WG_MSG_INITIATION_LEN;
	pkt->ep = *src;
	crypto_random(buf, WG_MSG_INITIATION_LEN);
	buf[0] = WG_MSG_INITIATION;
	buf[1] = buf[2] = buf[3] = 0;
	cookie_add_macs(&m, buf, WG_MSG_INITIATION_LEN, b->now);
	cookie_maker_wipe(&m);
}

static void feed_junk(struct host *b, unsigned int n, const struct endpoint *src)
{
	static uint8_t bufs[BATCH][WG_PKT_HEADROOM + WG_MSG_INITIATION_LEN + WG_PKT_TAILROOM];
	struct wg_pkt pkts[BATCH];

	while (n) {
		unsigned int k = n < BATCH ? n : BATCH;
		for (unsigned int i = 0; i < k; i++)
			junk_initiation(b, &pkts[i], bufs[i] + WG_PKT_HEADROOM, src);
		wg_device_udp_input(&b->dev, pkts, k);
		n -= k;
	}
}

static void test_queue_bounds(void **state)
{
	struct host b;

	(void)state;
	host_init(&b, "198.18.0.2", 2);
	wg_device_handshake_external(&b.dev, true);
	feed_junk(&b, WG_HS_QUEUE_LEN + 100, &b.addr);
	/* the main ring full, one source gets its burst into the unproven ring and no more */
	assert_int_equal(wg_device_handshake_depth(&b.dev), WG_HS_QUEUE_LEN + RATELIMIT_BURST);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_LIMITED], 100 - RATELIMIT_BURST);
	assert_int_equal(b.dev.drops[WG_DROP_QUEUE_FULL], 0);
	assert_int_equal(b.dev.drops[WG_DROP_BAD_MAC1], 0);
	assert_int_equal(b.sent, 0);	/* nothing handled while nobody serves */
	/* a turn takes exactly its budget; deep as it is, b answers with cookies */
	assert_int_equal(wg_device_handshake_run(&b.dev, 10), 10);
	assert_int_equal(wg_device_handshake_depth(&b.dev), WG_HS_QUEUE_LEN + RATELIMIT_BURST - 10);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_SENT], 10);
	assert_int_equal(b.sent, 10);
	assert_int_equal(b.out[0][0], WG_MSG_COOKIE_REPLY);
	/* room again: the next message is queued */
	feed_junk(&b, 1, &b.addr);
	assert_int_equal(wg_device_handshake_depth(&b.dev), WG_HS_QUEUE_LEN + RATELIMIT_BURST - 9);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_LIMITED], 100 - RATELIMIT_BURST);
	host_free(&b);
}

/* src with its last byte of address set to i: a source of its own (another bucket) */
static struct endpoint source(const char *ip, unsigned int i)
{
	struct endpoint e = { 0 };

	e.in4.sin_family = AF_INET;
	e.in4.sin_port = htons(7);
	inet_pton(AF_INET, ip, &e.in4.sin_addr);
	e.in4.sin_addr.s_addr = htonl(ntohl(e.in4.sin_addr.s_addr) + i);
	return e;
}

/* A junk initiation from src with a valid MAC2 too: src took the cookie b's secret gives it
 * (what wg_flood does from its own address). */
static void feed_proven(struct host *b, unsigned int n, const struct endpoint *src)
{
	static uint8_t buf[WG_PKT_HEADROOM + WG_MSG_INITIATION_LEN + WG_PKT_TAILROOM];
	uint8_t addr[COOKIE_ADDR_MAX], cookie[WG_COOKIE_LEN];
	size_t alen = cookie_addr_from_sockaddr(addr, &src->sa);
	struct wg_pkt pkt;

	assert_true(b->dev.mac2_set);
	crypto_blake2s(cookie, WG_COOKIE_LEN, addr, alen, b->dev.mac2_secret, WG_HASH_LEN);
	for (unsigned int i = 0; i < n; i++) {
		junk_initiation(b, &pkt, buf + WG_PKT_HEADROOM, src);
		crypto_blake2s(pkt.data + pkt.len - WG_MAC_LEN, WG_MAC_LEN, pkt.data, pkt.len - WG_MAC_LEN,
			       cookie, WG_COOKIE_LEN);
		wg_device_udp_input(&b->dev, &pkt, 1);
	}
}

/* Bad MAC1 into a full queue: its own drop reason, and no token of the source it claims. */
static void feed_bad_mac1(struct host *b, unsigned int n, const struct endpoint *src)
{
	static uint8_t buf[WG_PKT_HEADROOM + WG_MSG_INITIATION_LEN + WG_PKT_TAILROOM];
	struct wg_pkt pkt;

	for (unsigned int i = 0; i < n; i++) {
		junk_initiation(b, &pkt, buf + WG_PKT_HEADROOM, src);
		pkt.data[pkt.len - 2 * WG_MAC_LEN] ^= 1;
		wg_device_udp_input(&b->dev, &pkt, 1);
	}
}

/* Under a flood that keeps the main ring full, a real peer still gets a cookie at its first
 * try and a handshake at its second, served before the flood; the flood's bad MAC1s, its
 * proven messages and its unproven ones each have their counter. */
static void test_flood_leaves_room_for_mac2(void **state)
{
	struct host a, b;
	struct endpoint att = source("198.18.5.5", 0);

	(void)state;
	pair_init(&a, &b);
	wg_device_handshake_external(&a.dev, true);
	wg_device_handshake_external(&b.dev, true);
	feed_junk(&b, WG_HS_QUEUE_LEN + 50, &att);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_LIMITED], 50 - RATELIMIT_BURST);
	/* garbage claiming to be a costs a nothing: dropped for its MAC1, full queue or not */
	feed_bad_mac1(&b, 100, &a.addr);
	assert_int_equal(b.dev.drops[WG_DROP_BAD_MAC1], 100);
	assert_int_equal(b.dev.drops[WG_DROP_QUEUE_FULL], 0);

	/* a's first initiation has no cookie: the unproven ring, served before the main one */
	assert_int_equal(wg_peer_send_initiation(a.peer, false), 0);
	assert_int_equal(deliver(&a, &b), 1);
	assert_int_equal(wg_device_handshake_depth(&b.dev), WG_HS_QUEUE_LEN + RATELIMIT_BURST + 1);
	assert_int_equal(wg_device_handshake_run(&b.dev, RATELIMIT_BURST + 1), RATELIMIT_BURST + 1);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_SENT], RATELIMIT_BURST + 1);
	assert_int_equal(b.n_out, RATELIMIT_BURST + 1);
	assert_int_equal(b.out[RATELIMIT_BURST][0], WG_MSG_COOKIE_REPLY);
	deliver(&b, &a);	/* the flood's replies name no handshake of a's */
	assert_int_equal(a.dev.drops[WG_DROP_UNKNOWN_INDEX], RATELIMIT_BURST);
	assert_int_equal(wg_device_handshake_run(&a.dev, 8), 1);
	assert_true(a.peer->cookie.have_cookie);
	assert_true(b.dev.mac2_set);	/* making the cookie published b's secret */

	/* the flood takes cookies too: its proven messages get one source's burst, no more;
	 * unproven ones from 200 spoofed sources fill the unproven ring */
	feed_proven(&b, 100, &att);
	assert_int_equal(b.dev.drops[WG_DROP_RATELIMITED], 100 - RATELIMIT_BURST);
	for (unsigned int i = 0; i < 200; i++) {
		struct endpoint e = source("198.18.64.0", i);
		feed_junk(&b, 1, &e);
	}
	assert_int_equal(b.dev.drops[WG_DROP_QUEUE_FULL], 200 - WG_HS_UNPROVEN_LEN);
	assert_int_equal(wg_device_handshake_depth(&b.dev),
			 WG_HS_QUEUE_LEN + RATELIMIT_BURST + WG_HS_UNPROVEN_LEN);

	/* a's retry carries MAC2: queued, and handled right after the flood's proven burst, even
	 * in one batch behind spoofed initiations from a's address that use up a's cookie bucket */
	a.now = b.now = T0 + 6 * WG_NSEC_PER_SEC;
	assert_int_equal(wg_peer_send_initiation(a.peer, true), 0);
	assert_int_equal(a.n_out, 1);
	{
		static uint8_t bufs[BATCH][WG_PKT_HEADROOM + WG_MSG_INITIATION_LEN + WG_PKT_TAILROOM];
		struct wg_pkt pkts[BATCH];
		uint64_t limited = b.dev.drops[WG_DROP_COOKIE_LIMITED];
		for (unsigned int i = 0; i < BATCH - 1; i++)
			junk_initiation(&b, &pkts[i], bufs[i] + WG_PKT_HEADROOM, &a.addr);
		pkts[BATCH - 1] = (struct wg_pkt){ .data = bufs[BATCH - 1] + WG_PKT_HEADROOM,
						   .len = a.out_len[0], .ep = a.addr };
		memcpy(pkts[BATCH - 1].data, a.out[0], a.out_len[0]);
		a.n_out = 0;
		wg_device_udp_input(&b.dev, pkts, BATCH);
		assert_true(b.dev.drops[WG_DROP_COOKIE_LIMITED] > limited);
	}
	assert_int_equal(b.dev.drops[WG_DROP_PROVEN_FULL], 0);
	b.n_out = 0;
	assert_int_equal(wg_device_handshake_run(&b.dev, RATELIMIT_BURST + 1), RATELIMIT_BURST + 1);
	assert_non_null(b.peer->kp_next);
	assert_int_equal(b.n_out, 1);
	assert_int_equal(b.out[0][0], WG_MSG_RESPONSE);
	/* the flood's proven burst was junk; it reached the Diffie-Hellman and failed there */
	assert_int_equal(b.dev.drops[WG_DROP_BAD_HANDSHAKE], RATELIMIT_BURST);
	deliver(&b, &a);
	assert_int_equal(wg_device_handshake_run(&a.dev, 8), 1);
	assert_non_null(a.peer->kp_current);
	host_free(&a);
	host_free(&b);
}

/* However many sources prove themselves, the rings stay their size. */
static void test_priority_rings_bounded(void **state)
{
	struct host a, b;
	struct endpoint att = source("198.18.5.5", 0);

	(void)state;
	pair_init(&a, &b);
	wg_device_handshake_external(&b.dev, true);
	feed_junk(&b, WG_HS_QUEUE_LEN + 1, &att);
	assert_int_equal(wg_device_handshake_run(&b.dev, 1), 1);	/* a cookie: the secret */
	for (unsigned int i = 0; i < 300; i++) {
		struct endpoint e = source("198.18.64.0", i);
		feed_proven(&b, 2, &e);
		feed_junk(&b, 2, &e);
	}
	assert_int_equal(b.dev.drops[WG_DROP_PROVEN_FULL], 600 - WG_HS_PROVEN_LEN);
	assert_int_equal(b.dev.drops[WG_DROP_QUEUE_FULL], 600 - WG_HS_UNPROVEN_LEN);
	assert_int_equal(b.dev.drops[WG_DROP_RATELIMITED] + b.dev.drops[WG_DROP_COOKIE_LIMITED], 0);
	assert_int_equal(wg_device_handshake_depth(&b.dev),
			 WG_HS_QUEUE_LEN + WG_HS_PROVEN_LEN + WG_HS_UNPROVEN_LEN);
	/* served in order: the proven ring, then the unproven one (cookie replies), then main */
	b.n_out = 0;
	assert_int_equal(wg_device_handshake_run(&b.dev, WG_HS_PROVEN_LEN), WG_HS_PROVEN_LEN);
	assert_int_equal(b.dev.drops[WG_DROP_BAD_HANDSHAKE], WG_HS_PROVEN_LEN);
	assert_int_equal(b.n_out, 0);
	uint64_t cookies = b.dev.drops[WG_DROP_COOKIE_SENT];
	assert_int_equal(wg_device_handshake_run(&b.dev, WG_HS_UNPROVEN_LEN), WG_HS_UNPROVEN_LEN);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_SENT], cookies + WG_HS_UNPROVEN_LEN);
	assert_int_equal(wg_device_handshake_depth(&b.dev), WG_HS_QUEUE_LEN);
	host_free(&a);
	host_free(&b);
}

/* A cookie reply has no MAC1, only an index of ours: with the main ring full, replies naming
 * a live index take the unproven ring only as far as their source's cookie bucket goes, so one
 * who saw the index on the wire cannot fill that ring; another source still gets in. */
static void test_cookie_replies_to_full_queue(void **state)
{
	struct host a, b;
	struct endpoint att = source("198.18.5.5", 0), other = source("198.18.6.6", 0);
	static uint8_t buf[WG_PKT_HEADROOM + WG_MSG_COOKIE_REPLY_LEN + WG_PKT_TAILROOM];
	struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM, .len = WG_MSG_COOKIE_REPLY_LEN };
	uint8_t idx[4];

	(void)state;
	pair_init(&a, &b);
	wg_device_handshake_external(&a.dev, true);
	feed_junk(&a, WG_HS_QUEUE_LEN, &att);
	assert_int_equal(wg_device_handshake_depth(&a.dev), WG_HS_QUEUE_LEN);
	/* a's initiation to b: its sender index is what the replies name */
	a.n_out = 0;
	assert_int_equal(wg_peer_send_initiation(a.peer, false), 0);
	assert_int_equal(a.n_out, 1);
	memcpy(idx, a.out[0] + 4, 4);
	for (unsigned int i = 0; i < 100; i++) {
		pkt.ep = att;
		crypto_random(pkt.data, pkt.len);
		pkt.data[0] = WG_MSG_COOKIE_REPLY;
		pkt.data[1] = pkt.data[2] = pkt.data[3] = 0;
		memcpy(pkt.data + 4, idx, 4);
		wg_device_udp_input(&a.dev, &pkt, 1);
	}
	assert_int_equal(wg_device_handshake_depth(&a.dev), WG_HS_QUEUE_LEN + RATELIMIT_BURST);
	assert_int_equal(a.dev.drops[WG_DROP_COOKIE_LIMITED], 100 - RATELIMIT_BURST);
	assert_int_equal(a.dev.drops[WG_DROP_QUEUE_FULL], 0);
	pkt.ep = other;
	wg_device_udp_input(&a.dev, &pkt, 1);
	assert_int_equal(wg_device_handshake_depth(&a.dev), WG_HS_QUEUE_LEN + RATELIMIT_BURST + 1);
	host_free(&a);
	host_free(&b);
}

/* The responder's first data makes the new session current before the data reaches its tun:
 * an answer read at once by another worker must find the session (the module's order), not
 * stage the answer and start a handshake of its own, a second one in the opposite direction
 * (what tests/e2e/wg_kernel_compat.sh saw now and then on two cores). */
static void test_session_current_before_delivery(void **state)
{
	struct host a, b;
	uint8_t buf[WG_PKT_HEADROOM + 100 + WG_PKT_TAILROOM];
	struct wg_pkt p = { .data = buf + WG_PKT_HEADROOM, .len = 100 };

	(void)state;
	pair_init(&a, &b);
	make_ip4(p.data, "198.19.0.1", "198.19.0.2", 100, 0);
	wg_device_tun_input(&a.dev, &p, 1);	/* staged; a initiates */
	assert_int_equal(deliver(&a, &b), 1);
	assert_int_equal(deliver(&b, &a), 1);	/* the response; a sends what it staged */
	assert_null(b.peer->kp_current);
	assert_int_equal(deliver(&a, &b), 1);
	assert_int_equal(b.tun, 1);
	assert_non_null(b.peer->kp_current);
	assert_int_equal(b.tun_without_session, 0);
	host_free(&a);
	host_free(&b);
}

static void test_load_from_depth(void **state)
{
	struct host b;

	(void)state;
	host_init(&b, "198.18.0.2", 2);
	wg_device_handshake_external(&b.dev, true);
	assert_false(wg_device_under_load(&b.dev, b.now));
	feed_junk(&b, WG_HS_LOAD_DEPTH - 1, &b.addr);
	assert_false(wg_device_under_load(&b.dev, b.now));
	feed_junk(&b, 1, &b.addr);
	assert_true(wg_device_under_load(&b.dev, b.now));
	/* drained, it stays under load for a second, as the module does */
	while (wg_device_handshake_run(&b.dev, 1000))
		b.n_out = 0;
	assert_int_equal(wg_device_handshake_depth(&b.dev), 0);
	assert_true(wg_device_under_load(&b.dev, b.now + WG_NSEC_PER_SEC / 2));
	assert_false(wg_device_under_load(&b.dev, b.now + WG_NSEC_PER_SEC));
	host_free(&b);
}

/* Where no thread serves the queue (the TCP and ICMP transports), each batch is served at once
 * and the depth never builds: the rate is the load. A flood gets the DH for its first
 * WG_HS_LOAD_DEPTH - 1 messages of a second, then, as behind a full queue, the per-source
 * buckets come first: its burst gets cookie replies and the rest is refused before any hash.
 * Those refusals keep the device under load while the consumer sees only the bursts (else a
 * flood would buy WG_HS_LOAD_DEPTH DH every other second). With a thread serving, as many
 * messages a second, each batch drained before the next, are no load. */
static void test_load_inline_from_rate(void **state)
{
	struct host b, c;

	(void)state;
	host_init(&b, "198.18.0.2", 2);
	feed_junk(&b, WG_HS_LOAD_DEPTH - 1, &b.addr);
	assert_int_equal(wg_device_handshake_depth(&b.dev), 0);
	assert_int_equal(b.dev.drops[WG_DROP_BAD_HANDSHAKE], WG_HS_LOAD_DEPTH - 1);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_SENT], 0);
	assert_false(wg_device_under_load(&b.dev, b.now));
	feed_junk(&b, 1, &b.addr);
	assert_int_equal(b.dev.drops[WG_DROP_BAD_HANDSHAKE], WG_HS_LOAD_DEPTH - 1);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_SENT], 1);
	feed_junk(&b, 100, &b.addr);
	assert_int_equal(b.dev.drops[WG_DROP_BAD_HANDSHAKE], WG_HS_LOAD_DEPTH - 1);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_SENT], 1 + RATELIMIT_BURST);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_LIMITED], 100 - RATELIMIT_BURST);
	assert_int_equal(b.sent, 1 + RATELIMIT_BURST);
	assert_int_equal(b.out[0][0], WG_MSG_COOKIE_REPLY);
	/* three more bursts 0.9 s apart: by the third the consumer has not found the load itself
	 * for 1.8 s, and without the refusals' word every one of them would get the DH */
	for (int i = 0; i < 3; i++) {
		b.now += WG_NSEC_PER_SEC * 9 / 10;
		feed_junk(&b, 100, &b.addr);
	}
	assert_int_equal(b.dev.drops[WG_DROP_BAD_HANDSHAKE], WG_HS_LOAD_DEPTH - 1);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_SENT], 1 + 4 * RATELIMIT_BURST);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_LIMITED], 4 * (100 - RATELIMIT_BURST));
	/* a quiet second later, the next initiation gets the DH again */
	b.now += 2 * WG_NSEC_PER_SEC;
	feed_junk(&b, 1, &b.addr);
	assert_int_equal(b.dev.drops[WG_DROP_BAD_HANDSHAKE], WG_HS_LOAD_DEPTH);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_SENT], 1 + 4 * RATELIMIT_BURST);
	host_free(&b);

	host_init(&c, "198.18.0.2", 2);
	wg_device_handshake_external(&c.dev, true);
	for (int round = 0; round < 3; round++) {
		feed_junk(&c, WG_HS_LOAD_DEPTH / 2, &c.addr);
		while (wg_device_handshake_run(&c.dev, 1000))
			;
	}
	assert_int_equal(c.dev.drops[WG_DROP_BAD_HANDSHAKE], 3 * (WG_HS_LOAD_DEPTH / 2));
	assert_int_equal(c.dev.drops[WG_DROP_COOKIE_SENT], 0);
	host_free(&c);
}

/* Spoofed datagrams without a valid MAC1, however many, never queue and never make b ask
 * the real peer for a cookie. */
static void test_garbage_no_load(void **state)
{
	static uint8_t bufs[BATCH][WG_PKT_HEADROOM + WG_MSG_INITIATION_LEN + WG_PKT_TAILROOM];
	struct wg_pkt pkts[BATCH];
	struct host a, b;
	unsigned int n = 0;

	(void)state;
	pair_init(&a, &b);
	for (int round = 0; round < 200; round++) {
		for (unsigned int i = 0; i < BATCH; i++) {
			pkts[i].data = bufs[i] + WG_PKT_HEADROOM;
			pkts[i].len = i & 1 ? WG_MSG_INITIATION_LEN : WG_MSG_RESPONSE_LEN;
			pkts[i].ep = a.addr;
			pkts[i].ep.in4.sin_port = htons((uint16_t)(1000 + i));
			crypto_random(pkts[i].data, pkts[i].len);
			pkts[i].data[0] = i & 1 ? WG_MSG_INITIATION : WG_MSG_RESPONSE;
			pkts[i].data[1] = pkts[i].data[2] = pkts[i].data[3] = 0;
		}
		wg_device_udp_input(&b.dev, pkts, BATCH);
		n += BATCH;
		assert_int_equal(wg_device_handshake_depth(&b.dev), 0);
	}
	assert_int_equal(b.dev.drops[WG_DROP_BAD_MAC1], n);
	assert_false(wg_device_under_load(&b.dev, b.now));
	/* the real peer's handshake is answered, not sent a cookie */
	assert_int_equal(wg_peer_send_initiation(a.peer, false), 0);
	assert_int_equal(deliver(&a, &b), 1);
	assert_int_equal(b.dev.drops[WG_DROP_COOKIE_SENT], 0);
	assert_non_null(b.peer->kp_next);
	assert_int_equal(b.out[0][0], WG_MSG_RESPONSE);
	host_free(&a);
	host_free(&b);
}

/* The consumer installs index, keypair, endpoint and counters; with the key changed between
 * queueing and handling, nothing is installed. */
static void test_installs_state(void **state)
{
	struct host a, b;
	uint8_t k[32];

	(void)state;
	pair_init(&a, &b);
	wg_device_handshake_external(&a.dev, true);
	wg_device_handshake_external(&b.dev, true);

	assert_int_equal(wg_peer_send_initiation(a.peer, false), 0);
	deliver(&a, &b);
	assert_int_equal(wg_device_handshake_depth(&b.dev), 1);
	assert_null(b.peer->kp_next);		/* queued, not handled */
	size_t idx_before = b.dev.n_index;
	assert_int_equal(wg_device_handshake_run(&b.dev, 8), 1);
	assert_non_null(b.peer->kp_next);
	assert_int_equal(b.dev.n_index, idx_before + 1);
	assert_ptr_equal(wg_index_lookup(&b.dev, b.peer->kp_next->local_index, WG_INDEX_KEYPAIR, NULL),
			 b.peer->kp_next);
	assert_true(endpoint_equal(&b.peer->endpoint, &a.addr));
	assert_int_equal(b.peer->rx_bytes, WG_MSG_INITIATION_LEN);
	assert_int_equal(b.peer->tx_bytes, WG_MSG_RESPONSE_LEN);
	assert_int_equal(b.n_out, 1);
	/* the response names the installed index */
	uint32_t sender;
	memcpy(&sender, b.out[0] + 4, 4);
	assert_int_equal(le32toh(sender), b.peer->kp_next->local_index);

	deliver(&b, &a);
	assert_null(a.peer->kp_current);
	assert_int_equal(wg_device_handshake_run(&a.dev, 8), 1);
	assert_non_null(a.peer->kp_current);
	assert_int_equal(a.peer->hs_index, 0);
	assert_int_equal(a.peer->rx_bytes, WG_MSG_RESPONSE_LEN);

	/* b's key changes while a's next initiation waits: b installs nothing */
	a.now = b.now = T0 + 10 * WG_NSEC_PER_SEC;
	a.n_out = 0;
	assert_int_equal(wg_peer_send_initiation(a.peer, false), 0);
	deliver(&a, &b);
	assert_int_equal(wg_device_handshake_depth(&b.dev), 1);
	struct noise_keypair *old_next = b.peer->kp_next;
	crypto_x25519_keygen(k);
	assert_int_equal(wg_device_set_private_key(&b.dev, k), 0);
	crypto_wipe(k, sizeof(k));
	assert_null(b.peer->kp_next);		/* the key change ended the sessions */
	(void)old_next;
	b.n_out = 0;
	assert_int_equal(wg_device_handshake_run(&b.dev, 8), 1);
	assert_null(b.peer->kp_next);
	assert_int_equal(b.n_out, 0);
	assert_int_equal(b.dev.drops[WG_DROP_BAD_MAC1], 1);
	host_free(&a);
	host_free(&b);
}

/* A new private key ends the sessions and the next packet initiates at once, although the
 * last initiation left less than REKEY_TIMEOUT ago. */
static void test_new_key_handshakes_at_once(void **state)
{
	static uint8_t buf[WG_PKT_HEADROOM + 100 + WG_PKT_TAILROOM];
	struct wg_pkt p = { .data = buf + WG_PKT_HEADROOM, .len = 100 };
	struct host a, b;
	uint8_t k[32];

	(void)state;
	pair_init(&a, &b);
	assert_int_equal(wg_peer_send_initiation(a.peer, false), 0);
	deliver(&a, &b);
	deliver(&b, &a);
	assert_non_null(a.peer->kp_current);
	a.n_out = 0;

	crypto_x25519_keygen(k);
	assert_int_equal(wg_device_set_private_key(&a.dev, k), 0);
	crypto_wipe(k, sizeof(k));
	assert_null(a.peer->kp_current);
	assert_null(a.peer->kp_previous);
	assert_int_equal(a.peer->hs_index, 0);
	/* the same key again changes nothing */
	assert_int_equal(wg_device_set_private_key(&a.dev, a.dev.identity.static_private), 0);

	make_ip4(p.data, "198.19.0.1", "198.19.0.2", 100, 0);
	wg_device_tun_input(&a.dev, &p, 1);
	assert_int_equal(a.peer->staged_count, 1);
	assert_int_equal(a.n_out, 1);
	assert_int_equal(a.out[0][0], WG_MSG_INITIATION);
	host_free(&a);
	host_free(&b);
}

/* ---- data keeps flowing while a handshake thread works ---- */

struct flood {
	struct host *a, *b;
	uint8_t **msgs;
	uint32_t *lens;
	bool stop;			/* atomic */
	unsigned long junk;
};

static void *data_worker(void *arg)
{
	static uint8_t bufs[BATCH][WG_PKT_HEADROOM + BUF + WG_PKT_TAILROOM];
	struct flood *f = arg;
	struct wg_pkt pkts[BATCH];

	noise_set_thread_slot(1);
	for (unsigned int n = 0; n < N_DATA;) {
		unsigned int k = N_DATA - n < BATCH ? N_DATA - n : BATCH;
		for (unsigned int i = 0; i < k; i++) {
			pkts[i].data = bufs[i] + WG_PKT_HEADROOM;
			pkts[i].len = f->lens[n + i];
			pkts[i].ep = f->a->addr;
			memcpy(pkts[i].data, f->msgs[n + i], pkts[i].len);
		}
		wg_device_udp_input(&f->b->dev, pkts, k);
		n += k;
	}
	return NULL;
}

static void *hs_worker(void *arg)
{
	struct flood *f = arg;

	noise_set_thread_slot(2);
	wg_device_handshake_serve(&f->b->dev);
	return NULL;
}

static void *flooder(void *arg)
{
	struct flood *f = arg;
	struct endpoint src = f->a->addr;

	src.in4.sin_addr.s_addr ^= htonl(0x100);	/* another host */
	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		feed_junk(f->b, BATCH, &src);
		f->junk += BATCH;
	}
	return NULL;
}

static void test_data_during_handshake_flood(void **state)
{
	static uint8_t pkt[WG_PKT_HEADROOM + 100 + WG_PKT_TAILROOM];
	struct host *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct flood f = { .a = a, .b = b };
	pthread_t td, th, tf;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	noise_set_slots(3);
	pair_init(a, b);
	/* a session first (inline turns), then N_DATA messages from a, captured */
	assert_int_equal(wg_peer_send_initiation(a->peer, false), 0);
	for (int i = 0; i < 4 && (deliver(a, b) + deliver(b, a)); i++)
		;
	assert_non_null(a->peer->kp_current);
	f.msgs = calloc(N_DATA, sizeof(*f.msgs));
	f.lens = calloc(N_DATA, sizeof(*f.lens));
	assert_non_null(f.msgs);
	assert_non_null(f.lens);
	for (unsigned int i = 0; i < N_DATA; i++)
		assert_non_null(f.msgs[i] = malloc(BUF));
	a->capture = f.msgs;
	a->capture_len = f.lens;
	for (unsigned int i = 0; i < N_DATA; i++) {
		struct wg_pkt p = { .data = pkt + WG_PKT_HEADROOM, .len = 100 };
		make_ip4(p.data, "198.19.0.1", "198.19.0.2", 100, 0);
		wg_device_tun_input(&a->dev, &p, 1);
	}
	assert_int_equal(a->n_capture, N_DATA);

	wg_device_handshake_external(&b->dev, true);
	assert_int_equal(pthread_create(&th, NULL, hs_worker, &f), 0);
	assert_int_equal(pthread_create(&tf, NULL, flooder, &f), 0);
	assert_int_equal(pthread_create(&td, NULL, data_worker, &f), 0);
	pthread_join(td, NULL);
	__atomic_store_n(&f.stop, true, __ATOMIC_RELEASE);
	pthread_join(tf, NULL);
	wg_device_handshake_stop(&b->dev);
	pthread_join(th, NULL);

	/* every data message reached the tun (the first confirmed b's session) */
	assert_int_equal(__atomic_load_n(&b->tun, __ATOMIC_RELAXED), N_DATA);
	assert_int_equal(b->dev.drops[WG_DROP_DECRYPT_FAILED] + b->dev.drops[WG_DROP_REPLAY], 0);
	/* and the handshake thread did work meanwhile */
	uint64_t handled = b->dev.drops[WG_DROP_BAD_HANDSHAKE] + b->dev.drops[WG_DROP_COOKIE_SENT];
	print_message("data %u, junk initiations %lu: handled %llu, queue_full %llu\n", N_DATA, f.junk,
		      (unsigned long long)handled, (unsigned long long)b->dev.drops[WG_DROP_QUEUE_FULL]);
	assert_true(handled > 0);
	assert_true(f.junk > 0);
	for (unsigned int i = 0; i < N_DATA; i++)
		free(f.msgs[i]);
	free(f.msgs);
	free(f.lens);
	host_free(a);
	host_free(b);
	free(a);
	free(b);
	noise_set_slots(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_bounds),
		cmocka_unit_test(test_flood_leaves_room_for_mac2),
		cmocka_unit_test(test_priority_rings_bounded),
		cmocka_unit_test(test_cookie_replies_to_full_queue),
		cmocka_unit_test(test_session_current_before_delivery),
		cmocka_unit_test(test_load_from_depth),
		cmocka_unit_test(test_load_inline_from_rate),
		cmocka_unit_test(test_garbage_no_load),
		cmocka_unit_test(test_installs_state),
		cmocka_unit_test(test_new_key_handshakes_at_once),
		cmocka_unit_test(test_data_during_handshake_flood),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
