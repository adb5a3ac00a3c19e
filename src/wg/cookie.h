/* MAC1/MAC2 and cookie replies: WireGuard's DoS mitigation (whitepaper section 5.4.4, 5.4.7).
 *
 * Responder side (one cookie_checker per interface): on every handshake message call
 * cookie_validate(); drop COOKIE_BAD_MAC1; when the caller decides it is under load and the
 * result is not COOKIE_GOOD_MAC2, answer with cookie_reply_create() instead of processing.
 * Initiator side (one cookie_maker per peer): cookie_add_macs() as the last step before
 * sending an initiation or response; cookie_consume_reply() for a cookie reply whose
 * receiver index matches a handshake sent to that peer.
 * The source "address" is opaque bytes (cookie_addr_from_sockaddr() makes IP || port). */
#ifndef CULVERT_WG_COOKIE_H
#define CULVERT_WG_COOKIE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/messages.h"

struct sockaddr;

enum { COOKIE_ADDR_MAX = 18 };   /* IPv6 address + port */

struct cookie_checker {
	uint8_t mac1_key[WG_HASH_LEN];     /* HASH("mac1----" || our public key) */
	uint8_t cookie_key[WG_HASH_LEN];   /* HASH("cookie--" || our public key) */
	uint8_t secret[WG_HASH_LEN];       /* random, replaced every COOKIE_SECRET_MAX_AGE */
	uint64_t secret_birth;             /* ns */
	bool have_secret;
};

struct cookie_maker {
	uint8_t mac1_key[WG_HASH_LEN];     /* HASH("mac1----" || peer public key) */
	uint8_t cookie_key[WG_HASH_LEN];   /* HASH("cookie--" || peer public key) */
	uint8_t cookie[WG_COOKIE_LEN];
	uint64_t cookie_birth;             /* ns */
	bool have_cookie;
	uint8_t last_mac1[WG_MAC_LEN];     /* AD a cookie reply must be bound to */
	bool have_last_mac1;
};

enum cookie_result {
	COOKIE_BAD_MAC1,     /* drop silently */
	COOKIE_GOOD_MAC1,    /* process normally unless under load; then send a cookie reply */
	COOKIE_GOOD_MAC2,    /* proven source address: process even under load */
};

/* Our identity changed: recompute keys (the secret is kept). */
void cookie_checker_init(struct cookie_checker *c, const uint8_t our_public[WG_KEY_LEN]);
void cookie_checker_wipe(struct cookie_checker *c);
/* msg is a whole initiation or response (its last 32 bytes are the MACs). MAC2 is only
 * computed when check_mac2 (i.e. under load), since it costs a keyed hash. */
enum cookie_result cookie_validate(struct cookie_checker *c, const void *msg, size_t len,
				   const void *src, size_t srclen, bool check_mac2, uint64_t now);
/* MAC1 of a whole initiation or response under the key cookie_checker.mac1_key holds, checked
 * in constant time: what the workers test before queueing a handshake message. */
bool cookie_mac1_valid(const uint8_t mac1_key[WG_HASH_LEN], const void *msg, size_t len);
/* cookie_validate's MAC2 half, for a message whose MAC1 was checked already: GOOD_MAC2 or
 * GOOD_MAC1. */
enum cookie_result cookie_validate_mac2(struct cookie_checker *c, const void *msg, size_t len,
					const void *src, size_t srclen, uint64_t now);
/* MAC2 of a whole initiation or response from src, checked in constant time against a copy
 * of a cookie_checker's secret born at birth (false once that secret is too old to use): what
 * the workers test when the handshake queue is full, without the checker itself. */
bool cookie_mac2_valid(const uint8_t secret[WG_HASH_LEN], uint64_t birth, uint64_t now,
		       const void *msg, size_t len, const void *src, size_t srclen);
/* Build the reply to msg (validated with GOOD_MAC1); receiver = msg's sender index (raw,
 * as on the wire). Returns 0 or -EINVAL for a message of the wrong size. */
int cookie_reply_create(struct cookie_checker *c, struct wg_msg_cookie_reply *out,
			const void *msg, size_t len, uint32_t receiver_index_le,
			const void *src, size_t srclen, uint64_t now);

void cookie_maker_init(struct cookie_maker *m, const uint8_t peer_public[WG_KEY_LEN]);
void cookie_maker_wipe(struct cookie_maker *m);
/* Fill mac1 (always) and mac2 (if a fresh cookie is held, else zeros) of msg. */
void cookie_add_macs(struct cookie_maker *m, void *msg, size_t len, uint64_t now);
/* 0 when the reply decrypted and its cookie is stored; -EBADMSG when it fails to
 * authenticate; -ENOENT when no handshake message was sent that it could answer (or it was
 * answered already); -EINVAL for a wrong type word. The caller checked the length. */
int cookie_consume_reply(struct cookie_maker *m, const struct wg_msg_cookie_reply *r, uint64_t now);

/* IP address bytes then the port in network order; 0 for an unsupported family. */
size_t cookie_addr_from_sockaddr(uint8_t out[COOKIE_ADDR_MAX], const struct sockaddr *sa);

#endif
