/* Replies that let a program "emulate the target": echo replies, ARP replies and neighbour
 * advertisements, built from a parsed request with every checksum recomputed. */
#include <string.h>

#include "lib/packet.h"

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static bool is_zero(const uint8_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i])
			return false;
	return true;
}

/* Ethernet header of a reply: back to the sender, from mac (or from whoever it was sent to),
 * keeping the VLAN tag. dst may be NULL for the request's source. */
static void put_eth(uint8_t *out, const uint8_t *req, const struct pkt_info *pi,
		    const uint8_t *dst, const uint8_t *mac, uint16_t ethertype)
{
	memcpy(out, dst ? dst : pi->eth_src, 6);
	memcpy(out + 6, mac ? mac : pi->eth_dst, 6);
	memcpy(out + 12, req + 12, pi->l3_off - 12); /* VLAN tag if any */
	put16(out + pi->l3_off - 2, ethertype);
}

static bool echo_request(const struct pkt_info *pi)
{
	if (pi->err != PKT_OK || !pi->has_l4 || pi->frag || pi->icmp_code != 0)
		return false;
	if (pi->ip_version == 4)
		return pi->proto == PKT_IPPROTO_ICMP && pi->icmp_type == PKT_ICMP_ECHO_REQUEST &&
		       pi->dst[0] < 224 && !is_zero(pi->dst, 4) && !is_zero(pi->src, 4);
	return pi->proto == PKT_IPPROTO_ICMPV6 && pi->icmp_type == PKT_ICMP6_ECHO_REQUEST &&
	       pi->dst[0] != 0xff && !is_zero(pi->dst, 16) && !is_zero(pi->src, 16);
}

size_t pkt_build_echo_reply(const uint8_t *req, const struct pkt_info *pi, const uint8_t *mac,
			    uint8_t *out, size_t cap)
{
	size_t l2 = pi->ethernet ? pi->l3_off : 0;
	size_t hl = pi->ip_version == 4 ? PKT_IP4_HLEN : PKT_IP6_HLEN;
	size_t total = l2 + hl + pi->l4_len;
	uint8_t *ip = out + l2, *icmp = out + l2 + hl;
	uint16_t c;

	if (!echo_request(pi) || total > cap || hl + pi->l4_len > 0xffff)
		return 0;
	if (pi->ethernet && (pi->eth_src[0] & 1))
		return 0; /* never answer to a multicast source */
	if (pi->ethernet)
		put_eth(out, req, pi, NULL, mac, pi->ethertype);
	memcpy(icmp, req + pi->l4_off, pi->l4_len);
	icmp[1] = 0;
	icmp[2] = icmp[3] = 0;
	if (pi->ip_version == 4) {
		memset(ip, 0, PKT_IP4_HLEN);
		ip[0] = 0x45;
		ip[1] = req[pi->l3_off + 1];
		put16(ip + 2, (uint16_t)(hl + pi->l4_len));
		put16(ip + 4, pi->ip_id);
		ip[8] = 64;
		ip[9] = PKT_IPPROTO_ICMP;
		memcpy(ip + 12, pi->dst, 4);
		memcpy(ip + 16, pi->src, 4);
		put16(ip + 10, pkt_csum_ip4_header(ip, PKT_IP4_HLEN));
		icmp[0] = PKT_ICMP_ECHO_REPLY;
		c = pkt_csum(icmp, pi->l4_len);
	} else {
		memcpy(ip, req + pi->l3_off, 4); /* version, traffic class, flow label */
		put16(ip + 4, (uint16_t)pi->l4_len);
		ip[6] = PKT_IPPROTO_ICMPV6;
		ip[7] = 64;
		memcpy(ip + 8, pi->dst, 16);
		memcpy(ip + 24, pi->src, 16);
		icmp[0] = PKT_ICMP6_ECHO_REPLY;
		c = pkt_csum_l4_6(ip + 8, ip + 24, PKT_IPPROTO_ICMPV6, icmp, pi->l4_len);
	}
	put16(icmp + 2, c);
	return total;
}

size_t pkt_build_arp_reply(const uint8_t *req, const struct pkt_info *pi, const uint8_t mac[6],
			   uint8_t *out, size_t cap)
{
	size_t total = pi->l3_off + PKT_ARP_LEN;
	uint8_t *a = out + pi->l3_off;

	if (pi->err != PKT_OK || pi->l3 != PKT_L3_ARP || pi->arp_op != PKT_ARP_REQUEST || total > cap)
		return 0;
	/* A gratuitous ARP or a probe (RFC 5227, sender 0.0.0.0) announces, it does not ask. */
	if (!memcmp(pi->arp_spa, pi->arp_tpa, 4) || is_zero(pi->arp_spa, 4) || (pi->arp_sha[0] & 1))
		return 0;
	put_eth(out, req, pi, pi->arp_sha, mac, PKT_ETH_ARP);
	put16(a, 1);
	put16(a + 2, PKT_ETH_IP4);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, PKT_ARP_REPLY);
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, pi->arp_tpa, 4);
	memcpy(a + 18, pi->arp_sha, 6);
	memcpy(a + 24, pi->arp_spa, 4);
	return total;
}

size_t pkt_build_neigh_adv(const uint8_t *req, const struct pkt_info *pi, const uint8_t mac[6],
			   uint8_t *out, size_t cap)
{
	enum { NA_LEN = PKT_ND_HLEN + 8 };
	size_t total = pi->l3_off + PKT_IP6_HLEN + NA_LEN;
	uint8_t *ip = out + pi->l3_off, *na = ip + PKT_IP6_HLEN;

	if (pi->err != PKT_OK || !pi->ethernet || pi->l3 != PKT_L3_IP6 || !pi->has_l4 ||
	    pi->proto != PKT_IPPROTO_ICMPV6 || pi->icmp_type != PKT_ICMP6_NS || total > cap)
		return 0;
	/* RFC 4861 7.1.1: hop limit 255 and code 0, target not multicast. A DAD probe (source ::)
	 * is not answered: claiming the address would make the prober give it up. */
	if (pi->ttl != 255 || pi->icmp_code != 0 || pi->nd_target[0] == 0xff ||
	    is_zero(pi->src, 16) || (pi->eth_src[0] & 1))
		return 0;
	put_eth(out, req, pi, pi->nd_has_lladdr ? pi->nd_lladdr : pi->eth_src, mac, PKT_ETH_IP6);
	memset(ip, 0, PKT_IP6_HLEN + NA_LEN);
	ip[0] = 0x60;
	put16(ip + 4, NA_LEN);
	ip[6] = PKT_IPPROTO_ICMPV6;
	ip[7] = 255;
	memcpy(ip + 8, pi->nd_target, 16);
	memcpy(ip + 24, pi->src, 16);
	na[0] = PKT_ICMP6_NA;
	na[4] = 0x60; /* solicited, override */
	memcpy(na + 8, pi->nd_target, 16);
	na[24] = PKT_ND_OPT_TLLA;
	na[25] = 1;
	memcpy(na + 26, mac, 6);
	put16(na + 2, pkt_csum_l4_6(ip + 8, ip + 24, PKT_IPPROTO_ICMPV6, na, NA_LEN));
	return total;
}
