/* The handshake and transport: a fixed-key vector computed independently
 * (tests/unit/noise_vector.py), full handshakes both ways with and without PSK, failures on
 * wrong keys, replays, floods, and every flipped bit of every message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wg/cookie.h"
#include "wg/crypto.h"
#include "wg/noise.h"

#define SEC WG_NSEC_PER_SEC

/* Output of tests/unit/noise_vector.py. */
static const char vec_initiation[] =
	"01000000040302017b0d47d93427f8311160781c7c733fd89f88970aef490d8a"
	"a0ee19a4cb8a1b1481e498317da959fba46669572516a5e6c021bfa620bb6c56"
	"ca0082e1feae14988c2c64d024c617734a263f76a008df04d0f94bad8ee75ec8"
	"e6c2695569183cc7dc1e27ce0c1b8436de667e2793bcc82f5db3b8466ea6d8fb"
	"567bf96b00000000000000000000000000000000";
static const char vec_response[] =
	"020000000d0c0b0a04030201ff2ee45601ec1b67310c7790404585ae697331ee"
	"e1c1f8cf2419731c1fff3e6bf3c8d3f436c557547df21dab91e91043a0c1e8d7"
	"649bfee7d31931b4c794c30900000000000000000000000000000000";
static const char vec_data_i2r[] =
	"040000000d0c0b0a00000000000000007c3924f91f2defcdbd5d064c77112b4d"
	"b2884e18ace56d18ace4022b79da7bc0";
static const char vec_data_r2i[] =
	"04000000040302010000000000000000a62f5e861cdff002d08eb2dc2d5ace90"
	"8ea7033751271d18c122fba6aa7c57cf";

static size_t unhex(uint8_t *out, const char *hex)
{
	size_t n = 0;
	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;
		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* One side of a connection: identity, its view of the other side, and a fake wall clock. */
struct side {
	struct noise_identity id;
	struct noise_handshake hs;
	struct cookie_maker maker;
	struct cookie_checker checker;
	struct noise_keypair kp;
	uint64_t wall;
	uint8_t fixed_ephemeral;   /* 0: random */
};

static uint64_t fake_wall(void *arg)
{
	return ((struct side *)arg)->wall;
}

static void fake_random(void *buf, size_t len, void *arg)
{
	struct side *s = arg;
	if (s->fixed_ephemeral)
		memset(buf, s->fixed_ephemeral, len);
	else
		crypto_random(buf, len);
}

static void side_init(struct side *s, const uint8_t priv[32])
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(noise_identity_set(&s->id, priv), 0);
	s->id.wall_clock_ns = fake_wall;
	s->id.random = fake_random;
	s->id.hook_arg = s;
	s->wall = 1700000000 * SEC;
	cookie_checker_init(&s->checker, s->id.static_public);
}

static void side_peer(struct side *s, const struct side *other, const uint8_t *psk)
{
	noise_handshake_init(&s->hs, &s->id, other->id.static_public, psk);
	cookie_maker_init(&s->maker, other->id.static_public);
}

static void pair(struct side *a, struct side *b, const uint8_t *psk_a, const uint8_t *psk_b)
{
	uint8_t ka[32], kb[32];
	crypto_x25519_keygen(ka);
	crypto_x25519_keygen(kb);
	side_init(a, ka);
	side_init(b, kb);
	side_peer(a, b, psk_a);
	side_peer(b, a, psk_b);
}

static void sides_free(struct side *a, struct side *b)
{
	noise_keypair_clear(&a->kp);
	noise_keypair_clear(&b->kp);
}

static struct noise_handshake *lookup(const uint8_t remote_static[32], void *arg)
{
	struct side *s = arg;
	return memcmp(remote_static, s->hs.remote_static, 32) ? NULL : &s->hs;
}

static const uint8_t src_addr[6] = { 198, 18, 0, 1, 0xca, 0x6c };

/* Initiator i handshakes with responder r; returns the first failing step's error or 0. */
static int handshake(struct side *i, struct side *r, uint64_t now)
{
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct noise_handshake *found;
	int ret;

	if ((ret = noise_create_initiation(&init, &i->hs, 0x1000 + (uint32_t)(now / SEC))))
		return ret;
	cookie_add_macs(&i->maker, &init, sizeof(init), now);
	if (cookie_validate(&r->checker, &init, sizeof(init), src_addr, 6, false, now) != COOKIE_GOOD_MAC1)
		return -EPROTO;
	if ((ret = noise_consume_initiation(&init, &r->id, lookup, r, now, &found)))
		return ret;
	assert_ptr_equal(found, &r->hs);
	if ((ret = noise_create_response(&resp, found, 0x2000 + (uint32_t)(now / SEC))))
		return ret;
	cookie_add_macs(&r->maker, &resp, sizeof(resp), now);
	if (cookie_validate(&i->checker, &resp, sizeof(resp), src_addr, 6, false, now) != COOKIE_GOOD_MAC1)
		return -EPROTO;
	if ((ret = noise_consume_response(&resp, &i->hs)))
		return ret;
	noise_keypair_clear(&i->kp);
	noise_keypair_clear(&r->kp);
	if ((ret = noise_begin_session(&r->hs, &r->kp, now)))
		return ret;
	return noise_begin_session(&i->hs, &i->kp, now);
}

/* Send len bytes from a to b and check they arrive intact. */
static void transfer(struct side *a, struct side *b, size_t len, uint64_t now)
{
	uint8_t buf[1600], plain[1500];
	long n, m;

	crypto_random(plain, len);
	memcpy(buf + WG_MSG_DATA_HEADER_LEN, plain, len);
	n = noise_encrypt_data(&a->kp, buf, sizeof(buf), len, 1420, now);
	assert_true(n >= (long)(len + WG_MSG_DATA_OVERHEAD));
	assert_int_equal((n - WG_MSG_DATA_OVERHEAD) % 16 == 0 || len > 1404, 1);
	m = noise_decrypt_data(&b->kp, buf, (size_t)n, now);
	assert_int_equal(m, n - WG_MSG_DATA_OVERHEAD);
	assert_memory_equal(buf + WG_MSG_DATA_HEADER_LEN, plain, len);
	for (long k = (long)len; k < m; k++)
		assert_int_equal(buf[WG_MSG_DATA_HEADER_LEN + k], 0);
}

static void test_vector(void **state)
{
	struct side i, r;
	uint8_t si[32], sr[32], psk[32], want[160], buf[64];
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct noise_handshake *found;
	uint64_t now = 5 * SEC;

	memset(si, 0x11, 32);
	memset(sr, 0x22, 32);
	memset(psk, 0x55, 32);
	side_init(&i, si);
	side_init(&r, sr);
	side_peer(&i, &r, psk);
	side_peer(&r, &i, psk);
	i.fixed_ephemeral = 0x33;
	r.fixed_ephemeral = 0x44;
	i.wall = r.wall = 1700000000 * SEC + 123456789;

	assert_int_equal(noise_create_initiation(&init, &i.hs, 0x01020304), 0);
	cookie_add_macs(&i.maker, &init, sizeof(init), now);
	assert_int_equal(unhex(want, vec_initiation), sizeof(init));
	assert_memory_equal(&init, want, sizeof(init));

	assert_int_equal(cookie_validate(&r.checker, &init, sizeof(init), src_addr, 6, false, now), COOKIE_GOOD_MAC1);
	assert_int_equal(noise_consume_initiation(&init, &r.id, lookup, &r, now, &found), 0);
	assert_int_equal(noise_create_response(&resp, found, 0x0a0b0c0d), 0);
	cookie_add_macs(&r.maker, &resp, sizeof(resp), now);
	assert_int_equal(unhex(want, vec_response), sizeof(resp));
	assert_memory_equal(&resp, want, sizeof(resp));

	assert_int_equal(noise_consume_response(&resp, &i.hs), 0);
	assert_int_equal(noise_begin_session(&i.hs, &i.kp, now), 0);
	assert_int_equal(noise_begin_session(&r.hs, &r.kp, now), 0);
	assert_int_equal(i.kp.local_index, 0x01020304);
	assert_int_equal(i.kp.remote_index, 0x0a0b0c0d);
	assert_int_equal(r.kp.local_index, 0x0a0b0c0d);
	assert_int_equal(r.kp.remote_index, 0x01020304);
	assert_true(i.kp.initiator);
	assert_false(r.kp.initiator);
	assert_int_equal(i.hs.state, NOISE_HS_ZEROED);

	memcpy(buf + 16, "ping", 4);
	assert_int_equal(noise_encrypt_data(&i.kp, buf, sizeof(buf), 4, 1420, now), 48);
	unhex(want, vec_data_i2r);
	assert_memory_equal(buf, want, 48);
	assert_int_equal(noise_decrypt_data(&r.kp, buf, 48, now), 16);
	assert_memory_equal(buf + 16, "ping", 4);

	memcpy(buf + 16, "pong", 4);
	assert_int_equal(noise_encrypt_data(&r.kp, buf, sizeof(buf), 4, 1420, now), 48);
	unhex(want, vec_data_r2i);
	assert_memory_equal(buf, want, 48);
	assert_int_equal(noise_decrypt_data(&i.kp, buf, 48, now), 16);
	sides_free(&i, &r);
}

static void run_both_directions(const uint8_t *psk)
{
	struct side a, b;
	uint64_t now = 10 * SEC;

	pair(&a, &b, psk, psk);
	assert_int_equal(handshake(&a, &b, now), 0);
	for (size_t len = 0; len <= 1420; len += 71)
		transfer(&a, &b, len, now), transfer(&b, &a, len, now);
	/* Now b initiates (a later timestamp); both sides get a fresh keypair. */
	b.wall += 3 * SEC;
	assert_int_equal(handshake(&b, &a, now + 3 * SEC), 0);
	assert_true(b.kp.initiator);
	for (size_t len = 1; len <= 1420; len += 113)
		transfer(&a, &b, len, now + 3 * SEC), transfer(&b, &a, len, now + 3 * SEC);
	sides_free(&a, &b);
}

static void test_handshake_no_psk(void **state)
{
	run_both_directions(NULL);
}

static void test_handshake_psk(void **state)
{
	uint8_t psk[32];
	crypto_random(psk, 32);
	run_both_directions(psk);
}

static void test_wrong_psk(void **state)
{
	struct side a, b;
	uint8_t p1[32], p2[32];

	crypto_random(p1, 32);
	crypto_random(p2, 32);
	pair(&a, &b, p1, p2);
	assert_int_equal(handshake(&a, &b, SEC), -EBADMSG);
	assert_int_equal(a.hs.state, NOISE_HS_CREATED_INITIATION);  /* untouched by the failure */
	sides_free(&a, &b);
	pair(&a, &b, p1, NULL);
	assert_int_equal(handshake(&a, &b, SEC), -EBADMSG);
	sides_free(&a, &b);
}

static void test_wrong_static(void **state)
{
	struct side a, b, c;
	uint8_t k[32];
	struct wg_msg_initiation init;
	struct noise_handshake *found;

	/* b does not know a's key: the lookup fails. */
	pair(&a, &b, NULL, NULL);
	crypto_x25519_keygen(k);
	side_init(&c, k);
	side_peer(&b, &c, NULL);
	assert_int_equal(handshake(&a, &b, SEC), -ENOKEY);

	/* a thinks b has c's key: MAC1 and the static decryption both fail at b. */
	side_peer(&b, &a, NULL);
	side_peer(&a, &c, NULL);
	assert_int_equal(noise_create_initiation(&init, &a.hs, 1), 0);
	cookie_add_macs(&a.maker, &init, sizeof(init), SEC);
	assert_int_equal(cookie_validate(&b.checker, &init, sizeof(init), src_addr, 6, false, SEC), COOKIE_BAD_MAC1);
	assert_int_equal(noise_consume_initiation(&init, &b.id, lookup, &b, SEC, &found), -EBADMSG);
	assert_null(found);
	assert_int_equal(b.hs.state, NOISE_HS_ZEROED);
}

static void test_replay_and_flood(void **state)
{
	struct side a, b;
	struct wg_msg_initiation init, old;
	struct noise_handshake *found;
	uint64_t now = 100 * SEC;

	pair(&a, &b, NULL, NULL);
	assert_int_equal(noise_create_initiation(&old, &a.hs, 1), 0);
	a.wall += SEC;
	assert_int_equal(noise_create_initiation(&init, &a.hs, 2), 0);
	assert_int_equal(noise_consume_initiation(&init, &b.id, lookup, &b, now, &found), 0);
	/* The same message again (same timestamp), and an older one, even much later. */
	assert_int_equal(noise_consume_initiation(&init, &b.id, lookup, &b, now + 10 * SEC, &found), -ESTALE);
	assert_int_equal(noise_consume_initiation(&old, &b.id, lookup, &b, now + 10 * SEC, &found), -ESTALE);
	assert_null(found);
	/* Within the same TAI64N granule (2^24 ns) the timestamp does not advance. */
	a.wall += 1000;
	assert_int_equal(noise_create_initiation(&init, &a.hs, 3), 0);
	assert_int_equal(noise_consume_initiation(&init, &b.id, lookup, &b, now + 10 * SEC, &found), -ESTALE);
	/* Newer timestamp but faster than WG_INITIATIONS_PER_SECOND: a flood. */
	a.wall += SEC;
	assert_int_equal(noise_create_initiation(&init, &a.hs, 4), 0);
	assert_int_equal(noise_consume_initiation(&init, &b.id, lookup, &b, now + SEC / 100, &found), -EBUSY);
	assert_int_equal(noise_consume_initiation(&init, &b.id, lookup, &b, now + SEC / 10, &found), 0);
	assert_int_equal(b.hs.remote_index, 4);
}

/* Flip every bit of each message: it must fail MAC1 or decryption/validation. */
static void test_bitflips(void **state)
{
	struct side a, b;
	struct wg_msg_initiation init, x;
	struct wg_msg_response resp, y;
	struct noise_handshake *found, saved_a;
	uint64_t now = 50 * SEC;

	pair(&a, &b, NULL, NULL);
	assert_int_equal(noise_create_initiation(&init, &a.hs, 7), 0);
	cookie_add_macs(&a.maker, &init, sizeof(init), now);
	for (size_t bit = 0; bit < sizeof(init) * 8; bit++) {
		memcpy(&x, &init, sizeof(x));
		((uint8_t *)&x)[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		enum cookie_result cr = cookie_validate(&b.checker, &x, sizeof(x), src_addr, 6, true, now);
		if (bit < offsetof(struct wg_msg_initiation, macs.mac2) * 8)
			assert_int_equal(cr, COOKIE_BAD_MAC1);
		else
			assert_int_not_equal(cr, COOKIE_GOOD_MAC2);
		/* Without the MAC, the handshake itself rejects every covered field. */
		if (bit < offsetof(struct wg_msg_initiation, macs) * 8 &&
		    (bit < 32 || bit >= offsetof(struct wg_msg_initiation, ephemeral) * 8))
			assert_int_not_equal(noise_consume_initiation(&x, &b.id, lookup, &b, now, &found), 0);
	}
	assert_int_equal(noise_consume_initiation(&init, &b.id, lookup, &b, now, &found), 0);
	assert_int_equal(noise_create_response(&resp, &b.hs, 9), 0);
	cookie_add_macs(&b.maker, &resp, sizeof(resp), now);
	saved_a = a.hs;
	for (size_t bit = 0; bit < sizeof(resp) * 8; bit++) {
		memcpy(&y, &resp, sizeof(y));
		((uint8_t *)&y)[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		enum cookie_result cr = cookie_validate(&a.checker, &y, sizeof(y), src_addr, 6, true, now);
		if (bit < offsetof(struct wg_msg_response, macs.mac2) * 8)
			assert_int_equal(cr, COOKIE_BAD_MAC1);
		else
			assert_int_not_equal(cr, COOKIE_GOOD_MAC2);
		if (bit < offsetof(struct wg_msg_response, macs) * 8 &&
		    (bit < 32 || bit >= offsetof(struct wg_msg_response, receiver_index) * 8))
			assert_int_not_equal(noise_consume_response(&y, &a.hs), 0);
		assert_memory_equal(&a.hs, &saved_a, sizeof(saved_a));
	}
	assert_int_equal(noise_consume_response(&resp, &a.hs), 0);
	assert_int_equal(noise_begin_session(&a.hs, &a.kp, now), 0);
	assert_int_equal(noise_begin_session(&b.hs, &b.kp, now), 0);

	uint8_t msg[64], z[64];
	memcpy(msg + 16, "data", 4);
	long n = noise_encrypt_data(&a.kp, msg, sizeof(msg), 4, 0, now);
	assert_int_equal(n, 48);
	for (size_t bit = 0; bit < (size_t)n * 8; bit++) {
		memcpy(z, msg, sizeof(z));
		z[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		assert_true(noise_decrypt_data(&b.kp, z, (size_t)n, now) < 0);
	}
	assert_int_equal(noise_decrypt_data(&b.kp, msg, (size_t)n, now), 16);
	sides_free(&a, &b);
}

static void test_data_replay_and_limits(void **state)
{
	struct side a, b;
	uint8_t msg[64], copy[64];
	uint64_t now = 1000 * SEC;
	long n;

	pair(&a, &b, NULL, NULL);
	assert_int_equal(handshake(&a, &b, now), 0);
	n = noise_encrypt_data(&a.kp, msg, sizeof(msg), 0, 1420, now);   /* keepalive */
	assert_int_equal(n, WG_MSG_DATA_MIN_LEN);
	memcpy(copy, msg, sizeof(msg));
	assert_int_equal(noise_decrypt_data(&b.kp, msg, (size_t)n, now), 0);
	assert_int_equal(noise_decrypt_data(&b.kp, copy, (size_t)n, now), -ESTALE);
	assert_int_equal(noise_decrypt_data(&b.kp, copy, 31, now), -EINVAL);

	/* Sizes: no room for the tag, a too-short message. */
	assert_int_equal(noise_encrypt_data(&a.kp, msg, 47, 16, 0, now), -ENOBUFS);
	assert_int_equal(noise_encrypt_data(&a.kp, msg, 48, 16, 0, now), 48);

	/* Rekey thresholds are the initiator's, expiry is both sides'. */
	assert_false(noise_keypair_wants_rekey_send(&a.kp, now + (REKEY_AFTER_TIME - 1) * SEC));
	assert_true(noise_keypair_wants_rekey_send(&a.kp, now + REKEY_AFTER_TIME * SEC));
	assert_false(noise_keypair_wants_rekey_send(&b.kp, now + REKEY_AFTER_TIME * SEC));
	assert_true(noise_keypair_wants_rekey_recv(&a.kp, now + 165 * SEC));
	assert_false(noise_keypair_wants_rekey_recv(&a.kp, now + 164 * SEC));
	assert_int_equal(noise_encrypt_data(&a.kp, msg, sizeof(msg), 0, 0, now + REJECT_AFTER_TIME * SEC), -EKEYEXPIRED);
	n = noise_encrypt_data(&a.kp, msg, sizeof(msg), 0, 0, now + (REJECT_AFTER_TIME * SEC) - 1);
	assert_int_equal(n, 32);
	assert_int_equal(noise_decrypt_data(&b.kp, msg, 32, now + REJECT_AFTER_TIME * SEC), -EKEYEXPIRED);

	a.kp.send_counter = REKEY_AFTER_MESSAGES + 1;
	assert_true(noise_keypair_wants_rekey_send(&a.kp, now));
	a.kp.send_counter = REJECT_AFTER_MESSAGES - 1;
	assert_int_equal(noise_encrypt_data(&a.kp, msg, sizeof(msg), 0, 0, now), 32);
	assert_int_equal(noise_decrypt_data(&b.kp, msg, 32, now), 0);   /* last valid counter */
	assert_int_equal(noise_encrypt_data(&a.kp, msg, sizeof(msg), 0, 0, now), -EKEYEXPIRED);
	sides_free(&a, &b);
}

static void test_padding(void **state)
{
	assert_int_equal(noise_padded_len(0, 1420), 0);
	assert_int_equal(noise_padded_len(1, 1420), 16);
	assert_int_equal(noise_padded_len(16, 1420), 16);
	assert_int_equal(noise_padded_len(1419, 1420), 1420);   /* capped by the MTU */
	assert_int_equal(noise_padded_len(1413, 1420), 1420);
	assert_int_equal(noise_padded_len(1500, 1420), 1500);   /* oversize: no padding */
	assert_int_equal(noise_padded_len(1419, 0), 1424);
}

static void test_tai64n(void **state)
{
	uint8_t t[12], u[12];
	noise_tai64n(t, 0);
	static const uint8_t epoch[12] = { 0x40, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0 };
	assert_memory_equal(t, epoch, 12);
	noise_tai64n(t, 5 * SEC + (1 << 24) - 1);
	noise_tai64n(u, 5 * SEC + (1 << 24));
	assert_int_equal(t[7], 0x0f);
	assert_true(memcmp(t, u, 12) < 0);
	assert_int_equal(t[8] | t[9] | t[10] | t[11], 0);
}

static void test_low_order(void **state)
{
	struct side a, b;
	uint8_t zero[32] = { 0 };
	struct wg_msg_initiation init;
	struct noise_handshake *found;

	pair(&a, &b, NULL, NULL);
	noise_handshake_init(&a.hs, &a.id, zero, NULL);
	assert_false(a.hs.ss_valid);
	assert_int_equal(noise_create_initiation(&init, &a.hs, 1), -EINVAL);
	/* An initiation whose ephemeral is a low-order point fails the es step. */
	side_peer(&a, &b, NULL);
	assert_int_equal(noise_create_initiation(&init, &a.hs, 1), 0);
	memset(init.ephemeral, 0, 32);
	assert_int_equal(noise_consume_initiation(&init, &b.id, lookup, &b, SEC, &found), -EBADMSG);
}

/* The private key removed (wg set ... private-key /dev/null): no peer keeps the static-static
 * secret it made, as the kernel zeroes it. */
static void test_identity_removed_wipes_ss(void **state)
{
	const uint8_t zero[WG_KEY_LEN] = { 0 };
	struct side a, b;

	pair(&a, &b, NULL, NULL);
	assert_true(a.hs.ss_valid);
	assert_memory_not_equal(a.hs.precomputed_ss, zero, WG_KEY_LEN);
	noise_identity_wipe(&a.id);
	noise_handshake_precompute(&a.hs);
	assert_false(a.hs.ss_valid);
	assert_memory_equal(a.hs.precomputed_ss, zero, WG_KEY_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector),
		cmocka_unit_test(test_handshake_no_psk),
		cmocka_unit_test(test_handshake_psk),
		cmocka_unit_test(test_wrong_psk),
		cmocka_unit_test(test_wrong_static),
		cmocka_unit_test(test_replay_and_flood),
		cmocka_unit_test(test_bitflips),
		cmocka_unit_test(test_data_replay_and_limits),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_tai64n),
		cmocka_unit_test(test_low_order),
		cmocka_unit_test(test_identity_removed_wipes_ss),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
