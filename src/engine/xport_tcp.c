/* The TCP transport (culvert wg --transport tcp), for networks that pass no UDP; only culvert
 * peers speak it. Each WireGuard message travels as one frame of simpletun's framing (a 2-byte
 * big-endian length, then the message) over one TCP connection per peer address. Outgoing
 * connections are bound to the listening port (SO_REUSEPORT), so the address a peer sees,
 * learns by roaming and connects back to is our listening address, as with UDP; both sides
 * dialling at once is a TCP simultaneous open, still one connection.
 *
 * Anyone can open a connection, so a slot is only safe once its connection has proven itself:
 * a message from it passed authentication (the device says so through ops.authenticated).
 * Unproven connections have TCP_PROVE_NS to do that and are the only ones closed to make
 * room; a full table of proven connections refuses newcomers.
 *
 * Everything runs on worker 0 (the transport takes one worker). Connections are only marked
 * dead while events are being handled, because the device may call back into xtcp_send from
 * inside a connection's input, and freed by xtcp_sweep afterwards. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "engine/xport_tcp_int.h"
#include "lib/clock.h"
#include "lib/log.h"

/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; the device knows them as IPv4. */
static void ep_normalize(struct endpoint *ep)
{
	if (ep->sa.sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&ep->in6.sin6_addr))
		return;
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = ep->in6.sin6_port };
	memcpy(&in4.sin_addr, &ep->in6.sin6_addr.s6_addr[12], 4);
	memset(ep, 0, sizeof(*ep));
	ep->in4 = in4;
}

/* Out of descriptors or memory, accept fails while the connection stays pending, and the
 * listener, level-triggered, would wake the worker at once forever: it stops listening for
 * LOOP_TICK_MS (tcp_tick listens again), and the connection waits or is counted refused. */
static void pause_accepting(struct wg_loop *l, int err)
{
	struct epoll_event ev = { .events = 0, .data.ptr = &xt(l)->listen };
	uint64_t now = clock_mono_coarse_ns();

	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, xt(l)->listen.fd, &ev) < 0)
		return;
	xt(l)->accept_paused = now ? now : 1;
	loop_drop(l, WG_DROP_TCP_REFUSED);
	if (!xt(l)->accept_logged || now - xt(l)->accept_logged >= 10 * 1000000000ull) {
		xt(l)->accept_logged = now ? now : 1;
		log_err("TCP: cannot accept connections (%s); trying again every %u ms", strerror(err),
			LOOP_TICK_MS);
	}
}

static void resume_accepting(struct wg_loop *l, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &xt(l)->listen };

	if (!xt(l)->accept_paused || now - xt(l)->accept_paused < LOOP_TICK_MS * 1000000ull)
		return;
	if (xt(l)->listen.fd >= 0 && epoll_ctl(l->epfd, EPOLL_CTL_MOD, xt(l)->listen.fd, &ev) < 0)
		return;
	xt(l)->accept_paused = 0;
}

static void tcp_tick(struct wg_loop *l)
{
	uint64_t now = clock_mono_coarse_ns();

	resume_accepting(l, now);
	if (xt(l)->one) {
		struct tcp_conn *c = xtcp_one_conn(l);

		/* a name's address that swallows SYNs must not hold up the others for minutes */
		if (c && c->connecting && l->o.n_dial_more && now - c->born > LOOP_DIAL_TRY_MS * 1000000ull)
			xtcp_conn_end(l, c, LOOP_CLOSE_ERROR, false, "no answer in %u s", LOOP_DIAL_TRY_MS / 1000);
		else if (!c && xt(l)->next_dial && now >= xt(l)->next_dial)
			xtcp_one_dial(l);
		return;
	}

	xtcp_expire_unproven(l, now);
}

/* One proven accepted connection per peer: the one its latest proof came on. Otherwise one
 * peer (or whoever relays its messages first) could prove all 64 connections and lock every
 * other peer out for good. An older one is unproven again: it has TCP_PROVE_NS to prove
 * itself anew (a peer that really uses it takes it back, and the other goes), else it closes. */
static void tcp_authenticated(struct wg_loop *l, const struct endpoint *ep, uint64_t peer)
{
	struct tcp_conn *c = xt(l)->in;
	uint64_t now;
	char b[64];

	if (!c || !endpoint_equal(&c->remote, ep))
		c = xtcp_find(l, ep);
	if (!c || (c->proven && c->prover == peer))
		return;
	c->proven = true;
	c->prover = peer;
	log_debug("TCP connection with %s proven", endpoint_str(&c->remote, b, sizeof(b)));
	now = clock_mono_coarse_ns();
	for (struct tcp_conn *o = xt(l)->conns; o; o = o->next) {
		if (o == c || o->dead || o->dialled || !o->proven || o->prover != peer)
			continue;
		o->proven = false;
		o->born = now;
		log_debug("TCP connection with %s unproven again: its peer proved another",
			  endpoint_str(&o->remote, b, sizeof(b)));
	}
}

static void listen_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	struct wg_loop *l = w->l;

	for (int i = 0; i < 16; i++) {
		struct endpoint ep;
		socklen_t alen = sizeof(ep);
		int fd;

		memset(&ep, 0, sizeof(ep));
		fd = accept4(xt(l)->listen.fd, &ep.sa, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				pause_accepting(l, errno);
			return;
		}
		ep_normalize(&ep);
		if (xt(l)->one) {
			/* a restarted client is served at once: the newest connection wins */
			struct tcp_conn *cur = xtcp_one_conn(l), *c;
			char b[64];

			if (cur)
				xtcp_conn_end(l, cur, LOOP_CLOSE_REPLACED, true, "replaced by a new client from %s",
					      endpoint_str(&ep, b, sizeof(b)));
			if ((c = xtcp_conn_new(l, fd, &ep, false)) && l->proc.ops->conn_up)
				l->proc.ops->conn_up(l->proc.ctx, &c->remote, false);
			continue;
		}
		/* A peer that dials again (it restarted) replaces its old connection. */
		struct tcp_conn *old = xtcp_find(l, &ep);
		if (old)
			xtcp_conn_kill(l, old, "replaced by a new connection from the same address");
		if (!xtcp_conn_new(l, fd, &ep, false))
			log_debug("TCP: connection refused: %u connections already, all proven", xt(l)->n);
	}
}

/* Only marks the connections dead: a rebind comes from a uapi request, in the middle of an
 * event batch that may still name them. */
static void close_all(struct wg_loop *l)
{
	loop_src_close(l->epfd, &xt(l)->listen);
	for (struct tcp_conn *c = xt(l)->conns; c; c = c->next)
		xtcp_conn_end(l, c, LOOP_CLOSE_ERROR, false, "the listening port changed");
}

/* SO_REUSEPORT would let the listener share a port another daemon of the same user holds, and
 * split its connections: a plain bind must succeed first. */
static int port_free(const struct endpoint *a)
{
	int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP), one = 1, zero = 0, r = 0;

	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, &a->sa, endpoint_len(a)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int tcp_listen(struct wg_loop *l, uint16_t port, uint16_t *bound)
{
	struct endpoint a;
	int zero = 0, fd, r;

	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons(port);
	if (l->o.bind_addr.sa.sa_family) {
		/* one address of the processor's choosing */
		memcpy(&a, &l->o.bind_addr, sizeof(l->o.bind_addr));
		if (a.sa.sa_family == AF_INET6)
			a.in6.sin6_port = htons(port);
		else
			a.in4.sin_port = htons(port);
		zero = l->o.v6only;
	}
	fd = xtcp_socket(l, a.sa.sa_family);
	if (fd >= 0 && a.sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (fd == -EAFNOSUPPORT && !l->o.bind_addr.sa.sa_family) {
		memset(&a, 0, sizeof(a));
		a.in4.sin_family = AF_INET;
		a.in4.sin_port = htons(port);
		fd = xtcp_socket(l, AF_INET);
	}
	if (fd < 0)
		return fd;
	if (port && (r = port_free(&a)) < 0) {
		close(fd);
		return r;
	}
	socklen_t alen = sizeof(a);
	if (bind(fd, &a.sa, endpoint_len(&a)) < 0 || listen(fd, 64) < 0 || getsockname(fd, &a.sa, &alen) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*bound = ntohs(a.sa.sa_family == AF_INET6 ? a.in6.sin6_port : a.in4.sin_port);
	xt(l)->listen = (struct loop_src){ listen_event, fd, false };
	xt(l)->accept_paused = 0;
	return loop_ep_add(l->epfd, &xt(l)->listen, EPOLLIN);
}

static int tcp_bind(struct wg_loop *l, uint16_t want, char *desc, size_t desc_len)
{
	uint16_t old = l->bound_port, port = 0;
	int r;

	close_all(l);
	if (xt(l)->one && l->o.dial.sa.sa_family) {
		/* a client of one server: no listener, a connection kept up */
		snprintf(desc, desc_len, "transport tcp; %s; workers=1", loop_tun_desc(l));
		xtcp_one_dial(l);
		return 0;
	}
	r = tcp_listen(l, want, &port);
	if (r < 0) {
		log_warn("cannot listen on TCP port %u: %s", want, strerror(-r));
		if (!old || tcp_listen(l, old, &port) < 0)
			return r;
	}
	l->bound_port = port;
	snprintf(desc, desc_len, "transport tcp (culvert peers only); %s; workers=1", loop_tun_desc(l));
	log_debug("listening on TCP port %u", port);
	return r;
}

static int tcp_open(struct wg_loop *l)
{
	struct xtcp *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->listen = (struct loop_src){ listen_event, -1, false };
	t->one = l->o.tcp_one;
	xtcp_dial_init(t);
	l->xp_state = t;
	return 0;
}

static void tcp_close(struct wg_loop *l)
{
	close_all(l);
	xtcp_sweep(l);
}

static void tcp_after(struct wg_loop *l)
{
	if (xt(l)->dead)
		xtcp_sweep(l);
}

static void tcp_free(struct wg_loop *l)
{
	free(l->xp_state);
	l->xp_state = NULL;
}

static uint8_t tcp_ipproto(const struct wg_loop *l)
{
	return IPPROTO_TCP;
}

const struct loop_xport_ops loop_xport_tcp = {
	.name = "tcp",
	.one_worker = true,
	.ipproto = tcp_ipproto,
	.open = tcp_open,
	.bind = tcp_bind,
	.send = xtcp_send,
	.authenticated = tcp_authenticated,
	.tick = tcp_tick,
	.after = tcp_after,
	.close = tcp_close,
	.free = tcp_free,
};
