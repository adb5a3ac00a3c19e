/* WireGuard's Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake and transport keys.
 * A pure library: no I/O, no locks, no clock reads except through the identity's hooks.
 *
 * How the daemon uses it
 * ----------------------
 * Setup: noise_identity_set() with the interface private key (stored clamped); per peer
 * noise_handshake_init(hs, identity, peer_public, psk_or_NULL) and cookie_maker_init(); per
 * interface cookie_checker_init(). After a private key change call noise_handshake_precompute()
 * and cookie_checker_init() again.
 *
 * Indices: the daemon owns the index table. It picks a random unused 32-bit local index
 * and passes it to noise_create_initiation()/noise_create_response(); the index then names
 * the handshake, and after noise_begin_session() the keypair (kp->local_index) instead.
 * Indices are host order in the structs here and little-endian on the wire.
 *
 * Initiator:                                        Responder:
 *   noise_create_initiation(&msg, hs, idx)
 *   cookie_add_macs(&peer->cookie, &msg, ...)  ---->  cookie_validate() (drop BAD_MAC1; under
 *                                                     load and not GOOD_MAC2: send
 *                                                     cookie_reply_create(), stop)
 *                                                     noise_consume_initiation(&msg, id,
 *                                                        lookup_by_public_key, .., &hs)
 *                                                     noise_create_response(&resp, hs, idx)
 *                                                     cookie_add_macs(&peer->cookie, &resp..)
 *   cookie_validate() (as above)             <----    noise_begin_session(hs, &kp, now)
 *   hs = index_lookup(resp.receiver_index)            (kp waits as "next" until the first data
 *   noise_consume_response(&resp, hs, now)             message arrives with it, then becomes
 *   noise_begin_session(hs, &kp, now)                  current: the responder never sends
 *   (kp is current at once; send a keepalive           first with a new keypair)
 *    if there is no data queued)
 * A cookie reply (type 3) names the index of our handshake: look up the peer, then
 * cookie_consume_reply(&peer->cookie, reply, now); the next retransmission carries MAC2.
 *
 * Data: noise_encrypt_data() with the plaintext already at buf + WG_MSG_DATA_HEADER_LEN;
 * it writes the header, zero-pads (here, see below) and appends the tag. On receive, look up
 * the keypair by receiver index and noise_decrypt_data(); the plaintext (with its padding,
 * which the IP header's length tells apart) is left at msg + WG_MSG_DATA_HEADER_LEN.
 * Rotation (current/previous/next), timers and rekey decisions are the daemon's; the
 * noise_keypair_wants_rekey_*() helpers give the whitepaper's thresholds.
 *
 * Errors (-errno, one counter each): -EBADMSG authentication/decryption failed; -ENOKEY
 * unknown initiator static key; -ESTALE replayed timestamp or counter; -EBUSY initiation
 * flood (more than WG_INITIATIONS_PER_SECOND); -EINVAL wrong message/state;
 * -EKEYEXPIRED keypair too old or used up; -ENOBUFS buffer too small; -ENOMEM.
 *
 * Threads: a keypair holds one pair of AEAD contexts per slot (noise_set_slots, before the
 * first session) and each thread names its slot once (noise_set_thread_slot); then threads of
 * different slots encrypt and decrypt on one keypair at once: the send counter is taken
 * atomically and the replay window is checked and updated under the keypair's spinlock.
 * Two threads must not share a slot.
 * Locking: a handshake is modified only on success (all steps run on local copies, wiped on
 * every exit). The caller serialises calls on one handshake/keypair (e.g. the lookup callback
 * takes the peer's lock and the caller drops it after noise_consume_initiation returns). */
#ifndef CULVERT_WG_NOISE_H
#define CULVERT_WG_NOISE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/messages.h"
#include "wg/replay.h"

struct crypto_aead_ctx;

struct noise_identity {
	uint8_t static_private[WG_KEY_LEN];
	uint8_t static_public[WG_KEY_LEN];
	bool has_identity;
	/* Injectable sources (tests): wall clock in ns since the Unix epoch for the TAI64N
	 * timestamp, and randomness for ephemeral keys. NULL: CLOCK_REALTIME, crypto_random. */
	uint64_t (*wall_clock_ns)(void *arg);
	void (*random)(void *buf, size_t len, void *arg);
	void *hook_arg;
};

enum noise_hs_state {
	NOISE_HS_ZEROED,
	NOISE_HS_CREATED_INITIATION,
	NOISE_HS_CONSUMED_INITIATION,
	NOISE_HS_CREATED_RESPONSE,
	NOISE_HS_CONSUMED_RESPONSE,
};

struct noise_handshake {
	const struct noise_identity *identity;
	enum noise_hs_state state;
	uint8_t remote_static[WG_KEY_LEN];
	uint8_t precomputed_ss[WG_KEY_LEN];  /* DH(our static, remote static) */
	bool ss_valid;                       /* false: remote static is low order, never works */
	uint8_t psk[WG_KEY_LEN];             /* all zero when none is configured */
	uint8_t hash[WG_HASH_LEN];
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t ephemeral_private[WG_KEY_LEN];
	uint8_t remote_ephemeral[WG_KEY_LEN];
	uint8_t latest_timestamp[WG_TIMESTAMP_LEN]; /* greatest initiation timestamp accepted */
	uint64_t last_initiation_consumption;       /* ns, for flood protection */
	bool consumed_any;
	uint32_t local_index, remote_index;
};

enum { NOISE_MAX_SLOTS = 65 };	/* 64 workers and a handshake thread */

/* How many threads may use a keypair at once (1..NOISE_MAX_SLOTS); sessions begun later get
 * that many contexts. And this thread's slot, below that count (default 0). */
void noise_set_slots(unsigned int n);
void noise_set_thread_slot(unsigned int slot);

struct noise_keypair {
	struct crypto_aead_ctx **send, **recv;   /* [n_slots] each */
	unsigned int n_slots;
	int replay_lock;                     /* spinlock for replay */
	uint64_t send_counter;               /* next nonce; taken atomically */
	struct replay_window replay;
	uint64_t birth;                      /* ns */
	uint32_t local_index, remote_index;
	bool initiator;
	bool valid;
};

/* 0, or -EINVAL when the private key gives no usable public key. */
int noise_identity_set(struct noise_identity *id, const uint8_t private_key[WG_KEY_LEN]);
void noise_identity_wipe(struct noise_identity *id);

/* psk may be NULL. Precomputes the static-static DH. */
void noise_handshake_init(struct noise_handshake *hs, const struct noise_identity *id,
			  const uint8_t remote_static[WG_KEY_LEN], const uint8_t psk[WG_KEY_LEN]);
/* The same without a psk, given that DH (X25519 of id's current private key and
 * remote_static, non-zero): the caller did the costly part earlier, outside its locks. */
void noise_handshake_init_ss(struct noise_handshake *hs, const struct noise_identity *id,
			     const uint8_t remote_static[WG_KEY_LEN], const uint8_t ss[WG_KEY_LEN]);
void noise_handshake_precompute(struct noise_handshake *hs);
/* What noise_handshake_precompute would do, with that DH (non-zero) done by the caller. */
void noise_handshake_set_ss(struct noise_handshake *hs, const uint8_t ss[WG_KEY_LEN]);
void noise_handshake_set_psk(struct noise_handshake *hs, const uint8_t psk[WG_KEY_LEN]);
/* Forget any handshake in progress (keeps the peer's keys and latest timestamp). */
void noise_handshake_clear(struct noise_handshake *hs);
void noise_handshake_wipe(struct noise_handshake *hs);

/* mac1/mac2 are left zero for cookie_add_macs(). */
int noise_create_initiation(struct wg_msg_initiation *msg, struct noise_handshake *hs,
			    uint32_t local_index);

/* Returns the handshake of the initiator's static key, or NULL if none. Called at most once,
 * after the static key decrypted and before anything about the peer is checked. */
typedef struct noise_handshake *(*noise_lookup_fn)(const uint8_t remote_static[WG_KEY_LEN], void *arg);
/* On success *hs_out is the peer's handshake, now in NOISE_HS_CONSUMED_INITIATION. The caller
 * has checked the message length and MAC1. */
int noise_consume_initiation(const struct wg_msg_initiation *msg, const struct noise_identity *id,
			     noise_lookup_fn lookup, void *arg, uint64_t now,
			     struct noise_handshake **hs_out);

int noise_create_response(struct wg_msg_response *msg, struct noise_handshake *hs, uint32_t local_index);
/* hs is the handshake the daemon found by msg->receiver_index. */
int noise_consume_response(const struct wg_msg_response *msg, struct noise_handshake *hs);

/* Derive the transport keys into kp (any previous content is NOT freed: clear it first) and
 * clear the handshake. Valid after noise_create_response (responder) or
 * noise_consume_response (initiator). */
int noise_begin_session(struct noise_handshake *hs, struct noise_keypair *kp, uint64_t now);
void noise_keypair_clear(struct noise_keypair *kp);   /* frees contexts, wipes */

/* Padded plaintext length for a packet of len bytes on a device with this MTU (0 = no MTU):
 * rounded up to 16, but never past the MTU. */
size_t noise_padded_len(size_t len, size_t mtu);
/* buf holds the plaintext (plain_len bytes) at buf + WG_MSG_DATA_HEADER_LEN and has cap bytes
 * of room; returns the message length (header + padded plaintext + tag) or -errno. */
long noise_encrypt_data(struct noise_keypair *kp, uint8_t *buf, size_t cap, size_t plain_len,
			size_t mtu, uint64_t now);
/* Decrypts in place; returns the padded plaintext length (at msg + WG_MSG_DATA_HEADER_LEN)
 * or -errno (-EINVAL also when the receiver index is not kp->local_index). The replay window
 * is updated only for an authentic message; on -EBADMSG the buffer holds garbage. */
long noise_decrypt_data(struct noise_keypair *kp, uint8_t *msg, size_t len, uint64_t now);

/* Whitepaper thresholds: the initiator rekeys after REKEY_AFTER_MESSAGES or REKEY_AFTER_TIME
 * when sending, and when receiving on a keypair close to REJECT_AFTER_TIME. */
bool noise_keypair_wants_rekey_send(const struct noise_keypair *kp, uint64_t now);
bool noise_keypair_wants_rekey_recv(const struct noise_keypair *kp, uint64_t now);

/* The TAI64N label of a wall-clock time, ns resolution reduced so it leaks little timing. */
void noise_tai64n(uint8_t out[WG_TIMESTAMP_LEN], uint64_t wall_ns);

#endif
