/* The primitives of WireGuard, from OpenSSL 3 libcrypto; only HChaCha20 is written here.
 * Every key-holding buffer is the caller's to wipe with crypto_wipe(). */
#ifndef CULVERT_CRYPTO_H
#define CULVERT_CRYPTO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CRYPTO_KEY_LEN = 32,
	CRYPTO_HASH_LEN = 32,
	CRYPTO_TAG_LEN = 16,
	CRYPTO_XNONCE_LEN = 24,
};

void crypto_random(void *buf, size_t len);
void crypto_wipe(void *buf, size_t len);
bool crypto_equal(const void *a, const void *b, size_t len);   /* constant time */

/* X25519. keygen clamps. crypto_x25519 returns false for an all-zero result (low-order point). */
void crypto_x25519_keygen(uint8_t priv[32]);
/* The form the kernel stores a private key in (and `wg show` prints): the low three bits and
 * the top bit cleared, bit 254 set. X25519 gives the same results either way. */
void crypto_x25519_clamp(uint8_t priv[32]);
bool crypto_x25519_pub(uint8_t pub[32], const uint8_t priv[32]);
bool crypto_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32]);

/* BLAKE2s: unkeyed hash (outlen 32), keyed MAC (outlen 16 or 32), HMAC-BLAKE2s, Noise KDF. */
void crypto_blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen,
		    const uint8_t *key, size_t keylen);
/* HASH(a || b), the Noise "MixHash" shape, without a copy. */
void crypto_blake2s_2(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen);
void crypto_hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen, const void *in, size_t inlen);
/* KDF_n of the Noise spec: n outputs of 32 bytes (t1..tn; NULL to skip) from key and input. */
void crypto_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t ck[32], const void *in, size_t inlen);

/* ChaCha20-Poly1305 (RFC 8439), nonce = 32 zero bits || 64-bit little-endian counter.
 * dst may equal src (in place). Encrypt writes len + 16 bytes. Decrypt takes len including
 * the tag and returns false on a bad tag (dst contents then undefined). */
bool crypto_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
			 uint64_t nonce, const uint8_t key[32]);
bool crypto_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
			 uint64_t nonce, const uint8_t key[32]);

/* The RFC 8439 form with a full 96-bit nonce (test vectors, XChaCha20); enc picks the direction. */
bool crypto_aead_nonce12(bool enc, uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			 size_t adlen, const uint8_t nonce[12], const uint8_t key[32]);

/* The same with a context keyed once (per session keypair): no per-packet key schedule or
 * allocation. One context per thread; crypto_aead_ctx_free wipes it. */
struct crypto_aead_ctx;
struct crypto_aead_ctx *crypto_aead_ctx_new(const uint8_t key[32]);
void crypto_aead_ctx_free(struct crypto_aead_ctx *c);
bool crypto_aead_ctx_encrypt(struct crypto_aead_ctx *c, uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t *ad, size_t adlen, uint64_t nonce);
bool crypto_aead_ctx_decrypt(struct crypto_aead_ctx *c, uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t *ad, size_t adlen, uint64_t nonce);

/* XChaCha20-Poly1305 (HChaCha20 subkey + ChaCha20-Poly1305), for the cookie reply. */
void crypto_hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce16[16]);
bool crypto_xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
			  const uint8_t nonce[24], const uint8_t key[32]);
bool crypto_xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
			  const uint8_t nonce[24], const uint8_t key[32]);

#endif
