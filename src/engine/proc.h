/* The packet processor: what the loop hands the tun's packets and the network's datagrams to,
 * and what sends back through the loop. The WireGuard device is one (proc_wg.c); a plaintext
 * tunnel is another. The loop calls the ops below from its workers' threads (several at once
 * with several workers, each thread naming itself once through thread_init) and from worker 0
 * for everything else; the processor calls the loop_* functions at the bottom from inside its
 * inputs, its tick or its handshake thread.
 *
 * Packets are struct wg_pkt: a tun packet has WG_PKT_HEADROOM bytes before data and
 * WG_PKT_TAILROOM after data+len; a received datagram may lie back to back with the next one
 * (UDP GRO), so only [data - WG_MSG_DATA_HEADER_LEN, data + len) is its own. ep is the source
 * on input and the destination on send. */
#ifndef CULVERT_ENGINE_PROC_H
#define CULVERT_ENGINE_PROC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/device.h"

struct wg_loop;
struct uapi_ops;

/* Why a one-peer transport's connection closed (wg_loop_opts.tcp_one). */
enum loop_close {
	LOOP_CLOSE_PEER,	/* orderly close or reset by the peer */
	LOOP_CLOSE_ZERO_LENGTH,	/* a frame of length 0 */
	LOOP_CLOSE_TOO_LONG,	/* a frame above frame_max */
	LOOP_CLOSE_ERROR,	/* socket error */
	LOOP_CLOSE_REPLACED,	/* a newer connection took over */
	LOOP_CLOSE_MAX
};

/* What the loop tells the processor at setup. */
struct loop_attach {
	struct wg_loop *loop;	/* the ctx of the loop_* callbacks below */
	unsigned int threads;	/* worker threads, plus one for a handshake thread (thread_init slots) */
	uint8_t ipproto;	/* what carries its datagrams: IPPROTO_UDP, IPPROTO_TCP, IPPROTO_ICMP */
	bool authenticated;	/* the transport wants loop_authenticated calls */
};

struct loop_proc_ops {
	/* Once, before any other op: keep a->loop. 0 or -errno. */
	int (*attach)(void *ctx, const struct loop_attach *a);
	/* At wg_loop_free: nothing may call into the loop after this. May be NULL. */
	void (*detach)(void *ctx);
	/* On each worker thread (slot = worker id) and the handshake thread (the last slot),
	 * before its first input. May be NULL. */
	void (*thread_init)(void *ctx, unsigned int slot);
	/* A batch read from the tun (packets consumed; buffers may be rewritten in place). */
	void (*tun_input)(void *ctx, struct wg_pkt *pkts, unsigned int n);
	/* A batch of datagrams received by the transport, each with its source in ep. */
	void (*net_input)(void *ctx, struct wg_pkt *pkts, unsigned int n);
	/* Worker 0, every LOOP_TICK_MS. May be NULL. */
	void (*tick)(void *ctx);
	/* The loop dropped n packets for why (bad tun packets, transport errors): count them. */
	void (*drop)(void *ctx, enum wg_drop why, uint64_t n);
	/* The port to listen on (0: any) and the fwmark for the transport's sockets, read at each
	 * wg_loop_bind; then bound() reports the port taken and a line on what the loop and the
	 * transport do (offloads, workers) for status output. */
	void (*net_config)(void *ctx, uint16_t *port, uint32_t *fwmark);
	void (*bound)(void *ctx, uint16_t port, const char *desc);
	/* The tun's MTU, read once a second (`ip link set mtu` may change it). May be NULL. */
	void (*mtu)(void *ctx, unsigned int mtu);
	/* A handshake thread, with transports that take one (NULL: none): external(true) before
	 * the thread starts, serve() runs on it until stop(), external(false) after it ended. */
	void (*hs_external)(void *ctx, bool on);
	void (*hs_serve)(void *ctx);
	void (*hs_stop)(void *ctx);
	/* One-peer transports: a connection is up (dialled: ours, else accepted) or closed for
	 * why (msg: the details, for the log). May be NULL. */
	void (*conn_up)(void *ctx, const struct endpoint *ep, bool dialled);
	void (*conn_closed)(void *ctx, const struct endpoint *ep, enum loop_close why, const char *msg);
	/* The uapi control connections' callbacks (dev = ctx); NULL: none are served. */
	const struct uapi_ops *uapi;
};

struct loop_proc {
	const struct loop_proc_ops *ops;
	void *ctx;
};

/* The loop's side, ctx being a->loop (the signatures of struct wg_device_ops). */
/* Send n datagrams to ep through the transport: the number sent or -errno; a full socket or
 * queue takes fewer and nothing waits. */
int loop_net_send(void *loop, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n);
/* Write n IP packets (or frames) to the calling worker's tun queue, TCP segments merged (GRO)
 * when the device takes TSO: each packet needs LOOP_VNET (10) bytes of room before data. The
 * number written. */
int loop_tun_write(void *loop, struct wg_pkt *pkts, unsigned int n);
/* A message of peer (its serial) from ep passed authentication (TCP and ICMP keep such
 * connections and sessions, one per peer; see device.h). */
void loop_authenticated(void *loop, const struct endpoint *ep, uint64_t peer);
/* Cut TCP segments of the tun's super-packets to at most seg_max bytes (the path to the peer;
 * SIZE_MAX: as the sender made them). */
void loop_set_seg_max(void *loop, size_t seg_max);
/* One-peer transports: frames longer than this close the connection (default 65535). */
void loop_set_frame_max(void *loop, size_t frame_max);
/* The listen port or fwmark changed: wg_loop_bind. */
int loop_rebind(void *loop);

#endif
