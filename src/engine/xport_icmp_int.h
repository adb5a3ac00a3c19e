/* Private to xport_icmp.c (setup, sending, the tick) and xport_icmp_rx.c (the listener's and
 * the diallers' receive events): the ICMP transport's state, all on worker 0. */
#ifndef CULVERT_ENGINE_XPORT_ICMP_INT_H
#define CULVERT_ENGINE_XPORT_ICMP_INT_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine/loop_int.h"
#include "wire/icmp_sock.h"

enum {
	ICMP_SESSIONS = 32,	/* dialling peers at once */
	ICMP_QCAP = 256,	/* messages queued per session for its next requests */
	ICMP_MSG_MAX = 9216,	/* a WireGuard message of a 9000-byte MTU and then some */
	ICMP_DIALS = 32,
	ICMP_BATCH = 32,
	ICMP_TX_SIZE = ICMPW_OVERHEAD + ICMP_MSG_MAX,
};
/* A dialler with no message either way for this long goes (the next send dials again). */
#define ICMP_DIAL_TTL_NS ICMPW_SESSION_TTL_NS

struct icmp_dial {
	bool used;
	bool v6;
	bool replied;		/* a reply arrived in the batch being handled */
	bool pinned;		/* icmp_one's dial: never idles out */
	struct endpoint ep;	/* the device's name for it */
	struct sockaddr_storage to;
	uint16_t id, seq;
	struct icmpw_poll poll;
	uint64_t last_used;	/* a message sent or received */
};

struct icmp_fam {
	struct loop_src lsrc;	/* the listener's socket */
	struct loop_src dsrc;	/* the diallers' socket */
	struct icmpw_sock ls, ds;
	struct icmpw_guard guard;
	bool v6, up;
};

struct xicmp {
	struct icmp_fam f[2];	/* IPv4, IPv6 */
	struct icmpw_table t;
	struct icmp_dial d[ICMP_DIALS];
	uint32_t mark;
	struct icmpw_dgram rx[ICMP_BATCH];
	struct icmpw_dgram tx[ICMP_BATCH];
	struct icmpw_sock *tx_sock;
	unsigned int tx_n;
	uint8_t *tx_bufs;	/* ICMP_BATCH of ICMP_TX_SIZE */
	struct icmpw_session *touched[ICMP_BATCH];
};

#define fam_of(s, member) ((struct icmp_fam *)((char *)(s) - offsetof(struct icmp_fam, member)))

static inline struct xicmp *xi(const struct wg_loop *l)
{
	return l->xp_state;
}

/* xport_icmp.c */
void xicmp_drop(struct wg_loop *l, enum icmpw_drop why, uint64_t n);
/* A free send slot on socket s (flushing the batch first when full or on another socket). */
struct icmpw_dgram *xicmp_tx_slot(struct wg_loop *l, struct icmpw_sock *s);
void xicmp_tx_flush(struct wg_loop *l);
/* Replies from session se's queue to the requests it holds. */
void xicmp_session_flush(struct wg_loop *l, struct icmp_fam *f, struct icmpw_session *se, uint64_t now);
/* The empty polls the dialler's policy asks for now. */
void xicmp_dial_poll(struct wg_loop *l, struct icmp_fam *f, struct icmp_dial *dl, uint64_t now);

/* xport_icmp_rx.c: the epoll handlers of a family's listener and diallers' sockets */
void xicmp_listen_event(struct loop_worker *w, struct loop_src *s, uint32_t events);
void xicmp_dial_event(struct loop_worker *w, struct loop_src *s, uint32_t events);

#endif
