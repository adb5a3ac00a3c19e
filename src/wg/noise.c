/* Noise_IKpsk2 as WireGuard uses it (whitepaper section 5.4). Each step runs on local copies
 * of the chaining key and hash, which are committed to the handshake only once the message
 * proved authentic, and every local secret is wiped on the way out, failure or not. The keypairs
 * a finished handshake yields, and the transport data they carry, are in noise_keypair.c. */
#include "wg/noise.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "wg/crypto.h"

static uint8_t initial_ck[WG_HASH_LEN], initial_hash[WG_HASH_LEN];
static pthread_once_t initial_once = PTHREAD_ONCE_INIT;

static void compute_initial(void)
{
	crypto_blake2s_2(initial_ck, WG_CONSTRUCTION, strlen(WG_CONSTRUCTION), NULL, 0);
	crypto_blake2s_2(initial_hash, initial_ck, WG_HASH_LEN, WG_IDENTIFIER, strlen(WG_IDENTIFIER));
}

/* ck = HASH(CONSTRUCTION); h = HASH(HASH(ck || IDENTIFIER) || responder static) */
static void handshake_start(uint8_t ck[WG_HASH_LEN], uint8_t h[WG_HASH_LEN], const uint8_t responder[WG_KEY_LEN])
{
	pthread_once(&initial_once, compute_initial);
	memcpy(ck, initial_ck, WG_HASH_LEN);
	crypto_blake2s_2(h, initial_hash, WG_HASH_LEN, responder, WG_KEY_LEN);
}

static void mix_hash(uint8_t h[WG_HASH_LEN], const void *in, size_t len)
{
	crypto_blake2s_2(h, h, WG_HASH_LEN, in, len);
}

/* ck = KDF1(ck, in) */
static void mix_key1(uint8_t ck[WG_HASH_LEN], const void *in, size_t len)
{
	crypto_kdf(ck, NULL, NULL, ck, in, len);
}

/* (ck, key) = KDF2(ck, DH(priv, pub)); false for a low-order point. */
static bool mix_dh(uint8_t ck[WG_HASH_LEN], uint8_t *key, const uint8_t priv[WG_KEY_LEN],
		   const uint8_t pub[WG_KEY_LEN])
{
	uint8_t dh[WG_KEY_LEN];
	bool ok = crypto_x25519(dh, priv, pub);
	if (ok)
		crypto_kdf(ck, key, NULL, ck, dh, sizeof(dh));
	crypto_wipe(dh, sizeof(dh));
	return ok;
}

static void new_ephemeral(const struct noise_identity *id, uint8_t priv[WG_KEY_LEN])
{
	if (id->random) {
		id->random(priv, WG_KEY_LEN, id->hook_arg);
		priv[0] &= 248;
		priv[31] = (priv[31] & 127) | 64;
	} else {
		crypto_x25519_keygen(priv);
	}
}

void noise_tai64n(uint8_t out[WG_TIMESTAMP_LEN], uint64_t wall_ns)
{
	/* 2^62 + 10 is the TAI64 label of the Unix epoch; the nanoseconds are floored to a
	 * power of two below 1 s / WG_INITIATIONS_PER_SECOND so the label does not reveal the
	 * sender's precise clock yet still increases between allowed initiations. */
	uint64_t sec = wall_ns / WG_NSEC_PER_SEC + 0x400000000000000aULL;
	uint32_t nsec = (uint32_t)(wall_ns % WG_NSEC_PER_SEC) & ~((1U << 24) - 1);
	uint64_t be_sec = htobe64(sec);
	uint32_t be_nsec = htobe32(nsec);

	memcpy(out, &be_sec, 8);
	memcpy(out + 8, &be_nsec, 4);
}

static uint64_t wall_now(const struct noise_identity *id)
{
	if (id->wall_clock_ns)
		return id->wall_clock_ns(id->hook_arg);
	return clock_wall_ns();
}

int noise_identity_set(struct noise_identity *id, const uint8_t private_key[WG_KEY_LEN])
{
	memcpy(id->static_private, private_key, WG_KEY_LEN);
	crypto_x25519_clamp(id->static_private);	/* stored and shown clamped, as the kernel does */
	id->has_identity = crypto_x25519_pub(id->static_public, id->static_private);
	if (!id->has_identity) {
		crypto_wipe(id->static_private, WG_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

void noise_identity_wipe(struct noise_identity *id)
{
	crypto_wipe(id->static_private, WG_KEY_LEN);
	memset(id->static_public, 0, WG_KEY_LEN);
	id->has_identity = false;
}

void noise_handshake_precompute(struct noise_handshake *hs)
{
	hs->ss_valid = hs->identity && hs->identity->has_identity &&
		       crypto_x25519(hs->precomputed_ss, hs->identity->static_private, hs->remote_static);
	/* a private key removed (or a public key of low order) must not leave the last secret */
	if (!hs->ss_valid)
		crypto_wipe(hs->precomputed_ss, WG_KEY_LEN);
}

void noise_handshake_set_ss(struct noise_handshake *hs, const uint8_t ss[WG_KEY_LEN])
{
	memcpy(hs->precomputed_ss, ss, WG_KEY_LEN);
	hs->ss_valid = true;
}

void noise_handshake_set_psk(struct noise_handshake *hs, const uint8_t psk[WG_KEY_LEN])
{
	if (psk)
		memcpy(hs->psk, psk, WG_KEY_LEN);
	else
		crypto_wipe(hs->psk, WG_KEY_LEN);
}

static void handshake_setup(struct noise_handshake *hs, const struct noise_identity *id,
			    const uint8_t remote_static[WG_KEY_LEN], const uint8_t psk[WG_KEY_LEN])
{
	memset(hs, 0, sizeof(*hs));
	hs->identity = id;
	memcpy(hs->remote_static, remote_static, WG_KEY_LEN);
	noise_handshake_set_psk(hs, psk);
}

void noise_handshake_init(struct noise_handshake *hs, const struct noise_identity *id,
			  const uint8_t remote_static[WG_KEY_LEN], const uint8_t psk[WG_KEY_LEN])
{
	handshake_setup(hs, id, remote_static, psk);
	noise_handshake_precompute(hs);
}

void noise_handshake_init_ss(struct noise_handshake *hs, const struct noise_identity *id,
			     const uint8_t remote_static[WG_KEY_LEN], const uint8_t ss[WG_KEY_LEN])
{
	handshake_setup(hs, id, remote_static, NULL);
	memcpy(hs->precomputed_ss, ss, WG_KEY_LEN);
	hs->ss_valid = true;
}

void noise_handshake_clear(struct noise_handshake *hs)
{
	crypto_wipe(hs->hash, sizeof(hs->hash));
	crypto_wipe(hs->chaining_key, sizeof(hs->chaining_key));
	crypto_wipe(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	crypto_wipe(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	hs->local_index = hs->remote_index = 0;
	hs->state = NOISE_HS_ZEROED;
}

void noise_handshake_wipe(struct noise_handshake *hs)
{
	crypto_wipe(hs, sizeof(*hs));
}

/* The kernel reads type and reserved bytes as one little-endian word: non-zero reserved
 * bytes make a different (unknown) type. */
/* Secrets of one handshake step, wiped as a block. */
struct step {
	uint8_t ck[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN];
	uint8_t e_priv[WG_KEY_LEN], e_pub[WG_KEY_LEN], tau[WG_HASH_LEN];
	uint8_t plain[WG_KEY_LEN];
};

int noise_create_initiation(struct wg_msg_initiation *msg, struct noise_handshake *hs, uint32_t local_index)
{
	const struct noise_identity *id = hs->identity;
	struct step s;
	int ret = -EINVAL;

	memset(msg, 0, sizeof(*msg));
	if (!id || !id->has_identity || !hs->ss_valid)
		return -EINVAL;
	msg->type = WG_MSG_INITIATION;
	msg->sender_index = htole32(local_index);
	handshake_start(s.ck, s.h, hs->remote_static);

	/* e */
	new_ephemeral(id, s.e_priv);
	if (!crypto_x25519_pub(s.e_pub, s.e_priv))
		goto out;
	memcpy(msg->ephemeral, s.e_pub, WG_KEY_LEN);
	mix_hash(s.h, msg->ephemeral, WG_KEY_LEN);
	mix_key1(s.ck, msg->ephemeral, WG_KEY_LEN);

	/* es */
	if (!mix_dh(s.ck, s.key, s.e_priv, hs->remote_static))
		goto out;

	/* s */
	if (!crypto_aead_encrypt(msg->encrypted_static, id->static_public, WG_KEY_LEN, s.h, WG_HASH_LEN, 0, s.key))
		goto out_nomem;
	mix_hash(s.h, msg->encrypted_static, sizeof(msg->encrypted_static));

	/* ss */
	crypto_kdf(s.ck, s.key, NULL, s.ck, hs->precomputed_ss, WG_KEY_LEN);

	/* {t} */
	noise_tai64n(s.plain, wall_now(id));
	if (!crypto_aead_encrypt(msg->encrypted_timestamp, s.plain, WG_TIMESTAMP_LEN, s.h, WG_HASH_LEN, 0, s.key))
		goto out_nomem;
	mix_hash(s.h, msg->encrypted_timestamp, sizeof(msg->encrypted_timestamp));

	memcpy(hs->ephemeral_private, s.e_priv, WG_KEY_LEN);
	memcpy(hs->hash, s.h, WG_HASH_LEN);
	memcpy(hs->chaining_key, s.ck, WG_HASH_LEN);
	hs->local_index = local_index;
	hs->remote_index = 0;
	hs->state = NOISE_HS_CREATED_INITIATION;
	ret = 0;
	goto out;
out_nomem:
	ret = -ENOMEM;
out:
	if (ret)
		memset(msg, 0, sizeof(*msg));
	crypto_wipe(&s, sizeof(s));
	return ret;
}

int noise_consume_initiation(const struct wg_msg_initiation *msg, const struct noise_identity *id,
			     noise_lookup_fn lookup, void *arg, uint64_t now,
			     struct noise_handshake **hs_out)
{
	struct noise_handshake *hs;
	uint8_t remote_e[WG_KEY_LEN];
	struct step s;
	int ret = -EBADMSG;

	*hs_out = NULL;
	if (!id->has_identity || !wg_msg_type_is(msg, WG_MSG_INITIATION))
		return -EINVAL;
	handshake_start(s.ck, s.h, id->static_public);

	/* e */
	memcpy(remote_e, msg->ephemeral, WG_KEY_LEN);
	mix_hash(s.h, remote_e, WG_KEY_LEN);
	mix_key1(s.ck, remote_e, WG_KEY_LEN);

	/* es */
	if (!mix_dh(s.ck, s.key, id->static_private, remote_e))
		goto out;

	/* s */
	if (!crypto_aead_decrypt(s.plain, msg->encrypted_static, sizeof(msg->encrypted_static),
				 s.h, WG_HASH_LEN, 0, s.key))
		goto out;
	mix_hash(s.h, msg->encrypted_static, sizeof(msg->encrypted_static));

	hs = lookup(s.plain, arg);
	if (!hs) {
		ret = -ENOKEY;
		goto out;
	}
	if (!hs->ss_valid)
		goto out;

	/* ss */
	crypto_kdf(s.ck, s.key, NULL, s.ck, hs->precomputed_ss, WG_KEY_LEN);

	/* {t} */
	if (!crypto_aead_decrypt(s.tau, msg->encrypted_timestamp, sizeof(msg->encrypted_timestamp),
				 s.h, WG_HASH_LEN, 0, s.key))
		goto out;
	mix_hash(s.h, msg->encrypted_timestamp, sizeof(msg->encrypted_timestamp));

	/* Only a strictly newer timestamp proves this is not a replay of a captured initiation. */
	if (memcmp(s.tau, hs->latest_timestamp, WG_TIMESTAMP_LEN) <= 0) {
		ret = -ESTALE;
		goto out;
	}
	if (hs->consumed_any && now - hs->last_initiation_consumption <
	    WG_NSEC_PER_SEC / WG_INITIATIONS_PER_SECOND) {
		ret = -EBUSY;
		goto out;
	}

	memcpy(hs->latest_timestamp, s.tau, WG_TIMESTAMP_LEN);
	memcpy(hs->remote_ephemeral, remote_e, WG_KEY_LEN);
	memcpy(hs->hash, s.h, WG_HASH_LEN);
	memcpy(hs->chaining_key, s.ck, WG_HASH_LEN);
	crypto_wipe(hs->ephemeral_private, WG_KEY_LEN);
	hs->remote_index = le32toh(msg->sender_index);
	hs->local_index = 0;
	hs->last_initiation_consumption = now;
	hs->consumed_any = true;
	hs->state = NOISE_HS_CONSUMED_INITIATION;
	*hs_out = hs;
	ret = 0;
out:
	crypto_wipe(&s, sizeof(s));
	crypto_wipe(remote_e, sizeof(remote_e));
	return ret;
}

/* The response's tail, shared by both sides: psk then the empty payload's tag. */
static void mix_psk(struct step *s, const uint8_t psk[WG_KEY_LEN])
{
	/* psk */
	crypto_kdf(s->ck, s->tau, s->key, s->ck, psk, WG_KEY_LEN);
	mix_hash(s->h, s->tau, WG_HASH_LEN);
}

int noise_create_response(struct wg_msg_response *msg, struct noise_handshake *hs, uint32_t local_index)
{
	const struct noise_identity *id = hs->identity;
	struct step s;
	int ret = -EBADMSG;

	memset(msg, 0, sizeof(*msg));
	if (hs->state != NOISE_HS_CONSUMED_INITIATION || !id || !id->has_identity)
		return -EINVAL;
	memcpy(s.ck, hs->chaining_key, WG_HASH_LEN);
	memcpy(s.h, hs->hash, WG_HASH_LEN);
	msg->type = WG_MSG_RESPONSE;
	msg->sender_index = htole32(local_index);
	msg->receiver_index = htole32(hs->remote_index);

	/* e */
	new_ephemeral(id, s.e_priv);
	if (!crypto_x25519_pub(s.e_pub, s.e_priv))
		goto out;
	memcpy(msg->ephemeral, s.e_pub, WG_KEY_LEN);
	mix_hash(s.h, msg->ephemeral, WG_KEY_LEN);
	mix_key1(s.ck, msg->ephemeral, WG_KEY_LEN);

	/* ee */
	if (!mix_dh(s.ck, NULL, s.e_priv, hs->remote_ephemeral))
		goto out;

	/* se */
	if (!mix_dh(s.ck, NULL, s.e_priv, hs->remote_static))
		goto out;

	mix_psk(&s, hs->psk);

	/* {} */
	if (!crypto_aead_encrypt(msg->encrypted_nothing, NULL, 0, s.h, WG_HASH_LEN, 0, s.key)) {
		ret = -ENOMEM;
		goto out;
	}
	mix_hash(s.h, msg->encrypted_nothing, sizeof(msg->encrypted_nothing));

	memcpy(hs->ephemeral_private, s.e_priv, WG_KEY_LEN);
	memcpy(hs->hash, s.h, WG_HASH_LEN);
	memcpy(hs->chaining_key, s.ck, WG_HASH_LEN);
	hs->local_index = local_index;
	hs->state = NOISE_HS_CREATED_RESPONSE;
	ret = 0;
out:
	if (ret)
		memset(msg, 0, sizeof(*msg));
	crypto_wipe(&s, sizeof(s));
	return ret;
}

int noise_consume_response(const struct wg_msg_response *msg, struct noise_handshake *hs)
{
	const struct noise_identity *id = hs->identity;
	uint8_t remote_e[WG_KEY_LEN];
	struct step s;
	int ret = -EBADMSG;

	if (!wg_msg_type_is(msg, WG_MSG_RESPONSE) || hs->state != NOISE_HS_CREATED_INITIATION ||
	    le32toh(msg->receiver_index) != hs->local_index || !id || !id->has_identity)
		return -EINVAL;
	memcpy(s.ck, hs->chaining_key, WG_HASH_LEN);
	memcpy(s.h, hs->hash, WG_HASH_LEN);

	/* e */
	memcpy(remote_e, msg->ephemeral, WG_KEY_LEN);
	mix_hash(s.h, remote_e, WG_KEY_LEN);
	mix_key1(s.ck, remote_e, WG_KEY_LEN);

	/* ee */
	if (!mix_dh(s.ck, NULL, hs->ephemeral_private, remote_e))
		goto out;

	/* se */
	if (!mix_dh(s.ck, NULL, id->static_private, remote_e))
		goto out;

	mix_psk(&s, hs->psk);

	/* {} */
	if (!crypto_aead_decrypt(s.plain, msg->encrypted_nothing, sizeof(msg->encrypted_nothing),
				 s.h, WG_HASH_LEN, 0, s.key))
		goto out;
	mix_hash(s.h, msg->encrypted_nothing, sizeof(msg->encrypted_nothing));

	memcpy(hs->remote_ephemeral, remote_e, WG_KEY_LEN);
	memcpy(hs->hash, s.h, WG_HASH_LEN);
	memcpy(hs->chaining_key, s.ck, WG_HASH_LEN);
	hs->remote_index = le32toh(msg->sender_index);
	hs->state = NOISE_HS_CONSUMED_RESPONSE;
	ret = 0;
out:
	crypto_wipe(&s, sizeof(s));
	crypto_wipe(remote_e, sizeof(remote_e));
	return ret;
}
