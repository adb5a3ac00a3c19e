/* Key text codecs. The decoders handle private keys, so they avoid branches and table look-ups
 * indexed by secret characters: each character is classified with masks built from range tests. */
#include "key.h"

#include <stdlib.h>
#include <string.h>

/* All ones when lo <= c <= hi, else 0 (c, lo, hi small non-negative ints). */
static int in_range(int c, int lo, int hi)
{
	return ((lo - 1 - c) & (c - hi - 1)) >> 8;
}

static char b64_char(int v)
{
	int c = 'A' + v;

	c += in_range(v, 26, 63) & ('a' - 26 - 'A');
	c += in_range(v, 52, 63) & ('0' - 52 - ('a' - 26));
	c += in_range(v, 62, 63) & ('+' - 62 - ('0' - 52));
	c += in_range(v, 63, 63) & ('/' - '+' - 1);
	return (char)c;
}

/* 0..63, or -1 for a character outside the alphabet. */
static int b64_value(int c)
{
	int v = -1;

	v += in_range(c, 'A', 'Z') & (c - 'A' + 1);
	v += in_range(c, 'a', 'z') & (c - 'a' + 26 + 1);
	v += in_range(c, '0', '9') & (c - '0' + 52 + 1);
	v += in_range(c, '+', '+') & (62 + 1);
	v += in_range(c, '/', '/') & (63 + 1);
	return v;
}

void key_to_base64(char out[KEY_B64_LEN + 1], const uint8_t key[KEY_LEN])
{
	unsigned int i, o = 0;

	for (i = 0; i + 3 <= KEY_LEN; i += 3) {
		uint32_t w = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8 | key[i + 2];

		out[o++] = b64_char((w >> 18) & 63);
		out[o++] = b64_char((w >> 12) & 63);
		out[o++] = b64_char((w >> 6) & 63);
		out[o++] = b64_char(w & 63);
	}
	/* 32 = 30 + 2: the last two bytes make three characters and one '='. */
	uint32_t w = (uint32_t)key[30] << 16 | (uint32_t)key[31] << 8;
	out[o++] = b64_char((w >> 18) & 63);
	out[o++] = b64_char((w >> 12) & 63);
	out[o++] = b64_char((w >> 6) & 63);
	out[o++] = '=';
	out[o] = '\0';
}

bool key_from_base64(uint8_t key[KEY_LEN], const char *s)
{
	int bad = 0;
	unsigned int i, o = 0;

	if (!s || strlen(s) != KEY_B64_LEN || s[KEY_B64_LEN - 1] != '=') {
		memset(key, 0, KEY_LEN);
		return false;
	}
	for (i = 0; i < 40; i += 4) {
		int a = b64_value((unsigned char)s[i]), b = b64_value((unsigned char)s[i + 1]);
		int c = b64_value((unsigned char)s[i + 2]), d = b64_value((unsigned char)s[i + 3]);
		uint32_t w = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 |
			     (uint32_t)(c & 63) << 6 | (uint32_t)(d & 63);

		bad |= a | b | c | d;	/* any -1 sets the sign bit */
		key[o++] = (uint8_t)(w >> 16);
		key[o++] = (uint8_t)(w >> 8);
		key[o++] = (uint8_t)w;
	}
	int a = b64_value((unsigned char)s[40]), b = b64_value((unsigned char)s[41]);
	int c = b64_value((unsigned char)s[42]);
	uint32_t w = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 | (uint32_t)(c & 63) << 6;

	bad |= a | b | c;
	bad |= -(int)((w >> 6) & 3);	/* canonical: the unused low bits are zero */
	key[o++] = (uint8_t)(w >> 16);
	key[o++] = (uint8_t)(w >> 8);
	if (bad < 0) {
		key_wipe(key, KEY_LEN);
		return false;
	}
	return true;
}

void key_to_hex(char out[KEY_HEX_LEN + 1], const uint8_t key[KEY_LEN])
{
	for (unsigned int i = 0; i < KEY_LEN; i++) {
		int hi = key[i] >> 4, lo = key[i] & 15;

		/* 'a' - '0' - 10 = 39 */
		out[2 * i] = (char)('0' + hi + (in_range(hi, 10, 15) & 39));
		out[2 * i + 1] = (char)('0' + lo + (in_range(lo, 10, 15) & 39));
	}
	out[KEY_HEX_LEN] = '\0';
}

/* 0..15, or -1. */
static int hex_value(int c)
{
	int v = -1;

	v += in_range(c, '0', '9') & (c - '0' + 1);
	v += in_range(c, 'a', 'f') & (c - 'a' + 10 + 1);
	v += in_range(c, 'A', 'F') & (c - 'A' + 10 + 1);
	return v;
}

bool key_from_hexn(uint8_t key[KEY_LEN], const char *s, size_t len)
{
	int bad = 0;

	if (!s || len != KEY_HEX_LEN) {
		memset(key, 0, KEY_LEN);
		return false;
	}
	for (unsigned int i = 0; i < KEY_LEN; i++) {
		int hi = hex_value((unsigned char)s[2 * i]), lo = hex_value((unsigned char)s[2 * i + 1]);

		bad |= hi | lo;
		key[i] = (uint8_t)((hi & 15) << 4 | (lo & 15));
	}
	if (bad < 0) {
		key_wipe(key, KEY_LEN);
		return false;
	}
	return true;
}

bool key_from_hex(uint8_t key[KEY_LEN], const char *s)
{
	return key_from_hexn(key, s, s ? strlen(s) : 0);
}

bool key_is_zero(const uint8_t key[KEY_LEN])
{
	uint8_t acc = 0;

	for (unsigned int i = 0; i < KEY_LEN; i++)
		acc |= key[i];
	return ((acc - 1u) >> 8) & 1;
}

bool key_equal(const uint8_t a[KEY_LEN], const uint8_t b[KEY_LEN])
{
	uint8_t acc = 0;

	for (unsigned int i = 0; i < KEY_LEN; i++)
		acc |= a[i] ^ b[i];
	return ((acc - 1u) >> 8) & 1;
}

void key_wipe(void *p, size_t len)
{
	explicit_bzero(p, len);
}

void *key_grow(void *old, size_t old_cap, size_t used, size_t new_cap)
{
	void *n = malloc(new_cap);

	if (!n)
		return NULL;
	if (old) {
		memcpy(n, old, used);
		key_wipe(old, old_cap);
		free(old);
	}
	return n;
}
