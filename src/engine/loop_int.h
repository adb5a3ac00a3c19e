/* Private to the loop_*.c and xport_*.c files: the loop's and the workers' state, shared by
 *   loop.c      setup, teardown, the workers' epoll loops, the handshake thread;
 *   loop_tun.c  tun reads (GSO split) and writes (GRO merge), the tun's offload probe;
 *   loop_ctl.c  worker 0's control sources: uapi connections, the tick timer, signals;
 *   xport_udp.c the UDP transport: a socket per worker, bind and rebind, send and receive;
 *   xport_tcp.c the TCP transport (culvert peers only): listener, connections, framing;
 *   proc_wg.c   the WireGuard device as the loop's packet processor.
 * Everything here runs on a worker's own thread unless it says otherwise. */
#ifndef CULVERT_ENGINE_LOOP_INT_H
#define CULVERT_ENGINE_LOOP_INT_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "engine/busypoll.h"
#include "engine/gro.h"
#include "engine/gso.h"
#include "engine/loop.h"
#include "engine/proc.h"
#include "engine/xport.h"
#include "engine/udpio.h"
#include "lib/packet.h"
#include "wg/device.h"
#include "wg/uapi.h"

enum {
	/* A read's room: an IP packet of 65535 bytes and, on a tap, its link header (up to two
	 * VLAN tags) and a tag the kernel writes into the frame from the skb's metadata; a
	 * longer frame would be cut short without an error. */
	LOOP_BUF_SIZE = 65536 + PKT_ETH_MAX_HLEN + PKT_VLAN_HLEN + WG_PKT_HEADROOM + WG_PKT_TAILROOM,
	LOOP_SOCK_BUF = 8 << 20,
	LOOP_TICK_MS = 100,
	LOOP_MAX_CONNS = 64,
	/* A control connection that completes no exchange (a request answered, the answer
	 * written whole) for this long is closed: 64 that never sent anything locked every later
	 * client out for good. `wg`, wg-quick and culvert write their request as they connect
	 * and read the answer at once, in milliseconds, and culvert's own clients give up after
	 * 5 s; 15 s is three times that, and a stuck client holds its place no longer. */
	LOOP_CONN_IDLE_MS = 15000,
	LOOP_BATCHES_PER_WAKE = 8,	/* fairness between tun, UDP and control */
	LOOP_PKTS = UDPIO_MAX_BATCH,	/* packets handed to the device at once */
	LOOP_TUN_BUFS = 64,
	LOOP_RX_BUFS = 64,
	/* GSO segments are cut into one region, each taking what its super-packet's gso_size
	 * needs (the MTU, which `ip link set mtu` may change at any time, up to 65535), not a
	 * fixed slot: a batch holds 256 segments of MTU 1500, or 60 of MTU 34736, in 2.4 MB. */
	LOOP_SEG_HDR_MAX = 128,		/* IPv4 with options or IPv6, and TCP with options */
	LOOP_SEG_L2_MAX = PKT_ETH_MAX_HLEN,	/* and in front, a tap frame's Ethernet header and VLAN tags */
	LOOP_SLOT_BYTES = 36 * LOOP_BUF_SIZE,
	/* the most one super-packet can take: at most two segments of up to 64 KB, or at most
	 * UDPIO_MAX_SEGS smaller ones, each rounded up to 64 bytes */
	LOOP_SPLIT_MAX = 2 * LOOP_BUF_SIZE + UDPIO_MAX_SEGS * (LOOP_SEG_L2_MAX + LOOP_SEG_HDR_MAX + 64),
	LOOP_VNET = GSO_VNET_HDR_LEN,
	LOOP_GRO_SCRATCH = GRO_MAX_BATCH / 2,	/* a merge head takes two packets at least */
};

struct loop_worker;

/* What epoll's data.ptr points at: each source brings its own handler. */
struct loop_src {
	void (*event)(struct loop_worker *w, struct loop_src *s, uint32_t events);
	int fd;
	bool data;		/* traffic: handling it keeps the worker polling (busypoll) */
};

struct loop_conn {
	struct loop_src src;	/* first: epoll data points here */
	struct uapi_conn uc;
	struct loop_conn *next;
	unsigned int deadline;		/* closed at this tick (l->ticks) unless it progresses */
	unsigned long long answered;	/* uc.answered when the deadline was set */
};

/* One tun queue, with everything a batch needs. */
struct loop_worker {
	struct wg_loop *l;
	unsigned int id;
	int epfd;		/* worker 0: the loop's */
	struct loop_src tun, wake;
	pthread_t thread;
	bool running;

	uint8_t *tx_bufs;	/* LOOP_TUN_BUFS tun-read buffers of LOOP_BUF_SIZE */
	uint8_t *slots;		/* LOOP_SLOT_BYTES for the segments of GSO splits */
	uint8_t *rx_bufs;	/* LOOP_RX_BUFS datagram buffers of LOOP_BUF_SIZE */
	uint8_t *rx_ptrs[LOOP_RX_BUFS];
	struct wg_pkt pkts[LOOP_PKTS];
	struct iovec segs[UDPIO_MAX_SEGS];
	/* receive side: TCP segments merged; only merge heads are copied (to gro scratch) */
	struct gro gro;
	uint8_t *gro_bufs;	/* LOOP_GRO_SCRATCH buffers of GRO_SCRATCH_SIZE */
	struct gro_pkt gpkts[GRO_MAX_BATCH];
	struct iovec gout[GRO_MAX_BATCH];
	unsigned long long tso_pkts, tso_segs, csum_done;	/* splits, their segments, checksums done */
	bool tun_paused;	/* the transport's queue is full: the tun waits (worker 0) */
};

struct wg_loop {
	struct loop_proc proc;
	struct loop_opts_copy {
		bool no_offload;
		bool untrusted, v6only, tcp_one, icmp_one;
		union endpoint_addr bind_addr;	/* family 0: any */
		union endpoint_addr dial;		/* tcp_one's or icmp_one's server (family 0: we are the server) */
		union endpoint_addr dial_more[LOOP_DIAL_MAX - 1];	/* tcp_one's: its name's other addresses */
		unsigned int n_dial_more;
		char dial_name[256];	/* the server as given (empty: none) */
		enum loop_transport transport;
		void (*on_hup)(void *arg);
		void *hup_arg;
	} o;
	const struct loop_xport_ops *xp;
	void *xp_state;
	int epfd;
	struct loop_src uapi, timer, sig;
	int ioctl_fd;		/* any socket, for SIOCGIFMTU */
	char ifname[16];	/* the tun's, as the kernel names it */
	bool vnet;		/* the tun fds carry a virtio_net_hdr before each packet */
	bool tap;		/* the device is a tap: Ethernet frames, not IP packets */
	bool tso;		/* ... and the device takes TSO: writes may be merged (GRO) */
	unsigned int tun_f;	/* the TUN_F_* offloads it took */
	size_t seg_max;		/* TCP segments of a split cut to this (atomic; the processor's) */
	size_t frame_max;	/* one-peer TCP: the longest frame (the processor's) */
	struct busypoll busypoll;	/* the budget, set once; each worker polls with a copy */
	struct loop_conn *conns;
	unsigned int n_conns;
	struct uapi_pool ctl_pool;	/* the conns' buffers (max: UAPI_POOL_MAX) */
	unsigned int conn_idle_ticks;	/* LOOP_CONN_IDLE_MS in ticks; tests shorten it */
	unsigned long long conns_idle_closed;
	bool stop;		/* atomic */
	int fatal;
	uint16_t bound_port;
	uint32_t fwmark;	/* the processor's, as of the last bind */
	unsigned int ticks;
	unsigned int n_workers;
	struct loop_worker *w;	/* [n_workers] */
	pthread_t hs_thread;	/* the handshake thread, if the transport takes one */
	bool hs_running;
};

/* The worker this thread runs (set by the worker loop): the device's ops, called from inside
 * wg_device_*_input, find their socket and tun queue here rather than through ctx, which is
 * the whole loop. */
extern __thread struct loop_worker *loop_self;
/* Set on the handshake thread: its sends go through hs_uio. */
extern __thread bool loop_hs_self;

/* The calling thread's worker; the main thread (setup, uapi callbacks) is worker 0. */
static inline struct loop_worker *loop_cur(struct wg_loop *l)
{
	return loop_self && loop_self->l == l ? loop_self : &l->w[0];
}

/* The processor's ops (proc.h). */
static inline void loop_drop(struct wg_loop *l, enum wg_drop why)
{
	l->proc.ops->drop(l->proc.ctx, why, 1);
}

static inline void loop_net_input(struct wg_loop *l, struct wg_pkt *pkts, unsigned int n)
{
	l->proc.ops->net_input(l->proc.ctx, pkts, n);
}

/* loop.c */
void loop_wake(struct loop_worker *w);		/* any thread */
void loop_stop(struct wg_loop *l, int fatal);	/* any thread: ends every worker's loop */
int loop_ep_add(int epfd, struct loop_src *s, uint32_t events);
void loop_src_close(int epfd, struct loop_src *s);	/* and takes it off epfd */

/* loop_tun.c */
short loop_tun_flags(int fd);	/* its IFF_* flags, 0 if unknown */
unsigned int loop_tun_offloads(int fd);
void loop_tun_event(struct loop_worker *w, struct loop_src *s, uint32_t events);
/* Worker 0 stops reading the tun (the transport cannot take more) or starts again. */
void loop_tun_pause(struct wg_loop *l, bool on);
/* "tun vnet_hdr tso csum", "tun vnet_hdr csum" or "tun plain" ("tap ..."), for status lines */
const char *loop_tun_desc(const struct wg_loop *l);

/* loop_ctl.c: worker 0 only */
int loop_ctl_init(struct wg_loop *l);		/* timer and signals, at setup */
void loop_ctl_free(struct wg_loop *l);

#endif
