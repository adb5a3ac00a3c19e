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
 * One worker: everything runs on worker 0, handshakes included (served inline). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "engine/loop_int.h"
#include "engine/xport_icmp.h"
#include "lib/clock.h"
#include "lib/log.h"
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

_Static_assert(WG_DROP_ICMP_SEND - WG_DROP_ICMP_SHORT == ICMPW_DROP_SEND - ICMPW_DROP_SHORT &&
	       WG_DROP_ICMP_SEND + 1 - WG_DROP_ICMP_SHORT == ICMPW_DROP_MAX, "drop reasons differ");
_Static_assert((int)ICMP_DIALS <= (int)ICMPW_DIAL_MAX, "more diallers than a socket filter serves");
_Static_assert((int)ICMP_BATCH <= (int)LOOP_RX_BUFS && (int)ICMP_BATCH <= (int)LOOP_PKTS, "batch too large");

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

static struct xicmp *xi(const struct wg_loop *l)
{
	return l->xp_state;
}

static void drop(struct wg_loop *l, enum icmpw_drop why, uint64_t n)
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

static void tx_flush(struct wg_loop *l)
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
		drop(l, ICMPW_DROP_SEND, lost);
		done += lost;
	}
	x->tx_n = 0;
}

/* The next slot of the send batch, for socket s; the caller fills len, peer (and local) and
 * counts it in tx_n. */
static struct icmpw_dgram *tx_slot(struct wg_loop *l, struct icmpw_sock *s)
{
	struct xicmp *x = xi(l);
	struct icmpw_dgram *d;

	if (x->tx_n && (x->tx_sock != s || x->tx_n == ICMP_BATCH))
		tx_flush(l);
	x->tx_sock = s;
	d = &x->tx[x->tx_n];
	d->buf = x->tx_bufs + (size_t)x->tx_n * ICMP_TX_SIZE;
	d->cap = ICMP_TX_SIZE;
	memset(&d->local, 0, sizeof(d->local));
	return d;
}

/* Held requests of se answered with what it has queued. */
static void session_flush(struct wg_loop *l, struct icmp_fam *f, struct icmpw_session *se, uint64_t now)
{
	struct xicmp *x = xi(l);
	const uint8_t *msg;
	uint8_t backlog;
	uint16_t seq;
	size_t len;

	while (icmpw_session_take(&x->t, se, now, &seq, &msg, &len, &backlog)) {
		struct icmpw_dgram *d = tx_slot(l, &f->ls);

		d->len = icmpw_build(d->buf, d->cap, f->v6, ICMPW_LISTENER, se->key.id, seq, backlog, msg, len);
		icmpw_sock_addr(&se->key, d);
		x->tx_n++;
	}
}

/* Empty polls the policy asks for now. */
static void dial_poll(struct wg_loop *l, struct icmp_fam *f, struct icmp_dial *dl, uint64_t now)
{
	uint64_t next;

	for (unsigned int due = icmpw_poll_due(&dl->poll, now, &next); due; due--) {
		struct icmpw_dgram *d = tx_slot(l, &f->ds);

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
				drop(l, ICMPW_DROP_TOO_LONG, 1);
			else if (r < 0)
				break;	/* the queue is full: the rest count as not sent */
		}
		session_flush(l, f, se, now);
		tx_flush(l);
		return i ? (int)i : -ENOBUFS;
	}
	/* A one-peer listener has no one to dial: its peer is a session or nothing. */
	if (l->o.icmp_one && !l->o.dial.sa.sa_family)
		return -ENOTCONN;
	/* A cookie reply goes to whoever sent a handshake message: with its session gone,
	 * dialling that address would let anyone make us send requests. */
	if (!l->o.icmp_one && pkts[0].data[0] == WG_MSG_COOKIE_REPLY) {
		drop(l, ICMPW_DROP_NO_SESSION, n);
		return -ENOTCONN;
	}
	dl = dial_get(l, ep, now);
	if (!dl) {
		drop(l, ICMPW_DROP_TABLE_FULL, n);
		return -ENOBUFS;
	}
	for (i = 0; i < n; i++) {
		if (pkts[i].len > ICMP_MSG_MAX) {
			drop(l, ICMPW_DROP_TOO_LONG, 1);
			continue;
		}
		struct icmpw_dgram *d = tx_slot(l, &f->ds);

		d->len = icmpw_build(d->buf, d->cap, f->v6, ICMPW_DIALLER, dl->id, dl->seq++, 0, pkts[i].data,
				     pkts[i].len);
		d->peer = dl->to;
		x->tx_n++;
		icmpw_poll_sent(&dl->poll, now, true);
	}
	dl->last_used = now;
	dial_poll(l, f, dl, now);
	tx_flush(l);
	return (int)n;
}

/* ---- receiving ---- */

static int rx_batch(struct loop_worker *w, struct icmpw_sock *s)
{
	struct xicmp *x = xi(w->l);

	for (unsigned int i = 0; i < ICMP_BATCH; i++) {
		/* into the device's receive buffers: it decrypts in place, just before the data */
		x->rx[i].buf = w->rx_ptrs[i];
		x->rx[i].cap = LOOP_BUF_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM;
	}
	return icmpw_sock_recv(s, x->rx, ICMP_BATCH);
}

static void touch(struct xicmp *x, unsigned int *nt, struct icmpw_session *se)
{
	for (unsigned int i = 0; i < *nt; i++)
		if (x->touched[i] == se)
			return;
	x->touched[(*nt)++] = se;
}

/* An ordinary ping to one of our addresses, answered as the kernel would have. */
static void answer_ping(struct wg_loop *l, struct icmp_fam *f, const struct icmpw_dgram *in)
{
	struct icmpw_dgram *d = tx_slot(l, &f->ls);

	d->len = icmpw_echo_answer(in->icmp, in->len, f->v6, d->buf, d->cap);
	if (!d->len)
		return;
	d->peer = in->peer;
	d->local = in->local;
	xi(l)->tx_n++;
}

static void listen_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	struct wg_loop *l = w->l;
	struct xicmp *x = xi(l);
	struct icmp_fam *f = fam_of(s, lsrc);

	for (int b = 0; b < LOOP_BATCHES_PER_WAKE; b++) {
		int n = rx_batch(w, &f->ls);
		unsigned int k = 0, nt = 0;
		uint64_t now = clock_mono_ns();

		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			struct icmpw_dgram *d = &x->rx[i];
			struct icmpw_session *se;
			enum icmpw_drop why;
			struct icmpw_key key;
			struct icmpw_msg m;

			if (!icmpw_parse(d->icmp, d->len, f->v6, ICMPW_LISTENER, ICMP_MSG_MAX, &m, &why)) {
				drop(l, why, 1);
				if (why == ICMPW_DROP_FOREIGN && d->unicast)
					answer_ping(l, f, d);
				continue;
			}
			icmpw_sock_key(&f->ls, d, m.id, &key);
			se = icmpw_table_get(&x->t, &key, now, true);
			if (!se) {
				drop(l, ICMPW_DROP_TABLE_FULL, 1);
				continue;
			}
			icmpw_session_hold(se, m.seq, now);
			touch(x, &nt, se);
			if (!m.len)
				continue;
			w->pkts[k] = (struct wg_pkt){ .data = d->buf + (m.data - d->buf), .len = (uint32_t)m.len };
			xport_icmp_ep_from_key(&key, &w->pkts[k].ep);
			k++;
		}
		if (k)
			loop_net_input(l, w->pkts, k);
		for (unsigned int i = 0; i < nt; i++)
			session_flush(l, f, x->touched[i], now);
		tx_flush(l);
		if (n < ICMP_BATCH)
			return;
	}
}

static struct icmp_dial *dial_find(struct xicmp *x, struct icmp_fam *f, const struct icmpw_dgram *d, uint16_t id)
{
	for (unsigned int i = 0; i < ICMP_DIALS; i++) {
		struct icmp_dial *dl = &x->d[i];

		if (dl->used && dl->id == id && dl->v6 == f->v6 && icmpw_sock_from(&f->ds, d, &dl->to))
			return dl;
	}
	return NULL;
}

static void dial_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	struct wg_loop *l = w->l;
	struct xicmp *x = xi(l);
	struct icmp_fam *f = fam_of(s, dsrc);

	for (int b = 0; b < LOOP_BATCHES_PER_WAKE; b++) {
		int n = rx_batch(w, &f->ds);
		uint64_t now = clock_mono_ns();
		unsigned int k = 0;

		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			struct icmpw_dgram *d = &x->rx[i];
			enum icmpw_drop why;
			struct icmp_dial *dl;
			struct icmpw_msg m;

			if (!icmpw_parse(d->icmp, d->len, f->v6, ICMPW_DIALLER, ICMP_MSG_MAX, &m, &why)) {
				drop(l, why, 1);
				continue;
			}
			dl = dial_find(x, f, d, m.id);
			if (!dl) {
				drop(l, ICMPW_DROP_WRONG_ID, 1);
				continue;
			}
			icmpw_poll_reply(&dl->poll, now, m.backlog, m.len > 0);
			dl->replied = true;
			if (!m.len)
				continue;
			dl->last_used = now;
			w->pkts[k] = (struct wg_pkt){ .data = d->buf + (m.data - d->buf), .len = (uint32_t)m.len,
						      .ep = dl->ep };
			k++;
		}
		if (k)
			loop_net_input(l, w->pkts, k);
		/* what the replies' backlog asks for */
		for (unsigned int i = 0; i < ICMP_DIALS; i++)
			if (x->d[i].replied) {
				x->d[i].replied = false;
				if (x->d[i].used)
					dial_poll(l, f, &x->d[i], now);
			}
		tx_flush(l);
		if (n < ICMP_BATCH)
			return;
	}
}

/* ---- the transport ---- */

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
		dial_poll(l, &x->f[dl->v6], dl, now);
	}
	for (unsigned int v6 = 0; v6 < 2; v6++)
		if (gone[v6])
			dial_filter(x, &x->f[v6]);
	tx_flush(l);
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
		snprintf(desc, desc_len, "transport icmp (culvert peers only; dialling over %s); tun %s; workers=1",
			 x->f[1].up ? "IPv6" : "IPv4", loop_tun_desc(l));
	else
		snprintf(desc, desc_len, "transport icmp (culvert peers only; listening on %s); tun %s; workers=1",
			 x->f[0].up && x->f[1].up ? "IPv4 and IPv6" : x->f[1].up ? "IPv6" : "IPv4",
			 loop_tun_desc(l));
	return 0;
}

static int fam_open(struct wg_loop *l, struct icmp_fam *f, bool v6, bool listen, bool dial)
{
	int r;

	f->v6 = v6;
	f->lsrc = (struct loop_src){ listen_event, -1, true };
	f->dsrc = (struct loop_src){ dial_event, -1, true };
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
	.close = icmp_close,
	.free = icmp_free,
};
