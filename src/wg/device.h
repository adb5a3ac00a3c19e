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
 * under its mutex, and leave the rest (handshake messages, keypair rotation, timer actions,
 * staged packets) to the end of the call, done with dev->lock held for writing. Everything
 * else (tick, the uapi callbacks, peer and key changes) needs dev->lock for writing:
 * wg_device_tick takes it itself; uapi callers take it with wg_device_lock. */
#ifndef CULVERT_WG_DEVICE_H
#define CULVERT_WG_DEVICE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "wg/messages.h"
#include "wg/cookie.h"
#include "wg/noise.h"
#include "wg/ratelimiter.h"

struct wg_peer;
struct aip_table;

enum {
	WG_PKT_HEADROOM = 32,	/* >= the 16-byte data header */
	WG_PKT_TAILROOM = 32,	/* >= padding (15) + tag (16) */
	WG_DEFAULT_MTU = 1420,
	WG_BATCH = 64,
	WG_MAX_STAGED = 128,	/* packets held per peer while no session exists */
	WG_HANDSHAKE_LOAD = 64,	/* handshake messages per second that mean "under load" */
	WG_HS_PER_BATCH = 16,	/* handshake messages taken from one udp_input batch */
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
	WG_DROP__COUNT
};
const char *wg_drop_name(enum wg_drop d);

/* A v4 or v6 UDP address; family AF_UNSPEC (0) means "none". With it, as the kernel module
 * keeps it, the local address of ours the peer's datagram was sent to, which datagrams to the
 * peer leave from so that a multi-homed host answers from the address it was asked on: of the
 * same family, all zero when unknown (the kernel picks), src_ifindex only for an IPv6
 * link-local source. */
struct wg_endpoint {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	};
	union {
		struct in_addr src4;
		struct in6_addr src6;
	};
	uint32_t src_ifindex;
};
socklen_t wg_endpoint_len(const struct wg_endpoint *ep);
/* The remote address only (the source is ours, not the peer's). */
bool wg_endpoint_equal(const struct wg_endpoint *a, const struct wg_endpoint *b);
bool wg_endpoint_src_equal(const struct wg_endpoint *a, const struct wg_endpoint *b);
void wg_endpoint_clear_src(struct wg_endpoint *ep);
/* "198.18.0.1:51820" or "[2001:db8::1]:51820"; returns buf. */
const char *wg_endpoint_str(const struct wg_endpoint *ep, char *buf, size_t len);

/* One packet or datagram: data[0..len) with headroom and tailroom around it. ep is the UDP
 * source on input and is filled with the destination for udp_send. */
struct wg_pkt {
	uint8_t *data;
	uint32_t len;
	struct wg_endpoint ep;
};

struct wg_device_ops {
	/* Send n datagrams, all to ep (from its source if set). Returns the number sent or
	 * -errno; fewer than n (or -EAGAIN, -ENOBUFS) when the socket is full: the rest are not
	 * sent, and nothing waits for room. A source that no longer works is cleared in *ep
	 * (the datagrams left from another address). */
	int (*udp_send)(void *ctx, struct wg_endpoint *ep, struct wg_pkt *pkts, unsigned int n);
	/* Write n plaintext IP packets to the tun device. Returns the number written or -errno. */
	int (*tun_write)(void *ctx, struct wg_pkt *pkts, unsigned int n);
	/* The listen port or fwmark changed: reopen/adjust sockets and store the bound port in
	 * dev->listen_port. 0 or -errno. May be NULL (tests). */
	int (*rebind)(void *ctx);
	/* Monotonic nanoseconds and wall clock (for handshake timestamps shown to `wg`). */
	uint64_t (*now)(void *ctx);
	void (*wall)(void *ctx, int64_t *sec, int64_t *nsec);
	/* A message from ep passed authentication: a handshake message the device accepted or
	 * a data message that decrypted. Called like udp_send, from inside udp_input; may be
	 * NULL. The TCP transport keeps the connections that proved themselves this way. */
	void (*authenticated)(void *ctx, const struct wg_endpoint *ep);
	void *ctx;
};

struct wg_index_entry;

struct wg_device {
	char name[16];
	pthread_rwlock_t lock;		/* see the top of this file; writers preferred */
	unsigned int pending;		/* atomic: some peer has deferred work */
	struct wg_device_ops ops;

	struct noise_identity identity;		/* identity.has_identity: a private key is set */
	uint16_t listen_port;
	uint8_t transport;	/* IPPROTO_UDP, or IPPROTO_TCP for the TCP transport */
	uint32_t fwmark;
	unsigned int mtu;

	struct wg_peer *peers;		/* doubly linked, in insertion order */
	struct wg_peer *peers_tail;
	size_t n_peers;
	struct wg_peer **peer_hash;	/* by public key, open chaining */
	size_t peer_hash_size;

	struct wg_index_entry **index_hash;	/* receiver index -> handshake or keypair */
	size_t index_hash_size, n_index;

	struct aip_table *aip;
	struct cookie_checker cookie_checker;
	struct ratelimiter ratelimiter;	/* handshake messages per source, after MAC2 */

	/* handshake load estimate: messages in the current one-second window */
	uint64_t load_window_start;
	unsigned int load_count;
	uint64_t under_load_until;

	uint64_t drops[WG_DROP__COUNT];
	uint64_t last_tick;
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
 * key are removed, precomputed secrets recomputed, sessions kept as wireguard-go does. */
int wg_device_set_private_key(struct wg_device *dev, const uint8_t *priv);

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
/* Count a drop and log it (rate-limited) with the peer or source in text. */
void wg_device_drop_log(struct wg_device *dev, enum wg_drop why, const char *who);

bool wg_device_under_load(struct wg_device *dev);

#endif
