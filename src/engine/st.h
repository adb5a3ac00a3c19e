/* culvert simpletun: the tutorial's plaintext tunnel, over TCP (2-byte length framing) or UDP
 * (one packet per datagram). Shared state and helpers of st_tcp.c and st_udp.c. */
#ifndef CULVERT_ST_H
#define CULVERT_ST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/uio.h>

#include "engine/gro.h"
#include "engine/gso.h"

enum { ST_DEFAULT_PORT = 55555, ST_BATCH = 64, ST_BACKOFF_MIN_MS = 100, ST_BACKOFF_MAX_MS = 5000 };

struct st_config {
	const char *ifname;
	bool server, tap, udp, debug;
	const char *host;      /* client: server name or address */
	const char *port;
	const char *bind;      /* local address to bind, or NULL */
	int family;            /* AF_UNSPEC, AF_INET or AF_INET6 (-4 / -6) */
	bool no_offload;       /* --no-offload: plain device, no UDP GSO/GRO */
	bool no_busy_poll;     /* --no-busy-poll: sleep in epoll_wait right after each batch */
	bool drop;             /* --user: once the device and sockets are open, become uid/gid */
	uid_t uid;
	gid_t gid;
};

/* Drop and close reasons, each with its own counter. */
enum st_drop {
	ST_DROP_NO_PEER,        /* tun packet while no peer is connected or known */
	ST_DROP_QUEUE_FULL,     /* tun packet while the socket is backed up */
	ST_DROP_BAD_PACKET,     /* frame/datagram that is not an IP packet (tun) or Ethernet frame (tap) */
	ST_DROP_TUN_WRITE,      /* the kernel refused the packet */
	ST_DROP_DGRAM_EMPTY,
	ST_DROP_DGRAM_TOO_LONG,
	ST_DROP_SEND_ERROR,
	ST_DROP_BAD_OFFLOAD,    /* a device super-packet that could not be split (gso_* reason logged) */
	ST_DROP_MAX
};
enum st_close {
	ST_CLOSE_PEER,          /* orderly close or reset by the peer */
	ST_CLOSE_ZERO_LENGTH,
	ST_CLOSE_TOO_LONG,
	ST_CLOSE_ERROR,         /* socket error */
	ST_CLOSE_REPLACED,      /* a newer client took over */
	ST_CLOSE_MAX
};

struct st_counters {
	unsigned long long tx_frames, tx_bytes, rx_frames, rx_bytes, connects;
	unsigned long long drop[ST_DROP_MAX], close[ST_CLOSE_MAX];
};

enum st_tag { ST_TAG_TUN = 1, ST_TAG_SIG, ST_TAG_TIMER, ST_TAG_LISTEN, ST_TAG_SOCK };

/* Tun offloads: the device hands us up to 64 KB of TCP (or UDP) in one read behind a
 * virtio_net_hdr, and takes merged TCP segments the same way. The wire never sees them: every
 * frame and datagram stays one packet of at most the device MTU, as the original expects. */
enum {
	ST_READ_BUF = GSO_VNET_HDR_LEN + 65536,
	ST_SEG_BYTES = 320 << 10,   /* segment slots: 128 of MTU 1500, fewer for larger MTUs */
	ST_MAX_SEGS = 128,
	ST_GRO_STRIDE = 64 + GRO_MAX_LEN + 1,
};

struct st_off {
	uint8_t *rbuf;          /* one device read: virtio_net_hdr + packet */
	uint8_t *slots;         /* ST_SEG_BYTES for segments */
	struct iovec segs[ST_MAX_SEGS];
	struct gro gro;
	uint8_t *gbufs;         /* GRO_MAX_BATCH buffers of ST_GRO_STRIDE */
	struct gro_pkt gp[GRO_MAX_BATCH];
	struct iovec gout[GRO_MAX_BATCH];
	size_t gn;              /* packets waiting in gp[] */
	unsigned long long tso_pkts, tso_segs, csum_done;
};

struct st_ctx {
	const struct st_config *cfg;
	char ifname[IFNAMSIZ];
	int tun, ep, sig, timer;
	size_t limit;           /* largest packet accepted from the peer: MTU (+18 on tap) */
	struct st_counters c;
	bool stop;
	bool existed;           /* the device was there before us: leave it as found */
	bool vnet;              /* the device fd carries a virtio_net_hdr before each packet */
	unsigned int tun_f;     /* TUN_F_* offloads the device accepted */
	char udp_caps[160];     /* what the UDP socket does (UDP mode) */
	struct st_off *off;     /* with vnet only */
};

/* Open (or create) the device, epoll, signalfd and timerfd. 0 or -errno (already logged). */
int st_setup(struct st_ctx *x, const struct st_config *cfg);
void st_teardown(struct st_ctx *x);
/* With cfg->drop: become cfg->uid/gid with no capabilities at all (a device we created goes
 * with our fd, and nothing is bound again), once the run has its sockets. 0 or -errno. */
int st_drop_privileges(const struct st_ctx *x);
/* Re-read the MTU; true when the limit grew (the device MTU was raised). */
bool st_refresh_limit(struct st_ctx *x);
/* Sanity check of a packet about to be written to the device. */
bool st_plausible(const struct st_ctx *x, const uint8_t *p, size_t n);
/* Write one packet to the device, counting it or its drop. */
void st_tun_write(struct st_ctx *x, const uint8_t *p, size_t n);
/* Handle the signalfd; sets x->stop. */
void st_on_signal(struct st_ctx *x);
void st_print_counters(const struct st_ctx *x);
int st_epoll_add(struct st_ctx *x, int fd, uint32_t events, enum st_tag tag);
int st_epoll_mod(struct st_ctx *x, int fd, uint32_t events, enum st_tag tag);
void st_timer_arm(struct st_ctx *x, unsigned int ms);
/* Resolve the server (client) or the bind address (server). 0 or -errno (logged). */
int st_resolve(const struct st_config *cfg, int socktype, struct addrinfo **out);
const char *st_addr_str(const struct sockaddr *sa, char *buf, size_t len);
/* Large socket buffers, so bursts from the device are not dropped. */
void st_sock_buffers(int fd);

/* Split one device read (virtio_net_hdr + packet, n bytes) into packets of at most limit
 * bytes: a GSO super-packet into slots[0..slot_bytes), a plain one completed in place (its
 * NEEDS_CSUM checksum filled in). TCP segments are cut smaller where needed to stay within
 * seg_max too (SIZE_MAX: no such cap). Returns the count in out[0..max_out) or -EINVAL (*why). */
int st_off_split(uint8_t *frame, size_t n, size_t limit, size_t seg_max, uint8_t *slots, size_t slot_bytes,
		 struct iovec *out, size_t max_out, enum gso_reason *why);
/* "tun vnet_hdr csum tso4 tso6 uso" or "tun plain (...)"; returns buf. */
const char *st_off_str(bool vnet, unsigned int tun_f, bool no_offload, bool tap, char *buf, size_t len);
/* TUNSETOFFLOAD with the most the kernel takes (csum, TSO4/6, USO4/6); the TUN_F_* set, 0 if none. */
unsigned int st_off_probe(int fd);
/* One device read as wire-sized packets in out[0..max) (pointers into buffers valid until the
 * next call; TCP segments at most seg_max bytes where possible). Returns the count (0 if the read was dropped and counted), -EAGAIN when the
 * device is empty, or another -errno. */
int st_tun_read(struct st_ctx *x, struct iovec *out, size_t max, size_t seg_max);
/* Hand one packet from the peer to the device (checked first). With offloads it is copied
 * and held until st_tun_flush, where consecutive TCP segments become one write. */
void st_tun_queue(struct st_ctx *x, const uint8_t *p, size_t n);
void st_tun_flush(struct st_ctx *x);

int st_tcp_run(struct st_ctx *x);
int st_udp_run(struct st_ctx *x);

#endif
