/* Handshake throughput on one thread: full initiation + response exchanges (both sides, with
 * MAC1 checks and session keys) per CPU second, against the bound the X25519 operations alone
 * set. A pair costs 8 X25519 operations: two ephemeral public keys and six DH. Everything
 * else (BLAKE2s, AEAD of the static key and timestamp, MACs, key derivation, allocation)
 * must leave at least HS_MIN_RATIO of that bound. Prints both figures for bench/scale.sh.
 * Times are thread CPU time, so a busy machine slows the test but does not fail it.
 * For reference it also prints libcrypto's bare X25519 rate (keys imported once, derive
 * only), the cost crypto_x25519() would have without its per-call key setup.
 * test_mac_cost prints the CPU time of the checks a handshake flood costs before any X25519
 * (MAC1 alone; MAC1 and MAC2 under load) and of the hash and KDF a handshake repeats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "wg/cookie.h"
#include "wg/crypto.h"
#include "wg/noise.h"

#define SEC 1000000000ull
#define X25519_PER_PAIR 8
#define HS_MIN_RATIO 0.3
#define RUN_NS (400 * 1000 * 1000ull)	/* CPU time spent on each measurement */

struct side {
	struct noise_identity id;
	struct noise_handshake hs;
	struct cookie_maker maker;
	struct cookie_checker checker;
	struct noise_keypair kp;
	uint64_t wall;
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t side_wall(void *arg)
{
	return ((struct side *)arg)->wall;
}

static void side_init(struct side *s)
{
	uint8_t priv[32];

	memset(s, 0, sizeof(*s));
	crypto_x25519_keygen(priv);
	assert_int_equal(noise_identity_set(&s->id, priv), 0);
	crypto_wipe(priv, sizeof(priv));
	s->id.wall_clock_ns = side_wall;
	s->id.hook_arg = s;
	s->wall = 1700000000 * SEC;
	cookie_checker_init(&s->checker, s->id.static_public);
}

static void side_peer(struct side *s, const struct side *other)
{
	noise_handshake_init(&s->hs, &s->id, other->id.static_public, NULL);
	cookie_maker_init(&s->maker, other->id.static_public);
}

static struct noise_handshake *lookup(const uint8_t remote_static[32], void *arg)
{
	struct side *s = arg;

	return memcmp(remote_static, s->hs.remote_static, 32) ? NULL : &s->hs;
}

static const uint8_t src_addr[6] = { 198, 18, 0, 1, 0xca, 0x6c };

/* What the daemons do for one exchange, minus the sockets. */
static int handshake(struct side *i, struct side *r, uint64_t now, uint32_t n)
{
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct noise_handshake *found;
	int ret;

	if ((ret = noise_create_initiation(&init, &i->hs, 2 * n + 1)))
		return ret;
	cookie_add_macs(&i->maker, &init, sizeof(init), now);
	if (cookie_validate(&r->checker, &init, sizeof(init), src_addr, 6, false, now) != COOKIE_GOOD_MAC1)
		return -1;
	if ((ret = noise_consume_initiation(&init, &r->id, lookup, r, now, &found)))
		return ret;
	if ((ret = noise_create_response(&resp, found, 2 * n + 2)))
		return ret;
	cookie_add_macs(&r->maker, &resp, sizeof(resp), now);
	if (cookie_validate(&i->checker, &resp, sizeof(resp), src_addr, 6, false, now) != COOKIE_GOOD_MAC1)
		return -1;
	if ((ret = noise_consume_response(&resp, &i->hs)))
		return ret;
	noise_keypair_clear(&i->kp);
	noise_keypair_clear(&r->kp);
	if ((ret = noise_begin_session(&r->hs, &r->kp, now)))
		return ret;
	return noise_begin_session(&i->hs, &i->kp, now);
}

static double x25519_ops_per_sec(void)
{
	uint8_t a[32], b[32], pub[32], out[32];
	uint64_t t0 = cpu_ns(), t, n = 0;

	crypto_x25519_keygen(a);
	crypto_x25519_keygen(b);
	assert_true(crypto_x25519_pub(pub, b));
	do {
		for (int k = 0; k < 16; k++, n++) {
			assert_true(crypto_x25519(out, a, pub));
			/* chain the result so no call can be skipped */
			a[k] ^= out[k] & 0x38;
		}
		t = cpu_ns() - t0;
	} while (t < RUN_NS);
	return (double)n * SEC / (double)t;
}

/* Bare libcrypto derive: the same scalar multiplication without per-call key import. */
static double x25519_raw_ops_per_sec(void)
{
	uint8_t a[32], b[32], pub[32], out[32];
	size_t len = sizeof(pub);
	uint64_t t0, t, n = 0;

	crypto_x25519_keygen(a);
	crypto_x25519_keygen(b);
	EVP_PKEY *ka = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, a, 32);
	EVP_PKEY *kb = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, b, 32);
	assert_non_null(ka);
	assert_non_null(kb);
	assert_int_equal(EVP_PKEY_get_raw_public_key(kb, pub, &len), 1);
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, ka, NULL);
	assert_non_null(peer);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_derive_init(c), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer_ex(c, peer, 0), 1);
	t0 = cpu_ns();
	do {
		for (int k = 0; k < 16; k++, n++) {
			len = sizeof(out);
			assert_int_equal(EVP_PKEY_derive(c, out, &len), 1);
		}
		t = cpu_ns() - t0;
	} while (t < RUN_NS / 2);
	/* the same secret crypto_x25519 computes */
	uint8_t ref[32];
	assert_true(crypto_x25519(ref, a, pub));
	assert_memory_equal(ref, out, 32);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(kb);
	EVP_PKEY_free(ka);
	crypto_wipe(a, sizeof(a));
	crypto_wipe(b, sizeof(b));
	return (double)n * SEC / (double)t;
}

static double handshakes_per_sec(void)
{
	static struct side i, r;
	uint64_t now = 1000 * SEC, t0, t, n = 0;

	side_init(&i);
	side_init(&r);
	side_peer(&i, &r);
	side_peer(&r, &i);
	t0 = cpu_ns();
	do {
		for (int k = 0; k < 8; k++, n++) {
			/* each initiation needs a newer timestamp and must not look like a flood */
			now += SEC;
			i.wall += SEC;
			r.wall += SEC;
			assert_int_equal(handshake(&i, &r, now, (uint32_t)n), 0);
		}
		t = cpu_ns() - t0;
	} while (t < RUN_NS);

	/* The last session works both ways. */
	uint8_t buf[64 + WG_MSG_DATA_OVERHEAD + 16] = { 0 };
	memset(buf + WG_MSG_DATA_HEADER_LEN, 0x5a, 64);
	long len = noise_encrypt_data(&i.kp, buf, sizeof(buf), 64, 1420, now);
	assert_true(len > 0);
	assert_int_equal(noise_decrypt_data(&r.kp, buf, (size_t)len, now), 64);
	assert_int_equal(buf[WG_MSG_DATA_HEADER_LEN + 63], 0x5a);
	noise_keypair_clear(&i.kp);
	noise_keypair_clear(&r.kp);
	noise_handshake_wipe(&i.hs);
	noise_handshake_wipe(&r.hs);
	return (double)n * SEC / (double)t;
}

static void test_handshake_rate(void **state)
{
	(void)state;
	double x = x25519_ops_per_sec();
	double raw = x25519_raw_ops_per_sec();
	double hs = handshakes_per_sec();
	double bound = x / X25519_PER_PAIR;
	double ratio = hs / bound;

	printf("hsbench: x25519 %.0f ops/s (crypto_x25519, one thread)\n", x);
	printf("hsbench: x25519_raw %.0f ops/s (libcrypto derive only, one thread)\n", raw);
	printf("hsbench: x25519 per pair %d\n", X25519_PER_PAIR);
	printf("hsbench: handshakes %.0f pairs/s ratio %.3f of the X25519 bound %.0f/s\n", hs, ratio, bound);
	printf("hsbench: raw ratio %.3f of the bare X25519 bound %.0f/s\n", hs / (raw / X25519_PER_PAIR),
	       raw / X25519_PER_PAIR);
	assert_true(x > 0 && hs > 0);
	if (ratio < HS_MIN_RATIO)
		fail_msg("handshakes %.0f/s are %.2f of the X25519 bound %.0f/s (want >= %.2f)",
			 hs, ratio, bound, HS_MIN_RATIO);
}

/* CPU ns per call of one check, over RUN_NS / 4; every call must give `want`. */
static double ns_per_check(struct cookie_checker *c, const struct wg_msg_initiation *m, bool mac2,
			   enum cookie_result want)
{
	uint64_t t0 = cpu_ns(), t, n = 0;

	do {
		for (int k = 0; k < 64; k++, n++)
			if (cookie_validate(c, m, sizeof(*m), src_addr, 6, mac2, SEC) != want)
				fail_msg("check %llu gave a different result", (unsigned long long)n);
		t = cpu_ns() - t0;
	} while (t < RUN_NS / 4);
	return (double)t / (double)n;
}

static double ns_per_hash(bool kdf)
{
	uint8_t h[32] = { 1 }, in[32] = { 2 }, t2[32], t3[32];
	uint64_t t0 = cpu_ns(), t, n = 0;

	do {
		for (int k = 0; k < 64; k++, n++) {
			if (kdf)
				crypto_kdf(h, t2, t3, h, in, sizeof(in));
			else
				crypto_blake2s_2(h, h, sizeof(h), in, sizeof(in));
		}
		t = cpu_ns() - t0;
	} while (t < RUN_NS / 4);
	assert_false(h[0] == 1 && h[1] == 0);
	return (double)t / (double)n;
}

static void test_mac_cost(void **state)
{
	static struct side i, r;
	struct wg_msg_initiation init;

	(void)state;
	side_init(&i);
	side_init(&r);
	side_peer(&i, &r);
	side_peer(&r, &i);
	assert_int_equal(noise_create_initiation(&init, &i.hs, 1), 0);
	cookie_add_macs(&i.maker, &init, sizeof(init), SEC);
	double mac1 = ns_per_check(&r.checker, &init, false, COOKIE_GOOD_MAC1);
	/* no cookie held, so MAC2 is wrong, but the responder computes it all the same */
	double mac2 = ns_per_check(&r.checker, &init, true, COOKIE_GOOD_MAC1);
	init.sender_index ^= 1;
	double bad = ns_per_check(&r.checker, &init, false, COOKIE_BAD_MAC1);
	double hash = ns_per_hash(false), kdf = ns_per_hash(true);

	printf("hsbench: mac1 check %.0f ns (valid), %.0f ns (invalid)\n", mac1, bad);
	printf("hsbench: mac1+mac2 check %.0f ns (under load: cookie and MAC2 too)\n", mac2);
	printf("hsbench: blake2s hash of 64 bytes %.0f ns, kdf3 %.0f ns\n", hash, kdf);
	noise_handshake_wipe(&i.hs);
	noise_handshake_wipe(&r.hs);
	cookie_checker_wipe(&r.checker);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_rate),
		cmocka_unit_test(test_mac_cost),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
