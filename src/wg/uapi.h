/* The WireGuard cross-platform userspace control protocol (what `wg` speaks to wireguard-go):
 * key=value lines over a stream unix socket, /var/run/wireguard/IFACE.sock.
 *
 *   request  "get=1\n\n"              response: key=value lines, then "errno=0\n\n"
 *   request  "set=1\n" lines... "\n"  response: "errno=N\n\n"
 *
 * N is 0 or a negative errno, as wireguard-go sends it and `wg` reads it: -EINVAL (-22) for a
 * bad value or a key unknown in its place, -EPROTO (-71) for a line without '=' or longer
 * than UAPI_LINE_MAX, -EADDRINUSE (-98) when a callback reports the port cannot be bound, or
 * whatever -errno a callback returns. Beyond wireguard-go: -EMSGSIZE (-90) for a request over
 * the byte limit (the connection is then closed: its end cannot be found), -E2BIG (-7) for a
 * set with more public_key= or allowed_ip= lines than the limits allow (nothing applied),
 * -ENOBUFS (-105) for a request the connections' buffers have no room left for (struct
 * uapi_pool; the connection is then closed).
 *
 * A request is read whole (up to its blank line) before anything in it is applied, without any
 * lock; a set is then applied under one hold of ops->lock(dev, true), so requests of several
 * clients never interleave and nothing of one request (the peer being configured) survives
 * between reads, where another client could remove it. The device's settings (private_key=,
 * listen_port=, fwmark=, replace_peers=) are applied once a set each, with their last values,
 * in the order of their last lines, as the kernel takes a netlink set (one attribute of a
 * kind). As in wireguard-go, a set stops at its first bad line and what came before stays
 * applied (no rollback); culvert still ends the peer being configured (peer_end) and, knowing
 * where the request ended, keeps the connection open. A set cut short by the client closing
 * its side is applied as far as it goes, as wireguard-go does. A get is formatted under
 * ops->lock(dev, false) and sent after unlocking. An unknown operation closes the connection.
 *
 * The module knows nothing of the daemon: a set is applied through struct uapi_ops callbacks
 * and a get is produced by the daemon's get() callback with the uapi_emit_* helpers.
 * Connections are non-blocking and driven by the daemon's event loop (uapi_conn_io), or fed
 * bytes directly (uapi_conn_feed), which is how the unit tests and the fuzzers use it. */
#ifndef CULVERT_UAPI_H
#define CULVERT_UAPI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct aip_table;

#define UAPI_SOCKET_DIR "/var/run/wireguard"
enum {
	UAPI_LINE_MAX = 1024,		/* longest valid line is under 100 bytes */
	/* Default limits of one request. `wg setconf` sends about 165 bytes a peer with two
	 * allowed IPs, so 8 MiB holds some 50,000 such peers; the counts bound the work done
	 * under the device lock in one go. Other lines need no count: each costs little, and
	 * the device's lines, the costly ones (a new private key redoes every peer's DH), are
	 * applied once a set however often they repeat. */
	UAPI_REQUEST_MAX = 8 << 20,
	UAPI_PEERS_MAX = 1 << 16,
	UAPI_ALLOWED_IPS_MAX = 1 << 18,
	/* What a connection's input and its output buffer each hold without taking from its
	 * pool (struct uapi_pool): a request of `wg set`, a get of some 200 peers. */
	UAPI_CONN_FREE = 64 << 10,
	/* The daemon's pool: room for four requests of the largest size at once. Without it,
	 * 64 connections holding 8 MiB each took the daemon from 7.6 MB to 563 MB. */
	UAPI_POOL_MAX = 32 << 20,
};

/* What the buffers of several connections take beyond UAPI_CONN_FREE each, together, and a
 * bound. A request whose buffer would take the total past max is answered errno=-ENOBUFS
 * (-105) and its connection closed (its end cannot be found). A get waits while the pool is
 * full (UAPI_WANT_ROOM), and runs once it is not, however big its response: so a client can
 * read a device of any size, and the buffers hold at most max, one response and twice
 * UAPI_CONN_FREE a connection. Responses are let go as they are written, so honest gets wait
 * for one another's writes, milliseconds. */
struct uapi_pool {
	size_t used;
	size_t max;
	unsigned long long refused;	/* requests and responses refused for want of room */
};

struct uapi_limits {
	size_t request_bytes;		/* from the operation line to the blank line */
	unsigned int peers;		/* public_key= lines in one set */
	unsigned int allowed_ips;	/* allowed_ip= lines in one set */
};

/* A growable output buffer; on allocation failure it sets oom and drops further output. */
struct uapi_buf {
	char *data;
	size_t len, cap;
	bool oom;
	/* The request was culvert's "get=culvert": the get() callback may add device-level
	 * culvert_* keys (drop counters, offloads) right after uapi_emit_device. Plain "get=1"
	 * stays byte-for-byte what wg and other clients expect. */
	bool culvert_ext;
};
void uapi_buf_printf(struct uapi_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void uapi_buf_free(struct uapi_buf *b);

/* Callbacks. dev is the daemon's device, peer the handle peer_begin returned. Each returns 0 or
 * -errno (sent back as errno=). A NULL callback accepts the line and does nothing. */
struct uapi_ops {
	/* all zero: remove it; prep is what prepare returned (NULL: nothing) */
	int (*set_private_key)(void *dev, const uint8_t key[32], void *prep);
	int (*set_listen_port)(void *dev, uint16_t port);		/* -EADDRINUSE if unbindable */
	int (*set_fwmark)(void *dev, uint32_t mark);			/* 0: off */
	int (*replace_peers)(void *dev);				/* remove every peer */

	/* Before the lock, with the set's private key (NULL when it sets none) and the public
	 * keys of its public_key= lines: work that needs no lock (the static-static DHs, of the
	 * new peers and, with a new private key, of the others too) done ahead. What it returns
	 * (NULL: nothing) goes to set_private_key and peer_begin, then to unprepare, after the
	 * lock is let go. */
	void *(*prepare)(void *dev, const uint8_t *private_key, const uint8_t (*public_keys)[32], size_t n);
	void (*unprepare)(void *dev, void *prep);
	/* public_key=: find the peer or create it. Set *peer NULL to have this peer's lines
	 * checked but ignored (wireguard-go does so for the device's own public key); set
	 * *created when the peer is new (update_only then removes it again). */
	int (*peer_begin)(void *dev, const uint8_t public_key[32], void *prep, void **peer, bool *created);
	/* The peer's lines are over: start it (timers, staged packets, first persistent
	 * keepalive). Called once for every non-NULL peer from peer_begin that was not removed,
	 * also when the request failed or the connection dropped half-way. */
	void (*peer_end)(void *dev, void *peer);
	int (*peer_remove)(void *dev, void *peer);		/* handle is dead afterwards */
	int (*peer_set_preshared_key)(void *dev, void *peer, const uint8_t psk[32]);	/* 0s: none */
	int (*peer_set_endpoint)(void *dev, void *peer, const struct sockaddr *sa, socklen_t len);
	int (*peer_set_persistent_keepalive)(void *dev, void *peer, uint16_t seconds);
	int (*peer_replace_allowed_ips)(void *dev, void *peer);
	int (*peer_add_allowed_ip)(void *dev, void *peer, int family, const uint8_t *addr, uint8_t cidr);

	/* get=1: append the device with uapi_emit_device, then for each peer uapi_emit_peer
	 * and its uapi_emit_allowed_ip(s). A failure discards what was emitted. */
	int (*get)(void *dev, struct uapi_buf *out);

	/* Held around a whole set (write true) or the formatting of a get (write false). NULL:
	 * no locking (a single-threaded caller). */
	void (*lock)(void *dev, bool write);
	void (*unlock)(void *dev, bool write);
};

struct uapi_device_info {
	const uint8_t *private_key;	/* NULL or all zero: not listed */
	uint16_t listen_port;		/* 0: not listed */
	uint32_t fwmark;		/* 0: not listed */
};

struct uapi_peer_info {
	const uint8_t *public_key;
	const uint8_t *preshared_key;	/* NULL: listed as all zero (none) */
	const struct sockaddr *endpoint;	/* NULL: not listed; AF_INET or AF_INET6 */
	uint64_t last_handshake_sec;	/* wall clock (CLOCK_REALTIME); 0/0 = never */
	uint64_t last_handshake_nsec;
	uint64_t tx_bytes, rx_bytes;
	uint16_t persistent_keepalive;	/* seconds, 0 = off */
};

void uapi_emit_device(struct uapi_buf *b, const struct uapi_device_info *d);
void uapi_emit_peer(struct uapi_buf *b, const struct uapi_peer_info *p);
void uapi_emit_allowed_ip(struct uapi_buf *b, int family, const uint8_t *addr, uint8_t cidr);
/* Every prefix of peer in t, in insertion order. */
void uapi_emit_allowed_ips(struct uapi_buf *b, const struct aip_table *t, void *peer);

/* The lines of one set request, after "set=1\n" and without the blank line that ends it:
 * checked against lim (NULL: the defaults), then applied under one hold of ops->lock(dev,
 * true). Returns the errno= value, 0 or -errno. */
int uapi_apply_set(const struct uapi_ops *ops, void *dev, const char *lines, size_t len,
		   const struct uapi_limits *lim);

/* One client connection: the bytes of a request not yet complete, and responses owed. */
struct uapi_conn {
	int fd;				/* -1 when only fed bytes */
	char *in;			/* input not yet part of a whole request; wiped */
	size_t in_len, in_cap;
	size_t scanned;			/* in[0..scanned) holds no end of the first request */
	bool eof;			/* the client closed its side */
	bool closing;			/* send what is owed, then close */
	struct uapi_limits lim;		/* uapi_conn_init sets the defaults */
	struct uapi_buf out;		/* responses not yet written */
	size_t out_off;
	unsigned long long answered;	/* responses written whole: the connection's progress */
	struct uapi_pool *pool;		/* NULL: none; set after uapi_conn_init */
	size_t pooled;			/* what it counts in pool->used */
	bool waiting;			/* a get waits for room in the pool */
};

void uapi_conn_init(struct uapi_conn *c, int fd);
/* Takes len bytes and runs every request they complete; responses are appended to c->out.
 * Returns false once the connection must be closed (unknown operation, request too big);
 * further input is then ignored. */
bool uapi_conn_feed(struct uapi_conn *c, const struct uapi_ops *ops, void *dev, const char *data, size_t len);
/* The client closed its side: a set missing only its blank line is applied (and answered);
 * any other partial request is dropped. */
void uapi_conn_eof(struct uapi_conn *c, const struct uapi_ops *ops, void *dev);

enum { UAPI_WANT_READ = 1, UAPI_WANT_WRITE = 2, UAPI_WANT_ROOM = 4 };
/* Call when c->fd is readable or writable (non-blocking fd). Reads (at most a budget per call,
 * so one client cannot hold the event loop), runs complete requests one at a time, writes
 * what the socket takes. Returns UAPI_WANT_READ and/or UAPI_WANT_WRITE for the event loop
 * (level-triggered: input left unread shows as readable again), or 0 when the connection is
 * finished: then call uapi_conn_free(). No input is read while a response is still being
 * written, so a client that does not read cannot make the daemon buffer without bound, and a
 * large response's buffer is let go once written. UAPI_WANT_ROOM alone: a get waits for room
 * in c->pool (c->waiting), nothing is read meanwhile and no event of the socket will say when
 * there is: call again later (the loop does on its tick). */
int uapi_conn_io(struct uapi_conn *c, const struct uapi_ops *ops, void *dev);
/* Closes c->fd (if >= 0) and frees buffers, taking them out of c->pool. */
void uapi_conn_free(struct uapi_conn *c);

/* The socket path for iface under dir (NULL: UAPI_SOCKET_DIR). 0, or -EINVAL for an interface
 * name that is empty, too long for IFNAMSIZ or contains '/', or -ENAMETOOLONG. */
int uapi_socket_path(char *buf, size_t len, const char *dir, const char *iface);
/* Creates dir (NULL: UAPI_SOCKET_DIR) with mode 0755 if missing; if it is there, it must be
 * a directory owned by root or by the effective uid and not writable by group or others.
 * 0, -ENOTDIR, -EPERM (then why, if not NULL, gets a sentence saying what to fix), or the
 * -errno of mkdir or stat. */
int uapi_dir_check(const char *dir, char *why, size_t len);
/* uapi_dir_check, removes a stale socket (one nobody accepts on), binds DIR/IFACE.sock with
 * mode 0600 and listens. Returns a non-blocking listening fd, or -errno: -EPERM from
 * uapi_dir_check, -EADDRINUSE when a live process already serves that interface, -EEXIST
 * when the path is not a socket. */
int uapi_listen(const char *dir, const char *iface);
/* Accepts one client: a non-blocking fd, or -EAGAIN when none waits, or another -errno. */
int uapi_accept(int listen_fd);
/* Removes the socket file (on shutdown). */
void uapi_unlink(const char *dir, const char *iface);

#endif
