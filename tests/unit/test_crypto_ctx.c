/* BLAKE2s through per-thread libcrypto contexts: no allocation per keyed hash (MAC1, MAC2,
 * cookies) and at most the one OpenSSL 3.0's EVP_DigestInit_ex2 makes per unkeyed hash
 * (counted through CRYPTO_set_mem_functions, so libcrypto's own allocations are seen); the
 * same results whatever ran before on the thread (key and output lengths change between
 * calls); a thread's contexts freed when it ends. Vectors are test_crypto's; here only reuse
 * is tested. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/crypto.h>

#include "wg/crypto.h"

static long allocs, live;	/* libcrypto's malloc/realloc(NULL) calls; blocks not yet freed */

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file, (void)line;
	__atomic_fetch_add(&allocs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&live, 1, __ATOMIC_RELAXED);
	return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file, (void)line;
	if (!p) {
		__atomic_fetch_add(&allocs, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&live, 1, __ATOMIC_RELAXED);
	}
	return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
	(void)file, (void)line;
	if (p)
		__atomic_fetch_sub(&live, 1, __ATOMIC_RELAXED);
	free(p);
}

static long load(long *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* Everything a handshake hashes, in an order that changes key and output length each call. */
struct results {
	uint8_t mac16_k32[16], mac16_k16[16], mac32_k32[32], mac8_k9[8], hash[32], hmac[32],
		hmac_long[32], kdf[3][32];
};

static void compute(struct results *r, int salt)
{
	uint8_t key[100], msg[116];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + salt);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13 + salt);
	crypto_blake2s(r->mac16_k32, 16, msg, sizeof(msg), key, 32);
	crypto_blake2s(r->mac16_k16, 16, msg, sizeof(msg), key, 16);
	crypto_blake2s(r->mac32_k32, 32, msg, 60, key, 32);
	crypto_blake2s(r->mac8_k9, 8, msg, 9, key, 9);
	crypto_blake2s_2(r->hash, msg, 32, key, 32);
	crypto_hmac_blake2s(r->hmac, key, 32, msg, sizeof(msg));
	crypto_hmac_blake2s(r->hmac_long, key, sizeof(key), msg, 3);
	crypto_kdf(r->kdf[0], r->kdf[1], r->kdf[2], key, msg, 32);
}

/* What a fresh thread computes first: its contexts are new, so nothing carried over. */
static void *fresh_thread(void *arg)
{
	compute(arg, 1);
	return NULL;
}

enum { CALLS = 200 };

static void test_no_alloc_per_call(void **state)
{
	struct results a, b;
	uint8_t key[32] = { 7 }, msg[116] = { 8 }, out[32];
	long n;

	(void)state;
	compute(&a, 1);   /* this thread's contexts exist from here */
	n = load(&allocs);
	for (int i = 0; i < CALLS; i++) {
		crypto_blake2s(out, 16, msg, sizeof(msg), key, 32);
		crypto_blake2s(out, 16, msg, sizeof(msg), key, 16);
		crypto_blake2s(out, 32, msg, 9, key, 32);
	}
	assert_int_equal(load(&allocs) - n, 0);

	/* OpenSSL 3.0 frees and remakes a digest's provider context on every EVP_DigestInit_ex2
	 * (later versions keep it); the EVP_MD_CTX around it is ours and made once. */
	n = load(&allocs);
	for (int i = 0; i < CALLS; i++)
		crypto_blake2s_2(out, msg, 32, key, 32);
	assert_true(load(&allocs) - n <= CALLS);
	n = load(&allocs);
	for (int i = 0; i < CALLS; i++)
		crypto_hmac_blake2s(out, key, 32, msg, sizeof(msg));
	assert_true(load(&allocs) - n <= 2 * CALLS);
	n = load(&allocs);
	for (int i = 0; i < CALLS; i++)
		crypto_kdf(out, NULL, NULL, key, msg, 32);   /* two HMACs */
	assert_true(load(&allocs) - n <= 4 * CALLS);

	for (int i = 0; i < CALLS; i++)
		compute(&b, 1);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void test_same_results_after_reuse(void **state)
{
	struct results fresh, reused, other;
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, fresh_thread, &fresh), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	compute(&other, 2);
	compute(&reused, 1);
	assert_memory_equal(&fresh, &reused, sizeof(fresh));
	assert_memory_not_equal(&fresh, &other, sizeof(fresh));
	/* the MAC context's output length is kept between calls: a different one must still apply */
	assert_memory_not_equal(reused.mac32_k32, reused.mac16_k32, 16);
}

enum { THREADS = 4, ROUNDS = 300 };

static struct results expected;

static void *worker(void *arg)
{
	struct results r;
	long *bad = arg;

	for (int i = 0; i < ROUNDS; i++) {
		compute(&r, 1);
		if (memcmp(&r, &expected, sizeof(r)))
			(*bad)++;
	}
	return NULL;
}

/* Threads hash at once, each with its own contexts, which are gone once they exit. */
static void test_threads_free_their_contexts(void **state)
{
	pthread_t t[THREADS];
	long bad[THREADS] = { 0 };

	(void)state;
	compute(&expected, 1);
	long live0 = load(&live);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, &bad[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(bad[i], 0);
	}
	assert_int_equal(load(&live), live0);
}

int main(void)
{
	/* before libcrypto allocates anything, or it refuses */
	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_alloc_per_call),
		cmocka_unit_test(test_same_results_after_reuse),
		cmocka_unit_test(test_threads_free_their_contexts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
