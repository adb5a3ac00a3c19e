/* The ICMP transport (culvert wg --transport icmp), for networks that pass only ping; only
 * culvert peers speak it. WireGuard messages travel unchanged in echo payloads (wire/icmp.h):
 * in requests from the side that dials, in replies from the side that listens.
 *
 * Every daemon listens: raw sockets take the echo requests sent to the host (v4, and v6 where
 * the host has it), with the kernel's own echo replies turned off in the namespace for as long
 * as the daemon lives (icmpw_guard: a guardian process puts them back however it ends), and
 * ordinary pings answered here instead. A dialler's session is (address, echo identifier,
 * local address), named to the device as the endpoint address:identifier with that local
 * address as its source, so that diallers behind one NAT stay apart and a roaming dialler is
 * a new endpoint the device learns as over UDP.
 *
 * A send to such an endpoint is queued on its session and leaves as replies to the requests
 * the session holds. A send to any other endpoint (a peer's configured one; a session gone
 * silent) dials: a dialler per endpoint with a random identifier sends the messages as
 * requests and keeps empty polls outstanding (the poll policy, on the loop's tick and on each
 * reply), so that the listener has requests to answer with what it has for us. Dialled
 * replies reach the device from the endpoint dialled, so a configured endpoint stays put.
 *
 * With one peer (wg_loop_opts.icmp_one, culvert simpletun --icmp) a side only listens or only
 * dials: the listener never dials (a dialled address would have the kernel echo our own requests
 * back as replies, taken for data), and the dialler's one dial lives as long as the run, polling
 * from the start so that the listener can send first.
 *
 * One worker: everything runs on worker 0, handshakes included (served inline). This file sets
 * the transport up and sends; xport_icmp_rx.c receives. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "engine/xport_icmp_int.h"
#include "engine/xport_icmp.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "wire/icmp_sock.h"

_Static_assert(WG_DROP_ICMP_SEND - WG_DROP_ICMP_SHORT == ICMPW_DROP_SEND - ICMPW_DROP_SHORT &&
	       WG_DROP_ICMP_SEND + 1 - WG_DROP_ICMP_SHORT == ICMPW_DROP_MAX, "drop reasons differ");
_Static_assert((int)ICMP_DIALS <= (int)ICMPW_DIAL_MAX, "more diallers than a socket filter serves");
_Static_assert((int)ICMP_BATCH <= (int)LOOP_RX_BUFS && (int)ICMP_BATCH <= (int)LOOP_PKTS, "batch too large");

void xicmp_drop(struct wg_loop *l, enum icmpw_drop why, uint64_t n)
{
	l->proc.ops->drop(l->proc.ctx, (enum wg_drop)(WG_DROP_ICMP_SHORT + why), n);
}

/* ---- endpoints and sessions (xport_icmp.h) ---- */

void xport_icmp_ep_from_key(const struct icmpw_key *key, struct endpoint *ep)
{
	*ep = key->ep;
	if (ep->sa.sa_family == AF_INET6)
		ep->in6.sin6_port = htons(key->id);
	else
		ep->in4.sin_port = htons(key->id);
}

bool xport_icmp_key_from_ep(const struct endpoint *ep, struct icmpw_key *key)
{
	/* as icmpw_sock_key builds them: no port, no scope, nothing past an IPv4 local address */
	memset(key, 0, sizeof(*key));
	key->ep.sa.sa_family = ep->sa.sa_family;
	if (ep->sa.sa_family == AF_INET6) {
		key->id = ntohs(ep->in6.sin6_port);
		key->ep.in6.sin6_addr = ep->in6.sin6_addr;
		key->ep.local = ep->local;
		return true;
	}
	if (ep->sa.sa_family != AF_INET)
		return false;
	key->id = ntohs(ep->in4.sin_port);
	key->ep.in4.sin_addr = ep->in4.sin_addr;
	key->ep.local.in = ep->local.in;
	return true;
}

bool xport_icmp_session_live(const struct icmpw_session *s, uint64_t now)
{
	return s && s->used && now - s->last_seen < XPORT_ICMP_SESSION_LIVE_NS;
}

/* ---- sending ---- */

void xicmp_tx_flush(struct wg_loop *l)
{
	struct xicmp *x = xi(l);
	unsigned int done = 0;

	while (done < x->tx_n) {
		int r = icmpw_sock_send(x->tx_sock, x->tx + done, x->tx_n - done);

		if (r > 0) {
			done += (unsigned int)r;
			continue;
		}
		static struct log_ratelimit rl;
		log_limited(&rl, LOG_LVL_DEBUG, "ICMP: send failed: %s", strerror(-r));
		/* a full buffer refuses the rest too; anything else, this one */
		unsigned int lost = r == -EAGAIN || r == -ENOBUFS ? x->tx_n - done : 1;
		xicmp_drop(l, ICMPW_DROP_SEND, lost);
		done += lost;
	}
	x->tx_n = 0;
}

/* The next slot of the send batch, for socket s; the caller fills len, peer (and local) and
 * counts it in tx_n. */
struct icmpw_dgram *xicmp_tx_slot(struct wg_loop *l, struct icmpw_sock *s)
{
	struct xicmp *x = xi(l);
	struct icmpw_dgram *d;

	if (x->tx_n && (x->tx_sock != s || x->tx_n == ICMP_BATCH))
		xicmp_tx_flush(l);
	x->tx_sock = s;
	d = &x->tx[x->tx_n];
	d->buf = x->tx_bufs + (size_t)x->tx_n * ICMP_TX_SIZE;
	d->cap = ICMP_TX_SIZE;
	memset(&d->local, 0, sizeof(d->local));
	return d;
}

/* Held requests of se answered with what it has queued. */
void xicmp_session_flush(struct wg_loop *l, struct icmp_fam *f, struct icmpw_session *se, uint64_t now)
{
	struct xicmp *x = xi(l);
	const uint8_t *msg;
	uint8_t backlog;
	uint16_t seq;
	size_t len;

	while (icmpw_session_take(&x->t, se, now, &seq, &msg, &len, &backlog)) {
		struct icmpw_dgram *d = xicmp_tx_slot(l, &f->ls);

		d->len = icmpw_build(d->buf, d->cap, f->v6, ICMPW_LISTENER, se->key.id, seq, backlog, msg, len);
		icmpw_sock_addr(&se->key, d);
		x->tx_n++;
	}
}

/* Empty polls the policy asks for now. */
void xicmp_dial_poll(struct wg_loop *l, struct icmp_fam *f, struct icmp_dial *dl, uint64_t now)
{
	uint64_t next;

	for (unsigned int due = icmpw_poll_due(&dl->poll, now, &next); due; due--) {
		struct icmpw_dgram *d = xicmp_tx_slot(l, &f->ds);

		d->len = icmpw_build(d->buf, d->cap, f->v6, ICMPW_DIALLER, dl->id, dl->seq++, 0, NULL, 0);
		d->peer = dl->to;
		xi(l)->tx_n++;
		icmpw_poll_sent(&dl->poll, now, false);
	}
}

/* The diallers' socket of f takes only the replies its diallers wait for: the kernel copies
 * every echo reply to the host onto every raw socket, and a burst of someone else's would
 * fill this one's receive buffer and crowd ours out. Unfiltered (the check in dial_find
 * still holds) if the kernel refuses. */
static void dial_filter(struct xicmp *x, struct icmp_fam *f)
{
	struct icmpw_dialled d[ICMP_DIALS];
	unsigned int n = 0;
	int r;

	if (!f->up)
		return;
	for (unsigned int i = 0; i < ICMP_DIALS; i++)
		if (x->d[i].used && x->d[i].v6 == f->v6)
			d[n++] = (struct icmpw_dialled){ .addr = x->d[i].to, .id = x->d[i].id };
	if ((r = icmpw_sock_dial(&f->ds, d, n)) < 0)
		log_debug("ICMP: no kernel filter on the diallers' socket: %s", strerror(-r));
}

static struct icmp_dial *dial_get(struct wg_loop *l, const struct endpoint *ep, uint64_t now)
{
	struct xicmp *x = xi(l);
	struct icmp_dial *free_d = NULL;
	char b[64];

	for (unsigned int i = 0; i < ICMP_DIALS; i++) {
		struct icmp_dial *dl = &x->d[i];

		if (dl->used && endpoint_equal(&dl->ep, ep))
			return dl;
		if (!dl->used && !free_d)
			free_d = dl;
		else if (dl->used && !dl->pinned && now - dl->last_used >= ICMP_DIAL_TTL_NS &&
			 (!free_d || (free_d->used && dl->last_used < free_d->last_used)))
			free_d = dl;
	}
	if (!free_d)
		return NULL;
	memset(free_d, 0, sizeof(*free_d));
	free_d->used = true;
	free_d->ep = *ep;
	endpoint_clear_local(&free_d->ep);
	free_d->v6 = ep->sa.sa_family == AF_INET6;
	/* the port of a raw socket's address must be 0 (or its protocol) */
	if (free_d->v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&free_d->to;

		a->sin6_family = AF_INET6;
		a->sin6_addr = ep->in6.sin6_addr;
		a->sin6_scope_id = ep->in6.sin6_scope_id;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&free_d->to;

		a->sin_family = AF_INET;
		a->sin_addr = ep->in4.sin_addr;
	}
	if (getrandom(&free_d->id, sizeof(free_d->id), 0) != sizeof(free_d->id) ||
	    getrandom(&free_d->seq, sizeof(free_d->seq), 0) != sizeof(free_d->seq))
		free_d->id = (uint16_t)now;
	icmpw_poll_init(&free_d->poll, now);
	free_d->last_used = now;
	/* both: the slot may have been a dialler of the other family */
	dial_filter(x, &x->f[0]);
	dial_filter(x, &x->f[1]);
	log_debug("ICMP: dialling %s with identifier %u", endpoint_str(ep, b, sizeof(b)), free_d->id);
	return free_d;
}

static int icmp_send(struct wg_loop *l, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct xicmp *x = xi(l);
	struct icmp_fam *f = &x->f[ep->sa.sa_family == AF_INET6];
	struct icmpw_session *se;
	struct icmpw_key key;
	struct icmp_dial *dl;
	uint64_t now = clock_mono_ns();
	unsigned int i;

	if (!f->up || !xport_icmp_key_from_ep(ep, &key))
		return -EAFNOSUPPORT;
	se = icmpw_table_get(&x->t, &key, now, false);
	if (xport_icmp_session_live(se, now)) {
		for (i = 0; i < n; i++) {
			int r = icmpw_session_enqueue(&x->t, se, pkts[i].data, pkts[i].len);

			if (r == -EMSGSIZE)
				xicmp_drop(l, ICMPW_DROP_TOO_LONG, 1);
			else if (r < 0)
				break;	/* the queue is full: the rest count as not sent */
		}
		/* the caller counts them too (send_full); this says whose queue it was */
		if (i < n)
			xicmp_drop(l, ICMPW_DROP_QUEUE_FULL, n - i);
		xicmp_session_flush(l, f, se, now);
		xicmp_tx_flush(l);
		return i ? (int)i : -ENOBUFS;
	}
	/* A one-peer listener has no one to dial: its peer is a session or nothing. */
	if (l->o.icmp_one && !l->o.dial.sa.sa_family)
		return -ENOTCONN;
	/* A cookie reply goes to whoever sent a handshake message: with its session gone,
	 * dialling that address would let anyone make us send requests. */
	if (!l->o.icmp_one && pkts[0].data[0] == WG_MSG_COOKIE_REPLY) {
		xicmp_drop(l, ICMPW_DROP_NO_SESSION, n);
		return -ENOTCONN;
	}
	dl = dial_get(l, ep, now);
	if (!dl) {
		xicmp_drop(l, ICMPW_DROP_TABLE_FULL, n);
		return -ENOBUFS;
	}
	for (i = 0; i < n; i++) {
		if (pkts[i].len > ICMP_MSG_MAX) {
			xicmp_drop(l, ICMPW_DROP_TOO_LONG, 1);
			continue;
		}
		struct icmpw_dgram *d = xicmp_tx_slot(l, &f->ds);

		d->len = icmpw_build(d->buf, d->cap, f->v6, ICMPW_DIALLER, dl->id, dl->seq++, 0, pkts[i].data,
				     pkts[i].len);
		d->peer = dl->to;
		x->tx_n++;
		icmpw_poll_sent(&dl->poll, now, true);
	}
	dl->last_used = now;
	xicmp_dial_poll(l, f, dl, now);
	xicmp_tx_flush(l);
	return (int)n;
}

/* ---- the transport ---- */

/* The device authenticated a message of peer from ep: its listener session keeps its slot
 * from now on, and the peer's older one is unproven again (a dialler's sessions are ours and
 * need no proof). Only a session not yet proven by that peer costs a scan of the table. */
static void icmp_authenticated(struct wg_loop *l, const struct endpoint *ep, uint64_t peer)
{
	struct xicmp *x = xi(l);
	struct icmpw_key key;
	char b[64];

	if (x->t.unproven && xport_icmp_key_from_ep(ep, &key) && icmpw_table_prove(&x->t, &key, peer))
		log_debug("ICMP session with %s proven", endpoint_str(ep, b, sizeof(b)));
}

static void icmp_tick(struct wg_loop *l)
{
	struct xicmp *x = xi(l);
	uint64_t now = clock_mono_ns();
	bool gone[2] = { false, false };
	char b[64];

	for (unsigned int i = 0; i < ICMP_DIALS; i++) {
		struct icmp_dial *dl = &x->d[i];

		if (!dl->used)
			continue;
		if (!dl->pinned && now - dl->last_used >= ICMP_DIAL_TTL_NS) {
			log_debug("ICMP: no longer dialling %s (idle)", endpoint_str(&dl->ep, b, sizeof(b)));
			dl->used = false;
			gone[dl->v6] = true;
			continue;
		}
		xicmp_dial_poll(l, &x->f[dl->v6], dl, now);
	}
	for (unsigned int v6 = 0; v6 < 2; v6++)
		if (gone[v6])
			dial_filter(x, &x->f[v6]);
	xicmp_tx_flush(l);
}

static int set_mark(struct icmpw_sock *s, uint32_t mark)
{
	return s->fd < 0 || setsockopt(s->fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == 0 ? 0 : -errno;
}

/* Nothing to bind: the port is only reported. A changed fwmark marks the sockets. */
static int icmp_bind(struct wg_loop *l, uint16_t want, char *desc, size_t desc_len)
{
	struct xicmp *x = xi(l);
	int r = 0;

	if (l->fwmark != x->mark) {
		for (unsigned int i = 0; !r && i < 2; i++)
			if (x->f[i].up && (r = set_mark(&x->f[i].ls, l->fwmark)) == 0)
				r = set_mark(&x->f[i].ds, l->fwmark);
		if (r < 0) {
			log_warn("cannot set fwmark %u on the ICMP sockets: %s", l->fwmark, strerror(-r));
			return r;
		}
		x->mark = l->fwmark;
	}
	l->bound_port = want;
	if (l->o.icmp_one && l->o.dial.sa.sa_family)
		snprintf(desc, desc_len, "transport icmp (culvert peers only; dialling over %s); %s; workers=1",
			 x->f[1].up ? "IPv6" : "IPv4", loop_tun_desc(l));
	else
		snprintf(desc, desc_len, "transport icmp (culvert peers only; listening on %s); %s; workers=1",
			 x->f[0].up && x->f[1].up ? "IPv4 and IPv6" : x->f[1].up ? "IPv6" : "IPv4",
			 loop_tun_desc(l));
	return 0;
}

static int fam_open(struct wg_loop *l, struct icmp_fam *f, bool v6, bool listen, bool dial)
{
	int r;

	f->v6 = v6;
	f->lsrc = (struct loop_src){ xicmp_listen_event, -1, true };
	f->dsrc = (struct loop_src){ xicmp_dial_event, -1, true };
	f->ls.fd = f->ds.fd = -1;
	f->guard.pid = -1;
	if ((listen && (r = icmpw_sock_open(&f->ls, v6, ICMPW_LISTENER)) < 0) ||
	    (dial && (r = icmpw_sock_open(&f->ds, v6, ICMPW_DIALLER)) < 0))
		return r;
	/* The kernel would answer every request too, echoing the payload back as a reply. */
	if (listen && (r = icmpw_guard_start(&f->guard, v6)) < 0)
		return r;
	f->up = true;
	f->lsrc.fd = f->ls.fd;
	f->dsrc.fd = f->ds.fd;
	if ((listen && (r = loop_ep_add(l->epfd, &f->lsrc, EPOLLIN)) < 0) ||
	    (dial && (r = loop_ep_add(l->epfd, &f->dsrc, EPOLLIN)) < 0))
		return r;
	return 0;
}

/* icmp_one's dial, from setup on: its polls give the listener requests to answer with. */
static int dial_pin(struct wg_loop *l)
{
	struct endpoint ep;
	struct icmp_dial *dl;

	memset(&ep, 0, sizeof(ep));
	ep.addr = l->o.dial;
	if (ep.sa.sa_family == AF_INET6)
		ep.in6.sin6_port = 0;
	else
		ep.in4.sin_port = 0;
	dl = dial_get(l, &ep, clock_mono_ns());
	if (!dl)
		return -ENOBUFS;
	dl->pinned = true;
	return 0;
}

static void fam_close(struct wg_loop *l, struct icmp_fam *f)
{
	if (f->lsrc.fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, f->lsrc.fd, NULL);
	if (f->dsrc.fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, f->dsrc.fd, NULL);
	f->lsrc.fd = f->dsrc.fd = -1;
	icmpw_sock_close(&f->ls);
	icmpw_sock_close(&f->ds);
	/* the kernel answers echo requests again once the guardian has put the value back */
	icmpw_guard_stop(&f->guard);
	f->up = false;
}

static void icmp_close(struct wg_loop *l)
{
	struct xicmp *x = xi(l);

	for (unsigned int i = 0; i < 2; i++)
		fam_close(l, &x->f[i]);
}

static void icmp_free(struct wg_loop *l)
{
	struct xicmp *x = xi(l);

	icmpw_table_free(&x->t);
	free(x->tx_bufs);
	free(x);
	l->xp_state = NULL;
}

/* Raw sockets and the echo guard need privileges the daemon may drop before its first bind:
 * all of it is done here, at setup. */
static int icmp_open(struct wg_loop *l)
{
	struct xicmp *x = calloc(1, sizeof(*x));
	int r;

	if (!x)
		return -ENOMEM;
	l->xp_state = x;
	for (unsigned int i = 0; i < 2; i++) {
		x->f[i].ls.fd = x->f[i].ds.fd = -1;
		x->f[i].lsrc.fd = x->f[i].dsrc.fd = -1;
		x->f[i].guard.pid = -1;
	}
	x->tx_bufs = malloc((size_t)ICMP_BATCH * ICMP_TX_SIZE);
	if (!x->tx_bufs || (r = icmpw_table_init(&x->t, ICMP_SESSIONS, ICMP_QCAP, ICMP_MSG_MAX)) < 0)
		return -ENOMEM;
	/* WireGuard's sessions prove themselves; a plaintext one-peer tunnel has nothing to prove */
	x->t.prove = !l->o.icmp_one;
	if (l->o.icmp_one) {
		bool dial = l->o.dial.sa.sa_family != 0;
		int fam = dial ? l->o.dial.sa.sa_family : l->o.bind_addr.sa.sa_family;

		for (unsigned int i = 0; i < 2; i++) {
			if (fam && fam != (i ? AF_INET6 : AF_INET))
				continue;
			r = fam_open(l, &x->f[i], i, !dial, dial);
			if (r < 0 && (fam || !i)) {
				log_err("ICMP transport: cannot open raw %s sockets%s (%s); it needs CAP_NET_RAW%s",
					i ? "ICMPv6" : "ICMP", dial ? "" : " or turn off the kernel's echo replies",
					strerror(-r), dial ? "" : " and root");
				return r;
			}
			if (r < 0) {
				log_info("ICMP transport: IPv4 only (%s for IPv6)", strerror(-r));
				fam_close(l, &x->f[i]);
			}
		}
		return dial ? dial_pin(l) : 0;
	}
	r = fam_open(l, &x->f[0], false, true, true);
	if (r < 0) {
		log_err("ICMP transport: cannot open raw IPv4 ICMP sockets or turn off the kernel's echo "
			"replies (%s); it needs CAP_NET_RAW and root", strerror(-r));
		return r;
	}
	r = fam_open(l, &x->f[1], true, true, true);
	if (r < 0) {
		/* a host without IPv6 (no ICMPv6 sockets, no echo_ignore_all of its own) */
		log_info("ICMP transport: IPv4 only (%s for IPv6)", strerror(-r));
		fam_close(l, &x->f[1]);
	}
	return 0;
}

static uint8_t icmp_ipproto(const struct wg_loop *l)
{
	return IPPROTO_ICMP;
}

const struct loop_xport_ops loop_xport_icmp = {
	.name = "icmp",
	.one_worker = true,
	.mtu_extra = ICMPW_OVERHEAD - 8,	/* the echo header and ours, where UDP takes 8 */
	.ipproto = icmp_ipproto,
	.open = icmp_open,
	.bind = icmp_bind,
	.send = icmp_send,
	.tick = icmp_tick,
	.authenticated = icmp_authenticated,
	.close = icmp_close,
	.free = icmp_free,
};
