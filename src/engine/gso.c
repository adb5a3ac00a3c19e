/* TSO/USO split of tun super-packets. The kernel hands us one skb with CHECKSUM_PARTIAL and a
 * gso_size; we do in software what a NIC would: cut the payload, replicate and fix headers,
 * and compute each segment's checksum from scratch (the seed in the packet is ignored). */
#include "engine/gso.h"
#include "lib/packet.h"
#include <errno.h>
#include <string.h>

enum {
	TCP_CSUM_OFF = 16, UDP_CSUM_OFF = 6,
	IP4_MAX_LEN = 65535,
};

static const char *const reason_names[GSO_REASON_MAX] = {
	[GSO_OK] = "ok",
	[GSO_BAD_GSO_TYPE] = "gso_bad_type",
	[GSO_BAD_HDR_LEN] = "gso_bad_hdr_len",
	[GSO_BAD_CSUM_START] = "gso_bad_csum_start",
	[GSO_BAD_IP_VERSION] = "gso_bad_ip_version",
	[GSO_BAD_IP_HDR] = "gso_bad_ip_hdr",
	[GSO_BAD_PROTO] = "gso_bad_proto",
	[GSO_BAD_L4_HDR] = "gso_bad_l4_hdr",
	[GSO_BAD_GSO_SIZE] = "gso_bad_gso_size",
	[GSO_TOO_MANY_SEGS] = "gso_too_many_segs",
	[GSO_SLOT_TOO_SMALL] = "gso_slot_too_small",
};

const char *gso_reason_name(enum gso_reason r)
{
	return (unsigned int)r < GSO_REASON_MAX ? reason_names[r] : "gso_unknown";
}

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static int refuse(enum gso_reason *why, enum gso_reason r)
{
	if (why)
		*why = r;
	return -EINVAL;
}

int gso_hdr_get(const uint8_t *frame, size_t len, struct virtio_net_hdr *vh)
{
	if (len < GSO_VNET_HDR_LEN)
		return -EINVAL;
	memcpy(vh, frame, GSO_VNET_HDR_LEN);
	return 0;
}

/* A computed 0 stays 0x0000: RFC 1071 never yields 0xffff for data that is not all zero, TCP
 * stacks and NICs send 0x0000, and receivers such as tshark flag 0xffff (RFC 1624). Only UDP
 * (checksum at offset 6), whose 0 means "no checksum", sends the equal 0xffff (RFC 768);
 * skb_checksum_help does that for every protocol, which is not the form to copy for TCP. */
static uint16_t csum_final(uint32_t sum, size_t off)
{
	uint16_t c = pkt_csum_fold(sum);

	return c == 0 && off == UDP_CSUM_OFF ? 0xffff : c;
}

/* Checksum of p[start..len) stored at start+off. */
static void store_csum(uint8_t *p, size_t start, size_t off, uint32_t seed, size_t len)
{
	put16(p + start + off, 0);
	put16(p + start + off, csum_final(pkt_csum_add(seed, p + start, len - start), off));
}

int gso_finish_csum(const struct virtio_net_hdr *vh, uint8_t *pkt, size_t len, enum gso_reason *why)
{
	if (!(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	if ((size_t)vh->csum_start + vh->csum_offset + 2 > len)
		return refuse(why, GSO_BAD_CSUM_START);
	/* The field holds the pseudo-header seed: summing over it completes the checksum. */
	put16(pkt + vh->csum_start + vh->csum_offset,
	      csum_final(pkt_csum_add(0, pkt + vh->csum_start, len - vh->csum_start), vh->csum_offset));
	return 0;
}

struct layout {
	int version;
	size_t l4off, hlen;   /* L4 header offset; all headers */
	uint8_t proto;
};

static int parse_headers(const struct virtio_net_hdr *vh, unsigned int type, const uint8_t *pkt,
			 size_t len, struct layout *l, enum gso_reason *why)
{
	if (len < 1)
		return refuse(why, GSO_BAD_IP_HDR);
	l->version = pkt[0] >> 4;
	if ((type == VIRTIO_NET_HDR_GSO_TCPV4 && l->version != 4) ||
	    (type == VIRTIO_NET_HDR_GSO_TCPV6 && l->version != 6) ||
	    (l->version != 4 && l->version != 6))
		return refuse(why, GSO_BAD_IP_VERSION);
	l->proto = type == VIRTIO_NET_HDR_GSO_UDP_L4 ? PKT_IPPROTO_UDP : PKT_IPPROTO_TCP;
	if (l->version == 4) {
		if (len < PKT_IP4_HLEN)
			return refuse(why, GSO_BAD_IP_HDR);
		l->l4off = (size_t)(pkt[0] & 0x0f) * 4;
		if (l->l4off < PKT_IP4_HLEN || l->l4off > len)
			return refuse(why, GSO_BAD_IP_HDR);
		if (get16(pkt + 6) & 0x3fff) /* MF or a fragment offset */
			return refuse(why, GSO_BAD_IP_HDR);
		if (pkt[9] != l->proto)
			return refuse(why, GSO_BAD_PROTO);
	} else {
		if (len < PKT_IP6_HLEN)
			return refuse(why, GSO_BAD_IP_HDR);
		l->l4off = PKT_IP6_HLEN;
		/* Extension headers would need walking and fragment handling; the stack does
		 * not put them on TSO packets it sends through a tun. */
		if (pkt[6] != l->proto)
			return refuse(why, GSO_BAD_PROTO);
	}
	if (l->proto == PKT_IPPROTO_TCP) {
		if (l->l4off + PKT_TCP_HLEN > len)
			return refuse(why, GSO_BAD_L4_HDR);
		size_t thl = (size_t)(pkt[l->l4off + 12] >> 4) * 4;
		if (thl < PKT_TCP_HLEN || l->l4off + thl > len)
			return refuse(why, GSO_BAD_L4_HDR);
		l->hlen = l->l4off + thl;
	} else {
		if (l->l4off + PKT_UDP_HLEN > len)
			return refuse(why, GSO_BAD_L4_HDR);
		l->hlen = l->l4off + PKT_UDP_HLEN;
	}
	/* The length the packet claims is the length read: a tap read the kernel cut short to
	 * the buffer (it does so without an error) would otherwise be split into a shorter last
	 * segment with a good checksum. */
	if ((l->version == 4 ? (size_t)get16(pkt + 2) : (size_t)get16(pkt + 4) + PKT_IP6_HLEN) != len)
		return refuse(why, GSO_BAD_IP_HDR);
	if ((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (vh->csum_start != l->l4off ||
	     vh->csum_offset != (l->proto == PKT_IPPROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF)))
		return refuse(why, GSO_BAD_CSUM_START);
	return 0;
}

static uint32_t pseudo_sum(const struct layout *l, const uint8_t *pkt, size_t l4len)
{
	if (l->version == 4)
		return pkt_csum_pseudo4(pkt + 12, pkt + 16, l->proto, (uint32_t)l4len);
	return pkt_csum_pseudo6(pkt + 8, pkt + 24, l->proto, (uint32_t)l4len);
}

int gso_split(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len,
	      struct iovec *out, size_t n_out, enum gso_reason *why)
{
	unsigned int type = vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	struct layout l;

	if (why)
		*why = GSO_OK;
	if (vh->hdr_len > len)
		return refuse(why, GSO_BAD_HDR_LEN);
	if (type == VIRTIO_NET_HDR_GSO_NONE) {
		if (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return refuse(why, GSO_BAD_GSO_TYPE);
		if (n_out < 1)
			return refuse(why, GSO_TOO_MANY_SEGS);
		if ((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		    (size_t)vh->csum_start + vh->csum_offset + 2 > len)
			return refuse(why, GSO_BAD_CSUM_START);
		if (out[0].iov_len < len)
			return refuse(why, GSO_SLOT_TOO_SMALL);
		memcpy(out[0].iov_base, pkt, len);
		out[0].iov_len = len;
		gso_finish_csum(vh, out[0].iov_base, len, why);
		return 1;
	}
	if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6 &&
	    type != VIRTIO_NET_HDR_GSO_UDP_L4)
		return refuse(why, GSO_BAD_GSO_TYPE);
	if (type == VIRTIO_NET_HDR_GSO_UDP_L4 && (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN))
		return refuse(why, GSO_BAD_GSO_TYPE);
	if (parse_headers(vh, type, pkt, len, &l, why))
		return -EINVAL;

	size_t mss = vh->gso_size, payload = len - l.hlen;
	if (mss == 0 || l.hlen + mss > IP4_MAX_LEN)
		return refuse(why, GSO_BAD_GSO_SIZE);
	size_t nseg = payload ? (payload + mss - 1) / mss : 1;
	if (nseg > n_out)
		return refuse(why, GSO_TOO_MANY_SEGS);
	for (size_t i = 0; i < nseg; i++) {
		size_t seg = i + 1 < nseg ? mss : payload - i * mss;
		if (out[i].iov_len < l.hlen + seg)
			return refuse(why, GSO_SLOT_TOO_SMALL);
	}

	const uint8_t *l4 = pkt + l.l4off;
	uint16_t ip_id = l.version == 4 ? get16(pkt + 4) : 0;
	uint32_t seq = l.proto == PKT_IPPROTO_TCP ? get32(l4 + 4) : 0;
	uint8_t flags = l.proto == PKT_IPPROTO_TCP ? l4[13] : 0;

	for (size_t i = 0; i < nseg; i++) {
		size_t seg = i + 1 < nseg ? mss : payload - i * mss;
		size_t slen = l.hlen + seg, l4len = slen - l.l4off;
		uint8_t *o = out[i].iov_base, *ol4 = o + l.l4off;

		memcpy(o, pkt, l.hlen);
		memcpy(o + l.hlen, pkt + l.hlen + i * mss, seg);
		if (l.version == 4) {
			put16(o + 2, (uint16_t)slen);
			put16(o + 4, (uint16_t)(ip_id + i));
			put16(o + 10, 0);
			put16(o + 10, pkt_csum_ip4_header(o, l.l4off));
		} else {
			put16(o + 4, (uint16_t)(slen - PKT_IP6_HLEN));
		}
		if (l.proto == PKT_IPPROTO_TCP) {
			uint8_t f = flags;
			if (i + 1 < nseg)
				f &= (uint8_t)~(PKT_TCP_FIN | PKT_TCP_PSH);
			if (i > 0)
				f &= (uint8_t)~PKT_TCP_CWR;
			put32(ol4 + 4, seq + (uint32_t)(i * mss));
			ol4[13] = f;
			store_csum(o, l.l4off, TCP_CSUM_OFF, pseudo_sum(&l, o, l4len), slen);
		} else {
			put16(ol4 + 4, (uint16_t)l4len);
			store_csum(o, l.l4off, UDP_CSUM_OFF, pseudo_sum(&l, o, l4len), slen);
		}
		out[i].iov_len = slen;
	}
	return (int)nseg;
}
