/* Cost of one ChaCha20-Poly1305 seal through culvert's crypto layer (OpenSSL libcrypto), the
 * way the data path calls it: one keyed context, a new nonce per packet. Prints ns per packet
 * at a few sizes and the fit cost(len) = fixed + len * per_byte from the two largest, which
 * tells how much of a tunnel packet's crypto is per-call overhead rather than bytes; then the
 * first seal after sleeping (what an idle ping pays: code and data no longer in cache) against
 * the seal right after it.
 * Usage: aead_bench [SECONDS_PER_SIZE] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "wg/crypto.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double ns_per_seal(struct crypto_aead_ctx *c, uint8_t *buf, size_t len, double secs)
{
	uint64_t n = 0;
	double t0 = now(), t;

	do {
		for (int i = 0; i < 1000; i++, n++)
			if (!crypto_aead_ctx_encrypt(c, buf, buf, len, NULL, 0, n))
				return -1;
		t = now() - t0;
	} while (t < secs);
	return t / (double)n * 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v. */
static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* Median over 21 rounds of the first 64-byte seal after sleeping `idle_us`, and of the next one. */
static void cold_seal(struct crypto_aead_ctx *c, uint8_t *buf, unsigned int idle_us)
{
	enum { ROUNDS = 21 };
	double first[ROUNDS], second[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		usleep(idle_us);
		double t0 = now();
		crypto_aead_ctx_encrypt(c, buf, buf, 64, NULL, 0, 2 * (uint64_t)i);
		double t1 = now();
		crypto_aead_ctx_encrypt(c, buf, buf, 64, NULL, 0, 2 * (uint64_t)i + 1);
		double t2 = now();
		first[i] = (t1 - t0) * 1e6;
		second[i] = (t2 - t1) * 1e6;
	}
	printf("aead cold after %u ms idle: first seal %.1f us, next seal %.1f us (medians)\n",
	       idle_us / 1000, median(first, ROUNDS), median(second, ROUNDS));
}

int main(int argc, char **argv)
{
	static uint8_t key[CRYPTO_KEY_LEN], buf[16384 + CRYPTO_TAG_LEN];
	/* 64: a TCP ACK padded to 16; 1424: a full packet at the default MTU of 1420, padded */
	static const size_t sizes[] = { 64, 1424, 16384 };
	double secs = argc > 1 ? atof(argv[1]) : 1.0, ns[3];
	struct crypto_aead_ctx *c;

	crypto_random(key, sizeof(key));
	c = crypto_aead_ctx_new(key);
	crypto_wipe(key, sizeof(key));
	if (!c) {
		fprintf(stderr, "aead_bench: cannot set up ChaCha20-Poly1305 (is OpenSSL 3 installed?)\n");
		return 1;
	}
	for (int i = 0; i < 3; i++) {
		ns[i] = ns_per_seal(c, buf, sizes[i], secs);
		if (ns[i] < 0) {
			fprintf(stderr, "aead_bench: seal failed\n");
			crypto_aead_ctx_free(c);
			return 1;
		}
		printf("aead %zu bytes: %.0f ns/packet, %.2f Gbit/s\n", sizes[i], ns[i],
		       sizes[i] * 8 / ns[i]);
	}
	double per_byte = (ns[2] - ns[1]) / (double)(sizes[2] - sizes[1]);
	double fixed = ns[1] - per_byte * (double)sizes[1];
	printf("aead fit: %.0f ns fixed per packet + %.3f ns/byte; fixed share at 1424 bytes: %.0f%%\n",
	       fixed, per_byte, 100 * fixed / ns[1]);
	cold_seal(c, buf, 50000);
	cold_seal(c, buf, 2000);
	crypto_aead_ctx_free(c);
	return 0;
}
