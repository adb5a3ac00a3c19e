/* One WireGuard peer: its handshake, keypairs (current, previous, next), endpoint, timers,
 * counters and the packets staged while no session exists. */
#ifndef CULVERT_WG_PEER_H
#define CULVERT_WG_PEER_H
#include <stdbool.h>
#include <stdint.h>

#include "wg/device.h"		/* first: messages.h before timers.h */
#include "wg/cookie.h"
#include "wg/noise.h"
#include "wg/timers.h"

struct wg_staged {
	uint8_t *buf;		/* WG_PKT_HEADROOM + len + WG_PKT_TAILROOM bytes */
	uint32_t len;
};

/* Work the data path leaves for dev->lock held for writing (wg_peer.pending). */
enum wg_pending {
	WG_PENDING_HANDSHAKE = 1 << 0,	/* no usable session: maybe initiate */
	WG_PENDING_FLUSH = 1 << 1,	/* staged packets can leave */
	WG_PENDING_ROTATE = 1 << 2,	/* data arrived on kp_next (local index pending_kp_index) */
};

struct wg_peer {
	struct wg_device *dev;
	/* Guards what the data path changes on several threads: endpoint, timers, counters,
	 * staged packets, pending. Writers of dev->lock need not take it. */
	pthread_mutex_t lock;
	unsigned int pending;		/* enum wg_pending */
	unsigned int pending_act;	/* timers_* action bits */
	uint32_t pending_kp_index;
	struct wg_peer *next, *prev, *hash_next;
	uint64_t serial;		/* unique in the device, never reused */
	uint64_t hs_gen;		/* changes with the psk: a handshake made before is stale */
	uint8_t public_key[WG_KEY_LEN];
	uint8_t psk[WG_KEY_LEN];	/* zero: none */

	struct noise_handshake hs;
	uint32_t hs_index;		/* local index of the handshake in flight, 0: none */
	struct cookie_maker cookie;
	struct noise_keypair *kp_current, *kp_previous, *kp_next;

	struct endpoint endpoint;
	struct timers timers;
	uint16_t persistent_keepalive;

	uint64_t rx_bytes, tx_bytes;
	int64_t last_handshake_sec, last_handshake_nsec;	/* wall clock; 0: never */

	/* WG_MAX_STAGED slots, allocated when the first packet is staged: most configured peers
	 * never stage anything, and the ring would be most of a peer's memory. */
	struct wg_staged *staged;
	unsigned int staged_head, staged_count;

	bool up;			/* logged as up (a session exists) */
};

/* ss: NULL, or the static-static DH already done (see noise_handshake_init_ss). */
struct wg_peer *wg_peer_new(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN], const uint8_t *ss);
void wg_peer_free(struct wg_peer *p);	/* clears keypairs and indices; not the table links */

void wg_peer_identity_changed(struct wg_peer *p);
/* The private key changed: drop every keypair and the handshake in flight, and let the next
 * packet start a handshake at once (no rate limit from the last initiation). */
void wg_peer_expire_sessions(struct wg_peer *p);
void wg_peer_set_psk(struct wg_peer *p, const uint8_t *psk);	/* NULL: none */
void wg_peer_set_persistent_keepalive(struct wg_peer *p, uint16_t seconds);
void wg_peer_set_endpoint(struct wg_peer *p, const struct endpoint *ep);

/* Short printable name: the first characters of the base64 public key. */
const char *wg_peer_name(const struct wg_peer *p, char *buf, size_t len);

/* Keypairs. */
void wg_peer_clear_keypairs(struct wg_peer *p);
/* A new session from a finished handshake; rotates as initiator or responder. */
void wg_peer_add_keypair(struct wg_peer *p, struct noise_keypair *kp);
/* Data arrived on kp: if it is the responder's "next", it becomes current. */
void wg_peer_received_with_keypair(struct wg_peer *p, struct noise_keypair *kp);

/* Staging while no session: keeps a copy; false when full (the oldest is dropped). */
bool wg_peer_stage(struct wg_peer *p, const uint8_t *pkt, uint32_t len);
void wg_peer_clear_staged(struct wg_peer *p);

/* Deferred data-path work of this peer (dev->lock held for writing). */
void wg_peer_run_pending(struct wg_peer *p);
/* Note deferred work (p->lock held). */
void wg_peer_defer(struct wg_peer *p, unsigned int pending, unsigned int act);

/* Timers: run due ones (device tick). */
void wg_peer_tick(struct wg_peer *p, uint64_t now);
/* Apply timers_* action bits. */
void wg_peer_act(struct wg_peer *p, unsigned int actions, uint64_t now);

/* send.c */
int wg_peer_send_initiation(struct wg_peer *p, bool retry);
void wg_peer_send_keepalive(struct wg_peer *p);
/* Encrypt and send what was staged (after a handshake); returns packets sent. */
unsigned int wg_peer_flush_staged(struct wg_peer *p);
/* Encrypt and send pkts (headroom and tailroom around each), or stage them while no session
 * is usable (dev->lock held for reading). */
void wg_peer_send_batch(struct wg_peer *p, struct wg_pkt *pkts, unsigned int n, uint64_t now);
/* Send one already-built handshake or cookie message to the peer's endpoint. */
int wg_peer_send_raw(struct wg_peer *p, void *msg, size_t len);

#endif
