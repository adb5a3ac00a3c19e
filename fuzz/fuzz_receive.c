/* libFuzzer: a WireGuard device D with a fixed identity and two peers, fed untrusted bytes
 * through its two data path entry points, wg_device_udp_input and wg_device_tun_input.
 *
 * Peer R is a second in-process device that completes real handshakes with D, so that the
 * fuzzer also reaches the code behind authentication: tun packets given to R arrive at D as
 * valid data messages whose inner packet the fuzzer chose. Peer S has no device behind it.
 *
 * The input is a sequence of records: op (1 byte), len (2 bytes, big-endian), len bytes.
 * Handshakes are served inline unless a record puts D's in a queue nobody serves until another
 * says so, which a replay flood can then fill.
 * Only the entry points tests/unit/test_device.c uses are used, so that this target follows
 * changes to the device's internals. Nothing may crash, leak or trip UBSan; everything D
 * sends or writes must be well formed. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wg/allowedips.h"
#include "wg/crypto.h"
#include "wg/device.h"
#include "wg/peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAXQ = 64, MAXREC = 4096, MAXSTEPS = 256 };

struct dgram {
	uint8_t *data;		/* exactly len bytes, so ASan sees any read past the end */
	uint32_t len;
	struct endpoint src, dst;
};

struct host {
	struct wg_device dev;
	struct endpoint addr;
	bool is_d;
	unsigned int tun_written, sent;
};

static struct {
	uint64_t now;
	struct host d, r;
	struct dgram q[MAXQ];
	unsigned int nq;
} net;

/* Fixed private keys: D, R, and S (whose device does not exist). */
static const uint8_t key_d[32] = { 0x48, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
				   16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 0x51 };
static const uint8_t key_r[32] = { 0x50, 0xaa, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
				   16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 0x52 };
static const uint8_t key_s[32] = { 0x58, 0xbb, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
				   16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 0x53 };
static uint8_t pub_d[32], pub_r[32], pub_s[32];

static void check_out(bool from_d, const uint8_t *p, uint32_t len)
{
	if (!from_d)
		return;
	/* What D puts on the wire is one of the four messages, well formed. */
	if (len < 4 || p[1] | p[2] | p[3])
		abort();
	switch (p[0]) {
	case WG_MSG_INITIATION: if (len != WG_MSG_INITIATION_LEN) abort(); break;
	case WG_MSG_RESPONSE: if (len != WG_MSG_RESPONSE_LEN) abort(); break;
	case WG_MSG_COOKIE_REPLY: if (len != WG_MSG_COOKIE_REPLY_LEN) abort(); break;
	case WG_MSG_DATA:
		if (len < WG_MSG_DATA_MIN_LEN || len > UINT16_MAX)
			abort();
		break;
	default:
		abort();
	}
}

static int f_udp_send(void *ctx, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct host *h = ctx;

	for (unsigned int i = 0; i < n; i++) {
		check_out(h->is_d, pkts[i].data, pkts[i].len);
		h->sent++;
		if (net.nq == MAXQ)
			continue;	/* a lossy network */
		struct dgram *g = &net.q[net.nq];
		g->data = malloc(pkts[i].len ? pkts[i].len : 1);
		if (!g->data)
			abort();
		memcpy(g->data, pkts[i].data, pkts[i].len);
		g->len = pkts[i].len;
		g->src = h->addr;
		g->dst = *ep;
		net.nq++;
	}
	return (int)n;
}

static int f_tun_write(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	struct host *h = ctx;
	volatile uint8_t sink = 0;

	for (unsigned int i = 0; i < n; i++) {
		/* a written packet is a whole IP packet, padding trimmed */
		const uint8_t *p = pkts[i].data;
		uint32_t len = pkts[i].len;
		if (len < 20)
			abort();
		if (p[0] >> 4 == 4 && ((uint32_t)p[2] << 8 | p[3]) != len)
			abort();
		if (p[0] >> 4 == 6 && 40 + ((uint32_t)p[4] << 8 | p[5]) != len)
			abort();
		if (p[0] >> 4 != 4 && p[0] >> 4 != 6)
			abort();
		for (uint32_t j = 0; j < len; j++)	/* every byte readable */
			sink ^= p[j];
	}
	h->tun_written += n;
	(void)sink;
	return (int)n;
}

static uint64_t f_now(void *ctx) { return net.now; }

static void f_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	uint64_t t = net.now + 1700000000ULL * WG_NSEC_PER_SEC;

	*sec = (int64_t)(t / WG_NSEC_PER_SEC);
	*nsec = (int64_t)(t % WG_NSEC_PER_SEC);
}

static void set4(struct endpoint *ep, const char *ip, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->in4.sin_family = AF_INET;
	ep->in4.sin_port = htons(port);
	inet_pton(AF_INET, ip, &ep->in4.sin_addr);
}

static void set6(struct endpoint *ep, const char *ip, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->in6.sin6_family = AF_INET6;
	ep->in6.sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &ep->in6.sin6_addr);
}

static void host_init(struct host *h, const uint8_t key[32], bool is_d)
{
	struct wg_device_ops ops = {
		.udp_send = f_udp_send, .tun_write = f_tun_write,
		.now = f_now, .wall = f_wall, .ctx = h,
	};

	h->is_d = is_d;
	if (wg_device_init(&h->dev, is_d ? "fuzz-d" : "fuzz-r", &ops) ||
	    wg_device_set_private_key(&h->dev, key))
		abort();
}

static struct wg_peer *add_peer(struct host *h, const uint8_t pub[32])
{
	struct wg_peer *p = wg_device_add_peer(&h->dev, pub);

	if (!p)
		abort();
	return p;
}

static void aip(struct host *h, struct wg_peer *p, int fam, const char *ip, uint8_t cidr)
{
	uint8_t a[16];

	inet_pton(fam, ip, a);
	if (aip_insert(h->dev.aip, fam, a, cidr, p))
		abort();
}

static void derive_publics(void)
{
	struct wg_device_ops ops = { .udp_send = f_udp_send, .tun_write = f_tun_write,
				     .now = f_now, .wall = f_wall };
	struct wg_device t;
	const uint8_t *keys[3] = { key_d, key_r, key_s };
	uint8_t *pubs[3] = { pub_d, pub_r, pub_s };

	for (int i = 0; i < 3; i++) {
		if (wg_device_init(&t, "fuzz-k", &ops) || wg_device_set_private_key(&t, keys[i]))
			abort();
		memcpy(pubs[i], t.identity.static_public, 32);
		wg_device_uninit(&t);
	}
}

/* D = 198.18.0.1:51820, tunnel 198.19.0.1 / 2001:db8::1; R = 198.18.0.2:51821 with
 * 198.19.0.2/32 and 2001:db8::2/128; S = [2001:db8:ff::3]:51822 with 198.19.3.0/24 and
 * 2001:db8:3::/48. Both D and R know each other's endpoint, so either side can start. */
static void setup(void)
{
	struct wg_peer *dr, *ds, *rd;
	struct endpoint ep;

	memset(&net, 0, sizeof(net));
	net.now = 1000 * WG_NSEC_PER_SEC;
	host_init(&net.d, key_d, true);
	host_init(&net.r, key_r, false);
	set4(&net.d.addr, "198.18.0.1", 51820);
	set4(&net.r.addr, "198.18.0.2", 51821);
	net.d.dev.listen_port = 51820;
	net.r.dev.listen_port = 51821;

	dr = add_peer(&net.d, pub_r);
	ds = add_peer(&net.d, pub_s);
	rd = add_peer(&net.r, pub_d);
	wg_peer_set_endpoint(dr, &net.r.addr);
	wg_peer_set_endpoint(rd, &net.d.addr);
	set6(&ep, "2001:db8:ff::3", 51822);
	wg_peer_set_endpoint(ds, &ep);
	aip(&net.d, dr, AF_INET, "198.19.0.2", 32);
	aip(&net.d, dr, AF_INET6, "2001:db8::2", 128);
	aip(&net.d, ds, AF_INET, "198.19.3.0", 24);
	aip(&net.d, ds, AF_INET6, "2001:db8:3::", 48);
	aip(&net.r, rd, AF_INET, "0.0.0.0", 0);
	aip(&net.r, rd, AF_INET6, "::", 0);
}

static void teardown(void)
{
	for (unsigned int i = 0; i < net.nq; i++)
		free(net.q[i].data);
	net.nq = 0;
	wg_device_uninit(&net.d.dev);
	wg_device_uninit(&net.r.dev);
}

/* Hands bytes to udp_input of h in a buffer with exactly the promised head- and tailroom. */
static void udp_in(struct host *h, const uint8_t *p, uint32_t len, const struct endpoint *src)
{
	uint8_t *buf = malloc(WG_PKT_HEADROOM + (size_t)len + WG_PKT_TAILROOM);
	struct wg_pkt pkt;

	if (!buf)
		abort();
	memcpy(buf + WG_PKT_HEADROOM, p, len);
	pkt.data = buf + WG_PKT_HEADROOM;
	pkt.len = len;
	pkt.ep = *src;
	wg_device_udp_input(&h->dev, &pkt, 1);
	free(buf);
}

/* Several packets in one tun_input batch, cut from p by the fuzzer's own 1-byte lengths. */
static void tun_in(struct host *h, const uint8_t *p, uint32_t len, uint8_t shape)
{
	struct wg_pkt pkts[8];
	uint8_t *bufs[8];
	unsigned int n = 0;
	uint32_t off = 0;

	while (off < len && n < 8) {
		uint32_t l = len - off;
		if (shape & 1) {	/* the batch is cut by length bytes */
			l = p[off++];
			if (l > len - off)
				l = len - off;
		}
		bufs[n] = malloc(WG_PKT_HEADROOM + (size_t)l + WG_PKT_TAILROOM);
		if (!bufs[n])
			abort();
		pkts[n].data = bufs[n] + WG_PKT_HEADROOM;
		pkts[n].len = l;
		memset(&pkts[n].ep, 0, sizeof(pkts[n].ep));
		memcpy(pkts[n].data, p + off, l);
		/* shape 2: make it an IPv4 packet to R's or S's tunnel address (R routes
		 * everything to D), from R's allowed address or (shape 8) any */
		if ((shape & 2) && l >= 20) {
			pkts[n].data[0] = 0x45;
			pkts[n].data[2] = (uint8_t)(l >> 8);
			pkts[n].data[3] = (uint8_t)l;
			uint8_t dst[4] = { 198, 19, (shape & 4) ? 3 : 0, (shape & 4) ? p[off] : 2 };
			uint8_t src[4] = { 198, 19, 0, (shape & 8) ? p[off] : 2 };
			memcpy(pkts[n].data + 12, src, 4);
			memcpy(pkts[n].data + 16, dst, 4);
		}
		off += l;
		n++;
		if (!(shape & 1))
			break;
	}
	wg_device_tun_input(&h->dev, pkts, n);
	for (unsigned int i = 0; i < n; i++)
		free(bufs[i]);
}

/* Delivers the oldest queued datagram to whichever host owns its destination. */
static bool deliver_one(void)
{
	struct dgram g;

	if (!net.nq)
		return false;
	g = net.q[0];
	memmove(&net.q[0], &net.q[1], (net.nq - 1) * sizeof(net.q[0]));
	net.nq--;
	if (endpoint_equal(&g.dst, &net.d.addr))
		udp_in(&net.d, g.data, g.len, &g.src);
	else if (endpoint_equal(&g.dst, &net.r.addr))
		udp_in(&net.r, g.data, g.len, &g.src);
	free(g.data);
	return true;
}

static void source(uint8_t sel, struct endpoint *ep)
{
	switch (sel & 3) {
	case 0: *ep = net.r.addr; break;		/* R's real address */
	case 1: set4(ep, "198.18.66.6", 666); break;	/* a stranger */
	case 2: set6(ep, "2001:db8:ff::3", 51822); break;	/* S's endpoint */
	default: set6(ep, "2001:db8:66::6", 6666); break;
	}
}

/* Up to max queued datagrams for D in one udp_input call (the rest stay queued, in order):
 * in buffers of their own, or (packed) back to back in one buffer as a UDP GRO receive leaves
 * them, where one datagram's headroom is the previous one's payload. */
static void deliver_batch_to_d(unsigned int max, bool packed)
{
	struct wg_pkt pkts[16];
	uint8_t *bufs[16], *packbuf = NULL;
	unsigned int n = 0, i = 0;
	size_t total = 0, off = WG_PKT_HEADROOM;

	for (unsigned int j = 0; j < net.nq; j++)
		if (endpoint_equal(&net.q[j].dst, &net.d.addr))
			total += net.q[j].len;
	if (packed && !(packbuf = malloc(WG_PKT_HEADROOM + total + WG_PKT_TAILROOM)))
		abort();
	while (i < net.nq && n < max && n < 16) {
		struct dgram g = net.q[i];

		if (!endpoint_equal(&g.dst, &net.d.addr)) {
			i++;
			continue;
		}
		memmove(&net.q[i], &net.q[i + 1], (net.nq - i - 1) * sizeof(net.q[0]));
		net.nq--;
		if (packed) {
			bufs[n] = NULL;
			pkts[n].data = packbuf + off;
			off += g.len;
		} else {
			if (!(bufs[n] = malloc(WG_PKT_HEADROOM + (size_t)g.len + WG_PKT_TAILROOM)))
				abort();
			pkts[n].data = bufs[n] + WG_PKT_HEADROOM;
		}
		memcpy(pkts[n].data, g.data, g.len);
		pkts[n].len = g.len;
		pkts[n].ep = g.src;
		free(g.data);
		n++;
	}
	if (n)
		wg_device_udp_input(&net.d.dev, pkts, n);
	for (unsigned int j = 0; j < n; j++)
		free(bufs[j]);
	free(packbuf);
}

/* Raw datagrams cut from p by 1-byte lengths, all to D in one call, from mixed sources. */
static void udp_batch_raw(const uint8_t *p, uint32_t len, uint8_t sel)
{
	struct wg_pkt pkts[16];
	uint8_t *bufs[16];
	unsigned int n = 0;
	uint32_t off = 0;

	while (off < len && n < 16) {
		uint32_t l = p[off++];
		if (l > len - off)
			l = len - off;
		if (!(bufs[n] = malloc(WG_PKT_HEADROOM + (size_t)l + WG_PKT_TAILROOM)))
			abort();
		pkts[n].data = bufs[n] + WG_PKT_HEADROOM;
		pkts[n].len = l;
		memcpy(pkts[n].data, p + off, l);
		source((uint8_t)(sel + n), &pkts[n].ep);
		off += l;
		n++;
	}
	if (n)
		wg_device_udp_input(&net.d.dev, pkts, n);
	for (unsigned int j = 0; j < n; j++)
		free(bufs[j]);
}

/* A replay flood: the first datagram queued for D, WG_HS_QUEUE_LEN + 64 times from the source
 * sel picks (the wire's bytes as they are, in batches of 64). With nothing serving D's
 * handshake queue (op 7, shape 1), an initiation takes it past the depth that means load, and
 * the rest get cookie replies (limited per source); one that carries a valid MAC2 (R's, once
 * R has a cookie) fills the queue and goes on through the paths of a full one: the proven
 * ring, the proven bucket, the spent-source cache. */
static void flood_d(uint8_t sel)
{
	enum { BATCH = 64 };
	struct wg_pkt pkts[BATCH];
	uint8_t *buf;
	const struct dgram *g = NULL;

	for (unsigned int j = 0; j < net.nq && !g; j++)
		if (endpoint_equal(&net.q[j].dst, &net.d.addr))
			g = &net.q[j];
	if (!g)
		return;
	if (!(buf = malloc((size_t)BATCH * (WG_PKT_HEADROOM + g->len + WG_PKT_TAILROOM))))
		abort();
	for (unsigned int sent = 0; sent < WG_HS_QUEUE_LEN + 64; sent += BATCH) {
		for (unsigned int i = 0; i < BATCH; i++) {
			pkts[i].data = buf + (size_t)i * (WG_PKT_HEADROOM + g->len + WG_PKT_TAILROOM) + WG_PKT_HEADROOM;
			pkts[i].len = g->len;
			memcpy(pkts[i].data, g->data, g->len);	/* decryption works in place */
			source(sel, &pkts[i].ep);
		}
		wg_device_udp_input(&net.d.dev, pkts, BATCH);
	}
	free(buf);
}

static void pump(unsigned int max)
{
	for (unsigned int i = 0; i < max && deliver_one(); i++)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	size_t off = 0;
	unsigned int steps = 0;

	if (!ready) {
		derive_publics();
		ready = true;
	}
	setup();
	while (off + 3 <= size && steps++ < MAXSTEPS) {
		uint8_t op = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		struct endpoint ep;

		off += 3;
		if (len > size - off)
			len = size - off;
		if (len > MAXREC)
			len = MAXREC;
		const uint8_t *p = data + off;
		off += len;

		switch (op & 7) {
		case 0:		/* raw bytes from the wire to D */
			source(op >> 3, &ep);
			udp_in(&net.d, p, (uint32_t)len, &ep);
			break;
		case 1:		/* a batch of raw datagrams, cut by 1-byte lengths, in one call */
			udp_batch_raw(p, (uint32_t)len, op >> 3);
			break;
		case 2:		/* raw bytes from D's tun device */
			tun_in(&net.d, p, (uint32_t)len, op >> 3);
			break;
		case 3:		/* R's tun device: valid data messages (or a handshake) towards D */
			tun_in(&net.r, p, (uint32_t)len, op >> 3);
			break;
		case 4:		/* the network delivers: one by one, or (shape 16) D's share as one batch */
			if (op & 0x80)
				deliver_batch_to_d(1 + ((op >> 3) & 15), op & 0x40);
			else
				pump(1 + (op >> 3));
			break;
		case 5:		/* the network corrupts the next datagram: flip, truncate or duplicate */
			if (net.nq && len >= 2) {
				struct dgram *g = &net.q[0];
				uint32_t at = ((uint32_t)p[0] << 8 | p[1]) % (g->len ? g->len : 1);
				if ((op >> 3) == 0 && g->len)
					g->data[at] ^= len > 2 ? p[2] : 0x80;
				else if ((op >> 3) == 1)
					g->len = at;
				else if (net.nq < MAXQ) {
					struct dgram *c = &net.q[net.nq];
					*c = *g;
					c->data = malloc(g->len ? g->len : 1);
					if (!c->data)
						abort();
					memcpy(c->data, g->data, g->len);
					net.nq++;
				}
			}
			break;
		case 6:		/* time passes; timers run */
			net.now += (uint64_t)(op >> 3) * WG_NSEC_PER_SEC / 4 + (len ? p[0] : 0) * WG_NSEC_PER_SEC;
			wg_device_tick(&net.d.dev);
			wg_device_tick(&net.r.dev);
			break;
		default:
			switch ((op >> 3) & 3) {
			case 0:	/* D's handshake queue was deep a moment ago: it is under load */
				wg_device_note_load(&net.d.dev, net.now);
				break;
			case 1:	/* D's handshakes wait in its queue, as for a handshake thread */
				wg_device_handshake_external(&net.d.dev, true);
				break;
			case 2:	/* ... which now serves some of them */
				wg_device_handshake_run(&net.d.dev, 1 + (len ? p[0] : 0) * 16u);
				break;
			default:
				flood_d((uint8_t)(op >> 5));
				break;
			}
			break;
		}
	}
	pump(MAXQ * 4);
#ifdef FUZZ_TRACE	/* to see what a seed reaches: -DFUZZ_TRACE with a plain main */
	fprintf(stderr, "d: tun %u sent %u;", net.d.tun_written, net.d.sent);
	for (int i = 0; i < WG_DROP__COUNT; i++)
		if (net.d.dev.drops[i])
			fprintf(stderr, " %s=%llu", wg_drop_name(i), (unsigned long long)net.d.dev.drops[i]);
	fprintf(stderr, " | r: tun %u sent %u\n", net.r.tun_written, net.r.sent);
#endif
	teardown();
	return 0;
}
