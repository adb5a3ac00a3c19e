/* Packet decoding and building: Ethernet (+ one 802.1Q tag), ARP, IPv4, IPv6, ICMP, ICMPv6,
 * TCP, UDP. The parser never allocates and never reads past len; the checksum helpers are the
 * ones the GSO/GRO code reuses. Multi-byte fields in struct pkt_info are in host order;
 * addresses stay in network byte order. */
#ifndef CULVERT_PACKET_H
#define CULVERT_PACKET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	PKT_ETH_HLEN = 14, PKT_VLAN_HLEN = 4, PKT_ARP_LEN = 28,
	PKT_ETH_MAX_HLEN = PKT_ETH_HLEN + 2 * PKT_VLAN_HLEN,	/* two VLAN tags: pkt_eth_payload */
	PKT_IP4_HLEN = 20, PKT_IP6_HLEN = 40, PKT_TCP_HLEN = 20, PKT_UDP_HLEN = 8,
	PKT_ICMP_HLEN = 8, PKT_ND_HLEN = 24, /* ICMPv6 NS/NA: header + reserved + target */
	PKT_IP6_MAX_EXT = 8,                 /* extension headers followed before giving up */
};

enum pkt_ethertype {
	PKT_ETH_IP4 = 0x0800, PKT_ETH_ARP = 0x0806, PKT_ETH_VLAN = 0x8100, PKT_ETH_QINQ = 0x88a8, PKT_ETH_IP6 = 0x86dd,
};
enum pkt_ipproto {
	PKT_IPPROTO_HOPOPTS = 0, PKT_IPPROTO_ICMP = 1, PKT_IPPROTO_TCP = 6, PKT_IPPROTO_UDP = 17,
	PKT_IPPROTO_ROUTING = 43, PKT_IPPROTO_FRAGMENT = 44, PKT_IPPROTO_ESP = 50, PKT_IPPROTO_AH = 51,
	PKT_IPPROTO_ICMPV6 = 58, PKT_IPPROTO_NONE = 59, PKT_IPPROTO_DSTOPTS = 60,
};
enum pkt_icmp_type { PKT_ICMP_ECHO_REPLY = 0, PKT_ICMP_UNREACH = 3, PKT_ICMP_ECHO_REQUEST = 8, PKT_ICMP_TIME_EXCEEDED = 11 };
enum pkt_icmp6_type {
	PKT_ICMP6_UNREACH = 1, PKT_ICMP6_TOO_BIG = 2, PKT_ICMP6_TIME_EXCEEDED = 3,
	PKT_ICMP6_ECHO_REQUEST = 128, PKT_ICMP6_ECHO_REPLY = 129,
	PKT_ICMP6_MLD_QUERY = 130, PKT_ICMP6_MLD_REPORT = 131, PKT_ICMP6_MLD2_REPORT = 143,
	PKT_ICMP6_RS = 133, PKT_ICMP6_RA = 134, PKT_ICMP6_NS = 135, PKT_ICMP6_NA = 136,
	PKT_ICMP6_REDIRECT = 137,
};
enum pkt_nd_opt { PKT_ND_OPT_SLLA = 1, PKT_ND_OPT_TLLA = 2 };
enum pkt_arp_op { PKT_ARP_REQUEST = 1, PKT_ARP_REPLY = 2 };
enum pkt_tcp_flag {
	PKT_TCP_FIN = 0x01, PKT_TCP_SYN = 0x02, PKT_TCP_RST = 0x04, PKT_TCP_PSH = 0x08,
	PKT_TCP_ACK = 0x10, PKT_TCP_URG = 0x20, PKT_TCP_ECE = 0x40, PKT_TCP_CWR = 0x80,
};

/* Why a packet was rejected; pkt_err_name() gives a counter name, pkt_summary() the text. */
enum pkt_err {
	PKT_OK,
	PKT_ERR_EMPTY,
	PKT_ERR_ETH_TRUNC,     /* have/need: bytes */
	PKT_ERR_VLAN_TRUNC,
	PKT_ERR_IP_VERSION,    /* have: the version nibble */
	PKT_ERR_ARP_TRUNC,
	PKT_ERR_ARP_FORMAT,    /* have: hardware type, need: protocol type */
	PKT_ERR_IP4_TRUNC,     /* header shorter than 20 or than IHL*4 */
	PKT_ERR_IP4_IHL,       /* have: IHL*4 */
	PKT_ERR_IP4_TOTLEN,    /* have: total length, need: header length */
	PKT_ERR_IP4_SHORT,     /* have: bytes present, need: total length */
	PKT_ERR_IP6_TRUNC,
	PKT_ERR_IP6_SHORT,     /* have: bytes present, need: 40 + payload length */
	PKT_ERR_IP6_EXT_TRUNC,
	PKT_ERR_IP6_EXT_CHAIN, /* have: headers seen */
	PKT_ERR_ICMP_TRUNC,
	PKT_ERR_ICMP6_TRUNC,
	PKT_ERR_ND_TRUNC,
	PKT_ERR_ND_OPT,        /* have: offset of the bad option in the ND message */
	PKT_ERR_TCP_TRUNC,
	PKT_ERR_TCP_DOFF,      /* have: data offset * 4 */
	PKT_ERR_UDP_TRUNC,
	PKT_ERR_UDP_LEN,       /* have: UDP length field, need: bytes present */
	PKT_ERR_MAX
};

enum pkt_l3 { PKT_L3_NONE, PKT_L3_ARP, PKT_L3_IP4, PKT_L3_IP6, PKT_L3_OTHER };

struct pkt_info {
	size_t len;             /* bytes given to pkt_parse */
	enum pkt_err err;
	size_t err_have, err_need;

	/* Ethernet (ethernet == true) */
	bool ethernet, vlan;
	uint8_t eth_dst[6], eth_src[6];
	uint16_t vlan_tci;
	uint16_t ethertype;     /* after the tag; for raw IP, set from the version nibble */

	enum pkt_l3 l3;
	size_t l3_off;

	/* ARP (Ethernet/IPv4 only) */
	uint16_t arp_op;
	uint8_t arp_sha[6], arp_spa[4], arp_tha[6], arp_tpa[4];

	/* IPv4 / IPv6: src/dst use 4 or 16 bytes */
	uint8_t ip_version;
	uint8_t src[16], dst[16];
	uint8_t ttl;            /* or hop limit */
	uint8_t proto;          /* upper-layer protocol after IPv6 extension headers */
	uint16_t ip_id;         /* IPv4 id; IPv6 fragment id low 16 bits */
	size_t ip_hlen;         /* IPv4 IHL*4, IPv6 40 */
	size_t ip_end;          /* offset just past the IP packet (trailing padding excluded) */
	bool frag, frag_more;   /* any fragment; more-fragments bit */
	uint16_t frag_off;      /* in bytes */
	unsigned int ext_count; /* IPv6 extension headers skipped */

	/* upper layer: l4_off..ip_end; not parsed for non-first fragments */
	bool has_l4;
	size_t l4_off, l4_len;
	size_t payload_off, payload_len; /* after the TCP/UDP/ICMP header */

	uint16_t sport, dport;  /* TCP, UDP */
	uint32_t tcp_seq, tcp_ack;
	uint8_t tcp_flags;
	uint16_t tcp_win;
	uint16_t udp_len;

	uint8_t icmp_type, icmp_code;  /* ICMP or ICMPv6 */
	uint16_t echo_id, echo_seq;    /* echo request/reply */
	uint8_t nd_target[16];         /* NS/NA */
	bool nd_has_lladdr;            /* source (NS, RS, RA) or target (NA) link-layer option */
	uint8_t nd_lladdr[6];
	uint8_t nd_flags;              /* NA: R=0x80 S=0x40 O=0x20 */
};

/* Decode p[0..len). ethernet: frames from a tap device; otherwise raw IP from a tun device
 * (IFF_NO_PI), told apart by the version nibble. Fills everything parsed so far even on
 * failure; false sets out->err. Unknown ethertypes and IP protocols are not errors. */
bool pkt_parse(const uint8_t *p, size_t len, bool ethernet, struct pkt_info *out);

/* Where the payload of an Ethernet frame starts, behind up to two VLAN tags (802.1Q,
 * 802.1ad), its ethertype in *type; 0 when the frame ends before the ethertype (*type 0) or
 * has a third tag (*type that tag's ethertype: a payload is there, not found). */
size_t pkt_eth_payload(const uint8_t *f, size_t len, uint16_t *type);
/* The same for an IPv4 or IPv6 packet, its version agreeing with the ethertype; 0 when the
 * frame carries neither. */
size_t pkt_eth_ip_offset(const uint8_t *f, size_t len);

/* One tcpdump-like line (no newline), e.g. "IP 198.19.0.1 > 198.19.0.2: ICMP echo request id 5
 * seq 1, length 64" or "truncated IPv4 header (12 of 20 bytes)". Returns snprintf's count. */
size_t pkt_summary(const struct pkt_info *pi, char *buf, size_t len);
/* Short counter name for an error: "ip4_trunc", "tcp_doff"... ("ok" for PKT_OK). */
const char *pkt_err_name(enum pkt_err err);
/* "198.19.0.1" or "2001:db8::1" for a 4- or 16-byte address. */
const char *pkt_addr_str(int version, const uint8_t *addr, char *buf, size_t len);

/* Internet checksum (RFC 1071). Sums are 32-bit accumulators of big-endian 16-bit words;
 * results are host-order values to store big-endian. Only the last chunk fed to
 * pkt_csum_add may have odd length. */
uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len);
/* Fold carries, no complement: the seed the kernel expects in a CHECKSUM_PARTIAL field. */
uint16_t pkt_csum_reduce(uint32_t sum);
/* Fold and complement: the value to put in a checksum field. */
uint16_t pkt_csum_fold(uint32_t sum);
/* pkt_csum_fold(pkt_csum_add(0, data, len)); over data that includes a correct checksum
 * field the result is 0. */
uint16_t pkt_csum(const void *data, size_t len);
/* RFC 1624 incremental update of checksum field value csum when a 16-bit word / 32-bit word /
 * even-length byte run (e.g. an address) changes from old to new. */
uint16_t pkt_csum_update16(uint16_t csum, uint16_t old, uint16_t new_);
uint16_t pkt_csum_update32(uint16_t csum, uint32_t old, uint32_t new_);
uint16_t pkt_csum_update_bytes(uint16_t csum, const void *old, const void *new_, size_t len);
/* IPv4 header checksum of hdr[0..hlen) with its checksum field taken as zero. */
uint16_t pkt_csum_ip4_header(const uint8_t *hdr, size_t hlen);
/* Pseudo-header partial sums (RFC 768/793, RFC 8200 8.1); len is the upper-layer length. */
uint32_t pkt_csum_pseudo4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint32_t len);
uint32_t pkt_csum_pseudo6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto, uint32_t len);
/* Full TCP/UDP/ICMPv6 checksum over pseudo header + l4[0..len), the l4 checksum field must be
 * zero. For UDP a result of 0 must be sent as 0xffff (pkt_fix_checksums does this). */
uint16_t pkt_csum_l4_4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, const void *l4, size_t len);
uint16_t pkt_csum_l4_6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto, const void *l4, size_t len);

/* Recompute the IPv4 header checksum and the TCP/UDP/ICMP/ICMPv6 checksum of a parsed packet
 * in place (not for fragments' upper layer). */
void pkt_fix_checksums(uint8_t *p, const struct pkt_info *pi);
/* Bits of what is wrong: PKT_BAD_IP_CSUM, PKT_BAD_L4_CSUM; 0 when all checksums verify
 * (UDP over IPv4 with checksum 0 counts as fine). */
enum { PKT_BAD_IP_CSUM = 1, PKT_BAD_L4_CSUM = 2 };
unsigned int pkt_verify_checksums(const uint8_t *p, const struct pkt_info *pi);

/* Builders: write a reply to a parsed request into out[0..cap), return its length, or 0 when
 * the request is not one to answer or cap is too small. Ethernet replies go from mac to the
 * request's source MAC and keep its VLAN tag. */
/* ICMP/ICMPv6 echo reply: addresses swapped, type 0/129, TTL/hop limit 64, IP options and
 * IPv6 extension headers dropped, id/seq/payload kept, checksums fixed. Refuses fragments
 * and multicast/broadcast destinations. mac may be NULL to swap the Ethernet addresses. */
size_t pkt_build_echo_reply(const uint8_t *req, const struct pkt_info *pi, const uint8_t *mac,
			    uint8_t *out, size_t cap);
/* ARP reply saying arp_tpa is-at mac. */
size_t pkt_build_arp_reply(const uint8_t *req, const struct pkt_info *pi, const uint8_t mac[6],
			   uint8_t *out, size_t cap);
/* Neighbour advertisement for the NS target (flags S|O, hop limit 255, target link-layer
 * address option = mac). Refuses DAD probes (unspecified source). */
size_t pkt_build_neigh_adv(const uint8_t *req, const struct pkt_info *pi, const uint8_t mac[6],
			   uint8_t *out, size_t cap);

#endif
