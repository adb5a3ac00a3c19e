/* The WireGuard cross-platform userspace control protocol (what `wg` speaks to wireguard-go):
 * key=value lines over a stream unix socket, /var/run/wireguard/IFACE.sock.
 *
 *   request  "get=1\n\n"              response: key=value lines, then "errno=0\n\n"
 *   request  "set=1\n" lines... "\n"  response: "errno=N\n\n"
 *
 * N is 0 or a negative errno, as wireguard-go sends it and `wg` reads it: -EINVAL (-22) for a
 * bad value or a key unknown in its place, -EPROTO (-71) for a line without '=' or longer
 * than UAPI_LINE_MAX, -EADDRINUSE (-98) when a callback reports the port cannot be bound, or
 * whatever -errno a callback returns. A set applies its lines one by one as they arrive (no
 * rollback); after the first error the rest of the request is read and ignored. An unknown
 * operation closes the connection.
 *
 * The module knows nothing of the daemon: a set is applied through struct uapi_ops callbacks
 * and a get is produced by the daemon's get() callback with the uapi_emit_* helpers.
 * Connections are non-blocking and driven by the daemon's event loop (uapi_conn_io), or fed
 * bytes directly (uapi_conn_feed), which is how the unit tests and the fuzzer use it. */
#ifndef CULVERT_UAPI_H
#define CULVERT_UAPI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct aip_table;

#define UAPI_SOCKET_DIR "/var/run/wireguard"
enum { UAPI_LINE_MAX = 1024 };	/* longest valid line is under 100 bytes */

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
	int (*set_private_key)(void *dev, const uint8_t key[32]);	/* all zero: remove it */
	int (*set_listen_port)(void *dev, uint16_t port);		/* -EADDRINUSE if unbindable */
	int (*set_fwmark)(void *dev, uint32_t mark);			/* 0: off */
	int (*replace_peers)(void *dev);				/* remove every peer */

	/* public_key=: find the peer or create it. Set *peer NULL to have this peer's lines
	 * checked but ignored (wireguard-go does so for the device's own public key); set
	 * *created when the peer is new (update_only then removes it again). */
	int (*peer_begin)(void *dev, const uint8_t public_key[32], void **peer, bool *created);
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

/* One client connection. */
struct uapi_conn {
	int fd;				/* -1 when only fed bytes */
	char line[UAPI_LINE_MAX];
	size_t line_len;
	bool overlong;			/* dropping the rest of a too-long line */
	enum { UAPI_ST_OP, UAPI_ST_GET, UAPI_ST_SET, UAPI_ST_CLOSE } state;
	bool in_peer;			/* a public_key= line has been seen in this set */
	void *peer;			/* NULL: ignoring this peer */
	bool peer_created;
	int set_err;			/* first error of this set, 0 if none */
	struct uapi_buf out;		/* responses not yet written */
	size_t out_off;
};

void uapi_conn_init(struct uapi_conn *c, int fd);
/* Processes len bytes; responses are appended to c->out. Returns false once the connection
 * must be closed (unknown operation); further input is then ignored. */
bool uapi_conn_feed(struct uapi_conn *c, const struct uapi_ops *ops, void *dev, const char *data, size_t len);
/* The client closed its side: finishes a half-read set (peer_end) without a response. */
void uapi_conn_eof(struct uapi_conn *c, const struct uapi_ops *ops, void *dev);

enum { UAPI_WANT_READ = 1, UAPI_WANT_WRITE = 2 };
/* Call when c->fd is readable or writable (non-blocking fd). Reads what is there, answers,
 * writes what the socket takes. Returns UAPI_WANT_READ and/or UAPI_WANT_WRITE for the event
 * loop, or 0 when the connection is finished: then call uapi_conn_free(). Input is not read
 * while a response is still being written, so a client that does not read cannot make the
 * daemon buffer without bound. */
int uapi_conn_io(struct uapi_conn *c, const struct uapi_ops *ops, void *dev);
/* Closes c->fd (if >= 0) and frees buffers. */
void uapi_conn_free(struct uapi_conn *c);

/* The socket path for iface under dir (NULL: UAPI_SOCKET_DIR). 0, or -EINVAL for an interface
 * name that is empty, too long for IFNAMSIZ or contains '/', or -ENAMETOOLONG. */
int uapi_socket_path(char *buf, size_t len, const char *dir, const char *iface);
/* Creates dir (mode 0700) if missing, removes a stale socket (one nobody accepts on), binds
 * DIR/IFACE.sock with mode 0600 and listens. Returns a non-blocking listening fd, or -errno:
 * -EADDRINUSE when a live process already serves that interface, -EEXIST when the path is
 * not a socket. */
int uapi_listen(const char *dir, const char *iface);
/* Accepts one client: a non-blocking fd, or -EAGAIN when none waits, or another -errno. */
int uapi_accept(int listen_fd);
/* Removes the socket file (on shutdown). */
void uapi_unlink(const char *dir, const char *iface);

#endif
