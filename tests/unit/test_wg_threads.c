/* Keypairs used by two worker threads at once (noise slots): every nonce is taken once, every
 * message from either thread decrypts, and a message offered to both threads' decryption is
 * accepted exactly once (the replay window is checked and updated under the keypair's lock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wg/cookie.h"
#include "wg/crypto.h"
#include "wg/noise.h"

enum { PER_THREAD = 3000, PLAIN = 64, MSG = PLAIN + WG_MSG_DATA_OVERHEAD };
#define NOW (1000 * WG_NSEC_PER_SEC)

struct side {
	struct noise_identity id;
	struct noise_handshake hs;
	struct noise_keypair kp;
};

static struct noise_handshake *lookup(const uint8_t pub[32], void *arg)
{
	struct side *s = arg;

	return memcmp(pub, s->hs.remote_static, 32) ? NULL : &s->hs;
}

/* i and r with sessions both ways, each keypair holding two slots. */
static void session(struct side *i, struct side *r)
{
	uint8_t ki[32], kr[32];
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct noise_handshake *found;

	memset(i, 0, sizeof(*i));
	memset(r, 0, sizeof(*r));
	crypto_x25519_keygen(ki);
	crypto_x25519_keygen(kr);
	assert_int_equal(noise_identity_set(&i->id, ki), 0);
	assert_int_equal(noise_identity_set(&r->id, kr), 0);
	noise_handshake_init(&i->hs, &i->id, r->id.static_public, NULL);
	noise_handshake_init(&r->hs, &r->id, i->id.static_public, NULL);
	noise_set_slots(2);
	assert_int_equal(noise_create_initiation(&init, &i->hs, 11), 0);
	assert_int_equal(noise_consume_initiation(&init, &r->id, lookup, r, NOW, &found), 0);
	assert_int_equal(noise_create_response(&resp, found, 22), 0);
	assert_int_equal(noise_consume_response(&resp, &i->hs), 0);
	assert_int_equal(noise_begin_session(&i->hs, &i->kp, NOW), 0);
	assert_int_equal(noise_begin_session(&r->hs, &r->kp, NOW), 0);
	assert_int_equal(i->kp.n_slots, 2);
}

struct job {
	unsigned int slot;
	struct noise_keypair *kp;
	uint8_t *msgs;		/* count * MSG bytes */
	size_t count;
	long ok;		/* messages handled successfully */
	long stale;		/* decrypt: refused as replays */
};

static void *encrypt_job(void *arg)
{
	struct job *j = arg;

	noise_set_thread_slot(j->slot);
	for (size_t n = 0; n < j->count; n++) {
		uint8_t *m = j->msgs + n * MSG;
		memset(m + WG_MSG_DATA_HEADER_LEN, (int)(n & 0xff), PLAIN);
		if (noise_encrypt_data(j->kp, m, MSG, PLAIN, 0, NOW) == MSG)
			j->ok++;
	}
	return NULL;
}

static void *decrypt_job(void *arg)
{
	struct job *j = arg;

	noise_set_thread_slot(j->slot);
	for (size_t n = 0; n < j->count; n++) {
		uint8_t m[MSG];
		memcpy(m, j->msgs + n * MSG, MSG);
		long r = noise_decrypt_data(j->kp, m, MSG, NOW);
		if (r == PLAIN)
			j->ok++;
		else if (r == -ESTALE)
			j->stale++;
	}
	return NULL;
}

static void run2(void *(*fn)(void *), struct job *a, struct job *b)
{
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, fn, a), 0);
	fn(b);
	assert_int_equal(pthread_join(t, NULL), 0);
	noise_set_thread_slot(0);
}

static uint64_t counter_of(const uint8_t *m)
{
	uint64_t c;

	memcpy(&c, m + 8, sizeof(c));
	return le64toh(c);
}

/* Two threads encrypt on one keypair: nonces 0..2N-1 each once, all decrypt on the peer. */
static void test_encrypt_two_threads(void **state)
{
	struct side i, r;
	uint8_t *msgs = malloc(2 * (size_t)PER_THREAD * MSG);
	uint8_t *seen = calloc(2 * PER_THREAD, 1);
	struct job a = { .slot = 0, .count = PER_THREAD }, b = { .slot = 1, .count = PER_THREAD };

	(void)state;
	assert_non_null(msgs);
	assert_non_null(seen);
	session(&i, &r);
	a.kp = b.kp = &i.kp;
	a.msgs = msgs;
	b.msgs = msgs + (size_t)PER_THREAD * MSG;
	run2(encrypt_job, &a, &b);
	assert_int_equal(a.ok, PER_THREAD);
	assert_int_equal(b.ok, PER_THREAD);
	for (size_t n = 0; n < 2 * PER_THREAD; n++) {
		uint64_t c = counter_of(msgs + n * MSG);
		assert_true(c < 2 * PER_THREAD);
		assert_int_equal(seen[c], 0);
		seen[c] = 1;
	}
	assert_int_equal(i.kp.send_counter, 2 * PER_THREAD);
	/* the peer, one thread: every message is authentic and new */
	struct job d = { .slot = 0, .kp = &r.kp, .msgs = msgs, .count = 2 * PER_THREAD };
	decrypt_job(&d);
	assert_int_equal(d.ok, 2 * PER_THREAD);
	noise_keypair_clear(&i.kp);
	noise_keypair_clear(&r.kp);
	free(msgs);
	free(seen);
}

/* Both threads are offered every message: each is accepted once in all. */
static void test_decrypt_two_threads_replay(void **state)
{
	struct side i, r;
	uint8_t *msgs = malloc((size_t)PER_THREAD * MSG);
	struct job e = { .slot = 0, .count = PER_THREAD };

	(void)state;
	assert_non_null(msgs);
	session(&i, &r);
	e.kp = &i.kp;
	e.msgs = msgs;
	encrypt_job(&e);
	assert_int_equal(e.ok, PER_THREAD);

	struct job a = { .slot = 0, .kp = &r.kp, .msgs = msgs, .count = PER_THREAD };
	struct job b = { .slot = 1, .kp = &r.kp, .msgs = msgs, .count = PER_THREAD };
	run2(decrypt_job, &a, &b);
	assert_int_equal(a.ok + b.ok, PER_THREAD);
	assert_int_equal(a.stale + b.stale, PER_THREAD);
	noise_keypair_clear(&i.kp);
	noise_keypair_clear(&r.kp);
	free(msgs);
}

/* A slot number past the keypair's count stays in bounds (slot 0's contexts). */
static void test_slot_bounds(void **state)
{
	struct side i, r;
	uint8_t m[MSG];

	(void)state;
	session(&i, &r);
	noise_set_thread_slot(NOISE_MAX_SLOTS + 5);
	memset(m + WG_MSG_DATA_HEADER_LEN, 7, PLAIN);
	assert_int_equal(noise_encrypt_data(&i.kp, m, MSG, PLAIN, 0, NOW), MSG);
	assert_int_equal(noise_decrypt_data(&r.kp, m, MSG, NOW), PLAIN);
	noise_set_thread_slot(0);
	noise_keypair_clear(&i.kp);
	noise_keypair_clear(&r.kp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encrypt_two_threads),
		cmocka_unit_test(test_decrypt_two_threads_replay),
		cmocka_unit_test(test_slot_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
