/* Bounded packet parser: every read is checked against the bytes actually present. */
#include <string.h>

#include "lib/packet.h"

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool fail(struct pkt_info *pi, enum pkt_err err, size_t have, size_t need)
{
	pi->err = err;
	pi->err_have = have;
	pi->err_need = need;
	return false;
}

static bool parse_tcp(const uint8_t *p, struct pkt_info *pi)
{
	const uint8_t *t = p + pi->l4_off;
	size_t doff;

	if (pi->l4_len < PKT_TCP_HLEN)
		return fail(pi, PKT_ERR_TCP_TRUNC, pi->l4_len, PKT_TCP_HLEN);
	pi->sport = be16(t);
	pi->dport = be16(t + 2);
	pi->tcp_seq = be32(t + 4);
	pi->tcp_ack = be32(t + 8);
	pi->tcp_flags = t[13];
	pi->tcp_win = be16(t + 14);
	doff = (size_t)(t[12] >> 4) * 4;
	if (doff < PKT_TCP_HLEN)
		return fail(pi, PKT_ERR_TCP_DOFF, doff, PKT_TCP_HLEN);
	if (doff > pi->l4_len)
		return fail(pi, PKT_ERR_TCP_TRUNC, pi->l4_len, doff);
	pi->payload_off = pi->l4_off + doff;
	pi->payload_len = pi->l4_len - doff;
	return true;
}

static bool parse_udp(const uint8_t *p, struct pkt_info *pi)
{
	const uint8_t *u = p + pi->l4_off;

	if (pi->l4_len < PKT_UDP_HLEN)
		return fail(pi, PKT_ERR_UDP_TRUNC, pi->l4_len, PKT_UDP_HLEN);
	pi->sport = be16(u);
	pi->dport = be16(u + 2);
	pi->udp_len = be16(u + 4);
	/* A first fragment carries only part of the datagram the length field describes. */
	if (pi->udp_len < PKT_UDP_HLEN || (!pi->frag_more && pi->udp_len > pi->l4_len))
		return fail(pi, PKT_ERR_UDP_LEN, pi->udp_len, pi->l4_len);
	pi->payload_off = pi->l4_off + PKT_UDP_HLEN;
	pi->payload_len = (pi->frag_more ? pi->l4_len : pi->udp_len) - PKT_UDP_HLEN;
	return true;
}

static bool parse_icmp(const uint8_t *p, struct pkt_info *pi)
{
	const uint8_t *c = p + pi->l4_off;

	if (pi->l4_len < PKT_ICMP_HLEN)
		return fail(pi, PKT_ERR_ICMP_TRUNC, pi->l4_len, PKT_ICMP_HLEN);
	pi->icmp_type = c[0];
	pi->icmp_code = c[1];
	if (c[0] == PKT_ICMP_ECHO_REQUEST || c[0] == PKT_ICMP_ECHO_REPLY) {
		pi->echo_id = be16(c + 4);
		pi->echo_seq = be16(c + 6);
	}
	pi->payload_off = pi->l4_off + PKT_ICMP_HLEN;
	pi->payload_len = pi->l4_len - PKT_ICMP_HLEN;
	return true;
}

/* Walk the NDP options (RFC 4861 4.6): each is type, length in 8-byte units (never 0). */
static bool parse_nd_opts(const uint8_t *p, struct pkt_info *pi, size_t opt_off, uint8_t want)
{
	size_t off = pi->l4_off + opt_off, end = pi->l4_off + pi->l4_len;

	while (off < end) {
		size_t olen;

		if (end - off < 2)
			return fail(pi, PKT_ERR_ND_OPT, off - pi->l4_off, 2);
		olen = (size_t)p[off + 1] * 8;
		if (olen == 0 || olen > end - off)
			return fail(pi, PKT_ERR_ND_OPT, off - pi->l4_off, olen);
		if (p[off] == want && olen >= 8) {
			memcpy(pi->nd_lladdr, p + off + 2, 6);
			pi->nd_has_lladdr = true;
		}
		off += olen;
	}
	return true;
}

static bool parse_icmp6(const uint8_t *p, struct pkt_info *pi)
{
	const uint8_t *c = p + pi->l4_off;

	if (pi->l4_len < PKT_ICMP_HLEN)
		return fail(pi, PKT_ERR_ICMP6_TRUNC, pi->l4_len, PKT_ICMP_HLEN);
	pi->icmp_type = c[0];
	pi->icmp_code = c[1];
	pi->payload_off = pi->l4_off + PKT_ICMP_HLEN;
	pi->payload_len = pi->l4_len - PKT_ICMP_HLEN;
	switch (c[0]) {
	case PKT_ICMP6_ECHO_REQUEST:
	case PKT_ICMP6_ECHO_REPLY:
		pi->echo_id = be16(c + 4);
		pi->echo_seq = be16(c + 6);
		return true;
	case PKT_ICMP6_NS:
	case PKT_ICMP6_NA:
		if (pi->l4_len < PKT_ND_HLEN)
			return fail(pi, PKT_ERR_ND_TRUNC, pi->l4_len, PKT_ND_HLEN);
		memcpy(pi->nd_target, c + 8, 16);
		pi->nd_flags = c[0] == PKT_ICMP6_NA ? c[4] : 0;
		return parse_nd_opts(p, pi, PKT_ND_HLEN,
				     c[0] == PKT_ICMP6_NS ? PKT_ND_OPT_SLLA : PKT_ND_OPT_TLLA);
	case PKT_ICMP6_RS:
		return parse_nd_opts(p, pi, 8, PKT_ND_OPT_SLLA);
	case PKT_ICMP6_RA:
		if (pi->l4_len < 16)
			return fail(pi, PKT_ERR_ND_TRUNC, pi->l4_len, 16);
		return parse_nd_opts(p, pi, 16, PKT_ND_OPT_SLLA);
	}
	return true;
}

static bool parse_l4(const uint8_t *p, struct pkt_info *pi)
{
	/* Only the first fragment carries the upper-layer header. */
	if (pi->frag && pi->frag_off != 0)
		return true;
	pi->l4_len = pi->ip_end - pi->l4_off;
	switch (pi->proto) {
	case PKT_IPPROTO_TCP:
		pi->has_l4 = true;
		return parse_tcp(p, pi);
	case PKT_IPPROTO_UDP:
		pi->has_l4 = true;
		return parse_udp(p, pi);
	case PKT_IPPROTO_ICMP:
		if (pi->ip_version != 4)
			return true;
		pi->has_l4 = true;
		return parse_icmp(p, pi);
	case PKT_IPPROTO_ICMPV6:
		if (pi->ip_version != 6)
			return true;
		pi->has_l4 = true;
		return parse_icmp6(p, pi);
	}
	return true;
}

static bool parse_ip4(const uint8_t *p, size_t len, struct pkt_info *pi)
{
	const uint8_t *h = p + pi->l3_off;
	size_t avail = len - pi->l3_off, hlen, tot;
	uint16_t fo;

	pi->l3 = PKT_L3_IP4;
	if (avail < PKT_IP4_HLEN)
		return fail(pi, PKT_ERR_IP4_TRUNC, avail, PKT_IP4_HLEN);
	if (h[0] >> 4 != 4)
		return fail(pi, PKT_ERR_IP_VERSION, h[0] >> 4, 4);
	hlen = (size_t)(h[0] & 0x0f) * 4;
	if (hlen < PKT_IP4_HLEN)
		return fail(pi, PKT_ERR_IP4_IHL, hlen, PKT_IP4_HLEN);
	if (hlen > avail)
		return fail(pi, PKT_ERR_IP4_TRUNC, avail, hlen);
	memcpy(pi->src, h + 12, 4);
	memcpy(pi->dst, h + 16, 4);
	pi->ip_version = 4; /* from here on the summary can name the addresses */
	pi->ttl = h[8];
	pi->proto = h[9];
	pi->ip_id = be16(h + 4);
	pi->ip_hlen = hlen;
	tot = be16(h + 2);
	if (tot < hlen)
		return fail(pi, PKT_ERR_IP4_TOTLEN, tot, hlen);
	if (tot > avail)
		return fail(pi, PKT_ERR_IP4_SHORT, avail, tot);
	pi->ip_end = pi->l3_off + tot;
	fo = be16(h + 6);
	pi->frag_more = fo & 0x2000;
	pi->frag_off = (uint16_t)((fo & 0x1fff) * 8);
	pi->frag = pi->frag_more || pi->frag_off;
	pi->l4_off = pi->l3_off + hlen;
	return parse_l4(p, pi);
}

/* Extension headers (RFC 8200 4): hop-by-hop, routing, destination options and AH have a
 * length byte; the fragment header is fixed 8 bytes; ESP and "no next header" end the walk. */
static bool skip_ip6_ext(const uint8_t *p, struct pkt_info *pi)
{
	size_t off = pi->l3_off + PKT_IP6_HLEN;

	for (;;) {
		size_t room = pi->ip_end - off, elen;
		uint8_t nh = pi->proto;

		if (nh != PKT_IPPROTO_HOPOPTS && nh != PKT_IPPROTO_ROUTING && nh != PKT_IPPROTO_DSTOPTS &&
		    nh != PKT_IPPROTO_FRAGMENT && nh != PKT_IPPROTO_AH)
			break;
		if (pi->ext_count >= PKT_IP6_MAX_EXT)
			return fail(pi, PKT_ERR_IP6_EXT_CHAIN, pi->ext_count, PKT_IP6_MAX_EXT);
		if (room < 8)
			return fail(pi, PKT_ERR_IP6_EXT_TRUNC, room, 8);
		if (nh == PKT_IPPROTO_FRAGMENT) {
			uint16_t fo = be16(p + off + 2);

			elen = 8;
			pi->frag = true;
			pi->frag_more = fo & 1;
			pi->frag_off = fo & 0xfff8;
			pi->ip_id = (uint16_t)be32(p + off + 4);
		} else if (nh == PKT_IPPROTO_AH) {
			elen = ((size_t)p[off + 1] + 2) * 4;
		} else {
			elen = ((size_t)p[off + 1] + 1) * 8;
		}
		if (elen > room)
			return fail(pi, PKT_ERR_IP6_EXT_TRUNC, room, elen);
		pi->proto = p[off];
		pi->ext_count++;
		off += elen;
	}
	pi->l4_off = off;
	return true;
}

static bool parse_ip6(const uint8_t *p, size_t len, struct pkt_info *pi)
{
	const uint8_t *h = p + pi->l3_off;
	size_t avail = len - pi->l3_off, tot;

	pi->l3 = PKT_L3_IP6;
	if (avail < PKT_IP6_HLEN)
		return fail(pi, PKT_ERR_IP6_TRUNC, avail, PKT_IP6_HLEN);
	if (h[0] >> 4 != 6)
		return fail(pi, PKT_ERR_IP_VERSION, h[0] >> 4, 6);
	pi->ip_hlen = PKT_IP6_HLEN;
	pi->proto = h[6];
	pi->ttl = h[7];
	memcpy(pi->src, h + 8, 16);
	memcpy(pi->dst, h + 24, 16);
	pi->ip_version = 6;
	tot = PKT_IP6_HLEN + (size_t)be16(h + 4);
	if (tot > avail)
		return fail(pi, PKT_ERR_IP6_SHORT, avail, tot);
	pi->ip_end = pi->l3_off + tot;
	if (!skip_ip6_ext(p, pi))
		return false;
	return parse_l4(p, pi);
}

static bool parse_arp(const uint8_t *p, size_t len, struct pkt_info *pi)
{
	const uint8_t *a = p + pi->l3_off;
	size_t avail = len - pi->l3_off;

	pi->l3 = PKT_L3_ARP;
	if (avail < 8)
		return fail(pi, PKT_ERR_ARP_TRUNC, avail, PKT_ARP_LEN);
	/* Only Ethernet hardware (1) with IPv4 addresses (0x0800, 6/4 bytes) is decoded. */
	if (be16(a) != 1 || be16(a + 2) != PKT_ETH_IP4 || a[4] != 6 || a[5] != 4)
		return fail(pi, PKT_ERR_ARP_FORMAT, be16(a), be16(a + 2));
	if (avail < PKT_ARP_LEN)
		return fail(pi, PKT_ERR_ARP_TRUNC, avail, PKT_ARP_LEN);
	pi->arp_op = be16(a + 6);
	memcpy(pi->arp_sha, a + 8, 6);
	memcpy(pi->arp_spa, a + 14, 4);
	memcpy(pi->arp_tha, a + 18, 6);
	memcpy(pi->arp_tpa, a + 24, 4);
	return true;
}

bool pkt_parse(const uint8_t *p, size_t len, bool ethernet, struct pkt_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->len = len;
	pi->ethernet = ethernet;
	if (len == 0)
		return fail(pi, PKT_ERR_EMPTY, 0, 1);

	if (ethernet) {
		if (len < PKT_ETH_HLEN)
			return fail(pi, PKT_ERR_ETH_TRUNC, len, PKT_ETH_HLEN);
		memcpy(pi->eth_dst, p, 6);
		memcpy(pi->eth_src, p + 6, 6);
		pi->ethertype = be16(p + 12);
		pi->l3_off = PKT_ETH_HLEN;
		if (pi->ethertype == PKT_ETH_VLAN) {
			if (len < PKT_ETH_HLEN + PKT_VLAN_HLEN)
				return fail(pi, PKT_ERR_VLAN_TRUNC, len, PKT_ETH_HLEN + PKT_VLAN_HLEN);
			pi->vlan = true;
			pi->vlan_tci = be16(p + 14);
			pi->ethertype = be16(p + 16);
			pi->l3_off += PKT_VLAN_HLEN;
		}
	} else {
		switch (p[0] >> 4) {
		case 4: pi->ethertype = PKT_ETH_IP4; break;
		case 6: pi->ethertype = PKT_ETH_IP6; break;
		default: return fail(pi, PKT_ERR_IP_VERSION, p[0] >> 4, 0);
		}
	}

	switch (pi->ethertype) {
	case PKT_ETH_IP4: return parse_ip4(p, len, pi);
	case PKT_ETH_IP6: return parse_ip6(p, len, pi);
	case PKT_ETH_ARP: return parse_arp(p, len, pi);
	}
	pi->l3 = PKT_L3_OTHER;
	return true;
}

size_t pkt_eth_payload(const uint8_t *f, size_t len, uint16_t *type)
{
	size_t off = PKT_ETH_HLEN - 2;

	for (; off + 2 <= PKT_ETH_MAX_HLEN; off += PKT_VLAN_HLEN) {
		if (len < off + 2) {
			*type = 0;
			return 0;
		}
		*type = (uint16_t)(f[off] << 8 | f[off + 1]);
		if (*type != PKT_ETH_VLAN && *type != PKT_ETH_QINQ)
			return off + 2;
	}
	return 0;
}

size_t pkt_eth_ip_offset(const uint8_t *f, size_t len)
{
	uint16_t type;
	size_t off = pkt_eth_payload(f, len, &type);

	/* the version must agree with the ethertype: a peer's frame may say IPv6 around IPv4,
	 * and the merge would write it with an IPv4 GSO type behind an IPv6 ethertype */
	if (!off || off >= len)
		return 0;
	return (type == PKT_ETH_IP4 && f[off] >> 4 == 4) || (type == PKT_ETH_IP6 && f[off] >> 4 == 6) ? off : 0;
}
