/* Test-only: a plain IPv4 packet for the device tests (test_device, test_device_threads,
 * test_hs_queue), so each does not carry its own copy. */
#ifndef CULVERT_TEST_IP_CRAFT_H
#define CULVERT_TEST_IP_CRAFT_H
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

/* An IPv4/UDP-ish packet of len bytes from src to dst, payload byte i (from 20 on) seed + i. */
static inline uint32_t make_ip4(uint8_t *out, const char *src, const char *dst, uint32_t len, uint8_t seed)
{
	memset(out, 0, 20);
	out[0] = 0x45;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	out[8] = 64;
	out[9] = 17;
	inet_pton(AF_INET, src, out + 12);
	inet_pton(AF_INET, dst, out + 16);
	for (uint32_t i = 20; i < len; i++)
		out[i] = (uint8_t)(seed + i);
	return len;
}

#endif
