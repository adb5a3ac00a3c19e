/* A WireGuard interface: identity, peers, the lookup tables and the data path entry points.
 *
 * The device does no I/O of its own: the engine (or a test) feeds it batches of tun packets
 * and UDP datagrams and it answers through struct wg_device_ops, again in batches. Every
 * tun packet buffer has WG_PKT_HEADROOM bytes before data and WG_PKT_TAILROOM after data+len
 * so encryption happens in place. Received datagrams are the exception: with UDP_GRO a burst
 * arrives back to back in one buffer, so udp_input (and the ops it calls) must never write
 * outside [data - WG_MSG_DATA_HEADER_LEN, data + len) of a datagram: decryption is in place
 * and the plaintext starts at data + 16, leaving those 16 bytes for a vnet header.
 *
 * Threads: tun_input and udp_input may run on several threads at once (each thread with its
 * own noise slot and its own ops context, see noise_set_thread_slot). They hold dev->lock for
 * reading while they use the tables and keypairs, touch a peer's timers, endpoint and counters
 * under its mutex, and leave keypair rotation, timer actions and staged packets to the end of
 * the call, done with dev->lock held for writing. Handshake messages never wait for that:
 * udp_input checks their length and MAC1 (the key read under mac1_lock, not dev->lock) and
 * copies them into the bounded handshake queue (hs_queue.c), served by one consumer at a
 * time (a thread the engine starts, or a budgeted turn at the end of udp_input when none
 * runs). The consumer does its Diffie-Hellman work on copies without dev->lock and holds it
 * for writing only to install the result (handshake.c). Everything else (tick, the uapi
 * callbacks, peer and key changes) needs dev->lock for writing: wg_device_tick takes it
 * itself; uapi callers take it with wg_device_lock. */
#ifndef CULVERT_WG_DEVICE_H
#define CULVERT_WG_DEVICE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "lib/endpoint.h"
#include "wg/messages.h"
#include "wg/cookie.h"
#include "wg/noise.h"
#include "wg/ratelimiter.h"

struct wg_peer;
struct aip_table;
struct fdb;
struct fdb_limits;

enum {
	WG_PKT_HEADROOM = 32,	/* >= the 16-byte data header */
	WG_PKT_TAILROOM = 32,	/* >= padding (15) + tag (16) */
	WG_DEFAULT_MTU = 1420,
	WG_BATCH = 64,
	WG_MAX_STAGED = 128,	/* packets held per peer while no session exists */
	WG_HS_QUEUE_LEN = 4096,	/* handshake messages waiting for the consumer */
	WG_HS_LOAD_DEPTH = WG_HS_QUEUE_LEN / 8,	/* a queue this deep means "under load" */
	WG_HS_PROVEN_LEN = 128,		/* served first, once the queue is full: a valid MAC2 */
	WG_HS_UNPROVEN_LEN = 128,	/* then these: a valid MAC1 only, to get a cookie reply */
	WG_HS_BUDGET = 256,	/* messages one inline turn serves (no handshake thread) */
};

enum wg_drop {
	WG_DROP_SHORT_FRAME,
	WG_DROP_BAD_TYPE,
	WG_DROP_BAD_MAC1,
	WG_DROP_COOKIE_SENT,	/* under load and no valid mac2: answered with a cookie reply */
	WG_DROP_BAD_MAC2,
	WG_DROP_BAD_HANDSHAKE,	/* unknown static key, bad timestamp, flood, bad AEAD */
	WG_DROP_BAD_COOKIE,
	WG_DROP_UNKNOWN_INDEX,
	WG_DROP_EXPIRED_KEY,
	WG_DROP_REPLAY,
	WG_DROP_DECRYPT_FAILED,
	WG_DROP_UNALLOWED_SRC,
	WG_DROP_NO_PEER_FOR_DST,
	WG_DROP_NO_ENDPOINT,
	WG_DROP_BAD_INNER_PACKET,
	WG_DROP_TOO_BIG,
	WG_DROP_QUEUE_FULL,
	WG_DROP_NO_KEY,		/* no private key configured */
	WG_DROP_SEND_FAILED,
	WG_DROP_SEND_FULL,	/* the socket's send buffer (or TCP queue) was full */
	WG_DROP_TUN_WRITE_FAILED,
	WG_DROP_BAD_FRAME,	/* TCP transport: a frame length no message has (connection closed) */
	WG_DROP_RATELIMITED,	/* handshake message over its source's token bucket */
	WG_DROP_TCP_UNPROVEN,	/* TCP transport: a connection closed before it proved itself */
	WG_DROP_TCP_REFUSED,	/* TCP transport: a new connection refused, every slot proven */
	WG_DROP_ROUTING_LOOP,	/* our own datagram to a peer's endpoint came back through the tun */
	WG_DROP_COOKIE_LIMITED,	/* handshake queue full, no valid mac2, over its source's cookie bucket */
	WG_DROP_PROVEN_FULL,	/* handshake queue full, valid mac2, and its ring full too */
	/* ICMP transport, in the order of enum icmpw_drop (wire/icmp.h) */
	WG_DROP_ICMP_SHORT,
	WG_DROP_ICMP_TYPE,
	WG_DROP_ICMP_CSUM,
	WG_DROP_ICMP_FOREIGN,	/* an ordinary ping (answered by the listener as the kernel would) */
	WG_DROP_ICMP_VERSION,
	WG_DROP_ICMP_LENGTH,
	WG_DROP_ICMP_TOO_LONG,
	WG_DROP_ICMP_WRONG_ID,
	WG_DROP_ICMP_QUEUE_FULL,
	WG_DROP_ICMP_NO_SESSION,
	WG_DROP_ICMP_TABLE_FULL,
	WG_DROP_ICMP_SEND,
	WG_DROP__COUNT
};
const char *wg_drop_name(enum wg_drop d);

/* One packet or datagram: data[0..len) with headroom and tailroom around it. ep is the UDP
 * source on input and is filled with the destination for udp_send. */
struct wg_pkt {
	uint8_t *data;
	uint32_t len;
	struct endpoint ep;
};

struct wg_device_ops {
	/* Send n datagrams, all to ep (from its source if set). Returns the number sent or
	 * -errno; fewer than n (or -EAGAIN, -ENOBUFS) when the socket is full: the rest are not
	 * sent, and nothing waits for room. A source that no longer works is cleared in *ep
	 * (the datagrams left from another address). */
	int (*udp_send)(void *ctx, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n);
	/* Write n plaintext IP packets to the tun device. Returns the number written or -errno. */
	int (*tun_write)(void *ctx, struct wg_pkt *pkts, unsigned int n);
	/* The listen port or fwmark changed: reopen/adjust sockets and store the bound port in
	 * dev->listen_port. 0 or -errno. May be NULL (tests). */
	int (*rebind)(void *ctx);
	/* Monotonic nanoseconds and wall clock (for handshake timestamps shown to `wg`). */
	uint64_t (*now)(void *ctx);
	void (*wall)(void *ctx, int64_t *sec, int64_t *nsec);
	/* A message from ep passed authentication: a handshake message the device accepted or
	 * a data message that decrypted. Called like udp_send, from inside udp_input or by the
	 * handshake queue's consumer (no lock held then); may be NULL. peer is the serial of the
	 * peer whose message it was. The TCP and ICMP transports keep the connections and
	 * sessions that proved themselves this way, one per peer. */
	void (*authenticated)(void *ctx, const struct endpoint *ep, uint64_t peer);
	void *ctx;
};

struct wg_index_entry;

/* The handshake queue's rings, in the order the consumer serves them (hs_queue.c). */
enum wg_hs_class {
	WG_HS_PROVEN,		/* a valid MAC2, its source's token already spent by the worker */
	WG_HS_UNPROVEN,		/* a valid MAC1 (or a cookie reply of ours) met a full queue */
	WG_HS_MAIN,		/* everything else, while it has room */
	WG_HS__COUNT
};

/* One handshake message waiting in the queue (the largest message fits). */
struct wg_hs_item {
	uint8_t msg[WG_MSG_INITIATION_LEN];
	uint32_t len;
	struct endpoint ep;
	uint64_t mac1_gen;		/* identity_gen of the key MAC1 was checked with */
	uint8_t cls;			/* enum wg_hs_class */
};

struct wg_hs_ring {
	struct wg_hs_item *items;	/* [len], all three in one allocation */
	unsigned int head, count, len;
};

/* The bounded handshake queue (hs_queue.c): the main ring and two small ones the consumer
 * serves first, allocated once, filled by the workers, drained by one consumer at a time. */
struct wg_hs_queue {
	pthread_mutex_t lock;		/* the rings and the flags below */
	pthread_cond_t cond;
	struct wg_hs_ring ring[WG_HS__COUNT];	/* by enum wg_hs_class */
	unsigned int depth;		/* atomic: queued + the one being handled */
	bool threaded;			/* a thread (or a test) serves it: udp_input does not */
	bool stop;
	pthread_mutex_t serve;		/* held by the consumer */
	uint64_t last_under_load;	/* ns, the consumer's */
	uint64_t second_start;		/* ns, the consumer's: the second served_n counts */
	unsigned int served_n;		/* the consumer's: messages served in that second */
	uint64_t published_birth;	/* the consumer's: birth of the secret the workers have */
};

struct wg_device {
	char name[16];
	pthread_rwlock_t lock;		/* see the top of this file; writers preferred */
	unsigned int pending;		/* atomic: some peer has deferred work */
	struct wg_device_ops ops;

	struct noise_identity identity;		/* identity.has_identity: a private key is set */
	uint16_t listen_port;
	uint8_t transport;	/* IPPROTO_UDP, IPPROTO_TCP or IPPROTO_ICMP: what the transport sends in */
	uint32_t fwmark;
	unsigned int mtu;
	unsigned int mtu_overhead;	/* plaintext beyond the device's MTU (tap mode's header) */

	struct wg_peer *peers;		/* doubly linked, in insertion order */
	struct wg_peer *peers_tail;
	size_t n_peers;
	struct wg_peer **peer_hash;	/* by public key, open chaining */
	size_t peer_hash_size;

	struct wg_index_entry **index_hash;	/* receiver index -> handshake or keypair */
	size_t index_hash_size, n_index;

	struct aip_table *aip;
	struct fdb *fdb;		/* tap mode's switch; NULL in tun mode */
	bool tap;			/* set once, before any traffic (wg_device_set_tap) */
	struct cookie_checker cookie_checker;	/* dev->lock; the secret: the hs consumer's */
	uint64_t identity_gen;		/* changed with the private key (dev->lock for writing) */
	uint64_t peer_serial;		/* numbers peers, so a freed one is never taken for another */
	uint64_t instance;		/* numbers devices in this process, for the same reason */

	/* The copy of cookie_checker.mac1_key that workers check MAC1 with. */
	pthread_mutex_t mac1_lock;
	uint8_t mac1_key[WG_HASH_LEN];
	uint64_t mac1_gen;		/* the identity_gen it belongs to */
	bool mac1_set;
	/* With it, a copy of the cookie secret, for MAC2 when the handshake queue is full. */
	uint8_t mac2_secret[WG_HASH_LEN];
	uint64_t mac2_secret_birth;
	bool mac2_set;

	struct wg_hs_queue hsq;
	struct ratelimiter ratelimiter;	/* handshake messages per source, after MAC2 */
	/* The workers' own buckets, per source, for a full queue's rings: never held by the
	 * consumer (a nice-10 thread preempted with a lock held would stall the data path). */
	struct ratelimiter proven_limiter;	/* valid MAC2: the proven ring */
	struct ratelimiter cookie_limiter;	/* MAC1 only: the unproven ring */

	uint64_t drops[WG_DROP__COUNT];
	uint64_t last_tick;
	uint64_t fdb_last_expire;	/* the second of the switch's last expiry */
	/* What the engine turned on (tun TSO/USO, UDP GSO/GRO...), for `culvert show`. */
	char offload[256];
};

/* The device's clocks, through ops. */
static inline uint64_t wg_device_now(const struct wg_device *dev)
{
	return dev->ops.now(dev->ops.ctx);
}

/* Allocation and teardown; ops are copied. 0 or -errno. */
int wg_device_init(struct wg_device *dev, const char *name, const struct wg_device_ops *ops);
void wg_device_uninit(struct wg_device *dev);

/* Sets (or with NULL clears) the private key; peers whose public key equals the new public
 * key are removed, precomputed secrets recomputed, and every peer's sessions and handshake
 * in flight end, so the next packet to a peer starts a handshake at once (as the kernel and
 * wireguard-go do). Setting the key already in use changes nothing. */
int wg_device_set_private_key(struct wg_device *dev, const uint8_t *priv);
/* The same, with each peer's DH with the new key taken from ahead(arg, its public key) when
 * that gives one (done before the caller took the lock), else done here. */
typedef const uint8_t *wg_ss_ahead(void *arg, const uint8_t pub[WG_KEY_LEN]);
int wg_device_set_private_key_ahead(struct wg_device *dev, const uint8_t *priv, wg_ss_ahead *ahead, void *arg);

struct wg_peer *wg_device_find_peer(const struct wg_device *dev, const uint8_t pub[WG_KEY_LEN]);
/* New peer (no allowed IPs, no endpoint); NULL on ENOMEM or a peer already there. */
struct wg_peer *wg_device_add_peer(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN]);
/* The same with its static-static DH done beforehand (ss, for the current private key), or
 * with ss NULL done here. */
struct wg_peer *wg_device_add_peer_ss(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN],
				      const uint8_t *ss);
void wg_device_remove_peer(struct wg_device *dev, struct wg_peer *peer);
void wg_device_remove_all_peers(struct wg_device *dev);

/* Receiver-index table (device.c); indices are random and unique per device. */
enum wg_index_kind { WG_INDEX_HANDSHAKE, WG_INDEX_KEYPAIR };
uint32_t wg_index_insert(struct wg_device *dev, enum wg_index_kind kind, struct wg_peer *peer, void *obj);
void wg_index_remove(struct wg_device *dev, uint32_t idx);
/* The handshake behind idx became a keypair: same index, new object. */
void wg_index_replace(struct wg_device *dev, uint32_t idx, enum wg_index_kind kind, void *obj);
/* The object registered for idx if it is of that kind, else NULL; *peer set if non-NULL. */
void *wg_index_lookup(const struct wg_device *dev, uint32_t idx, enum wg_index_kind kind,
		      struct wg_peer **peer);

/* Data path. pkts are consumed (their buffers may be rewritten in place). */
void wg_device_tun_input(struct wg_device *dev, struct wg_pkt *pkts, unsigned int n);
void wg_device_udp_input(struct wg_device *dev, struct wg_pkt *pkts, unsigned int n);
/* Tap mode (tap.c): Ethernet frames instead of IP packets on the device side, switched by
 * a learning switch (fdb.h; lim NULL: its defaults). Call once, before traffic. 0 or -errno. */
int wg_device_set_tap(struct wg_device *dev, const struct fdb_limits *lim);
/* tun_input of tap mode: a batch of frames read from the tap. */
void wg_tap_input(struct wg_device *dev, struct wg_pkt *pkts, unsigned int n);
/* udp_input's part (dev->lock held for reading): check a decrypted message from p (header,
 * length, the frame's layer-3 source against AllowedIPs) and point *plain at the frame. */
bool wg_tap_rx_check(struct wg_device *dev, struct wg_peer *p, uint8_t **plain, uint32_t *len);
/* Then the switch, for pkts[0..n) from from[0..n): frames for other peers are sent on, those
 * for the tap are kept, in order, at the front of pkts; returns how many. */
unsigned int wg_tap_deliver(struct wg_device *dev, struct wg_pkt *pkts, struct wg_peer *const *from,
			    unsigned int n, uint64_t now);
/* Run due timers of every peer; call at least every 100 ms. Takes dev->lock. */
void wg_device_tick(struct wg_device *dev);

/* dev->lock for writing (the uapi callbacks need it), for reading (what `wg show` reads
 * besides a peer's mutex-guarded state), and its release. */
void wg_device_lock(struct wg_device *dev);
void wg_device_rdlock(struct wg_device *dev);
void wg_device_unlock(struct wg_device *dev);
/* Deferred work of the data path (dev->lock held for writing). */
void wg_device_run_pending(struct wg_device *dev);

static inline void wg_device_drop_n(struct wg_device *dev, enum wg_drop why, uint64_t n)
{
	__atomic_fetch_add(&dev->drops[why], n, __ATOMIC_RELAXED);
}

static inline void wg_device_drop(struct wg_device *dev, enum wg_drop why)
{
	wg_device_drop_n(dev, why, 1);
}
/* ops.authenticated, if there is one: a message of the peer whose serial is peer, from ep. */
static inline void wg_device_authenticated(struct wg_device *dev, const struct endpoint *ep, uint64_t peer)
{
	if (dev->ops.authenticated)
		dev->ops.authenticated(dev->ops.ctx, ep, peer);
}

/* Count a drop and log it (rate-limited) with the peer or source in text. */
void wg_device_drop_log(struct wg_device *dev, enum wg_drop why, const char *who);
void wg_device_drop_from(struct wg_device *dev, enum wg_drop why, const struct endpoint *src);

/* Handshake queue (hs_queue.c): allocated by wg_device_init. Enqueue copies a message into
 * ring cls; false when it has no room (the caller counts the drop: the reason depends on what
 * it checked). */
int wg_hs_queue_init(struct wg_device *dev);
void wg_hs_queue_uninit(struct wg_device *dev);
bool wg_hs_enqueue(struct wg_device *dev, const uint8_t *msg, uint32_t len, const struct endpoint *src,
		   uint64_t mac1_gen, enum wg_hs_class cls);
/* The consumer, with dev->lock held: give the workers the cookie secret if it changed. */
void wg_device_publish_cookie_secret(struct wg_device *dev);
/* After a batch's messages are queued: wake the consumer thread, once per batch rather than
 * once per message (a flood would otherwise be a context switch per datagram). */
void wg_hs_wake(struct wg_device *dev);
/* Serve up to budget queued messages on this thread; returns how many. */
unsigned int wg_device_handshake_run(struct wg_device *dev, unsigned int budget);
/* Leave the queue to another thread (or the caller's own wg_device_handshake_run): udp_input
 * then only queues. wg_device_handshake_serve blocks serving until wg_device_handshake_stop. */
void wg_device_handshake_external(struct wg_device *dev, bool on);
void wg_device_handshake_serve(struct wg_device *dev);
void wg_device_handshake_stop(struct wg_device *dev);
/* Messages queued or in hand. */
unsigned int wg_device_handshake_depth(const struct wg_device *dev);
/* Under load: the queue is WG_HS_LOAD_DEPTH deep, or was within the last second; where no
 * thread serves it (TCP, ICMP), also once WG_HS_LOAD_DEPTH messages were served in a second.
 * The consumer's view (call it from the consumer, or a test between turns). */
bool wg_device_under_load(struct wg_device *dev, uint64_t now);
/* Should a worker send a handshake message through the per-source buckets before the queue?
 * When the queue is full, or, where no thread serves it, while the consumer finds the device
 * under load. Any thread. */
bool wg_device_handshake_pressed(const struct wg_device *dev, uint64_t now);
/* A worker refused a message because its source's buckets are empty (any thread). */
void wg_device_handshake_refused(struct wg_device *dev, uint64_t now);
/* As if the queue had just been deep (tests and the fuzzer reach the cookie path so). */
void wg_device_note_load(struct wg_device *dev, uint64_t now);

/* handshake.c: one queued message, by the consumer. */
void wg_handshake_handle(struct wg_device *dev, const struct wg_hs_item *it, uint64_t now);

#endif
