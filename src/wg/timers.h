/* WireGuard's timer policy (whitepaper section 6) for one peer, as plain state and events.
 *
 * Nothing here sleeps, reads a clock or sends a packet. The daemon tells the state what
 * happened (with the current monotonic time in nanoseconds), asks timers_next_deadline() when
 * to wake up, and at or after that time calls timers_tick(), which returns the actions to take
 * as a bitmask. Event functions that can call for a handshake return the same bitmask.
 *
 * Which events to report, and when:
 *   timers_data_sent             a transport data packet with payload (not a keepalive) was sent
 *   timers_data_received         a transport data packet with payload was received and accepted
 *   timers_auth_packet_sent      any authenticated packet left: data, keepalive, handshake
 *                                initiation or response
 *   timers_auth_packet_received  any authenticated packet arrived: data, keepalive, handshake
 *                                response/initiation that verified, cookie reply
 *   timers_auth_packet_traversal either of the two above (it rearms persistent keepalive)
 *   timers_handshake_initiated   a handshake initiation was sent (first try or retry)
 *   timers_handshake_complete    the handshake response for our initiation was consumed
 *   timers_session_derived       new session keys exist (either role); `initiator` tells which
 *   timers_want_handshake        something wants a session now (a packet is queued and there
 *                                is no usable key): returns INITIATE unless rate limited
 *   timers_keep_fresh_send       before sending with the current session (checks its age/count)
 *   timers_keep_fresh_receive    after receiving data on the current session
 *
 * Every deadline is absolute, in the caller's clock (ns); 0 means "not armed". */
#ifndef CULVERT_TIMERS_H
#define CULVERT_TIMERS_H
#include <stdbool.h>
#include <stdint.h>

#include "messages.h"

#define TIMERS_NS_PER_SEC WG_NSEC_PER_SEC

/* The protocol constants of messages.h (seconds) in the nanoseconds these timers count. */
#define TIMERS_REKEY_AFTER_TIME   (REKEY_AFTER_TIME * TIMERS_NS_PER_SEC)
#define TIMERS_REJECT_AFTER_TIME  (REJECT_AFTER_TIME * TIMERS_NS_PER_SEC)
#define TIMERS_REKEY_ATTEMPT_TIME (REKEY_ATTEMPT_TIME * TIMERS_NS_PER_SEC)
#define TIMERS_REKEY_TIMEOUT      (REKEY_TIMEOUT * TIMERS_NS_PER_SEC)
#define TIMERS_KEEPALIVE_TIMEOUT  (KEEPALIVE_TIMEOUT * TIMERS_NS_PER_SEC)
#define REKEY_TIMEOUT_JITTER_MAX (333 * 1000000ULL)		/* 1/3 s, in ns */
/* Retries before giving up: an attempt every REKEY_TIMEOUT for REKEY_ATTEMPT_TIME. */
#define TIMERS_MAX_HANDSHAKE_RETRIES (REKEY_ATTEMPT_TIME / REKEY_TIMEOUT)

/* Actions for the daemon. */
enum timers_action {
	TIMERS_SEND_HANDSHAKE_INITIATION = 1 << 0,	/* build and send an initiation, then call
							 * timers_handshake_initiated() */
	TIMERS_SEND_KEEPALIVE            = 1 << 1,	/* passive keepalive: empty data packet */
	TIMERS_SEND_PERSISTENT_KEEPALIVE = 1 << 2,	/* same packet, for the configured interval */
	TIMERS_CLEAR_QUEUE               = 1 << 3,	/* gave up handshaking: drop staged packets */
	TIMERS_EXPIRE_SESSION            = 1 << 4,	/* the newest session is REJECT_AFTER_TIME old:
							 * stop using every keypair of this peer */
	TIMERS_ZERO_KEYS                 = 1 << 5,	/* no new session for 3 * REJECT_AFTER_TIME:
							 * erase all ephemeral key material */
};

/* Returns jitter in [0, REKEY_TIMEOUT_JITTER_MAX] ns; injectable so tests are deterministic. */
typedef uint64_t (*timers_jitter_fn)(void *arg);

struct timers {
	/* deadlines (0 = off) */
	uint64_t retransmit_at;		/* resend initiation if no response */
	uint64_t keepalive_at;		/* passive keepalive after receiving data */
	uint64_t new_handshake_at;	/* sent data, heard nothing back */
	uint64_t persistent_at;
	uint64_t expire_at;
	uint64_t zero_keys_at;

	uint64_t last_initiation_sent;	/* for the per-peer rate limit */
	bool initiation_ever_sent;
	uint64_t session_birth;		/* newest session, from timers_session_derived */
	bool have_session, session_initiator;
	bool sent_lastminute_handshake;	/* acted on the receive-side rekey once */
	bool need_another_keepalive;
	unsigned int handshake_attempts;
	uint16_t persistent_interval;	/* seconds, 0 = off */

	timers_jitter_fn jitter;
	void *jitter_arg;
};

/* jitter NULL: a random source (getrandom) is used. */
void timers_init(struct timers *t, timers_jitter_fn jitter, void *jitter_arg);
/* Disarms everything (peer removed or interface down); the state can be reused. */
void timers_stop(struct timers *t);

/* Events (see the table above). Those returning unsigned return enum timers_action bits. */
void timers_data_sent(struct timers *t, uint64_t now);
void timers_data_received(struct timers *t, uint64_t now);
void timers_auth_packet_sent(struct timers *t, uint64_t now);
void timers_auth_packet_received(struct timers *t, uint64_t now);
void timers_auth_packet_traversal(struct timers *t, uint64_t now);
void timers_handshake_initiated(struct timers *t, uint64_t now);
void timers_handshake_complete(struct timers *t, uint64_t now);
void timers_session_derived(struct timers *t, uint64_t now, bool initiator);
unsigned int timers_want_handshake(struct timers *t, uint64_t now);
/* The handshake in flight is void (our key changed): no retry of it, and the next want may
 * initiate at once. */
void timers_handshake_reset(struct timers *t);
/* send_counter: the nonce about to be used on the current session. */
unsigned int timers_keep_fresh_send(struct timers *t, uint64_t now, uint64_t send_counter);
unsigned int timers_keep_fresh_receive(struct timers *t, uint64_t now);

/* Sets PersistentKeepalive (seconds, 0 = off). Turning it on arms it for now, so the daemon
 * sends a keepalive at the next tick, as wg does when the option is first set. */
void timers_set_persistent_keepalive(struct timers *t, uint64_t now, uint16_t seconds);

/* Earliest armed deadline, or UINT64_MAX when nothing is armed. */
uint64_t timers_next_deadline(const struct timers *t);
/* Fires every deadline <= now and returns the actions. Call it late rather than early: a
 * deadline in the future is left alone. */
unsigned int timers_tick(struct timers *t, uint64_t now);

/* Whether a session key may still be used: younger than REJECT_AFTER_TIME and its counter
 * below REJECT_AFTER_MESSAGES. */
bool timers_session_usable(uint64_t birth, uint64_t now, uint64_t counter);

#endif
