/* Key text codecs (base64 as wg prints it, hex as the uapi sends it) and the pubkey derivation
 * that `culvert pubkey` does, against pairs made once with `wg genkey | tee | wg pubkey`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wg/crypto.h"
#include "wg/key.h"

/* A reference base64 encoder, written plainly with a table, to check the branch-free one. */
static void ref_b64(char *out, const uint8_t *in, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = tab[w >> 18 & 63];
		out[o++] = tab[w >> 12 & 63];
		out[o++] = tab[w >> 6 & 63];
		out[o++] = tab[w & 63];
	}
	if (len - i == 2) {
		uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = tab[w >> 18 & 63];
		out[o++] = tab[w >> 12 & 63];
		out[o++] = tab[w >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = 0;
}

static void test_base64_vectors(void **state)
{
	uint8_t k[32], back[32];
	char b64[KEY_B64_LEN + 1];

	memset(k, 0, 32);
	key_to_base64(b64, k);
	assert_string_equal(b64, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	memset(k, 0xff, 32);
	key_to_base64(b64, k);
	assert_string_equal(b64, "//////////////////////////////////////////8=");
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)i;
	key_to_base64(b64, k);
	assert_string_equal(b64, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	assert_true(key_from_base64(back, b64));
	assert_memory_equal(back, k, 32);
}

static void test_base64_random_roundtrip(void **state)
{
	uint8_t k[32], back[32];
	char b64[KEY_B64_LEN + 1], ref[64];

	srand(7);
	for (int n = 0; n < 5000; n++) {
		for (int i = 0; i < 32; i++)
			k[i] = (uint8_t)rand();
		key_to_base64(b64, k);
		ref_b64(ref, k, 32);
		assert_string_equal(b64, ref);
		assert_true(key_from_base64(back, b64));
		assert_memory_equal(back, k, 32);
	}
}

static void test_base64_invalid(void **state)
{
	uint8_t k[32];
	const char *good = "0PCepcEW9BMKNFrvUgLNBkYBuJlh44M9cb6p0OHsP20=";
	char buf[64];

	assert_true(key_from_base64(k, good));
	assert_false(key_from_base64(k, ""));
	assert_false(key_from_base64(k, NULL));
	assert_false(key_from_base64(k, "0PCepcEW9BMKNFrvUgLNBkYBuJlh44M9cb6p0OHsP20"));	/* 43 */
	assert_false(key_from_base64(k, "0PCepcEW9BMKNFrvUgLNBkYBuJlh44M9cb6p0OHsP20=="));	/* 45 */
	assert_false(key_from_base64(k, "0PCepcEW9BMKNFrvUgLNBkYBuJlh44M9cb6p0OHsP20A"));	/* no '=' */
	assert_false(key_from_base64(k, " PCepcEW9BMKNFrvUgLNBkYBuJlh44M9cb6p0OHsP20="));
	/* every position, every byte outside the alphabet */
	for (int pos = 0; pos < 43; pos++)
		for (int c = 1; c < 256; c++) {
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '+' || c == '/')
				continue;
			strcpy(buf, good);
			buf[pos] = (char)c;
			assert_false(key_from_base64(k, buf));
		}
	/* non-canonical: the last character's two low bits would be a 33rd byte */
	assert_false(key_from_base64(k, "0PCepcEW9BMKNFrvUgLNBkYBuJlh44M9cb6p0OHsP21="));
	assert_false(key_from_base64(k, "0PCepcEW9BMKNFrvUgLNBkYBuJlh44M9cb6p0OHsP23="));
	/* a failed decode leaves no partial key behind */
	assert_true(key_is_zero(k));
}

static void test_hex(void **state)
{
	uint8_t k[32], back[32];
	char hex[KEY_HEX_LEN + 1], up[KEY_HEX_LEN + 1];

	assert_true(key_from_base64(k, "0PCepcEW9BMKNFrvUgLNBkYBuJlh44M9cb6p0OHsP20="));
	key_to_hex(hex, k);
	assert_string_equal(hex, "d0f09ea5c116f4130a345aef5202cd064601b89961e3833d71bea9d0e1ec3f6d");
	assert_true(key_from_hex(back, hex));
	assert_memory_equal(back, k, 32);
	for (int i = 0; i <= KEY_HEX_LEN; i++)
		up[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
	assert_true(key_from_hex(back, up));	/* wireguard-go accepts either case */
	assert_memory_equal(back, k, 32);

	assert_false(key_from_hex(back, ""));
	assert_false(key_from_hexn(back, hex, 63));
	assert_false(key_from_hexn(back, "d0f09ea5c116f4130a345aef5202cd064601b89961e3833d71bea9d0e1ec3f6d0", 65));
	for (int pos = 0; pos < 64; pos++) {
		strcpy(up, hex);
		up[pos] = 'g';
		assert_false(key_from_hex(back, up));
		up[pos] = ' ';
		assert_false(key_from_hex(back, up));
		up[pos] = ':';		/* just past '9' */
		assert_false(key_from_hex(back, up));
		up[pos] = '/';		/* just before '0' */
		assert_false(key_from_hex(back, up));
		up[pos] = '`';		/* just before 'a' */
		assert_false(key_from_hex(back, up));
	}
	for (int v = 0; v < 256; v++) {
		memset(k, v, 32);
		key_to_hex(hex, k);
		char want[3];
		snprintf(want, sizeof(want), "%02x", v);
		assert_memory_equal(hex, want, 2);
	}
}

static void test_zero_equal(void **state)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };

	assert_true(key_is_zero(a));
	assert_true(key_equal(a, b));
	for (int i = 0; i < 32; i++) {
		a[i] = 0x80;
		assert_false(key_is_zero(a));
		assert_false(key_equal(a, b));
		a[i] = 1;
		assert_false(key_is_zero(a));
		a[i] = 0;
	}
}

/* Pairs recorded from wg(8): the first from `wg genkey | tee priv | wg pubkey`, the second is
 * RFC 7748's Alice (wg pubkey gives the same). */
static void test_pubkey_matches_wg(void **state)
{
	static const struct { const char *priv, *pub; } v[] = {
		{ "0PCepcEW9BMKNFrvUgLNBkYBuJlh44M9cb6p0OHsP20=", "j5FitCfeXG/fe6PbdKfatmguBiNenqdupdW1YNTyMwY=" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t priv[32], pub[32];
		char out[KEY_B64_LEN + 1];

		assert_true(key_from_base64(priv, v[i].priv));
		assert_true(crypto_x25519_pub(pub, priv));
		key_to_base64(out, pub);
		assert_string_equal(out, v[i].pub);
	}
}

static void test_keygen_clamped(void **state)
{
	for (int n = 0; n < 64; n++) {
		uint8_t k[32];

		crypto_x25519_keygen(k);
		assert_int_equal(k[0] & 7, 0);
		assert_int_equal(k[31] & 0x80, 0);
		assert_int_equal(k[31] & 0x40, 0x40);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_random_roundtrip),
		cmocka_unit_test(test_base64_invalid),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_zero_equal),
		cmocka_unit_test(test_pubkey_matches_wg),
		cmocka_unit_test(test_keygen_clamped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
