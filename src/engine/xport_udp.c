/* The UDP transport: one socket per worker on the shared port (SO_REUSEPORT when there are
 * several), opened, rebound on a listen-port or fwmark change without any worker reading a
 * closed descriptor, and the batched send and receive of the data path; the handshake thread
 * sends through a duplicate of worker 0's socket. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "engine/loop_int.h"
#include "lib/log.h"

/* One worker's socket. */
struct udp_port {
	struct loop_src src;	/* first: epoll data points here */
	struct loop_worker *w;
	struct udpio *uio;	/* in use */
	/* A rebind opens the new socket here; the worker swaps it in at its next wake-up. */
	pthread_mutex_t swap_lock;
	struct udpio *uio_next;
	bool swap;		/* atomic */
	struct udpio_pkt upkts[LOOP_PKTS];
	struct udpio_pkt sendq[UDPIO_MAX_BATCH];
};

struct xudp {
	struct udp_port *p;	/* [n_workers] */
	/* The handshake thread's duplicate of worker 0's socket, which never waits for a full
	 * buffer. */
	pthread_mutex_t hs_lock;	/* hs_uio, hs_sendq */
	struct udpio *hs_uio;
	struct udpio_pkt *hs_sendq;	/* [UDPIO_MAX_BATCH] */
};

static struct xudp *xu(const struct wg_loop *l)
{
	return l->xp_state;
}

/* The handshake thread's sends, as the workers' below, through its duplicate of worker 0's
 * socket. */
static int hs_send(struct xudp *l, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	unsigned int done = 0;
	int r = 0;

	pthread_mutex_lock(&l->hs_lock);
	if (l->hs_uio->fd < 0)
		r = -ENOTCONN;
	while (!r && done < n) {
		unsigned int k = n - done > UDPIO_MAX_BATCH ? UDPIO_MAX_BATCH : n - done;

		for (unsigned int i = 0; i < k; i++) {
			l->hs_sendq[i].buf = pkts[done + i].data;
			l->hs_sendq[i].len = pkts[done + i].len;
			l->hs_sendq[i].ep = *ep;
		}
		r = udpio_send(l->hs_uio, l->hs_sendq, k);
		if (!endpoint_local_isset(&l->hs_sendq[k - 1].ep.local))
			endpoint_clear_local(ep);
		if (r > 0)
			done += (unsigned int)r;
		r = r < 0 ? r : (unsigned int)r < k ? -EAGAIN : 0;
	}
	pthread_mutex_unlock(&l->hs_lock);
	return done ? (int)done : r;
}

/* The handshake thread's socket follows worker 0's (worker 0's thread, after a rebind). */
static void hs_take_socket(struct xudp *u)
{
	int fd = u->p[0].uio->fd;

	pthread_mutex_lock(&u->hs_lock);
	udpio_close(u->hs_uio);
	if (fd >= 0) {
		u->hs_uio->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		u->hs_uio->caps = u->p[0].uio->caps;
	}
	pthread_mutex_unlock(&u->hs_lock);
}

/* Never waits: this runs with the device lock held (for reading, or for writing from a timer
 * or a flush), so a full socket buffer loses what did not fit, counted by the caller
 * (send_full), rather than stall every worker behind the lock. The inner TCP sees the loss. */
static int udp_send(struct wg_loop *l, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	if (loop_hs_self)
		return hs_send(xu(l), ep, pkts, n);
	struct udp_port *w = &xu(l)->p[loop_cur(l)->id];
	struct udpio_pkt *up = w->sendq;
	unsigned int done = 0;

	if (w->src.fd < 0)
		return -ENOTCONN;
	while (done < n) {
		unsigned int k = n - done > UDPIO_MAX_BATCH ? UDPIO_MAX_BATCH : n - done;

		for (unsigned int i = 0; i < k; i++) {
			up[i].buf = pkts[done + i].data;
			up[i].len = pkts[done + i].len;
			up[i].ep = *ep;
		}
		int r = udpio_send(w->uio, up, k);
		/* udpio clears a source that has gone from the host (it sent from another) */
		if (!endpoint_local_isset(&up[k - 1].ep.local))
			endpoint_clear_local(ep);
		if (r < 0)
			return done ? (int)done : r;
		done += (unsigned int)r;
		if ((unsigned int)r < k)
			break;	/* the socket is full */
	}
	return (int)done;
}

static int udp_batch(struct udp_port *u)
{
	struct loop_worker *w = u->w;
	int r = udpio_recv(u->uio, w->rx_ptrs, LOOP_BUF_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM,
			   LOOP_RX_BUFS, u->upkts, LOOP_PKTS);

	for (int i = 0; i < r; i++) {
		w->pkts[i].data = u->upkts[i].buf;
		w->pkts[i].len = (uint32_t)u->upkts[i].len;
		w->pkts[i].ep = u->upkts[i].ep;
	}
	if (r > 0)
		loop_net_input(w->l, w->pkts, (unsigned int)r);
	return r;
}

static void udp_event(struct loop_worker *lw, struct loop_src *s, uint32_t events)
{
	struct udp_port *w = (struct udp_port *)s;

	for (int b = 0; b < LOOP_BATCHES_PER_WAKE; b++) {
		if (udp_batch(w) < 0)
			return;
		/* Fewer messages than asked means the socket was empty, and a further recvmmsg
		 * would only say EAGAIN. Level-triggered epoll reports whatever arrived since,
		 * so skipping it saves a syscall per exchange. */
		if (w->uio->rx_drained && !udpio_rx_pending(w->uio))
			return;
	}
	/* Segments received but not yet handed over wait for no epoll event: finish them
	 * (the socket may be swapped at the next wake-up). */
	while (udpio_rx_pending(w->uio))
		udp_batch(w);
}

static int udp_socket(const union endpoint_addr *a, bool reuseport, int v6only)
{
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	int one = 1, r;

	if (fd < 0)
		return -errno;
	if (a->sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, &a->sa, a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in)) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

/* One dual-stack socket ([::]:port), or IPv4 only where IPv6 is off; *port is updated to the
 * bound one. With several workers every socket shares the port (SO_REUSEPORT). */
static int udp_open(struct wg_loop *l, struct udpio *u, uint16_t *port)
{
	const struct udpio_opts o = { .bufsize = LOOP_SOCK_BUF, .no_gso = l->o.no_offload,
				      .no_gro = l->o.no_offload, .pktinfo = true };
	bool reuse = l->n_workers > 1;
	union endpoint_addr a;
	int fd, r;

	if (l->o.bind_addr.sa.sa_family) {
		/* one address of the processor's choosing */
		a = l->o.bind_addr;
		if (a.sa.sa_family == AF_INET6)
			a.in6.sin6_port = htons(*port);
		else
			a.in.sin_port = htons(*port);
		fd = udp_socket(&a, reuse, l->o.v6only);
	} else {
		memset(&a, 0, sizeof(a));
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(*port);
		a.in6.sin6_addr = in6addr_any;
		fd = udp_socket(&a, reuse, 0);
		if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
			memset(&a, 0, sizeof(a));
			a.in.sin_family = AF_INET;
			a.in.sin_port = htons(*port);
			fd = udp_socket(&a, reuse, 0);
		}
	}
	if (fd < 0)
		return fd;
	if (l->fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &l->fwmark, sizeof(l->fwmark)) < 0)
		goto fail;
	socklen_t alen = sizeof(a);
	if (getsockname(fd, &a.sa, &alen) < 0)
		goto fail;
	*port = ntohs(a.sa.sa_family == AF_INET6 ? a.in6.sin6_port : a.in.sin_port);
	r = udpio_attach(u, fd, &o);
	if (r < 0) {
		close(fd);
		return r;
	}
	return 0;
fail:
	r = -errno;
	close(fd);
	return r;
}

/* Puts the socket waiting in uio_next in use (on the worker's own thread, or before it runs). */
static void take_socket(struct udp_port *w)
{
	struct udpio *old;

	/* The old socket is closed before the lock is let go: from then on uio_next is the old
	 * one's struct again, and the next rebind on worker 0 opens its socket into it. */
	pthread_mutex_lock(&w->swap_lock);
	if (!__atomic_load_n(&w->swap, __ATOMIC_RELAXED)) {
		pthread_mutex_unlock(&w->swap_lock);
		return;
	}
	old = w->uio;
	w->uio = w->uio_next;
	if (old->fd >= 0) {
		epoll_ctl(w->w->epfd, EPOLL_CTL_DEL, old->fd, NULL);
		udpio_close(old);
	}
	w->uio_next = old;
	__atomic_store_n(&w->swap, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&w->swap_lock);
	w->src.fd = w->uio->fd;
	if (w->src.fd >= 0)
		loop_ep_add(w->w->epfd, &w->src, EPOLLIN);
}

static bool udp_wake(struct loop_worker *w)
{
	struct udp_port *u = &xu(w->l)->p[w->id];

	if (!__atomic_load_n(&u->swap, __ATOMIC_ACQUIRE))
		return false;
	take_socket(u);
	return true;
}

/* SO_REUSEPORT would let this daemon join a port another one already uses (same user): a plain
 * socket bound first fails there, as a single worker's socket would. */
static int port_free(uint16_t port)
{
	union endpoint_addr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons(port);
	a.in6.sin6_addr = in6addr_any;
	fd = udp_socket(&a, false, 0);
	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
		memset(&a, 0, sizeof(a));
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(port);
		fd = udp_socket(&a, false, 0);
	}
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* Opens one socket per worker on port, into uio_next; on failure none is kept. */
static int open_all(struct wg_loop *l, uint16_t port, uint16_t *bound)
{
	unsigned int i;
	int r = 0;

	if (l->n_workers > 1 && port && port != l->bound_port && (r = port_free(port)) < 0)
		return r;

	for (i = 0; i < l->n_workers; i++) {
		struct udp_port *w = &xu(l)->p[i];

		pthread_mutex_lock(&w->swap_lock);
		if (__atomic_load_n(&w->swap, __ATOMIC_RELAXED))	/* an earlier rebind, not taken yet */
			udpio_close(w->uio_next);
		__atomic_store_n(&w->swap, false, __ATOMIC_RELAXED);
		r = udp_open(l, w->uio_next, &port);
		pthread_mutex_unlock(&w->swap_lock);
		if (r < 0)
			break;
	}
	if (r < 0) {
		while (i--)
			udpio_close(xu(l)->p[i].uio_next);
		return r;
	}
	*bound = port;
	return 0;
}

static void switch_all(struct wg_loop *l)
{
	for (unsigned int i = 0; i < l->n_workers; i++) {
		struct udp_port *w = &xu(l)->p[i];

		__atomic_store_n(&w->swap, true, __ATOMIC_RELEASE);
		if (i == 0 || !l->w[i].running)
			take_socket(w);
		else
			loop_wake(&l->w[i]);
	}
}

static int udp_bind(struct wg_loop *l, uint16_t want, char *desc, size_t desc_len)
{
	struct xudp *u = xu(l);
	uint16_t old = l->bound_port, port = 0;
	char caps[160];
	int r;

	/* One worker: the old socket holds the port, so release it first and go back on
	 * failure. Several: the new set binds beside the old one (SO_REUSEPORT) and each worker
	 * swaps at its next wake-up, so no thread ever reads a closed descriptor. */
	if (l->n_workers == 1 && u->p[0].src.fd >= 0) {
		struct udp_port *w = &u->p[0];
		epoll_ctl(l->w[0].epfd, EPOLL_CTL_DEL, w->src.fd, NULL);
		udpio_close(w->uio);
		w->src.fd = -1;
		hs_take_socket(u);	/* its duplicate would hold the port */
	}
	r = open_all(l, want, &port);
	if (r < 0) {
		log_warn("cannot listen on UDP port %u: %s", want, strerror(-r));
		if (l->n_workers > 1 && u->p[0].src.fd >= 0)
			return r;	/* the old set is still in use */
		if (!old || open_all(l, old, &port) < 0)
			return r;
	}
	switch_all(l);
	hs_take_socket(u);
	l->bound_port = port;
	udpio_caps_str(&u->p[0].uio->caps, caps, sizeof(caps));
	char bpoll[32] = "off";
	if (l->busypoll.budget_ns)
		snprintf(bpoll, sizeof(bpoll), "%llu us", (unsigned long long)(l->busypoll.budget_ns / 1000));
	snprintf(desc, desc_len, "%s; udp %s; workers=%u, busy-poll %s", loop_tun_desc(l), caps,
		 l->n_workers, bpoll);
	log_debug("listening on UDP port %u (%s)", port, caps);
	return r;
}

static int udp_open_state(struct wg_loop *l)
{
	struct xudp *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	l->xp_state = u;
	pthread_mutex_init(&u->hs_lock, NULL);
	u->p = calloc(l->n_workers, sizeof(*u->p));
	u->hs_uio = calloc(1, sizeof(*u->hs_uio));
	u->hs_sendq = calloc(UDPIO_MAX_BATCH, sizeof(*u->hs_sendq));
	if (!u->p || !u->hs_uio || !u->hs_sendq)
		return -ENOMEM;
	u->hs_uio->fd = -1;
	for (unsigned int i = 0; i < l->n_workers; i++) {
		struct udp_port *p = &u->p[i];

		p->src = (struct loop_src){ udp_event, -1, true };
		p->w = &l->w[i];
		pthread_mutex_init(&p->swap_lock, NULL);
		p->uio = calloc(1, sizeof(*p->uio));
		p->uio_next = calloc(1, sizeof(*p->uio_next));
		if (!p->uio || !p->uio_next)
			return -ENOMEM;
		p->uio->fd = p->uio_next->fd = -1;
	}
	return 0;
}

static void udp_close(struct wg_loop *l)
{
	struct xudp *u = xu(l);

	for (unsigned int i = 0; u->p && i < l->n_workers; i++) {
		struct udp_port *p = &u->p[i];

		if (p->uio) {
			if (p->uio->fd >= 0)
				epoll_ctl(l->w[i].epfd, EPOLL_CTL_DEL, p->uio->fd, NULL);
			udpio_close(p->uio);
		}
		if (p->uio_next)
			udpio_close(p->uio_next);
		p->src.fd = -1;
	}
	if (u->hs_uio)
		udpio_close(u->hs_uio);
}

static void udp_free(struct wg_loop *l)
{
	struct xudp *u = xu(l);

	for (unsigned int i = 0; u->p && i < l->n_workers; i++) {
		pthread_mutex_destroy(&u->p[i].swap_lock);
		free(u->p[i].uio);
		free(u->p[i].uio_next);
	}
	free(u->p);
	free(u->hs_uio);
	free(u->hs_sendq);
	pthread_mutex_destroy(&u->hs_lock);
	free(u);
	l->xp_state = NULL;
}

static uint8_t udp_ipproto(const struct wg_loop *l)
{
	return IPPROTO_UDP;
}

const struct loop_xport_ops loop_xport_udp = {
	.name = "udp",
	.hs_thread = true,
	.ipproto = udp_ipproto,
	.open = udp_open_state,
	.bind = udp_bind,
	.send = udp_send,
	.wake = udp_wake,
	.close = udp_close,
	.free = udp_free,
};
