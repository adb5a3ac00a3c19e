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
 * dead while events are being handled, because the device may call back into tcp_send from
 * inside a connection's input, and freed by tcp_sweep afterwards. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "engine/loop_int.h"
#include "engine/xport_tcp.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "wire/framing.h"

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
	 * a vanished peer noticed in about half a minute, and the client redialling. */
	ONE_TXQ = 1 << 20,
	ONE_RXBUF = 256 << 10,		/* many MTU frames per read, for the tun's GRO */
	ONE_KEEPIDLE_SEC = 10,
	ONE_KEEPINTVL_SEC = 5,
	ONE_USER_TIMEOUT_MS = 30000,
	ONE_BACKOFF_MIN_MS = 100,
	ONE_BACKOFF_MAX_MS = 5000,
};
#define TCP_PROVE_NS ((uint64_t)TCP_PROVE_SEC * 1000000000u)

struct tcp_conn {
	struct loop_src src;		/* first: epoll data points here */
	struct endpoint remote;
	bool connecting, dead, want_out, dialled;
	bool proven;			/* a message from it passed authentication */
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
	bool dead;		/* some connection awaits tcp_sweep */
	struct tcp_conn *in;	/* the connection whose frames the processor is reading */
	bool one;		/* one peer (wg_loop_opts.tcp_one) */
	uint64_t next_dial;	/* one, client: monotonic ns of the next attempt (0: none due) */
	unsigned int backoff_ms;
	unsigned int dial_i;	/* one, client: the address dialled (0: o.dial, i: o.dial_more[i - 1]) */
	unsigned int dial_failed;	/* ... and how many in a row failed to connect this round */
};

static struct xtcp *xt(const struct wg_loop *l)
{
	return l->xp_state;
}

static void conn_event(struct loop_worker *w, struct loop_src *s, uint32_t events);

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

static struct tcp_conn *find(struct wg_loop *l, const struct endpoint *ep)
{
	for (struct tcp_conn *c = xt(l)->conns; c; c = c->next)
		if (!c->dead && endpoint_equal(&c->remote, ep))
			return c;
	return NULL;
}

/* One peer: the connection is gone, so the tun may be read again (its packets now count as
 * having no peer), and a client dials again. When it never connected (dial_err says why), a
 * server name's next address is dialled at once, and only once every one has failed in turn
 * does the round end with a message naming the server, the backoff, and the same order. */
static void one_lost(struct wg_loop *l, const struct endpoint *ep, const char *dial_err)
{
	struct xtcp *t = xt(l);
	unsigned int n = 1 + l->o.n_dial_more;
	const char *name = l->o.dial_name[0] ? l->o.dial_name : "the server";
	char b[64];

	loop_tun_pause(l, false);
	if (!l->o.dial.sa.sa_family)
		return;
	if (dial_err) {
		endpoint_str(ep, b, sizeof(b));
		t->dial_i = (t->dial_i + 1) % n;
		if (++t->dial_failed < n) {
			log_ratelimited(LOG_LVL_INFO, "cannot connect to %s (%s): %s; trying its next address",
					name, b, dial_err);
			t->next_dial = clock_mono_coarse_ns();
			return;
		}
		t->dial_failed = 0;
		if (n > 1)
			log_ratelimited(LOG_LVL_WARN, "cannot connect to %s: none of its %u addresses answered "
					"(the last, %s: %s)", name, n, b, dial_err);
		else
			log_ratelimited(LOG_LVL_WARN, "cannot connect to %s (%s): %s", name, b, dial_err);
	}
	t->next_dial = clock_mono_coarse_ns() + (uint64_t)t->backoff_ms * 1000000u;
	log_debug("reconnecting in %u ms", t->backoff_ms);
	t->backoff_ms = t->backoff_ms * 2 > ONE_BACKOFF_MAX_MS ? ONE_BACKOFF_MAX_MS : t->backoff_ms * 2;
}

/* Closes c for why; with one peer the processor hears of it (report) and logs it. */
static void conn_end(struct wg_loop *l, struct tcp_conn *c, enum loop_close why, bool report, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void conn_end(struct wg_loop *l, struct tcp_conn *c, enum loop_close why, bool report, const char *fmt, ...)
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
		one_lost(l, &c->remote, c->connecting ? msg : NULL);
}

static void conn_kill(struct wg_loop *l, struct tcp_conn *c, const char *why)
{
	conn_end(l, c, LOOP_CLOSE_ERROR, true, "%s", why);
}

/* The one peer's connection, if any. */
static struct tcp_conn *one_conn(struct wg_loop *l)
{
	for (struct tcp_conn *c = xt(l)->conns; c; c = c->next)
		if (!c->dead)
			return c;
	return NULL;
}

static void conn_kill_unproven(struct wg_loop *l, struct tcp_conn *c, const char *why)
{
	loop_drop(l, WG_DROP_TCP_UNPROVEN);
	conn_kill(l, c, why);
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

static struct tcp_conn *conn_dial(struct wg_loop *l, const struct endpoint *ep);

/* One peer, client: a connection to the server, or another attempt after the backoff. */
static void one_dial(struct wg_loop *l)
{
	struct endpoint ep;
	char b[64];

	xt(l)->next_dial = 0;
	memset(&ep, 0, sizeof(ep));
	ep.addr = xt(l)->dial_i ? l->o.dial_more[xt(l)->dial_i - 1] : l->o.dial;
	log_debug("connecting to %s", endpoint_str(&ep, b, sizeof(b)));
	if (!conn_dial(l, &ep))
		one_lost(l, &ep, strerror(errno));
}

static void tcp_tick(struct wg_loop *l)
{
	uint64_t now = clock_mono_coarse_ns();

	if (xt(l)->one) {
		struct tcp_conn *c = one_conn(l);

		/* a name's address that swallows SYNs must not hold up the others for minutes */
		if (c && c->connecting && l->o.n_dial_more && now - c->born > LOOP_DIAL_TRY_MS * 1000000ull)
			conn_end(l, c, LOOP_CLOSE_ERROR, false, "no answer in %u s", LOOP_DIAL_TRY_MS / 1000);
		else if (!c && xt(l)->next_dial && now >= xt(l)->next_dial)
			one_dial(l);
		return;
	}

	for (struct tcp_conn *c = xt(l)->conns; c; c = c->next)
		if (!c->dead && !c->proven && now - c->born > TCP_PROVE_NS)
			conn_kill_unproven(l, c, "no authenticated message in time");
}

static void tcp_authenticated(struct wg_loop *l, const struct endpoint *ep)
{
	struct tcp_conn *c = xt(l)->in;
	char b[64];

	if (!c || !endpoint_equal(&c->remote, ep))
		c = find(l, ep);
	if (!c || c->proven)
		return;
	c->proven = true;
	log_debug("TCP connection with %s proven", endpoint_str(&c->remote, b, sizeof(b)));
}

static void tcp_sweep(struct wg_loop *l)
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

static void set_out(struct wg_loop *l, struct tcp_conn *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = &c->src };

	if (c->want_out == on || c->dead)
		return;
	c->want_out = on;
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->src.fd, &ev);
}

static struct tcp_conn *conn_new(struct wg_loop *l, int fd, const struct endpoint *ep, bool connecting)
{
	struct tcp_conn *c;
	int one = 1;

	if ((xt(l)->n >= TCP_MAX_CONNS && !make_room(l)) || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return NULL;
	}
	c->src = (struct loop_src){ conn_event, fd, true };
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

static int tcp_socket(struct wg_loop *l, int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	int one = 1;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (l->fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &l->fwmark, sizeof(l->fwmark)) < 0)) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* A new connection to ep from our listening port (an ephemeral one if that is refused). */
static struct tcp_conn *conn_dial(struct wg_loop *l, const struct endpoint *ep)
{
	struct endpoint local;
	int fd = tcp_socket(l, ep->sa.sa_family);

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	memset(&local, 0, sizeof(local));
	local.sa.sa_family = ep->sa.sa_family;
	if (ep->sa.sa_family == AF_INET6)
		local.in6.sin6_port = htons(l->bound_port);
	else
		local.in4.sin_port = htons(l->bound_port);
	if (bind(fd, &local.sa, endpoint_len(&local)) < 0)
		log_debug("TCP: cannot dial from port %u (%s); an ephemeral port it is", l->bound_port,
			  strerror(errno));
	if (connect(fd, &ep->sa, endpoint_len(ep)) < 0 && errno != EINPROGRESS) {
		int e = errno;
		char b[64];

		log_debug("TCP: cannot connect to %s: %s", endpoint_str(ep, b, sizeof(b)), strerror(e));
		close(fd);
		errno = e;	/* for the caller's message */
		return NULL;
	}
	return conn_new(l, fd, ep, true);
}

static void conn_flush(struct wg_loop *l, struct tcp_conn *c)
{
	if (c->connecting || c->dead)
		return;
	while (framing_txq_pending(&c->tx)) {
		ssize_t r = framing_txq_flush(&c->tx, c->src.fd);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			conn_end(l, c, LOOP_CLOSE_ERROR, true, "send: %s", strerror((int)-r));
			return;
		}
	}
	set_out(l, c, framing_txq_pending(&c->tx) > 0);
	if (xt(l)->one && framing_txq_pending(&c->tx) <= c->tx.cap / 2)
		loop_tun_pause(l, false);
}

/* One peer: whatever the processor sends goes to the one connection, if it is up. Back-pressure
 * instead of loss: while the queue is half full the tun is not read, so TCP inside slows down
 * as it would on a slow link. */
static int one_send(struct wg_loop *l, struct wg_pkt *pkts, unsigned int n)
{
	struct tcp_conn *c = one_conn(l);
	unsigned int i;

	if (!c || c->connecting)
		return -ENOTCONN;
	for (i = 0; i < n; i++)
		if (framing_txq_append(&c->tx, pkts[i].data, pkts[i].len) < 0)
			break;
	if (framing_txq_pending(&c->tx) > c->tx.cap / 2)
		loop_tun_pause(l, true);
	if (!c->want_out)
		conn_flush(l, c);
	return i ? (int)i : -ENOBUFS;
}

static int tcp_send(struct wg_loop *l, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct tcp_conn *c;
	unsigned int i;

	if (xt(l)->one)
		return one_send(l, pkts, n);
	c = find(l, ep);
	/* A cookie reply goes to whoever sent a handshake message, authenticated or not: if
	 * that connection is gone, dialling its address would let anyone make us dial. */
	if (!c && pkts[0].data[0] == WG_MSG_COOKIE_REPLY)
		return -ENOTCONN;
	if (!c && !(c = conn_dial(l, ep)))
		return -ENOTCONN;
	for (i = 0; i < n; i++)
		if (framing_txq_append(&c->tx, pkts[i].data, pkts[i].len) < 0)
			break;	/* the queue is full: the rest count as not sent */
	conn_flush(l, c);
	return i ? (int)i : -ENOBUFS;
}

int xport_tcp_frame_next(struct framing_rx *rx, size_t max, const uint8_t **f, size_t *len)
{
	int r = framing_rx_next(rx, f, len);

	if (r == 1 && (*len < XPORT_TCP_MIN_MSG || *len > max))
		return -EPROTO;
	return r;
}

/* Whole frames go to the device in batches, each copied into a receive buffer with the
 * headroom the device decrypts into; a length no WireGuard message has closes the connection. */
static void conn_input(struct wg_loop *l, struct tcp_conn *c)
{
	struct loop_worker *w = &l->w[0];
	unsigned int n = 0;
	const uint8_t *f;
	size_t len;
	int r = 0;

	xt(l)->in = c;
	if (xt(l)->one) {
		size_t fm = __atomic_load_n(&l->frame_max, __ATOMIC_RELAXED);

		if (c->rx.limit != fm && framing_rx_set_limit(&c->rx, fm) < 0)
			log_debug("TCP: cannot raise the frame limit to %zu", fm);
	}
	/* the device may close this connection from inside (a failed send back): stop then */
	while (!c->dead && (r = xt(l)->one ? framing_rx_next(&c->rx, &f, &len) :
			    xport_tcp_frame_next(&c->rx, LOOP_BUF_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM,
						 &f, &len)) == 1) {
		memcpy(w->rx_ptrs[n], f, len);
		w->pkts[n] = (struct wg_pkt){ .data = w->rx_ptrs[n], .len = (uint32_t)len, .ep = c->remote };
		if (++n == LOOP_RX_BUFS) {
			loop_net_input(l, w->pkts, n);
			n = 0;
		}
	}
	if (r < 0 && xt(l)->one) {
		if (c->rx.err == FRAMING_ZERO_LENGTH)
			conn_end(l, c, LOOP_CLOSE_ZERO_LENGTH, true, "frame length 0 (zero_length)");
		else
			conn_end(l, c, LOOP_CLOSE_TOO_LONG, true, "frame length %zu exceeds the limit %zu of %s (frame_too_long)",
				 c->rx.bad_len, c->rx.limit, l->ifname);
	} else if (r < 0) {
		loop_drop(l, WG_DROP_BAD_FRAME);
		conn_kill(l, c, c->rx.err != FRAMING_OK ? framing_err_name(c->rx.err) :
							  "a frame length no WireGuard message has");
	}
	if (n)
		loop_net_input(l, w->pkts, n);
	xt(l)->in = NULL;
}

static void conn_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	struct wg_loop *l = w->l;
	struct tcp_conn *c = (struct tcp_conn *)s;

	if (c->dead)
		return;
	if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t elen = sizeof(err);

		if (getsockopt(c->src.fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err && xt(l)->one) {
			conn_end(l, c, LOOP_CLOSE_ERROR, false, "%s", strerror(err));	/* one_lost says so */
			return;
		}
		if (err) {
			conn_kill(l, c, strerror(err));
			return;
		}
		c->connecting = false;
		if (xt(l)->one) {
			xt(l)->backoff_ms = ONE_BACKOFF_MIN_MS;
			xt(l)->dial_failed = 0;
			if (l->proc.ops->conn_up)
				l->proc.ops->conn_up(l->proc.ctx, &c->remote, true);
		}
	}
	if (events & EPOLLOUT)
		conn_flush(l, c);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->dead)
		return;
	for (int b = 0; b < LOOP_BATCHES_PER_WAKE && !c->dead; b++) {
		size_t room;
		uint8_t *p = framing_rx_space(&c->rx, &room);
		ssize_t r = read(c->src.fd, p, room);

		if (r == 0) {
			conn_end(l, c, LOOP_CLOSE_PEER, true, "the peer closed the connection");
			return;
		}
		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_end(l, c, errno == ECONNRESET ? LOOP_CLOSE_PEER : LOOP_CLOSE_ERROR, true, "recv: %s",
					 strerror(errno));
			return;
		}
		c->last_rx = clock_mono_coarse_ns();
		framing_rx_commit(&c->rx, (size_t)r);
		conn_input(l, c);
		if ((size_t)r < room)
			return;
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
		if (fd < 0)
			return;
		ep_normalize(&ep);
		if (xt(l)->one) {
			/* a restarted client is served at once: the newest connection wins */
			struct tcp_conn *cur = one_conn(l), *c;
			char b[64];

			if (cur)
				conn_end(l, cur, LOOP_CLOSE_REPLACED, true, "replaced by a new client from %s",
					 endpoint_str(&ep, b, sizeof(b)));
			if ((c = conn_new(l, fd, &ep, false)) && l->proc.ops->conn_up)
				l->proc.ops->conn_up(l->proc.ctx, &c->remote, false);
			continue;
		}
		/* A peer that dials again (it restarted) replaces its old connection. */
		struct tcp_conn *old = find(l, &ep);
		if (old)
			conn_kill(l, old, "replaced by a new connection from the same address");
		if (!conn_new(l, fd, &ep, false))
			log_debug("TCP: connection refused: %u connections already, all proven", xt(l)->n);
	}
}

/* Only marks the connections dead: a rebind comes from a uapi request, in the middle of an
 * event batch that may still name them. */
static void close_all(struct wg_loop *l)
{
	loop_src_close(l->epfd, &xt(l)->listen);
	for (struct tcp_conn *c = xt(l)->conns; c; c = c->next)
		conn_end(l, c, LOOP_CLOSE_ERROR, false, "the listening port changed");
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
	fd = tcp_socket(l, a.sa.sa_family);
	if (fd >= 0 && a.sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (fd == -EAFNOSUPPORT && !l->o.bind_addr.sa.sa_family) {
		memset(&a, 0, sizeof(a));
		a.in4.sin_family = AF_INET;
		a.in4.sin_port = htons(port);
		fd = tcp_socket(l, AF_INET);
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
	return loop_ep_add(l->epfd, &xt(l)->listen, EPOLLIN);
}

static int tcp_bind(struct wg_loop *l, uint16_t want, char *desc, size_t desc_len)
{
	uint16_t old = l->bound_port, port = 0;
	int r;

	close_all(l);
	if (xt(l)->one && l->o.dial.sa.sa_family) {
		/* a client of one server: no listener, a connection kept up */
		snprintf(desc, desc_len, "transport tcp; tun %s; workers=1", loop_tun_desc(l));
		one_dial(l);
		return 0;
	}
	r = tcp_listen(l, want, &port);
	if (r < 0) {
		log_warn("cannot listen on TCP port %u: %s", want, strerror(-r));
		if (!old || tcp_listen(l, old, &port) < 0)
			return r;
	}
	l->bound_port = port;
	snprintf(desc, desc_len, "transport tcp (culvert peers only); tun %s; workers=1", loop_tun_desc(l));
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
	t->backoff_ms = ONE_BACKOFF_MIN_MS;
	l->xp_state = t;
	return 0;
}

static void tcp_close(struct wg_loop *l)
{
	close_all(l);
	tcp_sweep(l);
}

static void tcp_after(struct wg_loop *l)
{
	if (xt(l)->dead)
		tcp_sweep(l);
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
	.send = tcp_send,
	.authenticated = tcp_authenticated,
	.tick = tcp_tick,
	.after = tcp_after,
	.close = tcp_close,
	.free = tcp_free,
};
