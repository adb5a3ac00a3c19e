/* One-line, tcpdump-like text for a parsed packet, and the words for parse errors. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>

#include "lib/packet.h"
#include "lib/addr.h"

static const struct {
	const char *name, *fmt; /* fmt gets err_have, err_need as %zu %zu (or fewer) */
} errs[PKT_ERR_MAX] = {
	[PKT_OK]                = { "ok", "ok" },
	[PKT_ERR_EMPTY]         = { "empty", "empty packet" },
	[PKT_ERR_ETH_TRUNC]     = { "eth_trunc", "truncated Ethernet header (%zu of %zu bytes)" },
	[PKT_ERR_VLAN_TRUNC]    = { "vlan_trunc", "truncated 802.1Q tag (%zu of %zu bytes)" },
	[PKT_ERR_IP_VERSION]    = { "ip_version", "unknown IP version %zu" },
	[PKT_ERR_ARP_TRUNC]     = { "arp_trunc", "truncated ARP packet (%zu of %zu bytes)" },
	[PKT_ERR_ARP_FORMAT]    = { "arp_format", "unsupported ARP hardware type %zu, protocol 0x%04zx" },
	[PKT_ERR_IP4_TRUNC]     = { "ip4_trunc", "truncated IPv4 header (%zu of %zu bytes)" },
	[PKT_ERR_IP4_IHL]       = { "ip4_ihl", "bad IPv4 header length %zu (less than %zu)" },
	[PKT_ERR_IP4_TOTLEN]    = { "ip4_totlen", "bad IPv4 total length %zu (header is %zu)" },
	[PKT_ERR_IP4_SHORT]     = { "ip4_short", "truncated IPv4 packet (%zu of %zu bytes)" },
	[PKT_ERR_IP6_TRUNC]     = { "ip6_trunc", "truncated IPv6 header (%zu of %zu bytes)" },
	[PKT_ERR_IP6_SHORT]     = { "ip6_short", "truncated IPv6 packet (%zu of %zu bytes)" },
	[PKT_ERR_IP6_EXT_TRUNC] = { "ip6_ext_trunc", "truncated IPv6 extension header (%zu of %zu bytes)" },
	[PKT_ERR_IP6_EXT_CHAIN] = { "ip6_ext_chain", "IPv6 extension header chain too long (%zu, limit %zu)" },
	[PKT_ERR_ICMP_TRUNC]    = { "icmp_trunc", "truncated ICMP header (%zu of %zu bytes)" },
	[PKT_ERR_ICMP6_TRUNC]   = { "icmp6_trunc", "truncated ICMP6 header (%zu of %zu bytes)" },
	[PKT_ERR_ND_TRUNC]      = { "nd_trunc", "truncated neighbor discovery message (%zu of %zu bytes)" },
	[PKT_ERR_ND_OPT]        = { "nd_opt", "bad neighbor discovery option at offset %zu (length %zu)" },
	[PKT_ERR_TCP_TRUNC]     = { "tcp_trunc", "truncated TCP header (%zu of %zu bytes)" },
	[PKT_ERR_TCP_DOFF]      = { "tcp_doff", "bad TCP data offset %zu (less than %zu)" },
	[PKT_ERR_UDP_TRUNC]     = { "udp_trunc", "truncated UDP header (%zu of %zu bytes)" },
	[PKT_ERR_UDP_LEN]       = { "udp_len", "bad UDP length %zu (%zu bytes present)" },
};

const char *pkt_err_name(enum pkt_err err)
{
	return (unsigned int)err < PKT_ERR_MAX ? errs[err].name : "unknown";
}

const char *pkt_addr_str(int version, const uint8_t *addr, char *buf, size_t len)
{
	return addr_str(version == 6 ? AF_INET6 : AF_INET, addr, buf, len);
}

/* snprintf that appends at *off and never lets *off run past the buffer. */
struct out { char *buf; size_t len, off; };

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->off < o->len ? o->buf + o->off : NULL, o->off < o->len ? o->len - o->off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->off += (size_t)n;
}

static void put_mac(struct out *o, const uint8_t *m)
{
	put(o, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void put_err(struct out *o, const struct pkt_info *pi)
{
	#pragma GCC diagnostic push
	#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	put(o, errs[pi->err].fmt, pi->err_have, pi->err_need);
	#pragma GCC diagnostic pop
}

static void put_tcp(struct out *o, const struct pkt_info *pi)
{
	static const char names[] = "FSRPUEWC"; /* bit order of enum pkt_tcp_flag */
	char f[10];
	size_t n = 0;

	for (int i = 0; i < 8; i++)
		if (i != 4 && (pi->tcp_flags & (1u << i)))
			f[n++] = names[i];
	if (pi->tcp_flags & PKT_TCP_ACK)
		f[n++] = '.';
	f[n] = 0;
	put(o, "TCP [%s] seq %u", f, pi->tcp_seq);
	if (pi->tcp_flags & PKT_TCP_ACK)
		put(o, " ack %u", pi->tcp_ack);
	put(o, " win %u, length %zu", pi->tcp_win, pi->payload_len);
}

static void put_icmp(struct out *o, const struct pkt_info *pi)
{
	switch (pi->icmp_type) {
	case PKT_ICMP_ECHO_REQUEST:
	case PKT_ICMP_ECHO_REPLY:
		put(o, "ICMP echo %s id %u seq %u", pi->icmp_type ? "request" : "reply", pi->echo_id, pi->echo_seq);
		break;
	case PKT_ICMP_UNREACH: put(o, "ICMP unreachable code %u", pi->icmp_code); break;
	case PKT_ICMP_TIME_EXCEEDED: put(o, "ICMP time exceeded code %u", pi->icmp_code); break;
	default: put(o, "ICMP type %u code %u", pi->icmp_type, pi->icmp_code);
	}
	put(o, ", length %zu", pi->payload_len);
}

static void put_icmp6(struct out *o, const struct pkt_info *pi)
{
	char a[INET6_ADDRSTRLEN];

	switch (pi->icmp_type) {
	case PKT_ICMP6_ECHO_REQUEST:
	case PKT_ICMP6_ECHO_REPLY:
		put(o, "ICMP6 echo %s id %u seq %u, length %zu",
		    pi->icmp_type == PKT_ICMP6_ECHO_REQUEST ? "request" : "reply", pi->echo_id, pi->echo_seq,
		    pi->payload_len);
		return;
	case PKT_ICMP6_NS:
		put(o, "ICMP6 neighbor solicitation, who has %s", pkt_addr_str(6, pi->nd_target, a, sizeof(a)));
		break;
	case PKT_ICMP6_NA:
		put(o, "ICMP6 neighbor advertisement, tgt is %s", pkt_addr_str(6, pi->nd_target, a, sizeof(a)));
		break;
	case PKT_ICMP6_RS: put(o, "ICMP6 router solicitation"); break;
	case PKT_ICMP6_RA: put(o, "ICMP6 router advertisement"); break;
	case PKT_ICMP6_UNREACH: put(o, "ICMP6 destination unreachable code %u", pi->icmp_code); break;
	case PKT_ICMP6_TOO_BIG: put(o, "ICMP6 packet too big"); break;
	case PKT_ICMP6_MLD_QUERY: put(o, "ICMP6 multicast listener query"); break;
	case PKT_ICMP6_MLD_REPORT: put(o, "ICMP6 multicast listener report"); break;
	case PKT_ICMP6_MLD2_REPORT: put(o, "ICMP6 multicast listener report v2"); break;
	case PKT_ICMP6_TIME_EXCEEDED: put(o, "ICMP6 time exceeded code %u", pi->icmp_code); break;
	default: put(o, "ICMP6 type %u code %u", pi->icmp_type, pi->icmp_code); return;
	}
	if (pi->nd_has_lladdr) {
		put(o, pi->icmp_type == PKT_ICMP6_NA ? ", is-at " : ", from ");
		put_mac(o, pi->nd_lladdr);
	}
}

static void put_ip(struct out *o, const struct pkt_info *pi)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	bool ports = pi->has_l4 && ((pi->proto == PKT_IPPROTO_TCP && pi->l4_len >= PKT_TCP_HLEN) ||
				    (pi->proto == PKT_IPPROTO_UDP && pi->l4_len >= PKT_UDP_HLEN));

	pkt_addr_str(pi->ip_version, pi->src, s, sizeof(s));
	pkt_addr_str(pi->ip_version, pi->dst, d, sizeof(d));
	put(o, "%s ", pi->ip_version == 6 ? "IP6" : "IP");
	if (ports)
		put(o, "%s.%u > %s.%u: ", s, pi->sport, d, pi->dport);
	else
		put(o, "%s > %s: ", s, d);
	if (pi->err != PKT_OK) {
		put_err(o, pi);
		return;
	}
	if (pi->frag && pi->frag_off != 0) {
		put(o, "fragment id %u offset %u%s, proto %u, length %zu", pi->ip_id, pi->frag_off,
		    pi->frag_more ? "+" : "", pi->proto, pi->ip_end - pi->l4_off);
		return;
	}
	if (!pi->has_l4) {
		put(o, "proto %u, length %zu", pi->proto, pi->ip_end - pi->l4_off);
	} else if (pi->proto == PKT_IPPROTO_TCP) {
		put_tcp(o, pi);
	} else if (pi->proto == PKT_IPPROTO_UDP) {
		put(o, "UDP, length %zu", pi->payload_len);
	} else if (pi->proto == PKT_IPPROTO_ICMP) {
		put_icmp(o, pi);
	} else {
		put_icmp6(o, pi);
	}
	if (pi->frag)
		put(o, " (fragment id %u offset 0+)", pi->ip_id);
}

static void put_arp(struct out *o, const struct pkt_info *pi)
{
	char s[INET_ADDRSTRLEN], t[INET_ADDRSTRLEN];

	put(o, "ARP ");
	if (pi->err != PKT_OK) {
		put_err(o, pi);
		return;
	}
	pkt_addr_str(4, pi->arp_spa, s, sizeof(s));
	pkt_addr_str(4, pi->arp_tpa, t, sizeof(t));
	if (pi->arp_op == PKT_ARP_REQUEST) {
		put(o, "who-has %s tell %s", t, s);
	} else if (pi->arp_op == PKT_ARP_REPLY) {
		put(o, "reply %s is-at ", s);
		put_mac(o, pi->arp_sha);
	} else {
		put(o, "op %u %s > %s", pi->arp_op, s, t);
	}
}

size_t pkt_summary(const struct pkt_info *pi, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };

	if (len)
		buf[0] = 0;
	if (pi->vlan)
		put(&o, "vlan %u, ", pi->vlan_tci & 0x0fff);
	switch (pi->l3) {
	case PKT_L3_IP4:
	case PKT_L3_IP6:
		/* Errors before the addresses are known print on their own. */
		if (pi->err != PKT_OK && pi->ip_version == 0)
			put_err(&o, pi);
		else
			put_ip(&o, pi);
		break;
	case PKT_L3_ARP:
		put_arp(&o, pi);
		break;
	case PKT_L3_OTHER:
		put_mac(&o, pi->eth_src);
		put(&o, " > ");
		put_mac(&o, pi->eth_dst);
		put(&o, ", ethertype 0x%04x, length %zu", pi->ethertype, pi->len - pi->l3_off);
		break;
	case PKT_L3_NONE:
		put_err(&o, pi);
		break;
	}
	return o.off;
}
