/* MAC1/MAC2 and the cookie exchange, with a fake clock for secret rotation and cookie age. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <netinet/in.h>

#include "wg/cookie.h"
#include "wg/crypto.h"
#include "wg/noise.h"

#define SEC WG_NSEC_PER_SEC

struct fixture {
	struct noise_identity ii, ri;          /* initiator, responder */
	struct noise_handshake hs;             /* initiator's handshake with the responder */
	struct cookie_maker maker;             /* initiator's, for the responder */
	struct cookie_checker checker;         /* responder's */
	uint8_t addr[COOKIE_ADDR_MAX];
	size_t addrlen;
};

static int setup(void **state)
{
	static struct fixture f;
	uint8_t k[32];
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(51820),
				   .sin_addr.s_addr = htonl(0xc6120001) };

	memset(&f, 0, sizeof(f));
	crypto_x25519_keygen(k);
	assert_int_equal(noise_identity_set(&f.ii, k), 0);
	crypto_x25519_keygen(k);
	assert_int_equal(noise_identity_set(&f.ri, k), 0);
	noise_handshake_init(&f.hs, &f.ii, f.ri.static_public, NULL);
	cookie_maker_init(&f.maker, f.ri.static_public);
	cookie_checker_init(&f.checker, f.ri.static_public);
	f.addrlen = cookie_addr_from_sockaddr(f.addr, (struct sockaddr *)&sin);
	assert_int_equal(f.addrlen, 6);
	assert_int_equal(f.addr[0], 198);
	assert_int_equal(f.addr[4], 51820 >> 8);
	*state = &f;
	return 0;
}

static void initiation(struct fixture *f, struct wg_msg_initiation *m, uint64_t now)
{
	assert_int_equal(noise_create_initiation(m, &f->hs, 42), 0);
	cookie_add_macs(&f->maker, m, sizeof(*m), now);
}

static enum cookie_result check(struct fixture *f, struct wg_msg_initiation *m, bool load, uint64_t now)
{
	return cookie_validate(&f->checker, m, sizeof(*m), f->addr, f->addrlen, load, now);
}

/* Under load: no MAC2 -> cookie reply -> consumed -> next initiation passes MAC2. */
static void test_cookie_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct wg_msg_initiation m;
	struct wg_msg_cookie_reply r, r2;
	uint64_t now = 1000 * SEC;
	static const uint8_t zero[16];

	initiation(f, &m, now);
	assert_memory_equal(m.macs.mac2, zero, 16);
	assert_int_equal(check(f, &m, false, now), COOKIE_GOOD_MAC1);
	assert_int_equal(check(f, &m, true, now), COOKIE_GOOD_MAC1);
	assert_int_equal(cookie_reply_create(&f->checker, &r, &m, sizeof(m), m.sender_index,
					     f->addr, f->addrlen, now), 0);
	assert_int_equal(r.type, WG_MSG_COOKIE_REPLY);
	assert_int_equal(r.receiver_index, m.sender_index);

	/* Every flipped bit of the authenticated part is refused. */
	for (size_t bit = offsetof(struct wg_msg_cookie_reply, nonce) * 8; bit < sizeof(r) * 8; bit++) {
		memcpy(&r2, &r, sizeof(r));
		((uint8_t *)&r2)[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		assert_int_equal(cookie_consume_reply(&f->maker, &r2, now), -EBADMSG);
	}
	memcpy(&r2, &r, sizeof(r));
	r2.reserved[1] = 1;
	assert_int_equal(cookie_consume_reply(&f->maker, &r2, now), -EINVAL);

	assert_int_equal(cookie_consume_reply(&f->maker, &r, now), 0);
	assert_int_equal(cookie_consume_reply(&f->maker, &r, now), -ENOENT);   /* replayed reply */

	initiation(f, &m, now + SEC);
	assert_memory_not_equal(m.macs.mac2, zero, 16);
	assert_int_equal(check(f, &m, true, now + SEC), COOKIE_GOOD_MAC2);
	/* From another address, the same message is not proven. */
	uint8_t other[6];
	memcpy(other, f->addr, 6);
	other[5] ^= 1;
	assert_int_equal(cookie_validate(&f->checker, &m, sizeof(m), other, 6, true, now + SEC), COOKIE_GOOD_MAC1);
	/* The workers' check, on a copy of the secret, agrees; a secret too old proves nothing. */
	const uint8_t *sec = f->checker.secret;
	uint64_t birth = f->checker.secret_birth;
	assert_true(cookie_mac2_valid(sec, birth, now + SEC, &m, sizeof(m), f->addr, f->addrlen));
	assert_false(cookie_mac2_valid(sec, birth, now + SEC, &m, sizeof(m), other, 6));
	assert_false(cookie_mac2_valid(sec, birth, birth + COOKIE_SECRET_MAX_AGE * SEC, &m, sizeof(m),
				       f->addr, f->addrlen));
	assert_false(cookie_mac2_valid(sec, birth, now + SEC, &m, 32, f->addr, f->addrlen));
	/* A flipped mac2 bit is only MAC1-good. */
	m.macs.mac2[7] ^= 4;
	assert_int_equal(check(f, &m, true, now + SEC), COOKIE_GOOD_MAC1);
	assert_false(cookie_mac2_valid(sec, birth, now + SEC, &m, sizeof(m), f->addr, f->addrlen));
}

/* A reply answering an older message (its AD is a stale mac1) is refused. */
static void test_cookie_reply_binding(void **state)
{
	struct fixture *f = *state;
	struct wg_msg_initiation m1, m2;
	struct wg_msg_cookie_reply r;
	uint64_t now = 2000 * SEC;

	initiation(f, &m1, now);
	assert_int_equal(cookie_reply_create(&f->checker, &r, &m1, sizeof(m1), m1.sender_index,
					     f->addr, f->addrlen, now), 0);
	initiation(f, &m2, now);
	assert_int_equal(cookie_consume_reply(&f->maker, &r, now), -EBADMSG);
	assert_int_equal(cookie_reply_create(&f->checker, &r, &m2, sizeof(m2), m2.sender_index,
					     f->addr, f->addrlen, now), 0);
	assert_int_equal(cookie_consume_reply(&f->maker, &r, now), 0);
	/* A response-sized message works the same way (MACs are its last 32 bytes). */
	struct wg_msg_response resp;
	memset(&resp, 0x5a, sizeof(resp));
	cookie_add_macs(&f->maker, &resp, sizeof(resp), now);
	assert_int_equal(cookie_validate(&f->checker, &resp, sizeof(resp), f->addr, f->addrlen, true, now),
			 COOKIE_GOOD_MAC2);
	assert_int_equal(cookie_validate(&f->checker, &resp, 32, f->addr, f->addrlen, true, now), COOKIE_BAD_MAC1);
}

/* The responder's secret lives COOKIE_SECRET_MAX_AGE; the initiator uses a cookie a little
 * less long. */
static void test_cookie_rotation(void **state)
{
	struct fixture *f = *state;
	struct wg_msg_initiation m;
	struct wg_msg_cookie_reply r;
	static const uint8_t zero[16];
	uint64_t t0 = 10000 * SEC;

	cookie_checker_wipe(&f->checker);
	cookie_checker_init(&f->checker, f->ri.static_public);
	initiation(f, &m, t0);
	/* Secret born at t0. */
	assert_int_equal(cookie_reply_create(&f->checker, &r, &m, sizeof(m), m.sender_index,
					     f->addr, f->addrlen, t0), 0);
	/* ... a second reply 100 s later still uses the same secret; consumed then. */
	initiation(f, &m, t0 + 100 * SEC);
	assert_int_equal(cookie_reply_create(&f->checker, &r, &m, sizeof(m), m.sender_index,
					     f->addr, f->addrlen, t0 + 100 * SEC), 0);
	assert_int_equal(cookie_consume_reply(&f->maker, &r, t0 + 100 * SEC), 0);

	initiation(f, &m, t0 + 119 * SEC);
	assert_int_equal(check(f, &m, true, t0 + 119 * SEC), COOKIE_GOOD_MAC2);
	/* 120 s after its birth the secret is replaced: the cookie (only 20 s old) is dead. */
	initiation(f, &m, t0 + 120 * SEC);
	assert_memory_not_equal(m.macs.mac2, zero, 16);
	assert_int_equal(check(f, &m, true, t0 + 120 * SEC), COOKIE_GOOD_MAC1);

	/* The initiator stops sending a cookie COOKIE_SECRET_MAX_AGE - LATENCY after receipt. */
	uint64_t got = t0 + 100 * SEC;
	initiation(f, &m, got + (COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY) * SEC - 1);
	assert_memory_not_equal(m.macs.mac2, zero, 16);
	initiation(f, &m, got + (COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY) * SEC);
	assert_memory_equal(m.macs.mac2, zero, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_cookie_roundtrip, setup),
		cmocka_unit_test_setup(test_cookie_reply_binding, setup),
		cmocka_unit_test_setup(test_cookie_rotation, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
