/* TCP GRO for tun writes; the rules are in gro.h. One pass classifies each packet and either
 * appends its payload to the open head of its flow or makes it a new head; a second pass
 * writes the virtio_net_hdr of every packet that is written. */
#include "engine/gro.h"
#include "lib/packet.h"
#include <errno.h>
#include <string.h>

_Static_assert(GRO_SCRATCH_HEAD >= GRO_HEADROOM + GRO_L2_MAX, "no room for a merged frame's headers");

enum item_state { ST_PASS, ST_HEAD_OPEN, ST_HEAD_CLOSED, ST_MERGED };
enum cls { CLS_OTHER, CLS_KEY_ONLY, CLS_MERGEABLE };
enum { TCP_CSUM_OFF = 16, IP4_DF = 0x4000, IP4_FRAG_MASK = 0x3fff, IP4_OFF_MASK = 0x1fff };

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void gro_init(struct gro *g)
{
	memset(g, 0, sizeof(*g));
}

/* Addresses as laid out in the header: IPv4 saddr+daddr at 12, IPv6 at 8. */
static inline size_t addr_off(const uint8_t *d) { return (d[0] >> 4) == 4 ? 12 : 8; }
static inline size_t addr_len(const uint8_t *d) { return (d[0] >> 4) == 4 ? 8 : 32; }

static uint32_t flow_hash(const uint8_t *d, size_t l4off)
{
	uint32_t h = 2166136261u;
	const uint8_t *a = d + addr_off(d);
	for (size_t i = 0; i < addr_len(d); i++)
		h = (h ^ a[i]) * 16777619u;
	for (size_t i = 0; i < 4; i++)
		h = (h ^ d[l4off + i]) * 16777619u;
	return h ^ (uint32_t)(d[0] >> 4);
}

/* The same flow, and the same link header in front of it (none for a tun). */
static bool same_flow(const struct gro_pkt *pa, size_t a4, const struct gro_pkt *pb, size_t b4)
{
	const uint8_t *a = pa->data, *b = pb->data;

	return pa->l2 == pb->l2 && !memcmp(a - pa->l2, b - pb->l2, pa->l2) && (a[0] >> 4) == (b[0] >> 4) &&
	       !memcmp(a + addr_off(a), b + addr_off(b), addr_len(a)) &&
	       !memcmp(a + a4, b + b4, 4);
}

static uint32_t pseudo(const uint8_t *d, size_t l4len)
{
	if ((d[0] >> 4) == 4)
		return pkt_csum_pseudo4(d + 12, d + 16, PKT_IPPROTO_TCP, (uint32_t)l4len);
	return pkt_csum_pseudo6(d + 8, d + 24, PKT_IPPROTO_TCP, (uint32_t)l4len);
}

/* Sets it->l4off/thl for anything with a TCP flow key, and the rest for mergeable ones. */
static enum cls classify(struct gro *g, const struct gro_pkt *p, struct gro_item *it)
{
	const uint8_t *d = p->data;
	size_t len = p->len, l4off;
	bool simple;

	if (p->raw || len < PKT_IP4_HLEN)
		return CLS_OTHER;
	if ((d[0] >> 4) == 4) {
		l4off = (size_t)(d[0] & 0x0f) * 4;
		if (l4off < PKT_IP4_HLEN || d[9] != PKT_IPPROTO_TCP || l4off + 4 > len ||
		    (get16(d + 6) & IP4_OFF_MASK))
			return CLS_OTHER;
		simple = l4off == PKT_IP4_HLEN && get16(d + 2) == len &&
			 !(get16(d + 6) & IP4_FRAG_MASK) && pkt_csum(d, PKT_IP4_HLEN) == 0;
	} else if ((d[0] >> 4) == 6) {
		/* With extension headers the flow is not identified (it would need a header walk);
		 * such packets are rare enough that merging around them is accepted. */
		l4off = PKT_IP6_HLEN;
		if (len < PKT_IP6_HLEN + 4 || d[6] != PKT_IPPROTO_TCP)
			return CLS_OTHER;
		simple = get16(d + 4) + (size_t)PKT_IP6_HLEN == len;
	} else {
		return CLS_OTHER;
	}
	it->l4off = (uint8_t)l4off;
	it->thl = 0;
	if (!simple || l4off + PKT_TCP_HLEN > len)
		return CLS_KEY_ONLY;
	const uint8_t *th = d + l4off;
	size_t thl = (size_t)(th[12] >> 4) * 4;
	if (thl < PKT_TCP_HLEN || l4off + thl >= len || (th[12] & 0x0f) ||
	    !(th[13] & PKT_TCP_ACK) || (th[13] & ~(PKT_TCP_ACK | PKT_TCP_PSH)))
		return CLS_KEY_ONLY;
	if (!g->trust_l4_csum && pkt_csum_fold(pkt_csum_add(pseudo(d, len - l4off), th, len - l4off)) != 0) {
		g->stats.bad_csum++;
		return CLS_KEY_ONLY;
	}
	it->thl = (uint8_t)thl;
	it->gso_size = (uint16_t)(len - l4off - thl);
	it->next_seq = get32(th + 4) + it->gso_size;
	it->ip_id = (d[0] >> 4) == 4 ? get16(d + 4) : 0;
	it->nseg = 1;
	return CLS_MERGEABLE;
}

static bool can_merge(const struct gro *g, const struct gro_pkt *hp, const struct gro_item *h,
		      const struct gro_pkt *pp, const struct gro_item *it)
{
	const uint8_t *a = hp->data, *b = pp->data;
	const uint8_t *ta = a + h->l4off, *tb = b + it->l4off;
	size_t limit = hp->cap < GRO_MAX_LEN ? hp->cap : GRO_MAX_LEN;

	if (limit < GRO_MAX_LEN && g->scratch_used < g->scratch_n)
		limit = GRO_MAX_LEN;	/* the head can move to scratch */

	if ((a[0] >> 4) == 4) {
		if (a[1] != b[1] || a[8] != b[8] || ((get16(a + 6) ^ get16(b + 6)) & IP4_DF))
			return false;
		if (!(get16(a + 6) & IP4_DF) && get16(b + 4) != (uint16_t)(h->ip_id + h->nseg))
			return false;
	} else if (memcmp(a, b, 4) || a[7] != b[7]) {
		return false;
	}
	return h->thl == it->thl && !memcmp(ta + 8, tb + 8, 4) && !memcmp(ta + 14, tb + 14, 2) &&
	       !memcmp(ta + PKT_TCP_HLEN, tb + PKT_TCP_HLEN, h->thl - PKT_TCP_HLEN) &&
	       get32(tb + 4) == h->next_seq && it->gso_size <= h->gso_size &&
	       hp->len + it->gso_size <= limit;
}

/* Table slot holding the flow of packet i, or the empty slot where it goes. */
static size_t lookup(struct gro *g, const struct gro_pkt *pkts, size_t i, uint32_t hash)
{
	size_t s = hash & (GRO_TABLE - 1);
	for (;;) {
		if (g->table[s].gen != g->gen)
			return s;
		size_t j = g->table[s].item;
		if (g->table[s].hash == hash &&
		    same_flow(&pkts[j], g->items[j].l4off, &pkts[i], g->items[i].l4off))
			return s;
		s = (s + 1) & (GRO_TABLE - 1);
	}
}

/* A merge head (nseg > 1) goes out as a GSO packet; a lone segment, when the checksum is
 * trusted, as one packet whose checksum the kernel completes, which it takes as verified
 * (CHECKSUM_PARTIAL): it does not read the payload again on delivery, a pass over 34 KB a
 * packet at MTU 34736, where no two segments fit in one merge. */
static void finish_head(const struct gro_pkt *p, const struct gro_item *h)
{
	uint8_t *d = p->data;
	bool gso = h->nseg > 1;
	/* the device counts these from the first byte written, a tap's link header included */
	struct virtio_net_hdr vh = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = !gso ? VIRTIO_NET_HDR_GSO_NONE :
			    (d[0] >> 4) == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
		.hdr_len = (uint16_t)(p->l2 + h->l4off + h->thl),
		.gso_size = gso ? h->gso_size : 0,
		.csum_start = (uint16_t)(p->l2 + h->l4off),
		.csum_offset = TCP_CSUM_OFF,
	};
	if (!gso) {
		/* the lengths are right already (classify), the IPv4 header checksum too */
	} else if (vh.gso_type == VIRTIO_NET_HDR_GSO_TCPV4) {
		put16(d + 2, (uint16_t)p->len);
		put16(d + 10, 0);
		put16(d + 10, pkt_csum_ip4_header(d, PKT_IP4_HLEN));
	} else {
		put16(d + 4, (uint16_t)(p->len - PKT_IP6_HLEN));
	}
	/* CHECKSUM_PARTIAL: the field holds the uncomplemented pseudo-header sum over the whole
	 * TCP length; the kernel adjusts it per segment when it resegments. */
	put16(d + h->l4off + TCP_CSUM_OFF, pkt_csum_reduce(pseudo(d, p->len - h->l4off)));
	memcpy(d - p->l2 - GRO_HEADROOM, &vh, sizeof(vh));
}

int gro_coalesce(struct gro *g, struct gro_pkt *pkts, size_t n, struct iovec *out, size_t n_out)
{
	if (n > GRO_MAX_BATCH || n_out < n)
		return -EINVAL;
	g->scratch_used = 0;
	if (++g->gen == 0) {
		memset(g->table, 0, sizeof(g->table));
		g->gen = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct gro_item *it = &g->items[i];
		enum cls c = classify(g, &pkts[i], it);

		it->state = ST_PASS;
		if (c == CLS_OTHER)
			continue;
		uint32_t hash = flow_hash(pkts[i].data, it->l4off);
		size_t s = lookup(g, pkts, i, hash);
		bool found = g->table[s].gen == g->gen;
		struct gro_item *h = found ? &g->items[g->table[s].item] : NULL;
		struct gro_pkt *hp = found ? &pkts[g->table[s].item] : NULL;

		if (c == CLS_MERGEABLE && h && h->state == ST_HEAD_OPEN && can_merge(g, hp, h, &pkts[i], it)) {
			const uint8_t *th = pkts[i].data + it->l4off;
			if (hp->len + it->gso_size > hp->cap) {
				uint8_t *b = g->scratch + (size_t)g->scratch_used++ * GRO_SCRATCH_SIZE +
					     GRO_SCRATCH_HEAD;
				memcpy(b - hp->l2, hp->data - hp->l2, hp->l2 + hp->len);
				hp->data = b;
				hp->cap = GRO_MAX_LEN;
			}
			memcpy(hp->data + hp->len, th + it->thl, it->gso_size);
			hp->len += it->gso_size;
			h->nseg++;
			h->next_seq += it->gso_size;
			if (th[13] & PKT_TCP_PSH)
				hp->data[h->l4off + 13] |= PKT_TCP_PSH;
			if ((th[13] & PKT_TCP_PSH) || it->gso_size < h->gso_size)
				h->state = ST_HEAD_CLOSED;
			it->state = ST_MERGED;
			g->stats.merged++;
			continue;
		}
		if (h && h->state == ST_HEAD_OPEN)
			h->state = ST_HEAD_CLOSED;
		g->table[s].gen = g->gen;
		g->table[s].hash = hash;
		g->table[s].item = (uint16_t)i;
		if (c == CLS_MERGEABLE)
			it->state = (pkts[i].data[it->l4off + 13] & PKT_TCP_PSH) ? ST_HEAD_CLOSED : ST_HEAD_OPEN;
	}

	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct gro_item *it = &g->items[i];
		if (it->state == ST_MERGED)
			continue;
		if (it->state != ST_PASS && it->nseg > 1) {
			finish_head(&pkts[i], it);
			g->stats.out_gso++;
		} else if (it->state != ST_PASS && it->thl && g->trust_l4_csum) {
			finish_head(&pkts[i], it);
			g->stats.out_partial++;
		} else {
			memset(pkts[i].data - pkts[i].l2 - GRO_HEADROOM, 0, GRO_HEADROOM);
			g->stats.passthrough++;
		}
		out[k].iov_base = pkts[i].data - pkts[i].l2 - GRO_HEADROOM;
		out[k].iov_len = pkts[i].l2 + pkts[i].len + GRO_HEADROOM;
		k++;
	}
	return (int)k;
}
