/* Internet checksum (RFC 1071, RFC 1624) and the pseudo-header sums of TCP, UDP and ICMPv6. */
#include <string.h>

#include "lib/packet.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CSUM_AVX2 1

/* The sum of the native 32-bit words in p[0..len & ~63), 64 bytes a step: each word widened
 * to a 64-bit lane (no carries to fold), two accumulators so the adds do not wait on each
 * other. At MTU 1420 this pass was about two thirds of a segment's GSO split (the copy is
 * the rest); AVX2 takes it from ~90 ns to ~30 ns a segment. */
__attribute__((target("avx2"))) static uint64_t words_avx2(const uint8_t *p, size_t len)
{
	const __m256i z = _mm256_setzero_si256();
	__m256i a0 = z, a1 = z;
	uint64_t l[4];

	for (; len >= 64; p += 64, len -= 64) {
		__m256i x = _mm256_loadu_si256((const void *)p);
		__m256i y = _mm256_loadu_si256((const void *)(p + 32));
		a0 = _mm256_add_epi64(a0, _mm256_unpacklo_epi32(x, z));
		a1 = _mm256_add_epi64(a1, _mm256_unpackhi_epi32(x, z));
		a0 = _mm256_add_epi64(a0, _mm256_unpacklo_epi32(y, z));
		a1 = _mm256_add_epi64(a1, _mm256_unpackhi_epi32(y, z));
	}
	_mm256_storeu_si256((void *)l, _mm256_add_epi64(a0, a1));
	return l[0] + l[1] + l[2] + l[3];
}

static bool have_avx2(void)
{
	static int have = -1;	/* racing first calls store the same answer */

	if (have < 0)
		have = __builtin_cpu_supports("avx2") ? 1 : 0;
	return have;
}
#endif

/* The one's complement sum does not depend on byte order (RFC 1071 §2(B)), so sum native
 * 32-bit words, fold, and swap once at the end: 4-8x fewer steps than big-endian pairs,
 * and this sum is most of the cost of GSO/GRO on the data path. */
uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = 0, a1 = 0, a2 = 0, a3 = 0, x0, x1, x2, x3;
	uint32_t w0;
	uint16_t h;

#ifdef CSUM_AVX2
	/* only where the wide pass pays for its setup: a payload, not a header */
	if (len >= 256 && have_avx2()) {
		acc = words_avx2(p, len);
		p += len & ~(size_t)63;
		len &= 63;
	}
#endif
	/* Four independent accumulators, 32 bytes a step, each 64-bit load added as its two
	 * 32-bit halves: the adds run in parallel, and 2^32 words cannot overflow 64 bits.
	 * (Loading into a uint32_t array instead made gcc bounce every step through the stack.) */
	for (; len >= 32; p += 32, len -= 32) {
		memcpy(&x0, p, 8);
		memcpy(&x1, p + 8, 8);
		memcpy(&x2, p + 16, 8);
		memcpy(&x3, p + 24, 8);
		acc += (x0 & 0xffffffff) + (x0 >> 32);
		a1 += (x1 & 0xffffffff) + (x1 >> 32);
		a2 += (x2 & 0xffffffff) + (x2 >> 32);
		a3 += (x3 & 0xffffffff) + (x3 >> 32);
	}
	acc += a1 + a2 + a3;
	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&w0, p, 4);
		acc += w0;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	h = (uint16_t)acc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	h = (uint16_t)(h >> 8 | h << 8);
#endif
	uint64_t total = (uint64_t)sum + h;
	if (len)
		total += (uint32_t)p[0] << 8;
	while (total >> 32)
		total = (total & 0xffffffff) + (total >> 32);
	return (uint32_t)total;
}

uint16_t pkt_csum_reduce(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t pkt_csum_fold(uint32_t sum)
{
	return (uint16_t)~pkt_csum_reduce(sum);
}

uint16_t pkt_csum(const void *data, size_t len)
{
	return pkt_csum_fold(pkt_csum_add(0, data, len));
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). */
uint16_t pkt_csum_update16(uint16_t csum, uint16_t old, uint16_t new_)
{
	uint32_t s = (uint16_t)~csum;

	s += (uint16_t)~old;
	s += new_;
	return pkt_csum_fold(s);
}

uint16_t pkt_csum_update32(uint16_t csum, uint32_t old, uint32_t new_)
{
	csum = pkt_csum_update16(csum, (uint16_t)(old >> 16), (uint16_t)(new_ >> 16));
	return pkt_csum_update16(csum, (uint16_t)old, (uint16_t)new_);
}

uint16_t pkt_csum_update_bytes(uint16_t csum, const void *old, const void *new_, size_t len)
{
	const uint8_t *o = old, *n = new_;

	for (size_t i = 0; i + 1 < len; i += 2)
		csum = pkt_csum_update16(csum, (uint16_t)(o[i] << 8 | o[i + 1]),
					 (uint16_t)(n[i] << 8 | n[i + 1]));
	return csum;
}

uint16_t pkt_csum_ip4_header(const uint8_t *hdr, size_t hlen)
{
	uint32_t s = pkt_csum_add(0, hdr, hlen < 10 ? hlen : 10);

	if (hlen > 12)
		s = pkt_csum_add(s, hdr + 12, hlen - 12);
	return pkt_csum_fold(s);
}

uint32_t pkt_csum_pseudo4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint32_t len)
{
	uint32_t s = pkt_csum_add(0, src, 4);

	s = pkt_csum_add(s, dst, 4);
	s += proto;
	s += len >> 16;
	s += len & 0xffff;
	return s;
}

uint32_t pkt_csum_pseudo6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto, uint32_t len)
{
	uint32_t s = pkt_csum_add(0, src, 16);

	s = pkt_csum_add(s, dst, 16);
	s += len >> 16;
	s += len & 0xffff;
	s += proto;
	return s;
}

uint16_t pkt_csum_l4_4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, const void *l4, size_t len)
{
	return pkt_csum_fold(pkt_csum_add(pkt_csum_pseudo4(src, dst, proto, (uint32_t)len), l4, len));
}

uint16_t pkt_csum_l4_6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto, const void *l4, size_t len)
{
	return pkt_csum_fold(pkt_csum_add(pkt_csum_pseudo6(src, dst, proto, (uint32_t)len), l4, len));
}

/* Offset of the checksum field inside the upper-layer header, or 0 if none we know. */
static size_t l4_csum_field(const struct pkt_info *pi, bool *pseudo)
{
	*pseudo = true;
	switch (pi->proto) {
	case PKT_IPPROTO_TCP: return pi->l4_len >= PKT_TCP_HLEN ? 16 : 0;
	case PKT_IPPROTO_UDP: return pi->l4_len >= PKT_UDP_HLEN ? 6 : 0;
	case PKT_IPPROTO_ICMPV6: return pi->ip_version == 6 && pi->l4_len >= 4 ? 2 : 0;
	case PKT_IPPROTO_ICMP:
		*pseudo = false;
		return pi->ip_version == 4 && pi->l4_len >= 4 ? 2 : 0;
	}
	return 0;
}

static uint16_t l4_sum(const uint8_t *p, const struct pkt_info *pi, bool pseudo)
{
	const uint8_t *l4 = p + pi->l4_off;
	/* UDP's own length wins over trailing bytes in the IP packet. */
	size_t len = pi->proto == PKT_IPPROTO_UDP && pi->udp_len <= pi->l4_len ? pi->udp_len : pi->l4_len;

	if (!pseudo)
		return pkt_csum(l4, len);
	if (pi->ip_version == 4)
		return pkt_csum_l4_4(pi->src, pi->dst, pi->proto, l4, len);
	return pkt_csum_l4_6(pi->src, pi->dst, pi->proto, l4, len);
}

void pkt_fix_checksums(uint8_t *p, const struct pkt_info *pi)
{
	size_t f;
	bool pseudo;
	uint16_t c;

	if (pi->l3 == PKT_L3_IP4 && pi->ip_hlen >= PKT_IP4_HLEN) {
		c = pkt_csum_ip4_header(p + pi->l3_off, pi->ip_hlen);
		p[pi->l3_off + 10] = (uint8_t)(c >> 8);
		p[pi->l3_off + 11] = (uint8_t)c;
	}
	if (!pi->has_l4 || pi->frag || !(f = l4_csum_field(pi, &pseudo)))
		return;
	p[pi->l4_off + f] = p[pi->l4_off + f + 1] = 0;
	c = l4_sum(p, pi, pseudo);
	if (c == 0 && pi->proto == PKT_IPPROTO_UDP)
		c = 0xffff; /* 0 means "no checksum" in UDP */
	p[pi->l4_off + f] = (uint8_t)(c >> 8);
	p[pi->l4_off + f + 1] = (uint8_t)c;
}

unsigned int pkt_verify_checksums(const uint8_t *p, const struct pkt_info *pi)
{
	unsigned int bad = 0;
	size_t f;
	bool pseudo;

	if (pi->l3 == PKT_L3_IP4 && pi->ip_hlen >= PKT_IP4_HLEN &&
	    pkt_csum(p + pi->l3_off, pi->ip_hlen) != 0)
		bad |= PKT_BAD_IP_CSUM;
	if (!pi->has_l4 || pi->frag || pi->err != PKT_OK || !(f = l4_csum_field(pi, &pseudo)))
		return bad;
	if (pi->proto == PKT_IPPROTO_UDP && pi->ip_version == 4 &&
	    p[pi->l4_off + 6] == 0 && p[pi->l4_off + 7] == 0)
		return bad;
	/* Summing a correct packet including its checksum field gives 0 after complement. */
	if (l4_sum(p, pi, pseudo) != 0)
		bad |= PKT_BAD_L4_CSUM;
	return bad;
}
