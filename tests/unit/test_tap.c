/* Tap mode in-process: a hub and two spokes (devices wired by a fake UDP network), frames
 * through the switch, relaying by the hub, the AllowedIPs rules of tap mode, and a tun-mode
 * peer and a tap-mode peer rejecting each other's data. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wg/allowedips.h"
#include "wg/crypto.h"
#include "wg/device.h"
#include "wg/fdb.h"
#include "wg/peer.h"

enum { N_HOSTS = 3, MAX_Q = 256, BUF = 2048 };

struct dgram {
	uint8_t data[BUF];
	uint32_t len;
	struct endpoint src, dst;
};

struct net;
struct host {
	struct net *net;
	struct wg_device dev;
	struct endpoint addr;
	uint8_t tap[MAX_Q][BUF];	/* what the device wrote to its tap (or tun) */
	uint32_t tap_len[MAX_Q];
	unsigned int ntap;
};

struct net {
	uint64_t now;
	struct host h[N_HOSTS];		/* 0: hub, 1 and 2: spokes */
	struct dgram q[MAX_Q];
	unsigned int nq;
	struct wg_peer *hub_peer[N_HOSTS];	/* the hub's peer for spoke i */
	struct wg_peer *spoke_peer[N_HOSTS];	/* spoke i's peer (the hub) */
};

static int fake_udp_send(void *ctx, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct host *h = ctx;

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

static int fake_tap_write(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	struct host *h = ctx;

	for (unsigned int i = 0; i < n; i++) {
		assert_true(h->ntap < MAX_Q);
		memcpy(h->tap[h->ntap], pkts[i].data, pkts[i].len);
		h->tap_len[h->ntap++] = pkts[i].len;
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

static void pump(struct net *net)
{
	static uint8_t buf[WG_PKT_HEADROOM + BUF + WG_PKT_TAILROOM];

	for (int guard = 0; guard < 10000 && net->nq; guard++) {
		struct dgram d = net->q[0];

		memmove(&net->q[0], &net->q[1], (net->nq - 1) * sizeof(net->q[0]));
		net->nq--;
		for (int i = 0; i < N_HOSTS; i++) {
			struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM, .len = d.len, .ep = d.src };

			if (!endpoint_equal(&net->h[i].addr, &d.dst))
				continue;
			memcpy(pkt.data, d.data, d.len);
			wg_device_udp_input(&net->h[i].dev, &pkt, 1);
		}
	}
}

static void aip4(struct host *h, struct wg_peer *p, const char *ip, uint8_t cidr)
{
	uint8_t a[4];

	inet_pton(AF_INET, ip, a);
	assert_int_equal(aip_insert(h->dev.aip, AF_INET, a, cidr, p), 0);
}

/* Hub 198.18.0.1 with spokes .2 and .3; spoke i's LAN host is 198.19.0.(i+1), claimed for it
 * by the hub; the spokes give the hub the whole LAN. spoke_tun: spoke 2 runs in tun mode. */
static struct net *net_new(bool spoke_tun)
{
	struct net *net = calloc(1, sizeof(*net));
	uint8_t k[N_HOSTS][32];

	assert_non_null(net);
	net->now = 1000 * WG_NSEC_PER_SEC;
	for (int i = 0; i < N_HOSTS; i++) {
		struct host *h = &net->h[i];
		struct wg_device_ops ops = {
			.udp_send = fake_udp_send, .tun_write = fake_tap_write,
			.now = fake_now, .wall = fake_wall, .ctx = h,
		};
		char ip[32];

		h->net = net;
		snprintf(ip, sizeof(ip), "198.18.0.%d", i + 1);
		h->addr.in4.sin_family = AF_INET;
		h->addr.in4.sin_port = htons((uint16_t)(51820 + i));
		inet_pton(AF_INET, ip, &h->addr.in4.sin_addr);
		crypto_x25519_keygen(k[i]);
		assert_int_equal(wg_device_init(&h->dev, "tap", &ops), 0);
		if (!(spoke_tun && i == 2))
			assert_int_equal(wg_device_set_tap(&h->dev, NULL), 0);
		assert_int_equal(wg_device_set_private_key(&h->dev, k[i]), 0);
		h->dev.listen_port = (uint16_t)(51820 + i);
		crypto_wipe(k[i], sizeof(k[i]));
	}
	for (int i = 1; i < N_HOSTS; i++) {
		char ip[32];

		net->hub_peer[i] = wg_device_add_peer(&net->h[0].dev, net->h[i].dev.identity.static_public);
		net->spoke_peer[i] = wg_device_add_peer(&net->h[i].dev, net->h[0].dev.identity.static_public);
		assert_non_null(net->hub_peer[i]);
		assert_non_null(net->spoke_peer[i]);
		wg_peer_set_endpoint(net->spoke_peer[i], &net->h[0].addr);
		snprintf(ip, sizeof(ip), "198.19.0.%d", i + 1);
		aip4(&net->h[0], net->hub_peer[i], ip, 32);
		aip4(&net->h[i], net->spoke_peer[i], "198.19.0.0", 24);
	}
	return net;
}

static void net_free(struct net *net)
{
	for (int i = 0; i < N_HOSTS; i++)
		wg_device_uninit(&net->h[i].dev);
	free(net);
}

static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void mac_of(uint8_t mac[6], int host)
{
	static const uint8_t base[6] = { 0x02, 0, 0x5e, 0x10, 0, 0 };

	memcpy(mac, base, 6);
	mac[5] = (uint8_t)(host + 1);
}

/* An IPv4 frame of len bytes (odd lengths test that padding is cut) from src_ip. */
static uint32_t make_frame(uint8_t *f, const uint8_t dst[6], int from_host, const char *src_ip, uint32_t len)
{
	memset(f, 0, len);
	memcpy(f, dst, 6);
	mac_of(f + 6, from_host);
	f[12] = 0x08, f[13] = 0x00;
	f[14] = 0x45;
	f[23] = 17;
	inet_pton(AF_INET, src_ip, f + 26);
	for (uint32_t i = 34; i < len; i++)
		f[i] = (uint8_t)(i * 7 + len);
	return len;
}

/* Host h reads one frame from its tap. */
static void tap_send(struct host *h, const uint8_t *f, uint32_t len)
{
	static uint8_t buf[WG_PKT_HEADROOM + BUF + WG_PKT_TAILROOM];
	struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM, .len = len };

	memcpy(pkt.data, f, len);
	wg_device_tun_input(&h->dev, &pkt, 1);
}

static void assert_frame(struct host *h, unsigned int i, const uint8_t *f, uint32_t len)
{
	assert_true(h->ntap > i);
	assert_int_equal(h->tap_len[i], len);
	assert_memory_equal(h->tap[i], f, len);
}

static void clear_taps(struct net *net)
{
	for (int i = 0; i < N_HOSTS; i++)
		net->h[i].ntap = 0;
}

/* Spoke 2 then spoke 1 broadcast once, so the hub has a session with each. */
static void warm_up(struct net *net)
{
	uint8_t f[BUF];

	for (int i = 2; i >= 1; i--) {
		char ip[32];

		snprintf(ip, sizeof(ip), "198.19.0.%d", i + 1);
		tap_send(&net->h[i], f, make_frame(f, BCAST, i, ip, 60));
		pump(net);
	}
	assert_non_null(net->hub_peer[1]->kp_current);
	assert_non_null(net->hub_peer[2]->kp_current);
	clear_taps(net);
}

static void test_hub_switches(void **state)
{
	struct net *net = net_new(false);
	uint8_t f[BUF], m1[6], m2[6];
	struct wg_peer *port;
	uint32_t len;

	(void)state;
	/* The first broadcast: spoke 2 has no session with the hub, and the hub no endpoint
	 * of spoke 1: the hub's tap alone. */
	len = make_frame(f, BCAST, 2, "198.19.0.3", 60);
	tap_send(&net->h[2], f, len);
	pump(net);
	assert_int_equal(net->h[0].ntap, 1);
	assert_frame(&net->h[0], 0, f, len);
	clear_taps(net);
	/* A broadcast from spoke 1's LAN: the hub's tap and spoke 2, never back to spoke 1. */
	len = make_frame(f, BCAST, 1, "198.19.0.2", 61);
	tap_send(&net->h[1], f, len);
	pump(net);
	assert_int_equal(net->h[0].ntap, 1);
	assert_frame(&net->h[0], 0, f, len);
	assert_int_equal(net->h[2].ntap, 1);
	assert_frame(&net->h[2], 0, f, len);
	assert_int_equal(net->h[1].ntap, 0);
	mac_of(m1, 1);
	assert_true(fdb_lookup(net->h[0].dev.fdb, m1, 0, net->now, &port));
	assert_ptr_equal(port, net->hub_peer[1]);
	assert_true(fdb_lookup(net->h[1].dev.fdb, m1, 0, net->now, &port));
	assert_ptr_equal(port, FDB_LOCAL);

	/* Unicast from spoke 2's LAN to spoke 1's host: relayed by the hub, not on its tap. */
	clear_taps(net);
	len = make_frame(f, m1, 2, "198.19.0.3", 1400);
	tap_send(&net->h[2], f, len);
	pump(net);
	assert_int_equal(net->h[0].ntap, 0);
	assert_int_equal(net->h[1].ntap, 1);
	assert_frame(&net->h[1], 0, f, len);
	mac_of(m2, 2);
	assert_true(fdb_lookup(net->h[0].dev.fdb, m2, 0, net->now, &port));
	assert_ptr_equal(port, net->hub_peer[2]);

	/* The hub's own LAN to spoke 2's host: that peer alone. */
	clear_taps(net);
	len = make_frame(f, m2, 0, "198.19.0.1", 100);
	tap_send(&net->h[0], f, len);
	pump(net);
	assert_int_equal(net->h[1].ntap, 0);
	assert_int_equal(net->h[2].ntap, 1);
	assert_frame(&net->h[2], 0, f, len);

	/* A removed peer's MACs go with it. */
	unsigned int before = fdb_count(net->h[0].dev.fdb);
	wg_device_lock(&net->h[0].dev);
	wg_device_remove_peer(&net->h[0].dev, net->hub_peer[2]);
	wg_device_unlock(&net->h[0].dev);
	assert_int_equal(fdb_count(net->h[0].dev.fdb), before - 1);
	assert_false(fdb_lookup(net->h[0].dev.fdb, m2, 0, net->now, &port));
	net_free(net);
}

static void test_allowed_ips(void **state)
{
	struct net *net = net_new(false);
	uint8_t f[BUF];
	uint32_t len;

	(void)state;
	warm_up(net);
	/* Spoke 1 speaking as spoke 2's host: the hub's AllowedIPs give that address to spoke 2. */
	len = make_frame(f, BCAST, 1, "198.19.0.3", 80);
	tap_send(&net->h[1], f, len);
	pump(net);
	assert_int_equal(net->h[0].ntap, 0);
	assert_int_equal(net->h[2].ntap, 0);
	assert_int_equal(net->h[0].dev.drops[WG_DROP_UNALLOWED_SRC], 1);
	/* An address no peer claims (a host that moves, the shared part of a LAN) passes. */
	len = make_frame(f, BCAST, 1, "198.19.0.77", 80);
	tap_send(&net->h[1], f, len);
	pump(net);
	assert_int_equal(net->h[0].ntap, 1);
	assert_int_equal(net->h[2].ntap, 1);
	/* A peer without AllowedIPs is no port: nothing is flooded to it, nothing taken from it. */
	clear_taps(net);
	wg_device_lock(&net->h[0].dev);
	aip_remove_peer(net->h[0].dev.aip, net->hub_peer[2]);
	wg_device_unlock(&net->h[0].dev);
	len = make_frame(f, BCAST, 1, "198.19.0.2", 80);
	tap_send(&net->h[1], f, len);
	pump(net);
	assert_int_equal(net->h[0].ntap, 1);
	assert_int_equal(net->h[2].ntap, 0);
	len = make_frame(f, BCAST, 2, "198.19.0.3", 80);
	tap_send(&net->h[2], f, len);
	pump(net);
	assert_int_equal(net->h[0].ntap, 1);
	assert_int_equal(net->h[0].dev.drops[WG_DROP_UNALLOWED_SRC], 2);
	net_free(net);
}

/* An ARP frame from host from_host: Ethernet hardware (hlen 6) unless hlen says otherwise,
 * sender protocol address spa where a 6-byte hardware address puts it. */
static uint32_t make_arp(uint8_t *f, int from_host, const char *spa, uint8_t hlen)
{
	uint32_t len = 14 + 28;

	memset(f, 0, len);
	memcpy(f, BCAST, 6);
	mac_of(f + 6, from_host);
	f[12] = 0x08, f[13] = 0x06;
	f[14] = 0x00, f[15] = 0x01, f[16] = 0x08, f[17] = 0x00, f[18] = hlen, f[19] = 4;
	f[21] = 1;	/* request */
	mac_of(f + 22, from_host);
	inet_pton(AF_INET, spa, f + 28);
	return len;
}

/* ARP's sender address is a source like any other, but only as Ethernet lays it out: a
 * hardware length other than 6 (the sender's to choose) claims no address, and the frame is
 * never read past its end (fuzz_tap found the length taken as an offset). */
static void test_arp_source(void **state)
{
	struct net *net = net_new(false);
	uint8_t f[BUF];
	uint32_t len;

	(void)state;
	warm_up(net);
	len = make_arp(f, 1, "198.19.0.3", 6);	/* spoke 1 claiming spoke 2's address */
	tap_send(&net->h[1], f, len);
	pump(net);
	assert_int_equal(net->h[0].dev.drops[WG_DROP_UNALLOWED_SRC], 1);
	assert_int_equal(net->h[0].ntap + net->h[2].ntap, 0);
	len = make_arp(f, 1, "198.19.0.2", 6);	/* its own */
	tap_send(&net->h[1], f, len);
	pump(net);
	assert_int_equal(net->h[0].ntap, 1);
	assert_int_equal(net->h[2].ntap, 1);
	/* hardware length 0 would put the sender address where this one has 198.19.0.3 */
	clear_taps(net);
	len = make_arp(f, 1, "198.19.0.2", 0);
	inet_pton(AF_INET, "198.19.0.3", f + 22);
	tap_send(&net->h[1], f, len);
	pump(net);
	assert_int_equal(net->h[0].ntap, 1);
	assert_int_equal(net->h[0].dev.drops[WG_DROP_UNALLOWED_SRC], 1);
	for (unsigned int hlen = 0; hlen < 256; hlen += 17) {
		if (hlen == 6)
			continue;
		clear_taps(net);
		len = make_arp(f, 1, "198.19.0.3", (uint8_t)hlen);	/* not Ethernet's layout */
		tap_send(&net->h[1], f, len);
		pump(net);
		assert_int_equal(net->h[0].ntap, 1);
		assert_int_equal(net->h[0].dev.drops[WG_DROP_UNALLOWED_SRC], 1);
	}
	net_free(net);
}

/* Linux takes ARP on Ethernet with hardware type 6 (IEEE 802) as with 1, and stacks differ on
 * the rest: with Ethernet's lengths the sender address is where it always is, whatever the
 * type says. */
static void test_arp_hardware_type(void **state)
{
	static const uint16_t types[] = { 6, 0, 32, 0xffff };
	struct net *net = net_new(false);
	uint8_t f[BUF];
	uint32_t len;

	(void)state;
	warm_up(net);
	for (unsigned int i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		len = make_arp(f, 1, "198.19.0.3", 6);
		f[14] = (uint8_t)(types[i] >> 8), f[15] = (uint8_t)types[i];
		tap_send(&net->h[1], f, len);
		pump(net);
		assert_int_equal(net->h[0].ntap + net->h[2].ntap, 0);
		assert_int_equal(net->h[0].dev.drops[WG_DROP_UNALLOWED_SRC], i + 1);
	}
	len = make_arp(f, 1, "198.19.0.2", 6);	/* its own, as IEEE 802 */
	f[15] = 6;
	tap_send(&net->h[1], f, len);
	pump(net);
	assert_int_equal(net->h[0].ntap, 1);
	assert_int_equal(net->h[2].ntap, 1);
	net_free(net);
}

/* make_frame's IPv4 broadcast, or a frame of ethertype 0x88b5 (local experimental) when src_ip
 * is NULL, behind n VLAN tags: 802.1ad outside, 802.1Q inside. */
static uint32_t make_tagged(uint8_t *f, int from_host, const char *src_ip, unsigned int n)
{
	uint8_t g[BUF];
	uint32_t len = make_frame(g, BCAST, from_host, src_ip ? src_ip : "0.0.0.0", 80);

	if (!src_ip)
		g[12] = 0x88, g[13] = 0xb5;
	memcpy(f, g, 12);
	for (unsigned int t = 0; t < n; t++) {
		f[12 + 4 * t] = t ? 0x81 : 0x88, f[13 + 4 * t] = t ? 0x00 : 0xa8;
		f[14 + 4 * t] = 0, f[15 + 4 * t] = 5;
	}
	memcpy(f + 12 + 4 * n, g + 12, len - 12);
	return len + 4 * n;
}

/* Spoke 1 sends f; whether the hub took it (on its tap and to spoke 2) or dropped it. */
static bool hub_takes(struct net *net, const uint8_t *f, uint32_t len)
{
	uint64_t before = net->h[0].dev.drops[WG_DROP_UNALLOWED_SRC];

	clear_taps(net);
	tap_send(&net->h[1], f, len);
	pump(net);
	if (net->h[0].dev.drops[WG_DROP_UNALLOWED_SRC] != before) {
		assert_int_equal(net->h[0].ntap + net->h[2].ntap, 0);
		return false;
	}
	assert_int_equal(net->h[0].ntap, 1);
	assert_int_equal(net->h[2].ntap, 1);
	return true;
}

/* The source is read behind two tags; behind more, where it lies is not looked for, so the
 * frame cannot be cleared and is refused, whatever it carries. Fewer tags change nothing for
 * other ethertypes, nor for a frame that ends inside its tags. */
static void test_vlan_tags(void **state)
{
	struct net *net = net_new(false);
	uint8_t f[BUF];

	(void)state;
	warm_up(net);
	assert_false(hub_takes(net, f, make_tagged(f, 1, "198.19.0.3", 2)));
	assert_true(hub_takes(net, f, make_tagged(f, 1, "198.19.0.2", 2)));
	assert_false(hub_takes(net, f, make_tagged(f, 1, "198.19.0.3", 3)));
	assert_false(hub_takes(net, f, make_tagged(f, 1, "198.19.0.2", 3)));
	assert_false(hub_takes(net, f, make_tagged(f, 1, "198.19.0.3", 5)));
	for (unsigned int n = 0; n <= 2; n++)
		assert_true(hub_takes(net, f, make_tagged(f, 1, NULL, n)));
	make_tagged(f, 1, NULL, 2);
	assert_true(hub_takes(net, f, 20));	/* ends before its ethertype */
	assert_int_equal(net->h[0].dev.drops[WG_DROP_UNALLOWED_SRC], 4);
	net_free(net);
}

/* An ICMPv6 neighbour discovery message to all nodes from host from_host's MAC and IP source
 * src: a solicitation (135), an advertisement with Override (136) or a redirect to an on-link
 * destination (137), about target (the field all three have at offset 8), with a link-layer
 * option naming the sender's MAC, behind n_ext destination options headers. */
static uint32_t make_nd(uint8_t *f, int from_host, const char *src, uint8_t type,
			const char *target, unsigned int n_ext)
{
	uint32_t icmp = (type == 137 ? 40 : 24) + 8, len = 14 + 40 + 8 * n_ext + icmp;
	uint8_t *ip = f + 14, *c = ip + 40 + 8 * n_ext;

	memset(f, 0, len);
	f[0] = 0x33, f[1] = 0x33, f[5] = 1;
	mac_of(f + 6, from_host);
	f[12] = 0x86, f[13] = 0xdd;
	ip[0] = 0x60;
	ip[4] = (uint8_t)((len - 54) >> 8), ip[5] = (uint8_t)(len - 54);
	ip[6] = n_ext ? 60 : 58;
	ip[7] = 255;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, "ff02::1", ip + 24);
	for (unsigned int i = 0; i < n_ext; i++) {
		uint8_t *e = ip + 40 + 8 * i;

		e[0] = i + 1 < n_ext ? 60 : 58;
		e[2] = 1, e[3] = 4;	/* PadN over the rest */
	}
	c[0] = type;
	c[4] = type == 136 ? 0x20 : 0;
	inet_pton(AF_INET6, target, c + 8);
	if (type == 137)
		inet_pton(AF_INET6, target, c + 24);
	c[icmp - 8] = type == 135 ? 1 : 2, c[icmp - 7] = 1;
	mac_of(c + icmp - 6, from_host);
	return len;
}

/* An advertisement (and a redirect, whose option the receiver caches the same way) says where
 * its target is: spoke 1 must not say it of spoke 2's host, from an address nobody claims nor
 * behind extension headers, which a host's stack walks; behind more than are followed it is
 * not looked for, so the frame is refused. A solicitation asks about its target, claims
 * nothing. */
static void test_nd_target(void **state)
{
	struct net *net = net_new(false);
	uint8_t f[BUF], a[16];

	(void)state;
	warm_up(net);
	wg_device_lock(&net->h[0].dev);
	for (int i = 1; i < N_HOSTS; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "2001:db8:1::%d", i + 1);
		inet_pton(AF_INET6, ip, a);
		assert_int_equal(aip_insert(net->h[0].dev.aip, AF_INET6, a, 128, net->hub_peer[i]), 0);
	}
	wg_device_unlock(&net->h[0].dev);
	assert_false(hub_takes(net, f, make_nd(f, 1, "fe80::2", 136, "2001:db8:1::3", 0)));
	assert_false(hub_takes(net, f, make_nd(f, 1, "2001:db8:1::2", 136, "2001:db8:1::3", 0)));
	assert_false(hub_takes(net, f, make_nd(f, 1, "2001:db8:1::3", 136, "2001:db8:1::2", 0)));
	assert_true(hub_takes(net, f, make_nd(f, 1, "fe80::2", 136, "2001:db8:1::2", 0)));
	assert_true(hub_takes(net, f, make_nd(f, 1, "fe80::2", 136, "2001:db8:1::77", 0)));
	assert_false(hub_takes(net, f, make_nd(f, 1, "fe80::2", 136, "2001:db8:1::3", 2)));
	assert_true(hub_takes(net, f, make_nd(f, 1, "fe80::2", 136, "2001:db8:1::2", 8)));
	assert_false(hub_takes(net, f, make_nd(f, 1, "fe80::2", 136, "2001:db8:1::3", 9)));
	assert_false(hub_takes(net, f, make_nd(f, 1, "fe80::2", 137, "2001:db8:1::3", 0)));
	assert_true(hub_takes(net, f, make_nd(f, 1, "fe80::2", 137, "2001:db8:1::2", 0)));
	assert_true(hub_takes(net, f, make_nd(f, 1, "fe80::2", 135, "2001:db8:1::3", 0)));
	assert_int_equal(net->h[0].dev.drops[WG_DROP_UNALLOWED_SRC], 6);
	net_free(net);
}

/* The device's tick ages the switch's entries out (300 s without a frame). */
static void test_aging(void **state)
{
	struct net *net = net_new(false);

	(void)state;
	warm_up(net);
	assert_int_equal(fdb_count(net->h[0].dev.fdb), 2);
	net->now += 299 * WG_NSEC_PER_SEC;
	wg_device_tick(&net->h[0].dev);
	assert_int_equal(fdb_count(net->h[0].dev.fdb), 2);
	net->now += 2 * WG_NSEC_PER_SEC;
	wg_device_tick(&net->h[0].dev);
	assert_int_equal(fdb_count(net->h[0].dev.fdb), 0);
	net_free(net);
}

/* Padding reaches the tunnel's MTU, not the tap's (26 less), and the frame keeps its length. */
static void test_padding(void **state)
{
	struct net *net = net_new(false);
	uint8_t f[BUF];
	uint32_t len;

	(void)state;
	warm_up(net);
	net->h[1].dev.mtu = WG_DEFAULT_MTU - WG_TAP_MTU_OVERHEAD;	/* what the engine reads */
	len = make_frame(f, BCAST, 1, "198.19.0.2", 1390);
	tap_send(&net->h[1], f, len);
	assert_int_equal(net->nq, 1);
	/* 4 + 1390 = 1394 padded to 1408, beyond the tap's 1394 and within 1420 */
	assert_int_equal(net->q[0].len, WG_MSG_DATA_HEADER_LEN + 1408 + WG_TAG_LEN);
	pump(net);
	assert_int_equal(net->h[0].ntap, 1);
	assert_frame(&net->h[0], 0, f, len);
	net_free(net);
}

/* Spoke 2 in tun mode: the hub's frames and its IP packets are refused on both sides. */
static void test_tun_meets_tap(void **state)
{
	struct net *net = net_new(true);
	static uint8_t buf[WG_PKT_HEADROOM + BUF + WG_PKT_TAILROOM];
	struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM };
	uint8_t f[BUF];
	uint32_t len;

	(void)state;
	/* An IPv4 packet from spoke 2 to the hub: never taken for a frame. */
	pkt.len = make_frame(f, BCAST, 2, "198.19.0.3", 60) - 14;
	memcpy(pkt.data, f + 14, pkt.len);
	pkt.data[2] = 0, pkt.data[3] = (uint8_t)pkt.len;
	inet_pton(AF_INET, "198.19.0.1", pkt.data + 16);
	wg_device_tun_input(&net->h[2].dev, &pkt, 1);
	pump(net);
	assert_int_equal(net->h[0].ntap, 0);
	assert_int_equal(net->h[0].dev.drops[WG_DROP_BAD_INNER_PACKET], 1);
	/* Frames from the hub, whatever their first bytes, never reach spoke 2's tun. */
	static const uint8_t ip_like[6] = { 0x45, 0x00, 0x00, 0x20, 0x00, 0x00 };
	len = make_frame(f, BCAST, 0, "198.19.0.1", 64);
	tap_send(&net->h[0], f, len);
	len = make_frame(f, ip_like, 0, "198.19.0.1", 64);
	tap_send(&net->h[0], f, len);	/* a group address that reads as IPv4: flooded */
	pump(net);
	assert_int_equal(net->h[2].ntap, 0);
	assert_int_equal(net->h[2].dev.drops[WG_DROP_BAD_INNER_PACKET], 2);
	net_free(net);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub_switches),
		cmocka_unit_test(test_allowed_ips),
		cmocka_unit_test(test_arp_source),
		cmocka_unit_test(test_arp_hardware_type),
		cmocka_unit_test(test_vlan_tags),
		cmocka_unit_test(test_nd_target),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_aging),
		cmocka_unit_test(test_tun_meets_tap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
