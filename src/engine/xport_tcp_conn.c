/* The TCP transport's connection table: at most TCP_MAX_CONNS connections, the socket options
 * and queues each gets, who makes room when it is full (see xport_tcp.c on proving), and
 * closing: marked dead while events are handled, freed by xtcp_sweep afterwards. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "engine/xport_tcp_int.h"
#include "lib/clock.h"
#include "lib/log.h"

enum {
	TCP_MAX_CONNS = 64,
	TCP_TXQ = 256 << 10,		/* bytes queued per connection beyond the socket buffer */
	/* Two handshake attempts (REKEY_TIMEOUT apart, the second one after a cookie reply
	 * when the other side is under load) and then some. */
	TCP_PROVE_SEC = 12,
	/* Proven connections whose peer vanished (no FIN: a NAT forgot it, a host died) would
	 * hold their slot forever: TCP keepalives find them. */
	CONN_KEEPIDLE_SEC = 60,
	CONN_KEEPINTVL_SEC = 10,
	CONN_KEEPCNT = 3,
	/* One peer (a plaintext tunnel): a larger queue, the tun waiting while it is half full,
	 * and a vanished peer noticed in about half a minute. */
	ONE_TXQ = 1 << 20,
	ONE_RXBUF = 256 << 10,		/* many MTU frames per read, for the tun's GRO */
	ONE_KEEPIDLE_SEC = 10,
	ONE_KEEPINTVL_SEC = 5,
	ONE_USER_TIMEOUT_MS = 30000,
};
#define TCP_PROVE_NS ((uint64_t)TCP_PROVE_SEC * 1000000000u)

struct tcp_conn *xtcp_find(struct wg_loop *l, const struct endpoint *ep)
{
	for (struct tcp_conn *c = xt(l)->conns; c; c = c->next)
		if (!c->dead && endpoint_equal(&c->remote, ep))
			return c;
	return NULL;
}

void xtcp_conn_end(struct wg_loop *l, struct tcp_conn *c, enum loop_close why, bool report, const char *fmt, ...)
{
	char b[64], msg[256];
	va_list ap;

	if (c->dead)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (xt(l)->one && report && l->proc.ops->conn_closed)
		l->proc.ops->conn_closed(l->proc.ctx, &c->remote, why, msg);
	else
		log_debug("TCP connection with %s closed: %s", endpoint_str(&c->remote, b, sizeof(b)), msg);
	loop_src_close(l->epfd, &c->src);
	c->dead = true;
	xt(l)->n--;
	xt(l)->dead = true;
	if (xt(l)->one)
		xtcp_one_lost(l, &c->remote, c->connecting ? msg : NULL);
}

void xtcp_conn_kill(struct wg_loop *l, struct tcp_conn *c, const char *why)
{
	xtcp_conn_end(l, c, LOOP_CLOSE_ERROR, true, "%s", why);
}

/* The one peer's connection, if any. */
struct tcp_conn *xtcp_one_conn(struct wg_loop *l)
{
	for (struct tcp_conn *c = xt(l)->conns; c; c = c->next)
		if (!c->dead)
			return c;
	return NULL;
}

static void conn_kill_unproven(struct wg_loop *l, struct tcp_conn *c, const char *why)
{
	loop_drop(l, WG_DROP_TCP_UNPROVEN);
	xtcp_conn_kill(l, c, why);
}

/* All slots taken: the unproven accepted connection that has been silent longest makes room
 * (of equally silent ones the oldest, the list being newest first), so that connections
 * anyone can open and keep busy with a byte now and then cannot lock peers out, nor push out
 * one that proved itself. Connections we dialled are to peers' endpoints, which only the
 * configuration or an authenticated message sets: they are not taken back either. */
static bool make_room(struct wg_loop *l)
{
	struct tcp_conn *victim = NULL;

	for (struct tcp_conn *c = xt(l)->conns; c; c = c->next)
		if (!c->dead && !c->dialled && !c->proven && (!victim || c->last_rx <= victim->last_rx))
			victim = c;
	if (!victim) {
		loop_drop(l, WG_DROP_TCP_REFUSED);
		return false;
	}
	conn_kill_unproven(l, victim, "unproven and the longest silent of a full table, making room");
	return true;
}

void xtcp_expire_unproven(struct wg_loop *l, uint64_t now)
{
	for (struct tcp_conn *c = xt(l)->conns; c; c = c->next)
		if (!c->dead && !c->proven && now - c->born > TCP_PROVE_NS)
			conn_kill_unproven(l, c, "no authenticated message in time");
}

void xtcp_sweep(struct wg_loop *l)
{
	xt(l)->dead = false;
	for (struct tcp_conn **p = &xt(l)->conns; *p;) {
		struct tcp_conn *c = *p;

		if (!c->dead) {
			p = &c->next;
			continue;
		}
		*p = c->next;
		framing_rx_free(&c->rx);
		framing_txq_free(&c->tx);
		free(c);
	}
}

void xtcp_set_out(struct wg_loop *l, struct tcp_conn *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = &c->src };

	if (c->want_out == on || c->dead)
		return;
	c->want_out = on;
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->src.fd, &ev);
}

struct tcp_conn *xtcp_conn_new(struct wg_loop *l, int fd, const struct endpoint *ep, bool connecting)
{
	struct tcp_conn *c;
	int one = 1;

	if ((xt(l)->n >= TCP_MAX_CONNS && !make_room(l)) || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return NULL;
	}
	c->src = (struct loop_src){ xtcp_conn_event, fd, true };
	c->remote = *ep;
	c->connecting = connecting;
	c->dialled = connecting;
	c->want_out = connecting;
	c->born = c->last_rx = clock_mono_coarse_ns();
	/* nothing authenticates a plaintext peer: its one connection is kept as it is */
	c->proven = xt(l)->one;
	/* one message per frame, sent as soon as it is queued: a handshake must not wait (and
	 * with a plaintext peer, Nagle plus the peer's delayed ACK would add 40 ms) */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &(int){ xt(l)->one ? ONE_KEEPIDLE_SEC : CONN_KEEPIDLE_SEC },
			 sizeof(int));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &(int){ xt(l)->one ? ONE_KEEPINTVL_SEC : CONN_KEEPINTVL_SEC },
			 sizeof(int));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &(int){ CONN_KEEPCNT }, sizeof(int));
	if (xt(l)->one)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &(unsigned int){ ONE_USER_TIMEOUT_MS },
				 sizeof(unsigned int));
	if (framing_rx_init(&c->rx, xt(l)->one ? __atomic_load_n(&l->frame_max, __ATOMIC_RELAXED) : FRAMING_MAX_LEN,
			    xt(l)->one ? ONE_RXBUF : 0) < 0 ||
	    framing_txq_init(&c->tx, xt(l)->one ? ONE_TXQ : TCP_TXQ) < 0 ||
	    loop_ep_add(l->epfd, &c->src, EPOLLIN | (connecting ? EPOLLOUT : 0)) < 0) {
		framing_rx_free(&c->rx);
		framing_txq_free(&c->tx);
		close(fd);
		free(c);
		return NULL;
	}
	c->next = xt(l)->conns;
	xt(l)->conns = c;
	xt(l)->n++;
	return c;
}
