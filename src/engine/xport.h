/* The transport interface of the loop: how datagrams travel (UDP, TCP, ICMP), chosen once at
 * setup (wg_loop_opts.transport). A transport keeps its own state (l->xp_state), registers its
 * own epoll sources (struct loop_src with its handler, on a worker's epoll: a receive event is
 * the handler's call) and hands what it receives to the processor through loop_net_input.
 * Private to the engine's loop_*.c and xport_*.c files. */
#ifndef CULVERT_ENGINE_XPORT_H
#define CULVERT_ENGINE_XPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/device.h"

struct wg_loop;
struct loop_worker;

struct loop_xport_ops {
	const char *name;	/* "udp", "tcp" */
	bool one_worker;	/* runs on worker 0 alone: setup refuses more queues */
	bool hs_thread;		/* handshakes go to the handshake thread (else the device serves
				 * them inline, on the worker) */
	unsigned int mtu_extra;	/* header bytes beyond UDP's (loop_transport_mtu_extra) */
	/* The IPPROTO its datagrams travel in, as the processor's routing-loop check sees them. */
	uint8_t (*ipproto)(const struct wg_loop *l);
	/* Its state into l->xp_state, at setup once the workers exist. 0 or -errno. */
	int (*open)(struct wg_loop *l);
	/* (Re)open its sockets on port (0: any) with l->fwmark; on success l->bound_port holds the
	 * port taken and desc a line for status output. Failing, it may keep or restore the old
	 * sockets. 0 or -errno. */
	int (*bind)(struct wg_loop *l, uint16_t port, char *desc, size_t desc_len);
	/* Send n datagrams to ep (struct wg_device_ops.udp_send's contract); any thread the
	 * processor sends from: a worker's (loop_cur) or the handshake thread (loop_hs_self). */
	int (*send)(struct wg_loop *l, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n);
	/* A message of peer (its serial) from ep passed authentication. NULL: not wanted. */
	void (*authenticated)(struct wg_loop *l, const struct endpoint *ep, uint64_t peer);
	/* Worker 0, every LOOP_TICK_MS. May be NULL. */
	void (*tick)(struct wg_loop *l);
	/* A worker woke up, before it handles its events; true: skip them (they may name a
	 * socket that has just been replaced). May be NULL. */
	bool (*wake)(struct loop_worker *w);
	/* Worker 0, after a batch of events (free what was closed while handling them). May be
	 * NULL. */
	void (*after)(struct wg_loop *l);
	/* Its sockets, before the tun queues close (the port is free once the link is gone). */
	void (*close)(struct wg_loop *l);
	void (*free)(struct wg_loop *l);
};

extern const struct loop_xport_ops loop_xport_udp, loop_xport_tcp, loop_xport_icmp;

#endif
