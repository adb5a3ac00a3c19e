/* Test-only packet crafting and an independent checksum for the gso/gro/udpio tests: written
 * apart from src/lib/packet.c on purpose, so a bug there cannot hide in the tests. */
#ifndef CULVERT_TEST_OFFLOAD_CRAFT_H
#define CULVERT_TEST_OFFLOAD_CRAFT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct craft {
	int v;                 /* 4 or 6 */
	int proto;             /* 6 (default when 0) or 17 */
	uint8_t tos, ttl;      /* ttl 0 means 64 */
	bool no_df;
	uint16_t id;
	uint32_t flow;         /* IPv6 flow label */
	const uint8_t *ipopt; size_t ipoptlen;   /* IPv4 options, multiple of 4 */
	const uint8_t *opt; size_t optlen;       /* TCP options, multiple of 4 */
	uint32_t seq, ack;
	uint8_t flags;         /* 0 means ACK */
	uint16_t win;
	uint16_t sport, dport;
	uint8_t src_last;      /* last byte of the source address */
};

static inline void c_put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static inline uint16_t c_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void c_put32(uint8_t *p, uint32_t v) { c_put16(p, v >> 16); c_put16(p + 2, (uint16_t)v); }
static inline uint32_t c_get32(const uint8_t *p) { return (uint32_t)c_get16(p) << 16 | c_get16(p + 2); }

/* Plain RFC 1071 with a wide accumulator, byte pairs read one at a time. */
static inline uint64_t t_sum(uint64_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint64_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint64_t)p[n - 1] << 8;
	return s;
}
static inline uint16_t t_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}
static inline uint64_t t_pseudo(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	uint64_t s = 0;
	if ((ip[0] >> 4) == 4)
		s = t_sum(s, ip + 12, 8);
	else
		s = t_sum(s, ip + 8, 32);
	return s + proto + (uint64_t)l4len;
}
static inline size_t t_l4off(const uint8_t *ip) { return (ip[0] >> 4) == 4 ? (size_t)(ip[0] & 15) * 4 : 40; }
static inline uint8_t t_proto(const uint8_t *ip) { return (ip[0] >> 4) == 4 ? ip[9] : ip[6]; }

/* True when the IPv4 header checksum (if any) and the TCP/UDP checksum verify. */
static inline bool t_verify(const uint8_t *ip, size_t len)
{
	size_t l4 = t_l4off(ip);
	if ((ip[0] >> 4) == 4 && t_fold(t_sum(0, ip, l4)) != 0xffff)
		return false;
	return t_fold(t_sum(t_pseudo(ip, t_proto(ip), len - l4), ip + l4, len - l4)) == 0xffff;
}

/* Fill in every checksum of a crafted packet. */
static inline void t_fix(uint8_t *ip, size_t len)
{
	size_t l4 = t_l4off(ip);
	uint8_t proto = t_proto(ip);
	size_t co = proto == 6 ? 16 : 6;
	if ((ip[0] >> 4) == 4) {
		c_put16(ip + 10, 0);
		c_put16(ip + 10, (uint16_t)~t_fold(t_sum(0, ip, l4)));
	}
	c_put16(ip + l4 + co, 0);
	uint16_t c = (uint16_t)~t_fold(t_sum(t_pseudo(ip, proto, len - l4), ip + l4, len - l4));
	c_put16(ip + l4 + co, c ? c : 0xffff);
}

/* Headers only (lengths cover plen payload bytes that the caller puts after them). */
static inline size_t craft_hdrs(uint8_t *b, const struct craft *c, size_t plen)
{
	int proto = c->proto ? c->proto : 6;
	size_t iphl, l4hl = proto == 6 ? 20 + c->optlen : 8;
	if (c->v == 4) {
		iphl = 20 + c->ipoptlen;
		memset(b, 0, iphl);
		b[0] = (uint8_t)(0x40 | iphl / 4);
		b[1] = c->tos;
		c_put16(b + 2, (uint16_t)(iphl + l4hl + plen));
		c_put16(b + 4, c->id);
		c_put16(b + 6, c->no_df ? 0 : 0x4000);
		b[8] = c->ttl ? c->ttl : 64;
		b[9] = (uint8_t)proto;
		b[12] = 198; b[13] = 19; b[14] = 0; b[15] = c->src_last ? c->src_last : 1;
		b[16] = 198; b[17] = 19; b[18] = 0; b[19] = 2;
		if (c->ipoptlen)
			memcpy(b + 20, c->ipopt, c->ipoptlen);
	} else {
		iphl = 40;
		memset(b, 0, 40);
		c_put32(b, 0x60000000u | (uint32_t)c->tos << 20 | (c->flow & 0xfffff));
		c_put16(b + 4, (uint16_t)(l4hl + plen));
		b[6] = (uint8_t)proto;
		b[7] = c->ttl ? c->ttl : 64;
		b[8] = 0x20; b[9] = 0x01; b[10] = 0x0d; b[11] = 0xb8; b[23] = c->src_last ? c->src_last : 1;
		b[24] = 0x20; b[25] = 0x01; b[26] = 0x0d; b[27] = 0xb8; b[39] = 2;
	}
	uint8_t *l4 = b + iphl;
	memset(l4, 0, l4hl);
	c_put16(l4, c->sport ? c->sport : 40000);
	c_put16(l4 + 2, c->dport ? c->dport : 5201);
	if (proto == 6) {
		c_put32(l4 + 4, c->seq);
		c_put32(l4 + 8, c->ack);
		l4[12] = (uint8_t)((l4hl / 4) << 4);
		l4[13] = c->flags ? c->flags : 0x10;
		c_put16(l4 + 14, c->win ? c->win : 512);
		if (c->optlen)
			memcpy(l4 + 20, c->opt, c->optlen);
	} else {
		c_put16(l4 + 4, (uint16_t)(8 + plen));
	}
	return iphl + l4hl;
}

/* A whole packet with valid checksums; returns its length. */
static inline size_t craft(uint8_t *b, const struct craft *c, const uint8_t *payload, size_t plen)
{
	size_t h = craft_hdrs(b, c, plen);
	memcpy(b + h, payload, plen);
	t_fix(b, h + plen);
	return h + plen;
}

/* Timestamps (NOP NOP TS) and SACK-permitted-like filler: 12 + 4 bytes. */
static const uint8_t OPT_TS[12] = { 1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78 };
static const uint8_t OPT_TS_SACK[24] = { 1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78,
					 1, 1, 5, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0 };

static inline void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

#endif
