/* Private to the loop_*.c files: the loop's and the workers' state, shared by
 *   loop.c      setup, teardown, the workers' epoll loops and the device's clocks;
 *   loop_tun.c  tun reads (GSO split) and writes (GRO merge), the tun's offload probe;
 *   loop_udp.c  the UDP sockets: open, bind and rebind, the port probe, send and receive;
 *   loop_ctl.c  worker 0's control sources: uapi connections, the tick timer, signals;
 *   loop_tcp.c  the TCP transport (culvert peers only): listener, connections, framing.
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
#include "engine/udpio.h"
#include "wg/device.h"
#include "wg/uapi.h"

enum {
	LOOP_BUF_SIZE = 65536 + WG_PKT_HEADROOM + WG_PKT_TAILROOM,
	LOOP_SOCK_BUF = 8 << 20,
	LOOP_TICK_MS = 100,
	LOOP_MAX_CONNS = 64,
	LOOP_BATCHES_PER_WAKE = 8,	/* fairness between tun, UDP and control */
	LOOP_PKTS = UDPIO_MAX_BATCH,	/* packets handed to the device at once */
	LOOP_TUN_BUFS = 64,
	LOOP_RX_BUFS = 64,
	/* GSO segments are cut into one region, each taking what its super-packet's gso_size
	 * needs (the MTU, which `ip link set mtu` may change at any time, up to 65535), not a
	 * fixed slot: a batch holds 256 segments of MTU 1500, or 60 of MTU 34736, in 2.4 MB. */
	LOOP_SEG_HDR_MAX = 128,		/* IPv4 with options or IPv6, and TCP with options */
	LOOP_SLOT_BYTES = 36 * LOOP_BUF_SIZE,
	/* the most one super-packet can take: at most two segments of up to 64 KB, or at most
	 * UDPIO_MAX_SEGS smaller ones, each rounded up to 64 bytes */
	LOOP_SPLIT_MAX = 2 * LOOP_BUF_SIZE + UDPIO_MAX_SEGS * (LOOP_SEG_HDR_MAX + 64),
	LOOP_VNET = GSO_VNET_HDR_LEN,
	LOOP_GRO_SCRATCH = GRO_MAX_BATCH / 2,	/* a merge head takes two packets at least */
};

enum src_kind { SRC_TUN, SRC_UDP, SRC_UAPI, SRC_CONN, SRC_TIMER, SRC_SIGNAL, SRC_WAKE, SRC_TCP_LISTEN,
		SRC_TCP_CONN };

/* What epoll's data.ptr points at: the dispatch switches on kind. */
struct loop_src {
	enum src_kind kind;
	int fd;
};

struct loop_conn {
	struct loop_src src;	/* first: epoll data points here */
	struct uapi_conn uc;
	struct loop_conn *next;
};

/* One tun queue and one UDP socket, with everything a batch needs. */
struct loop_worker {
	struct wg_loop *l;
	unsigned int id;
	int epfd;		/* worker 0: the loop's */
	struct loop_src tun, udp, wake;
	pthread_t thread;
	bool running;

	struct udpio *uio;	/* in use */
	/* A rebind opens the new socket here; the worker swaps it in at its next wake-up. */
	pthread_mutex_t swap_lock;
	struct udpio *uio_next;
	bool swap;		/* atomic */

	uint8_t *tx_bufs;	/* LOOP_TUN_BUFS tun-read buffers of LOOP_BUF_SIZE */
	uint8_t *slots;		/* LOOP_SLOT_BYTES for the segments of GSO splits */
	uint8_t *rx_bufs;	/* LOOP_RX_BUFS datagram buffers of LOOP_BUF_SIZE */
	uint8_t *rx_ptrs[LOOP_RX_BUFS];
	struct udpio_pkt upkts[LOOP_PKTS];
	struct wg_pkt pkts[LOOP_PKTS];
	struct iovec segs[UDPIO_MAX_SEGS];
	struct udpio_pkt sendq[UDPIO_MAX_BATCH];
	/* receive side: TCP segments merged; only merge heads are copied (to gro scratch) */
	struct gro gro;
	uint8_t *gro_bufs;	/* LOOP_GRO_SCRATCH buffers of GRO_SCRATCH_SIZE */
	struct gro_pkt gpkts[GRO_MAX_BATCH];
	struct iovec gout[GRO_MAX_BATCH];
};

struct wg_loop {
	struct wg_device *dev;
	struct loop_opts_copy {
		bool no_offload;
		bool tcp;		/* the TCP transport instead of UDP (one worker) */
		void (*on_hup)(void *arg);
		void *hup_arg;
	} o;
	int epfd;
	struct loop_src uapi, timer, sig;
	bool vnet;		/* the tun fds carry a virtio_net_hdr before each packet */
	bool tso;		/* ... and the device takes TSO: writes may be merged (GRO) */
	struct busypoll busypoll;	/* the budget, set once; each worker polls with a copy */
	struct loop_conn *conns;
	unsigned int n_conns;
	struct loop_src tcp_listen;	/* the TCP transport (worker 0 only) */
	struct loop_tcp_conn *tcp_conns;
	unsigned int n_tcp;		/* open connections (dead ones are not counted) */
	bool tcp_dead;			/* some connection awaits loop_tcp_sweep */
	struct loop_tcp_conn *tcp_in;	/* the connection whose frames the device is reading */
	bool stop;		/* atomic */
	int fatal;
	uint16_t bound_port;
	unsigned int ticks;
	unsigned int n_workers;
	struct loop_worker *w;	/* [n_workers] */
	/* The handshake thread (UDP transport): noise slot n_workers, and a duplicate of worker
	 * 0's socket to send from, which never waits for a full buffer. */
	pthread_t hs_thread;
	bool hs_running;
	pthread_mutex_t hs_lock;	/* hs_uio, hs_sendq */
	struct udpio *hs_uio;
	struct udpio_pkt *hs_sendq;	/* [UDPIO_MAX_BATCH] */
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

/* loop.c */
void loop_wake(struct loop_worker *w);		/* any thread */
void loop_stop(struct wg_loop *l, int fatal);	/* any thread: ends every worker's loop */
int loop_ep_add(int epfd, struct loop_src *s, uint32_t events);
void loop_src_close(int epfd, struct loop_src *s);	/* and takes it off epfd */

/* loop_tcp.c: the TCP transport, all on worker 0 */
struct loop_tcp_conn;
int loop_op_tcp_send(void *ctx, struct wg_endpoint *ep, struct wg_pkt *pkts, unsigned int n);
void loop_op_tcp_authenticated(void *ctx, const struct wg_endpoint *ep);
int loop_tcp_bind(struct wg_loop *l);
void loop_tcp_accept(struct wg_loop *l);
void loop_tcp_event(struct wg_loop *l, struct loop_src *s, uint32_t events);
void loop_tcp_sweep(struct wg_loop *l);	/* frees the connections closed while handling events */
void loop_tcp_tick(struct wg_loop *l);	/* closes unproven connections past their deadline */
void loop_tcp_free(struct wg_loop *l);

/* loop_tun.c */
bool loop_tun_has_vnet_hdr(int fd);
bool loop_tun_offloads(int fd);
void loop_tun_readable(struct loop_worker *w);
int loop_op_tun_write(void *ctx, struct wg_pkt *pkts, unsigned int n);

/* loop_udp.c */
void loop_udp_readable(struct loop_worker *w);
int loop_op_udp_send(void *ctx, struct wg_endpoint *ep, struct wg_pkt *pkts, unsigned int n);
int loop_op_rebind(void *ctx);
void loop_worker_take_socket(struct loop_worker *w);
/* The handshake thread's socket follows worker 0's (worker 0's thread, after a rebind). */
void loop_hs_take_socket(struct wg_loop *l);

/* loop_ctl.c: worker 0 only */
int loop_ctl_init(struct wg_loop *l);		/* timer and signals, at setup */
void loop_ctl_free(struct wg_loop *l);
void loop_uapi_accept(struct wg_loop *l);
void loop_conn_event(struct wg_loop *l, struct loop_conn *c);
void loop_timer_event(struct wg_loop *l);
void loop_signal_event(struct wg_loop *l);

#endif
