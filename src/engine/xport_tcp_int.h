/* Private to the TCP transport's files: xport_tcp.c (the listener, binding, the tick),
 * xport_tcp_conn.c (the connection table and its limits), xport_tcp_dial.c (outgoing
 * connections, the one-peer client's redialling) and xport_tcp_io.c (queues and frames).
 * All on worker 0. */
#ifndef CULVERT_ENGINE_XPORT_TCP_INT_H
#define CULVERT_ENGINE_XPORT_TCP_INT_H
#include <stdbool.h>
#include <stdint.h>

#include "engine/loop_int.h"
#include "wire/framing.h"

struct tcp_conn {
	struct loop_src src;		/* first: epoll data points here */
	struct endpoint remote;
	bool connecting, dead, want_out, dialled;
	bool proven;			/* a message from it passed authentication */
	uint64_t prover;		/* ... of this peer (its serial) */
	uint64_t born;			/* monotonic ns of the accept or dial */
	uint64_t last_rx;		/* monotonic ns of the last bytes read (or of the accept) */
	struct framing_rx rx;
	struct framing_txq tx;
	struct tcp_conn *next;
};

struct xtcp {
	struct loop_src listen;
	struct tcp_conn *conns;
	unsigned int n;		/* open connections (dead ones are not counted) */
	bool dead;		/* some connection awaits xtcp_sweep */
	struct tcp_conn *in;	/* the connection whose frames the processor is reading */
	bool one;		/* one peer (wg_loop_opts.tcp_one) */
	uint64_t next_dial;	/* one, client: monotonic ns of the next attempt (0: none due) */
	unsigned int backoff_ms;
	unsigned int dial_i;	/* one, client: the address dialled (0: o.dial, i: o.dial_more[i - 1]) */
	unsigned int dial_failed;	/* ... and how many in a row failed to connect this round */
	uint64_t accept_paused;	/* monotonic ns the listener stopped accepting (0: it accepts) */
	uint64_t accept_logged;	/* ... and when that was last logged */
};

static inline struct xtcp *xt(const struct wg_loop *l)
{
	return l->xp_state;
}

/* xport_tcp_conn.c */
struct tcp_conn *xtcp_find(struct wg_loop *l, const struct endpoint *ep);
struct tcp_conn *xtcp_one_conn(struct wg_loop *l);
/* Takes ownership of fd (closed on failure); a full table makes room or refuses. */
struct tcp_conn *xtcp_conn_new(struct wg_loop *l, int fd, const struct endpoint *ep, bool connecting);
/* Closes c for why; with one peer the processor hears of it (report) and logs it. */
void xtcp_conn_end(struct wg_loop *l, struct tcp_conn *c, enum loop_close why, bool report, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void xtcp_conn_kill(struct wg_loop *l, struct tcp_conn *c, const char *why);
void xtcp_expire_unproven(struct wg_loop *l, uint64_t now);
void xtcp_set_out(struct wg_loop *l, struct tcp_conn *c, bool on);
/* Frees the connections marked dead. */
void xtcp_sweep(struct wg_loop *l);

/* xport_tcp_dial.c */
int xtcp_socket(struct wg_loop *l, int family);
struct tcp_conn *xtcp_conn_dial(struct wg_loop *l, const struct endpoint *ep);
void xtcp_one_dial(struct wg_loop *l);
void xtcp_one_lost(struct wg_loop *l, const struct endpoint *ep, const char *dial_err);
/* One peer, client: the server answered, so the next loss starts a fresh round. */
void xtcp_dial_ok(struct wg_loop *l);
void xtcp_dial_init(struct xtcp *t);

/* xport_tcp_io.c */
int xtcp_send(struct wg_loop *l, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n);
void xtcp_conn_event(struct loop_worker *w, struct loop_src *s, uint32_t events);

#endif
