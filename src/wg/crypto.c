/* WireGuard's primitives over OpenSSL 3 libcrypto. Algorithms are fetched once; the data path
 * (crypto_aead_ctx_*) re-keys nothing and allocates nothing per packet; BLAKE2s runs on
 * per-thread contexts, so a MAC allocates nothing either. OpenSSL failures that
 * cannot be reported through a void API (allocation inside libcrypto, a missing provider) end
 * the process: carrying on would mean using an unset key or hash. */
#include "wg/crypto.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "lib/log.h"

enum { BLAKE2S_BLOCK = 64, AEAD_NONCE_LEN = 12 };

static EVP_MD *md_blake2s;
static EVP_MAC *mac_blake2s;
static EVP_CIPHER *cipher_chachapoly;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static pthread_key_t blake2s_key;
/* What EVP_MAC_CTX_set_params writes over a MAC context's copy of the last key. */
static uint8_t zero_key[CRYPTO_KEY_LEN];
static OSSL_PARAM zero_key_params[2];

static void __attribute__((noreturn)) crypto_fatal(const char *what)
{
	/* abort() skips the exit handlers: what the log's thread still holds goes out first */
	log_flush(1000);
	fprintf(stderr, "culvert: libcrypto failed in %s; cannot continue safely\n", what);
	abort();
}

static void blake2s_ctxs_free(void *arg);
static bool aead_fast_nonce;	/* set once by fetch_algorithms() */
static bool aead_fast_nonce_agrees(void);

static void fetch_algorithms(void)
{
	md_blake2s = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	mac_blake2s = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	cipher_chachapoly = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	if (!md_blake2s || !mac_blake2s || !cipher_chachapoly)
		crypto_fatal("fetching BLAKE2s/ChaCha20-Poly1305 (is the default provider loaded?)");
	if (pthread_key_create(&blake2s_key, blake2s_ctxs_free))
		crypto_fatal("pthread_key_create");
	zero_key_params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, zero_key, sizeof(zero_key));
	zero_key_params[1] = OSSL_PARAM_construct_end();
	aead_fast_nonce = true;	/* for the check itself, which runs the fast path */
	aead_fast_nonce = aead_fast_nonce_agrees();
}

static inline void fetch(void)
{
	pthread_once(&fetch_once, fetch_algorithms);
}

void crypto_random(void *buf, size_t len)
{
	if (len > INT_MAX || RAND_bytes(buf, (int)len) != 1)
		crypto_fatal("RAND_bytes");
}

void crypto_wipe(void *buf, size_t len)
{
	OPENSSL_cleanse(buf, len);
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

static bool is_zero32(const uint8_t v[32])
{
	uint8_t acc = 0;
	for (int i = 0; i < 32; i++)
		acc |= v[i];
	return acc == 0;
}

/* ---- X25519 ---- */

void crypto_x25519_clamp(uint8_t priv[32])
{
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
}

void crypto_x25519_keygen(uint8_t priv[32])
{
	crypto_random(priv, 32);
	crypto_x25519_clamp(priv);
}

bool crypto_x25519_pub(uint8_t pub[32], const uint8_t priv[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	size_t len = 32;
	bool ok = k && EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == 32;
	EVP_PKEY_free(k);
	if (!ok)
		memset(pub, 0, 32);
	return ok;
}

/* EVP_PKEY_new_raw_private_key derives the public key: a second scalar multiplication that a
 * DH never uses (derive reads only the private scalar and the peer's point). Importing with a
 * public half given skips it and halves the cost of every handshake DH. The placeholder never
 * leaves this key object, which lives for one derive. */
static EVP_PKEY *x25519_private_for_derive(const uint8_t priv[32], const uint8_t placeholder_pub[32])
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, (void *)priv, 32),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)placeholder_pub, 32),
		OSSL_PARAM_construct_end(),
	};
	EVP_PKEY *k = NULL;

	if (!kc || EVP_PKEY_fromdata_init(kc) != 1 || EVP_PKEY_fromdata(kc, &k, EVP_PKEY_KEYPAIR, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(kc);
	return k;
}

bool crypto_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32])
{
	EVP_PKEY *k = x25519_private_for_derive(priv, pub);
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
	EVP_PKEY_CTX *pc = k ? EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL) : NULL;
	size_t len = 32;
	/* OpenSSL itself refuses an all-zero result; the explicit check below keeps the
	 * low-order rejection independent of that. */
	bool ok = pc && peer && EVP_PKEY_derive_init(pc) == 1 &&
		  EVP_PKEY_derive_set_peer_ex(pc, peer, 0) == 1 &&
		  EVP_PKEY_derive(pc, out, &len) == 1 && len == 32;
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(k);
	if (!ok || is_zero32(out)) {
		crypto_wipe(out, 32);
		return false;
	}
	return true;
}

/* ---- BLAKE2s ---- */

/* One digest and one MAC context per thread, made on first use and re-initialised for every
 * hash: under a handshake flood every message costs a MAC1 (under load a cookie and a MAC2
 * too), and a context per call was an allocation, a free and a parameter parse each time.
 * (OpenSSL 3.0's EVP_DigestInit_ex2 still remakes the provider's digest state on every init,
 * one small allocation per unkeyed hash; newer releases reuse it. EVP_MAC_init does not.)
 * The key's destructor frees a thread's contexts when it ends; the main thread's stay
 * reachable from its TLS until exit. Finalising wipes a BLAKE2s state, and the MAC context's
 * copy of its key is overwritten after each use, so no secret outlives the call. */
struct blake2s_ctxs {
	EVP_MD_CTX *md;
	EVP_MAC_CTX *mac;
	size_t mac_outlen;	/* the output length mac was last initialised for; 0: none yet */
};

static __thread struct blake2s_ctxs blake2s_tls;

static void blake2s_ctxs_free(void *arg)
{
	struct blake2s_ctxs *c = arg;

	EVP_MD_CTX_free(c->md);
	EVP_MAC_CTX_free(c->mac);   /* cleanses the key copy */
	memset(c, 0, sizeof(*c));
}

static struct blake2s_ctxs *blake2s_ctxs(void)
{
	struct blake2s_ctxs *c = &blake2s_tls;

	if (__builtin_expect(c->md != NULL, 1))
		return c;
	fetch();
	c->md = EVP_MD_CTX_new();
	c->mac = EVP_MAC_CTX_new(mac_blake2s);
	if (!c->md || !c->mac || EVP_DigestInit_ex2(c->md, md_blake2s, NULL) != 1 ||
	    pthread_setspecific(blake2s_key, c))
		crypto_fatal("BLAKE2s contexts");
	return c;
}

/* This thread's digest context, ready for a new BLAKE2s-256 hash. Not re-entrant: nothing may
 * hash between this and md_final. */
static EVP_MD_CTX *md_begin(void)
{
	EVP_MD_CTX *c = blake2s_ctxs()->md;

	if (EVP_DigestInit_ex2(c, NULL, NULL) != 1)
		crypto_fatal("BLAKE2s init");
	return c;
}

static void md_update(EVP_MD_CTX *c, const void *in, size_t len)
{
	if (len && EVP_DigestUpdate(c, in, len) != 1)
		crypto_fatal("BLAKE2s update");
}

static void md_final(EVP_MD_CTX *c, uint8_t out[32])
{
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(c, out, &n) != 1 || n != 32)
		crypto_fatal("BLAKE2s final");
}

void crypto_blake2s_2(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen)
{
	EVP_MD_CTX *c = md_begin();
	md_update(c, a, alen);
	md_update(c, b, blen);
	md_final(c, out);
}

/* Unkeyed output is always 32 bytes: OpenSSL 3.0's BLAKE2S-256 has no length parameter and
 * WireGuard never needs another. Keyed hashing (MAC1, MAC2, cookies) goes through BLAKE2SMAC,
 * whose "size" parameter changes the parameter block exactly as RFC 7693 specifies. */
void crypto_blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen,
		    const uint8_t *key, size_t keylen)
{
	if (!key || !keylen) {
		if (outlen != 32)
			crypto_fatal("unkeyed BLAKE2s with a length other than 32");
		crypto_blake2s_2(out, in, inlen, NULL, 0);
		return;
	}
	if (outlen < 1 || outlen > 32 || keylen > 32)
		crypto_fatal("BLAKE2s parameters");
	struct blake2s_ctxs *c = blake2s_ctxs();
	/* The size stays set across inits; WireGuard's MACs all use 16, so it is rarely parsed. */
	OSSL_PARAM size[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen),
		OSSL_PARAM_construct_end(),
	};
	size_t n = 0;
	if (EVP_MAC_init(c->mac, key, keylen, outlen == c->mac_outlen ? NULL : size) != 1)
		crypto_fatal("keyed BLAKE2s init");
	c->mac_outlen = outlen;
	if ((inlen && EVP_MAC_update(c->mac, in, inlen) != 1) ||
	    EVP_MAC_final(c->mac, out, &n, outlen) != 1 || n != outlen ||
	    EVP_MAC_CTX_set_params(c->mac, zero_key_params) != 1)
		crypto_fatal("keyed BLAKE2s");
}

/* HMAC (RFC 2104) by hand over the BLAKE2s digest: two hash passes and no MAC object. */
static void hmac_blake2s_2(uint8_t out[32], const uint8_t *key, size_t keylen,
			   const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t k0[BLAKE2S_BLOCK] = { 0 }, pad[BLAKE2S_BLOCK], inner[32];
	EVP_MD_CTX *c;

	if (keylen > BLAKE2S_BLOCK)
		crypto_blake2s_2(k0, key, keylen, NULL, 0);
	else if (keylen)
		memcpy(k0, key, keylen);
	c = md_begin();   /* after the key hash above, which uses the same context */
	for (int i = 0; i < BLAKE2S_BLOCK; i++)
		pad[i] = k0[i] ^ 0x36;
	md_update(c, pad, sizeof(pad));
	md_update(c, a, alen);
	md_update(c, b, blen);
	md_final(c, inner);

	if (EVP_DigestInit_ex2(c, NULL, NULL) != 1)
		crypto_fatal("BLAKE2s reinit");
	for (int i = 0; i < BLAKE2S_BLOCK; i++)
		pad[i] = k0[i] ^ 0x5c;
	md_update(c, pad, sizeof(pad));
	md_update(c, inner, sizeof(inner));
	md_final(c, out);
	crypto_wipe(k0, sizeof(k0));
	crypto_wipe(pad, sizeof(pad));
	crypto_wipe(inner, sizeof(inner));
}

void crypto_hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen, const void *in, size_t inlen)
{
	hmac_blake2s_2(out, key, keylen, in, inlen, NULL, 0);
}

void crypto_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t ck[32], const void *in, size_t inlen)
{
	uint8_t prk[32], t[32];
	uint8_t ctr;

	hmac_blake2s_2(prk, ck, 32, in, inlen, NULL, 0);
	ctr = 1;
	hmac_blake2s_2(t, prk, 32, &ctr, 1, NULL, 0);
	if (t1)
		memcpy(t1, t, 32);
	if (t2 || t3) {
		ctr = 2;
		hmac_blake2s_2(t, prk, 32, t, 32, &ctr, 1);
		if (t2)
			memcpy(t2, t, 32);
	}
	if (t3) {
		ctr = 3;
		hmac_blake2s_2(t, prk, 32, t, 32, &ctr, 1);
		memcpy(t3, t, 32);
	}
	crypto_wipe(prk, sizeof(prk));
	crypto_wipe(t, sizeof(t));
}

/* ---- ChaCha20-Poly1305 ---- */

/* A context is keyed once and then carries one message after another. Starting a message the
 * documented way, EVP_CipherInit_ex2 with only an IV, costs about as much as sealing 600 bytes
 * on OpenSSL 3.0: the EVP layer asks the provider for the IV length by name on every call, and
 * the provider runs its ChaCha20 IV setup twice. After a finished message the provider's
 * ChaCha20-Poly1305 state needs only the next nonce (the Poly1305 key block and the counters
 * are redone when the next data arrives), and its "tls1-iv-fixed" parameter, the 12-byte nonce
 * that TLS XORs its record number into, sets exactly that. So a context that has finished a
 * message in the same direction starts the next one by setting that parameter (with the
 * expected tag, when opening) in one call. This leans on how the provider behaves rather than
 * on a promise, so fetch_algorithms() checks it against the documented path on known input
 * and every context takes the documented path if the two ever disagree. */
struct crypto_aead_ctx {
	EVP_CIPHER_CTX *evp;
	signed char ready_dir;	/* 1 or 0: finished a seal or an open, ready for the next; -1: not */
};

static void nonce12(uint8_t iv[AEAD_NONCE_LEN], uint64_t n)
{
	memset(iv, 0, 4);
	for (int i = 0; i < 8; i++)
		iv[4 + i] = (uint8_t)(n >> (8 * i));
}

/* One AEAD operation on a keyed context. The tag goes in and out as provider parameters
 * directly: EVP_CIPHER_CTX_ctrl would translate to the same parameters on every packet. */
static bool evp_seal_open(struct crypto_aead_ctx *c, bool enc, uint8_t *dst, const uint8_t *src, size_t len,
			  const uint8_t *ad, size_t adlen, const uint8_t iv[AEAD_NONCE_LEN])
{
	EVP_CIPHER_CTX *evp = c->evp;
	OSSL_PARAM p[3] = { OSSL_PARAM_END, OSSL_PARAM_END, OSSL_PARAM_END }, *q = p;
	bool fast = aead_fast_nonce && c->ready_dir == (enc ? 1 : 0);
	int n;

	c->ready_dir = -1;	/* until this message is finished */
	if (!enc && len < CRYPTO_TAG_LEN)
		return false;
	if (!enc)
		len -= CRYPTO_TAG_LEN;
	if (len > INT_MAX || adlen > INT_MAX)
		return false;
	/* the nonce (fast: as a parameter, else to the init), then the tag to check when opening */
	if (fast)
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, (void *)iv,
							 AEAD_NONCE_LEN);
	if (!enc)
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)(src + len),
							 CRYPTO_TAG_LEN);
	if (fast ? EVP_CIPHER_CTX_set_params(evp, p) != 1 :
		   EVP_CipherInit_ex2(evp, NULL, NULL, iv, enc ? 1 : 0, q == p ? NULL : p) != 1)
		return false;
	/* EVP_Cipher goes straight to the provider's cipher call, skipping the buffering checks
	 * of EVP_CipherUpdate that a stream AEAD does not need. It does nothing for zero bytes,
	 * so the tag is made or checked by EVP_CipherFinal_ex. */
	if (adlen && EVP_Cipher(evp, NULL, ad, (unsigned int)adlen) < 0)
		return false;
	if (len && EVP_Cipher(evp, dst, src, (unsigned int)len) < 0)
		return false;
	if (EVP_CipherFinal_ex(evp, dst + len, &n) != 1)
		return false;	/* the next message starts the documented way */
	if (enc) {
		p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, dst + len, CRYPTO_TAG_LEN);
		p[1] = OSSL_PARAM_construct_end();
		if (EVP_CIPHER_CTX_get_params(evp, p) != 1)
			return false;
	}
	c->ready_dir = enc ? 1 : 0;
	return true;
}

static struct crypto_aead_ctx *aead_ctx_make(const uint8_t key[32])
{
	struct crypto_aead_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->evp = EVP_CIPHER_CTX_new();
	c->ready_dir = -1;
	if (!c->evp || EVP_CipherInit_ex2(c->evp, cipher_chachapoly, key, NULL, 1, NULL) != 1) {
		EVP_CIPHER_CTX_free(c->evp);
		free(c);
		return NULL;
	}
	return c;
}

static bool aead_oneshot(bool enc, uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			 size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
	struct crypto_aead_ctx c = { .evp = EVP_CIPHER_CTX_new(), .ready_dir = -1 };
	bool ok = c.evp && EVP_CipherInit_ex2(c.evp, cipher_chachapoly, key, NULL, enc ? 1 : 0, NULL) == 1 &&
		  evp_seal_open(&c, enc, dst, src, len, ad, adlen, nonce);
	EVP_CIPHER_CTX_free(c.evp);
	return ok;
}

/* Whether starting a message by its nonce alone gives what the documented path gives: seals
 * and opens on two contexts, each message's result compared with one from a fresh context. */
static bool aead_fast_nonce_agrees(void)
{
	static const uint8_t ad[3] = { 1, 2, 3 };
	uint8_t key[CRYPTO_KEY_LEN], msg[100], ct[sizeof(msg) + CRYPTO_TAG_LEN];
	uint8_t ref[sizeof(ct)], pt[sizeof(msg)], iv[AEAD_NONCE_LEN];
	struct crypto_aead_ctx *s = aead_ctx_make(memset(key, 7, sizeof(key)));
	struct crypto_aead_ctx *o = aead_ctx_make(key);
	bool ok = s && o;

	for (uint64_t i = 0; ok && i < 6; i++) {
		/* with and without associated data, empty and not; a forged tag on the fourth */
		size_t len = i % 3 == 2 ? 0 : sizeof(msg) - i;
		size_t adlen = i & 1 ? sizeof(ad) : 0;

		memset(msg, (int)i, sizeof(msg));
		nonce12(iv, i * 0x0101010101010101ULL);
		ok = evp_seal_open(s, true, ct, msg, len, ad, adlen, iv) &&
		     aead_oneshot(true, ref, msg, len, ad, adlen, iv, key) &&
		     !memcmp(ct, ref, len + CRYPTO_TAG_LEN);
		if (ok && i == 3) {
			ct[len] ^= 1;
			ok = !evp_seal_open(o, false, pt, ct, len + CRYPTO_TAG_LEN, ad, adlen, iv);
			ct[len] ^= 1;
		}
		ok = ok && evp_seal_open(o, false, pt, ct, len + CRYPTO_TAG_LEN, ad, adlen, iv) &&
		     !memcmp(pt, msg, len);
	}
	crypto_aead_ctx_free(s);
	crypto_aead_ctx_free(o);
	return ok;
}

struct crypto_aead_ctx *crypto_aead_ctx_new(const uint8_t key[32])
{
	fetch();
	return aead_ctx_make(key);
}

void crypto_aead_ctx_free(struct crypto_aead_ctx *c)
{
	if (!c)
		return;
	EVP_CIPHER_CTX_free(c->evp);   /* cleanses the key schedule */
	free(c);
}

bool crypto_aead_ctx_encrypt(struct crypto_aead_ctx *c, uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t *ad, size_t adlen, uint64_t nonce)
{
	uint8_t iv[AEAD_NONCE_LEN];
	nonce12(iv, nonce);
	return evp_seal_open(c, true, dst, src, len, ad, adlen, iv);
}

bool crypto_aead_ctx_decrypt(struct crypto_aead_ctx *c, uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t *ad, size_t adlen, uint64_t nonce)
{
	uint8_t iv[AEAD_NONCE_LEN];
	nonce12(iv, nonce);
	return evp_seal_open(c, false, dst, src, len, ad, adlen, iv);
}

bool crypto_aead_nonce12(bool enc, uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			 size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
	fetch();
	return aead_oneshot(enc, dst, src, len, ad, adlen, nonce, key);
}

bool crypto_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
			 uint64_t nonce, const uint8_t key[32])
{
	uint8_t iv[AEAD_NONCE_LEN];
	nonce12(iv, nonce);
	return crypto_aead_nonce12(true, dst, src, len, ad, adlen, iv, key);
}

bool crypto_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
			 uint64_t nonce, const uint8_t key[32])
{
	uint8_t iv[AEAD_NONCE_LEN];
	nonce12(iv, nonce);
	return crypto_aead_nonce12(false, dst, src, len, ad, adlen, iv, key);
}

/* ---- HChaCha20 and XChaCha20-Poly1305 ---- */

static inline uint32_t rotl32(uint32_t v, int n)
{
	return (v << n) | (v >> (32 - n));
}

static inline uint32_t load32_le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store32_le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

#define QUARTER(a, b, c, d) do { \
	a += b; d = rotl32(d ^ a, 16); \
	c += d; b = rotl32(b ^ c, 12); \
	a += b; d = rotl32(d ^ a, 8);  \
	c += d; b = rotl32(b ^ c, 7);  \
} while (0)

/* The ChaCha20 block function without the final feed-forward addition, keeping words 0-3 and
 * 12-15 (draft-irtf-cfrg-xchacha section 2.2). */
void crypto_hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce16[16])
{
	uint32_t x[16] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 };

	for (int i = 0; i < 8; i++)
		x[4 + i] = load32_le(key + 4 * i);
	for (int i = 0; i < 4; i++)
		x[12 + i] = load32_le(nonce16 + 4 * i);
	for (int r = 0; r < 10; r++) {
		QUARTER(x[0], x[4], x[8], x[12]);
		QUARTER(x[1], x[5], x[9], x[13]);
		QUARTER(x[2], x[6], x[10], x[14]);
		QUARTER(x[3], x[7], x[11], x[15]);
		QUARTER(x[0], x[5], x[10], x[15]);
		QUARTER(x[1], x[6], x[11], x[12]);
		QUARTER(x[2], x[7], x[8], x[13]);
		QUARTER(x[3], x[4], x[9], x[14]);
	}
	for (int i = 0; i < 4; i++) {
		store32_le(out + 4 * i, x[i]);
		store32_le(out + 16 + 4 * i, x[12 + i]);
	}
	crypto_wipe(x, sizeof(x));
}

static bool xaead(bool enc, uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		  const uint8_t nonce[24], const uint8_t key[32])
{
	uint8_t subkey[32], iv[AEAD_NONCE_LEN] = { 0 };
	bool ok;

	crypto_hchacha20(subkey, key, nonce);
	memcpy(iv + 4, nonce + 16, 8);
	ok = crypto_aead_nonce12(enc, dst, src, len, ad, adlen, iv, subkey);
	crypto_wipe(subkey, sizeof(subkey));
	return ok;
}

bool crypto_xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
			  const uint8_t nonce[24], const uint8_t key[32])
{
	return xaead(true, dst, src, len, ad, adlen, nonce, key);
}

bool crypto_xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
			  const uint8_t nonce[24], const uint8_t key[32])
{
	return xaead(false, dst, src, len, ad, adlen, nonce, key);
}
