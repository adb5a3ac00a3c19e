/* libFuzzer: tap mode's data path. A hub H and two spokes A and B, in-process tap-mode devices
 * with real handshakes, fed frames the fuzzer chose on any of their taps (so H decrypts and
 * switches frames it never made: its AllowedIPs check of ARP, IPv4 and IPv6 sources and
 * neighbour discovery targets behind VLAN tags and IPv6 extension headers, the switch,
 * relaying and flooding), raw datagrams to H, and the clock. Nothing may crash, leak or trip
 * UBSan; every frame a device writes to its tap is whole (14 bytes at least, every byte
 * readable) and every datagram it sends is a well-formed message.
 *
 * The input is a sequence of records: op (1 byte), len (2 bytes, big-endian), len bytes. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wg/allowedips.h"
#include "wg/device.h"
#include "wg/peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { N = 3, MAXQ = 64, MAXSTEPS = 256, MAXREC = 2048 };

struct dgram {
	uint8_t *data;
	uint32_t len;
	struct endpoint src, dst;
};

struct host {
	struct wg_device dev;
	struct endpoint addr;
};

static struct {
	uint64_t now;
	struct host h[N];
	struct dgram q[MAXQ];
	unsigned int nq;
} net;

static int f_udp_send(void *ctx, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct host *h = ctx;

	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *p = pkts[i].data;

		if (pkts[i].len < 4 || p[0] < WG_MSG_INITIATION || p[0] > WG_MSG_DATA || (p[1] | p[2] | p[3]))
			abort();
		if (net.nq == MAXQ)
			continue;
		struct dgram *g = &net.q[net.nq];
		if (!(g->data = malloc(pkts[i].len)))
			abort();
		memcpy(g->data, p, pkts[i].len);
		g->len = pkts[i].len;
		g->src = h->addr;
		g->dst = *ep;
		net.nq++;
	}
	return (int)n;
}

static int f_tap_write(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	volatile uint8_t sink = 0;

	(void)ctx;
	for (unsigned int i = 0; i < n; i++) {
		if (pkts[i].len < 14)
			abort();
		for (uint32_t j = 0; j < pkts[i].len; j++)
			sink ^= pkts[i].data[j];
	}
	(void)sink;
	return (int)n;
}

static uint64_t f_now(void *ctx) { (void)ctx; return net.now; }

static void f_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	(void)ctx;
	*sec = (int64_t)(net.now / WG_NSEC_PER_SEC) + 1700000000;
	*nsec = (int64_t)(net.now % WG_NSEC_PER_SEC);
}

static void aip4(struct host *h, struct wg_peer *p, const char *ip, uint8_t cidr)
{
	uint8_t a[4];

	inet_pton(AF_INET, ip, a);
	if (aip_insert(h->dev.aip, AF_INET, a, cidr, p))
		abort();
}

static void aip6(struct host *h, struct wg_peer *p, const char *ip)
{
	uint8_t a[16];

	inet_pton(AF_INET6, ip, a);
	if (aip_insert(h->dev.aip, AF_INET6, a, 128, p))
		abort();
}

/* H = 198.18.0.1 claims 198.19.0.2 and 2001:db8:1::2 for A, 198.19.0.3 and 2001:db8:1::3 for
 * B (so neighbour advertisements have targets to be refused); the spokes give H the /24. */
static void setup(void)
{
	memset(&net, 0, sizeof(net));
	net.now = 1000 * WG_NSEC_PER_SEC;
	for (int i = 0; i < N; i++) {
		struct wg_device_ops ops = { .udp_send = f_udp_send, .tun_write = f_tap_write,
					     .now = f_now, .wall = f_wall, .ctx = &net.h[i] };
		uint8_t key[32];

		memset(key, 0x40 + i, sizeof(key));
		key[0] &= 248, key[31] = (key[31] & 127) | 64;
		net.h[i].addr.in4.sin_family = AF_INET;
		net.h[i].addr.in4.sin_port = htons((uint16_t)(51820 + i));
		net.h[i].addr.in4.sin_addr.s_addr = htonl(0xc6120001u + (uint32_t)i);
		if (wg_device_init(&net.h[i].dev, "fuzz-tap", &ops) || wg_device_set_tap(&net.h[i].dev, NULL) ||
		    wg_device_set_private_key(&net.h[i].dev, key))
			abort();
		net.h[i].dev.listen_port = (uint16_t)(51820 + i);
	}
	for (int i = 1; i < N; i++) {
		struct wg_peer *hp = wg_device_add_peer(&net.h[0].dev, net.h[i].dev.identity.static_public);
		struct wg_peer *sp = wg_device_add_peer(&net.h[i].dev, net.h[0].dev.identity.static_public);

		if (!hp || !sp)
			abort();
		wg_peer_set_endpoint(hp, &net.h[i].addr);
		wg_peer_set_endpoint(sp, &net.h[0].addr);
		aip4(&net.h[0], hp, i == 1 ? "198.19.0.2" : "198.19.0.3", 32);
		aip6(&net.h[0], hp, i == 1 ? "2001:db8:1::2" : "2001:db8:1::3");
		aip4(&net.h[i], sp, "198.19.0.0", 24);
	}
}

static void teardown(void)
{
	for (unsigned int i = 0; i < net.nq; i++)
		free(net.q[i].data);
	net.nq = 0;
	for (int i = 0; i < N; i++)
		wg_device_uninit(&net.h[i].dev);
}

static void deliver(void)
{
	for (unsigned int steps = 0; net.nq && steps < MAXSTEPS; steps++) {
		struct dgram g = net.q[0];

		memmove(&net.q[0], &net.q[1], (net.nq - 1) * sizeof(net.q[0]));
		net.nq--;
		for (int i = 0; i < N; i++) {
			if (!endpoint_equal(&net.h[i].addr, &g.dst))
				continue;
			uint8_t *buf = malloc(WG_PKT_HEADROOM + (size_t)g.len + WG_PKT_TAILROOM);
			struct wg_pkt pkt = { .len = g.len, .ep = g.src };

			if (!buf)
				abort();
			pkt.data = buf + WG_PKT_HEADROOM;
			memcpy(pkt.data, g.data, g.len);
			wg_device_udp_input(&net.h[i].dev, &pkt, 1);
			free(buf);
		}
		free(g.data);
	}
}

/* Frames cut from p by the fuzzer's own 1-byte lengths, one batch read from h's tap. */
static void tap_in(struct host *h, const uint8_t *p, uint32_t len)
{
	struct wg_pkt pkts[8];
	uint8_t *bufs[8];
	unsigned int n = 0;
	uint32_t off = 0;

	while (n < 8 && off < len) {
		uint32_t l = p[off++] * 8u;

		if (l > len - off)
			l = len - off;
		if (!(bufs[n] = malloc(WG_PKT_HEADROOM + (size_t)l + WG_PKT_TAILROOM)))
			abort();
		pkts[n].data = bufs[n] + WG_PKT_HEADROOM;
		pkts[n].len = l;
		memcpy(pkts[n].data, p + off, l);
		off += l;
		n++;
	}
	if (n)
		wg_device_tun_input(&h->dev, pkts, n);
	for (unsigned int i = 0; i < n; i++)
		free(bufs[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	while (size >= 3) {
		uint8_t op = data[0];
		uint32_t len = (uint32_t)data[1] << 8 | data[2];

		data += 3, size -= 3;
		if (len > size)
			len = (uint32_t)size;
		if (len > MAXREC)
			len = MAXREC;
		switch (op % 5) {
		case 0: case 1: case 2:
			tap_in(&net.h[op % 5], data, len);
			break;
		case 3: {
			uint8_t *buf = malloc(WG_PKT_HEADROOM + (size_t)len + WG_PKT_TAILROOM);
			struct wg_pkt pkt = { .len = len, .ep = net.h[op & 8 ? 2 : 1].addr };

			if (!buf)
				abort();
			pkt.data = buf + WG_PKT_HEADROOM;
			memcpy(pkt.data, data, len);
			wg_device_udp_input(&net.h[0].dev, &pkt, 1);
			free(buf);
			break;
		}
		case 4:
			net.now += (uint64_t)(len ? data[0] : 1) * WG_NSEC_PER_SEC;
			for (int i = 0; i < N; i++)
				wg_device_tick(&net.h[i].dev);
			break;
		}
		deliver();
		data += len, size -= len;
	}
	teardown();
	return 0;
}
