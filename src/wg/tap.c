/* Tap mode's data path: Ethernet frames between the tap device and the peers, through the
 * learning switch (fdb.h) whose ports are the tap and every peer. A frame travels as the
 * plaintext of a data message behind a small header (messages.h, enum wg_tap_header).
 *
 * AllowedIPs in tap mode: a peer without any is no port (nothing is flooded to it, its frames
 * are dropped as unallowed_src), so `allowed-ips ""` still cuts a peer off; and a frame from a
 * peer whose layer-3 source (IPv4 or IPv6 source, ARP sender address, the target of an IPv6
 * neighbour advertisement or redirect) is an allowed IP of another peer is dropped as
 * unallowed_src, so sites that partition a subnet cannot speak as each other's hosts. An
 * address no peer claims passes: one prefix belongs to one peer only, so sites sharing a
 * subnet (or a hub with several spokes, or hosts that move between sites) could not otherwise
 * be configured at all. The unspecified address claims nothing. A frame that hides where a
 * claim would lie, behind more VLAN tags (two) or IPv6 extension headers (eight) than are
 * read, cannot be cleared and is dropped as unallowed_src. */
#include "wg/peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/packet.h"
#include "wg/allowedips.h"
#include "wg/fdb.h"

int wg_device_set_tap(struct wg_device *dev, const struct fdb_limits *lim)
{
	struct fdb *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	r = fdb_init(f, lim);
	if (r < 0) {
		free(f);
		return r;
	}
	dev->fdb = f;
	dev->tap = true;
	dev->mtu_overhead = WG_TAP_MTU_OVERHEAD;
	return 0;
}

static bool is_port(const struct wg_device *dev, struct wg_peer *p)
{
	return aip_count_of_peer(dev->aip, p) != 0;
}

static void hdr_put(uint8_t *h, uint32_t flen)
{
	h[0] = WG_TAP_FRAME;
	h[1] = 0;
	h[2] = (uint8_t)(flen >> 8);
	h[3] = (uint8_t)flen;
}

/* Frames for one peer at a time, sent when the next one is for another (or the batch ends).
 * Frames read from the tap are encrypted where they lie; copies (floods, relayed frames, whose
 * buffers hold no room or are needed again) are made here and freed after the send. */
struct tap_tx {
	struct wg_peer *peer;
	uint64_t now;
	unsigned int n;
	struct wg_pkt pkts[WG_BATCH];
	uint8_t *bufs[WG_BATCH];
};

static void tx_flush(struct tap_tx *tx)
{
	if (!tx->n)
		return;
	wg_peer_send_batch(tx->peer, tx->pkts, tx->n, tx->now);
	for (unsigned int i = 0; i < tx->n; i++)
		free(tx->bufs[i]);
	tx->n = 0;
}

static void tx_room(struct tap_tx *tx, struct wg_peer *p)
{
	if (tx->n && (tx->peer != p || tx->n == WG_BATCH))
		tx_flush(tx);
	tx->peer = p;
}

/* A frame from the tap at pkt->data, WG_PKT_HEADROOM in front: the header goes there. */
static void tx_in_place(struct tap_tx *tx, struct wg_peer *p, const struct wg_pkt *pkt)
{
	tx_room(tx, p);
	hdr_put(pkt->data - WG_TAP_HEADER_LEN, pkt->len);
	tx->pkts[tx->n] = (struct wg_pkt){ .data = pkt->data - WG_TAP_HEADER_LEN, .len = pkt->len + WG_TAP_HEADER_LEN };
	tx->bufs[tx->n++] = NULL;
}

static void tx_copy(struct wg_device *dev, struct tap_tx *tx, struct wg_peer *p, const uint8_t *f, uint32_t len)
{
	uint8_t *buf = malloc(WG_PKT_HEADROOM + WG_TAP_HEADER_LEN + len + WG_PKT_TAILROOM);

	if (!buf) {
		wg_device_drop(dev, WG_DROP_QUEUE_FULL);
		return;
	}
	tx_room(tx, p);
	hdr_put(buf + WG_PKT_HEADROOM, len);
	memcpy(buf + WG_PKT_HEADROOM + WG_TAP_HEADER_LEN, f, len);
	tx->pkts[tx->n] = (struct wg_pkt){ .data = buf + WG_PKT_HEADROOM, .len = len + WG_TAP_HEADER_LEN };
	tx->bufs[tx->n++] = buf;
}

/* To every port but the one it came from. */
static void tx_flood(struct wg_device *dev, struct tap_tx *tx, struct wg_peer *from, const uint8_t *f,
		     uint32_t len)
{
	for (struct wg_peer *p = dev->peers; p; p = p->next)
		if (p != from && is_port(dev, p))
			tx_copy(dev, tx, p, f, len);
}

void wg_tap_input(struct wg_device *dev, struct wg_pkt *pkts, unsigned int n)
{
	struct fdb_frame_ref in[WG_BATCH];
	struct fdb_out out[WG_BATCH];
	struct tap_tx tx = { .now = wg_device_now(dev) };

	pthread_rwlock_rdlock(&dev->lock);
	for (unsigned int base = 0; base < n; base += WG_BATCH) {
		unsigned int m = n - base < WG_BATCH ? n - base : WG_BATCH;

		for (unsigned int i = 0; i < m; i++)
			in[i] = (struct fdb_frame_ref){ pkts[base + i].data, pkts[base + i].len };
		fdb_forward_batch(dev->fdb, in, m, FDB_LOCAL, tx.now, out);
		for (unsigned int i = 0; i < m; i++) {
			if (out[i].why != FDB_DROP__COUNT)
				continue;	/* counted by the switch */
			if (out[i].peer) {
				if (is_port(dev, out[i].peer))
					tx_in_place(&tx, out[i].peer, &pkts[base + i]);
				else
					wg_device_drop(dev, WG_DROP_NO_PEER_FOR_DST);
			} else if (out[i].flood) {
				tx_flood(dev, &tx, FDB_LOCAL, in[i].data, (uint32_t)in[i].len);
			}
		}
	}
	tx_flush(&tx);
	pthread_rwlock_unlock(&dev->lock);
	if (__atomic_load_n(&dev->pending, __ATOMIC_ACQUIRE)) {
		wg_device_lock(dev);
		wg_device_run_pending(dev);
		wg_device_unlock(dev);
	}
}

/* The layer-3 addresses a frame claims as its own: the IPv4 or IPv6 source, the ARP sender
 * address, the target of an IPv6 neighbour advertisement or redirect; none for other
 * ethertypes, frames too short to say, or the unspecified address. */
struct l3_claims {
	int family;
	unsigned int n;
	const uint8_t *addr[2];
};

static void claim(struct l3_claims *c, int family, const uint8_t *a)
{
	static const uint8_t zero[16];

	c->family = family;
	if (memcmp(a, zero, family == AF_INET ? 4 : 16))
		c->addr[c->n++] = a;
}

/* An advertisement's target is the address it says is at a MAC (RFC 4861 7.2.5: Override
 * replaces what a neighbour cached), whatever its IP source, and a redirect's target takes
 * the redirect's link-layer option into the cache the same way (8.3). Both are found behind
 * extension headers, as a host's stack finds them; false behind more than the parser follows.
 * A solicitation asks about its target and a router advertisement's link-layer option is its
 * source's: they claim nothing more. */
static bool ip6_claims(const uint8_t *p, size_t len, struct l3_claims *c)
{
	struct pkt_info pi;

	/* what most traffic carries claims nothing: no parse for it */
	if (p[0] >> 4 != 6 || p[6] == PKT_IPPROTO_TCP || p[6] == PKT_IPPROTO_UDP)
		return true;
	if (!pkt_parse(p, len, false, &pi) && pi.err == PKT_ERR_IP6_EXT_CHAIN)
		return false;
	if (pi.has_l4 && pi.proto == PKT_IPPROTO_ICMPV6 && pi.l4_len >= PKT_ND_HLEN &&
	    (pi.icmp_type == PKT_ICMP6_NA || pi.icmp_type == PKT_ICMP6_REDIRECT))
		claim(c, AF_INET6, p + pi.l4_off + 8);
	return true;
}

/* False when the frame hides where a claim would lie: behind more VLAN tags than are read,
 * which a host with VLAN devices stacked as deep would still take off, or (ip6_claims) more
 * IPv6 extension headers than are followed. */
static bool frame_l3_claims(const uint8_t *f, uint32_t len, struct l3_claims *c)
{
	uint16_t type;
	size_t off = pkt_eth_payload(f, len, &type);

	c->n = 0;
	if (!off)
		return type != PKT_ETH_VLAN && type != PKT_ETH_QINQ;
	switch (type) {
	case PKT_ETH_IP4:
		if (len >= off + 20)
			claim(c, AF_INET, f + off + 12);
		break;
	case PKT_ETH_IP6:
		if (len < off + 40)
			break;
		claim(c, AF_INET6, f + off + 8);
		return ip6_claims(f + off, len - off, c);
	case PKT_ETH_ARP:	/* for IPv4 over Ethernet: the sender protocol address */
		/* Only with Ethernet's 6-byte hardware addresses, which every stack demands on
		 * Ethernet: the hardware length is the sender's to choose, and taking it as the
		 * offset read up to 255 bytes past the frame. The hardware type is not looked at:
		 * Linux takes 6 (IEEE 802) as well as 1, other stacks differ, and with these lengths
		 * the sender address lies where it lies whatever the type says. */
		if (len >= off + 28 && f[off + 2] == 0x08 && f[off + 3] == 0x00 && f[off + 4] == 6 &&
		    f[off + 5] == 4)
			claim(c, AF_INET, f + off + 14);
		break;
	}
	return true;
}

static bool claimed_by_other(const struct wg_device *dev, const struct wg_peer *p,
			     const struct l3_claims *c)
{
	for (unsigned int i = 0; i < c->n; i++) {
		struct wg_peer *owner = aip_lookup(dev->aip, c->family, c->addr[i]);

		if (owner && owner != p)
			return true;
	}
	return false;
}

bool wg_tap_rx_check(struct wg_device *dev, struct wg_peer *p, uint8_t **plain, uint32_t *len)
{
	uint8_t *h = *plain;
	uint32_t flen;
	struct l3_claims c;

	/* an IP packet of a tun-mode peer starts with its version: never a frame */
	if (*len < WG_TAP_HEADER_LEN + FDB_ETH_HLEN || h[0] != WG_TAP_FRAME || h[1]) {
		wg_device_drop(dev, WG_DROP_BAD_INNER_PACKET);
		return false;
	}
	flen = (uint32_t)h[2] << 8 | h[3];
	if (flen < FDB_ETH_HLEN || flen > *len - WG_TAP_HEADER_LEN) {
		wg_device_drop(dev, WG_DROP_BAD_INNER_PACKET);
		return false;
	}
	h += WG_TAP_HEADER_LEN;
	if (!is_port(dev, p) || !frame_l3_claims(h, flen, &c) || claimed_by_other(dev, p, &c)) {
		wg_device_drop(dev, WG_DROP_UNALLOWED_SRC);
		return false;
	}
	*plain = h;
	*len = flen;
	return true;
}

unsigned int wg_tap_deliver(struct wg_device *dev, struct wg_pkt *pkts, struct wg_peer *const *from,
			    unsigned int n, uint64_t now)
{
	struct fdb_frame_ref in[WG_BATCH];
	struct fdb_out out[WG_BATCH];
	struct tap_tx tx = { .now = now };
	unsigned int k = 0;

	for (unsigned int base = 0; base < n;) {
		unsigned int m = 1;

		/* a run of one peer's frames: the switch takes a port's batch */
		while (base + m < n && m < WG_BATCH && from[base + m] == from[base])
			m++;
		for (unsigned int i = 0; i < m; i++)
			in[i] = (struct fdb_frame_ref){ pkts[base + i].data, pkts[base + i].len };
		fdb_forward_batch(dev->fdb, in, m, from[base], now, out);
		for (unsigned int i = 0; i < m; i++) {
			if (out[i].why != FDB_DROP__COUNT)
				continue;
			if (out[i].peer) {
				if (is_port(dev, out[i].peer))
					tx_copy(dev, &tx, out[i].peer, in[i].data, (uint32_t)in[i].len);
				else
					wg_device_drop(dev, WG_DROP_NO_PEER_FOR_DST);
			}
			if (out[i].flood)
				tx_flood(dev, &tx, from[base], in[i].data, (uint32_t)in[i].len);
			if (out[i].local)
				pkts[k++] = pkts[base + i];
		}
		base += m;
	}
	tx_flush(&tx);
	return k;
}
