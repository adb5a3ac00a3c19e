/* culvert simpletun: the tutorial's plaintext tunnel, over TCP (2-byte length framing) or UDP
 * (one packet per datagram, on the engine's loop: st_loop.c). Shared state and helpers. */
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
#include "engine/proc_plain.h"
#include "engine/tun_split.h"

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
	struct plain pl;        /* simpletun's rules: peer, limit, counters */
	bool stop;
	bool existed;           /* the device was there before us: leave it as found */
	bool vnet;              /* the device fd carries a virtio_net_hdr before each packet */
	unsigned int tun_f;     /* TUN_F_* offloads the device accepted */
	struct st_off *off;     /* with vnet only */
};

/* Open (or create) cfg's device, with virtio headers unless tap or no_offload (*vnet says
 * whether the kernel took them). 0 or -errno (already logged). */
int st_open_device(const struct st_config *cfg, char ifname[IFNAMSIZ], int *fd, bool *existed, bool *vnet);
void st_warn_plaintext(void);
/* simpletun on the engine's loop with the plaintext processor (datagrams). 0 or -errno. */
int st_loop_run(const struct st_config *cfg);
/* Open (or create) the device, epoll, signalfd and timerfd. 0 or -errno (already logged). */
int st_setup(struct st_ctx *x, const struct st_config *cfg);
void st_teardown(struct st_ctx *x);
/* With cfg->drop: become cfg->uid/gid with no capabilities at all (a device we created goes
 * with our fd, and nothing is bound again), once the run has its sockets. 0 or -errno. */
int st_drop_privileges(const struct st_config *cfg);
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
/* Large socket buffers, so bursts from the device are not dropped. */
void st_sock_buffers(int fd);

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


#endif
