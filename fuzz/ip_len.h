/* Fuzz targets only: most inputs get the IP packet's length field set to the bytes it has,
 * since gso_split refuses a super-packet whose claimed length is not the length read, and
 * mutations of the size would otherwise stop there; every fourth keeps its own, so the check
 * itself is fuzzed too. */
#ifndef CULVERT_FUZZ_IP_LEN_H
#define CULVERT_FUZZ_IP_LEN_H
#include <stddef.h>
#include <stdint.h>

static inline void fuzz_fix_ip_len(uint8_t *ip, size_t len, unsigned int choice)
{
	if (!(choice & 3) || !len || len > 0xffff)
		return;
	if (ip[0] >> 4 == 4 && len >= 4) {
		ip[2] = (uint8_t)(len >> 8);
		ip[3] = (uint8_t)len;
	} else if (ip[0] >> 4 == 6 && len >= 40) {
		ip[4] = (uint8_t)((len - 40) >> 8);
		ip[5] = (uint8_t)(len - 40);
	}
}
#endif
