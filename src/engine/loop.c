/* The daemon's epoll loops: one worker per tun queue, each with its own UDP socket (same
 * port, SO_REUSEPORT), buffers and epoll; worker 0 is the main thread and also serves the uapi
 * connections, the timers and the signals. Per-flow order holds: the kernel hashes a flow to
 * one tun queue and a 4-tuple to one socket, and each worker keeps its order. */
#include "engine/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <netinet/in.h>
#include <linux/if_tun.h>

#include "engine/gro.h"
#include "engine/gso.h"
#include "engine/udpio.h"
#include "lib/log.h"
#include "lib/tun.h"
#include "wg/device.h"
#include "wg/noise.h"
#include "wg/uapi_dev.h"

enum {
	LOOP_BUF_SIZE = 65536 + WG_PKT_HEADROOM + WG_PKT_TAILROOM,
	LOOP_SOCK_BUF = 8 << 20,
	LOOP_TICK_MS = 100,
	LOOP_MAX_CONNS = 64,
	LOOP_BATCHES_PER_WAKE = 8,	/* fairness between tun, UDP and control */
	LOOP_PKTS = UDPIO_MAX_BATCH,	/* packets handed to the device at once */
	LOOP_TUN_BUFS = 64,
	LOOP_RX_BUFS = 64,
	LOOP_SLOTS = LOOP_PKTS,
	LOOP_SLOT_SIZE = 9216 + WG_PKT_HEADROOM + WG_PKT_TAILROOM,
	LOOP_VNET = GSO_VNET_HDR_LEN,
	LOOP_GRO_SCRATCH = GRO_MAX_BATCH / 2,	/* a merge head takes two packets at least */
};

enum src_kind { SRC_TUN, SRC_UDP, SRC_UAPI, SRC_CONN, SRC_TIMER, SRC_SIGNAL, SRC_WAKE };

struct loop_src {
	enum src_kind kind;
	int fd;
};

struct loop_conn {
	struct loop_src src;	/* first: epoll data points here */
	struct uapi_conn uc;
	struct loop_conn *next;
};

/* One tun queue and one UDP socket, with everything a batch needs. */
struct loop_worker {
	struct wg_loop *l;
	unsigned int id;
	int epfd;		/* worker 0: the loop's */
	struct loop_src tun, udp, wake;
	pthread_t thread;
	bool running;

	struct udpio *uio;	/* in use */
	/* A rebind opens the new socket here; the worker swaps it in at its next wake-up. */
	pthread_mutex_t swap_lock;
	struct udpio *uio_next;
	bool swap;		/* atomic */

	uint8_t *tx_bufs;	/* LOOP_TUN_BUFS tun-read buffers of LOOP_BUF_SIZE */
	uint8_t *slots;		/* LOOP_SLOTS segment buffers of LOOP_SLOT_SIZE (GSO splits) */
	uint8_t *rx_bufs;	/* LOOP_RX_BUFS datagram buffers of LOOP_BUF_SIZE */
	uint8_t *rx_ptrs[LOOP_RX_BUFS];
	struct udpio_pkt upkts[LOOP_PKTS];
	struct wg_pkt pkts[LOOP_PKTS];
	struct iovec segs[UDPIO_MAX_SEGS];
	struct udpio_pkt sendq[UDPIO_MAX_BATCH];
	/* receive side: TCP segments merged; only merge heads are copied (to gro scratch) */
	struct gro gro;
	uint8_t *gro_bufs;	/* LOOP_GRO_SCRATCH buffers of GRO_SCRATCH_SIZE */
	struct gro_pkt gpkts[GRO_MAX_BATCH];
	struct iovec gout[GRO_MAX_BATCH];
};

struct wg_loop {
	struct wg_device *dev;
	struct loop_opts_copy {
		bool no_offload;
	} o;
	int epfd;
	struct loop_src uapi, timer, sig;
	bool vnet;		/* the tun fds carry a virtio_net_hdr before each packet */
	bool tso;		/* ... and the device takes TSO: writes may be merged (GRO) */
	struct loop_conn *conns;
	unsigned int n_conns;
	bool stop;		/* atomic */
	int fatal;
	uint16_t bound_port;
	unsigned int ticks;
	unsigned int n_workers;
	struct loop_worker *w;	/* [n_workers] */
};

/* The worker this thread runs: the device's ops find their socket and tun queue here. */
static __thread struct loop_worker *self;

static bool stopping(const struct wg_loop *l)
{
	return __atomic_load_n(&l->stop, __ATOMIC_ACQUIRE);
}

static void wake(struct loop_worker *w)
{
	uint64_t one = 1;

	if (w->wake.fd >= 0 && write(w->wake.fd, &one, sizeof(one)) < 0)
		log_debug("cannot wake worker %u: %s", w->id, strerror(errno));
}

/* Ends every worker's loop; fatal is kept if it is the first error. */
static void loop_stop(struct wg_loop *l, int fatal)
{
	if (fatal && !__atomic_load_n(&l->fatal, __ATOMIC_RELAXED))
		__atomic_store_n(&l->fatal, fatal, __ATOMIC_RELAXED);
	__atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
	for (unsigned int i = 0; i < l->n_workers; i++)
		wake(&l->w[i]);
}

static int ep_add(int epfd, struct loop_src *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

static void src_close(int epfd, struct loop_src *s)
{
	if (s->fd < 0)
		return;
	if (epfd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->fd = -1;
}

/* ---- device ops ---- */

static uint64_t op_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * WG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void op_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = ts.tv_sec;
	*nsec = ts.tv_nsec;
}

_Static_assert(sizeof(union udpio_addr) == sizeof(struct wg_endpoint), "endpoint layouts differ");
_Static_assert((int)WG_MSG_DATA_HEADER_LEN >= (int)GRO_HEADROOM, "no room for the virtio header");

/* The calling thread's worker; the main thread is worker 0. */
static struct loop_worker *cur(struct wg_loop *l)
{
	return self && self->l == l ? self : &l->w[0];
}

static int op_udp_send(void *ctx, const struct wg_endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct loop_worker *w = cur(ctx);
	struct udpio_pkt *up = w->sendq;
	unsigned int done = 0;

	if (w->udp.fd < 0)
		return -ENOTCONN;
	while (done < n) {
		unsigned int k = n - done > UDPIO_MAX_BATCH ? UDPIO_MAX_BATCH : n - done;

		for (unsigned int i = 0; i < k; i++) {
			up[i].buf = pkts[done + i].data;
			up[i].len = pkts[done + i].len;
			memcpy(&up[i].addr, ep, sizeof(up[i].addr));
		}
		int r = udpio_send(w->uio, up, k);
		if (r == -EAGAIN || (r >= 0 && (unsigned int)r < k)) {
			/* The socket buffer is full: wait a little rather than drop, so TCP
			 * inside sees back-pressure instead of loss. */
			struct pollfd pf = { .fd = w->udp.fd, .events = POLLOUT };
			if (r > 0)
				done += (unsigned int)r;
			if (poll(&pf, 1, 100) <= 0)
				return done ? (int)done : -EAGAIN;
			continue;
		}
		if (r < 0)
			return done ? (int)done : r;
		done += (unsigned int)r;
	}
	return (int)done;
}

static unsigned int tun_write_gro(struct loop_worker *w, struct wg_pkt *pkts, unsigned int n)
{
	unsigned int ok = 0;
	int k;

	/* Decrypted packets lie back to back in a UDP GRO buffer, each behind its own data
	 * header (room for the virtio header): no room after them, so heads move to scratch. */
	for (unsigned int i = 0; i < n; i++)
		w->gpkts[i] = (struct gro_pkt){ .data = pkts[i].data, .len = pkts[i].len, .cap = pkts[i].len };
	k = gro_coalesce(&w->gro, w->gpkts, n, w->gout, GRO_MAX_BATCH);
	if (k < 0)
		return 0;
	for (int i = 0; i < k; i++) {
		ssize_t r;
		do
			r = write(w->tun.fd, w->gout[i].iov_base, w->gout[i].iov_len);
		while (r < 0 && errno == EINTR);
		if (r == (ssize_t)w->gout[i].iov_len)
			ok++;
	}
	/* merged segments count as written when their packet was */
	return k && ok == (unsigned int)k ? n : ok;
}

static int op_tun_write(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	struct wg_loop *l = ctx;
	struct loop_worker *w = cur(l);
	unsigned int ok = 0;

	if (l->vnet && w->gro_bufs) {
		for (unsigned int i = 0; i < n; i += GRO_MAX_BATCH)
			ok += tun_write_gro(w, pkts + i, n - i > GRO_MAX_BATCH ? GRO_MAX_BATCH : n - i);
		return (int)ok;
	}
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *p = pkts[i].data;
		size_t len = pkts[i].len;

		if (l->vnet) {
			/* room is there: the data header preceded the plaintext */
			p -= LOOP_VNET;
			memset(p, 0, LOOP_VNET);
			len += LOOP_VNET;
		}
		if (write(w->tun.fd, p, len) == (ssize_t)len)
			ok++;
	}
	return (int)ok;
}

static int op_rebind(void *ctx)
{
	return wg_loop_bind(ctx);
}

/* ---- UDP sockets ---- */

static int udp_socket(const union udpio_addr *a, bool reuseport)
{
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	int one = 1, zero = 0, r;

	if (fd < 0)
		return -errno;
	if (a->sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
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
				      .no_gro = l->o.no_offload };
	bool reuse = l->n_workers > 1;
	union udpio_addr a;
	int fd, r;

	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons(*port);
	a.in6.sin6_addr = in6addr_any;
	fd = udp_socket(&a, reuse);
	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
		memset(&a, 0, sizeof(a));
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(*port);
		fd = udp_socket(&a, reuse);
	}
	if (fd < 0)
		return fd;
	if (l->dev->fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &l->dev->fwmark, sizeof(l->dev->fwmark)) < 0)
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
static void worker_take_socket(struct loop_worker *w)
{
	struct udpio *old;

	pthread_mutex_lock(&w->swap_lock);
	if (!w->swap) {
		pthread_mutex_unlock(&w->swap_lock);
		return;
	}
	old = w->uio;
	w->uio = w->uio_next;
	w->uio_next = old;
	__atomic_store_n(&w->swap, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&w->swap_lock);
	if (old->fd >= 0) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, old->fd, NULL);
		udpio_close(old);
	}
	w->udp.fd = w->uio->fd;
	if (w->udp.fd >= 0)
		ep_add(w->epfd, &w->udp, EPOLLIN);
}

/* Opens one socket per worker on port; on failure none is kept. */
/* SO_REUSEPORT would let this daemon join a port another one already uses (same user): a plain
 * socket bound first fails there, as a single worker's socket would. */
static int port_free(uint16_t port)
{
	union udpio_addr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons(port);
	a.in6.sin6_addr = in6addr_any;
	fd = udp_socket(&a, false);
	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
		memset(&a, 0, sizeof(a));
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(port);
		fd = udp_socket(&a, false);
	}
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int open_all(struct wg_loop *l, uint16_t port, uint16_t *bound)
{
	unsigned int i;
	int r = 0;

	if (l->n_workers > 1 && port && port != l->bound_port && (r = port_free(port)) < 0)
		return r;

	for (i = 0; i < l->n_workers; i++) {
		struct loop_worker *w = &l->w[i];

		pthread_mutex_lock(&w->swap_lock);
		if (w->swap)	/* an earlier rebind the worker has not taken yet */
			udpio_close(w->uio_next);
		w->swap = false;
		r = udp_open(l, w->uio_next, &port);
		pthread_mutex_unlock(&w->swap_lock);
		if (r < 0)
			break;
	}
	if (r < 0) {
		while (i--)
			udpio_close(l->w[i].uio_next);
		return r;
	}
	*bound = port;
	return 0;
}

static void switch_all(struct wg_loop *l)
{
	for (unsigned int i = 0; i < l->n_workers; i++) {
		struct loop_worker *w = &l->w[i];

		__atomic_store_n(&w->swap, true, __ATOMIC_RELEASE);
		if (i == 0 || !w->running)
			worker_take_socket(w);
		else
			wake(w);
	}
}

int wg_loop_bind(struct wg_loop *l)
{
	struct wg_device *dev = l->dev;
	uint16_t old = l->bound_port, port = 0;
	char caps[160];
	int r;

	/* One worker: the old socket holds the port, so release it first and go back on
	 * failure. Several: the new set binds beside the old one (SO_REUSEPORT) and each worker
	 * swaps at its next wake-up, so no thread ever reads a closed descriptor. */
	if (l->n_workers == 1 && l->w[0].udp.fd >= 0) {
		struct loop_worker *w = &l->w[0];
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->udp.fd, NULL);
		udpio_close(w->uio);
		w->udp.fd = -1;
	}
	r = open_all(l, dev->listen_port, &port);
	if (r < 0) {
		log_warn("cannot listen on UDP port %u: %s", dev->listen_port, strerror(-r));
		if (l->n_workers > 1 && l->w[0].udp.fd >= 0)
			return r;	/* the old set is still in use */
		if (!old || open_all(l, old, &port) < 0)
			return r;
	}
	switch_all(l);
	l->bound_port = port;
	dev->listen_port = port;
	udpio_caps_str(&l->w[0].uio->caps, caps, sizeof(caps));
	snprintf(dev->offload, sizeof(dev->offload), "tun %s; udp %s; workers=%u",
		 l->tso ? "vnet_hdr tso csum" : l->vnet ? "vnet_hdr csum" : "plain", caps, l->n_workers);
	log_debug("listening on UDP port %u (%s)", port, caps);
	return r;
}

/* ---- data path ---- */

/* One tun read into buf (packet at buf + WG_PKT_HEADROOM); with vnet headers a GSO
 * super-packet is split into free slots. Adds to w->pkts; returns 1 on a packet, 0 on
 * EAGAIN, -1 on a fatal error. */
static int tun_read_one(struct loop_worker *w, uint8_t *buf, unsigned int *n, unsigned int *slots)
{
	struct wg_loop *l = w->l;
	uint8_t *pkt = buf + WG_PKT_HEADROOM;
	size_t room = LOOP_BUF_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM;
	struct virtio_net_hdr vh;
	enum gso_reason why;
	ssize_t r;

	do
		r = l->vnet ? read(w->tun.fd, pkt - LOOP_VNET, room + LOOP_VNET) : read(w->tun.fd, pkt, room);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		log_err("reading the tun device failed: %s", strerror(errno));
		loop_stop(l, -errno);
		return -1;
	}
	if (!l->vnet) {
		w->pkts[*n] = (struct wg_pkt){ .data = pkt, .len = (uint32_t)r };
		(*n)++;
		return 1;
	}
	if (gso_hdr_get(pkt - LOOP_VNET, (size_t)r, &vh) < 0) {
		wg_device_drop(l->dev, WG_DROP_BAD_INNER_PACKET);
		return 1;
	}
	r -= LOOP_VNET;
	if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		if (gso_finish_csum(&vh, pkt, (size_t)r, &why) < 0) {
			wg_device_drop(l->dev, WG_DROP_BAD_INNER_PACKET);
			return 1;
		}
		w->pkts[*n] = (struct wg_pkt){ .data = pkt, .len = (uint32_t)r };
		(*n)++;
		return 1;
	}
	unsigned int free_slots = LOOP_SLOTS - *slots, max = free_slots;
	if (max > UDPIO_MAX_SEGS)
		max = UDPIO_MAX_SEGS;
	if (max > LOOP_PKTS - *n)
		max = LOOP_PKTS - *n;
	for (unsigned int i = 0; i < max; i++) {
		w->segs[i].iov_base = w->slots + (size_t)(*slots + i) * LOOP_SLOT_SIZE + WG_PKT_HEADROOM;
		w->segs[i].iov_len = LOOP_SLOT_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM;
	}
	int k = gso_split(&vh, pkt, (size_t)r, w->segs, max, &why);
	if (k < 0) {
		static struct log_ratelimit rl;
		wg_device_drop(l->dev, why == GSO_TOO_MANY_SEGS || why == GSO_SLOT_TOO_SMALL ?
				       WG_DROP_TOO_BIG : WG_DROP_BAD_INNER_PACKET);
		log_limited(&rl, LOG_LVL_DEBUG, "dropped a packet from the tun device (%s)", gso_reason_name(why));
		return 1;
	}
	for (int i = 0; i < k; i++) {
		w->pkts[*n] = (struct wg_pkt){ .data = w->segs[i].iov_base, .len = (uint32_t)w->segs[i].iov_len };
		(*n)++;
	}
	*slots += (unsigned int)k;
	return 1;
}

static void tun_readable(struct loop_worker *w)
{
	for (int b = 0; b < LOOP_BATCHES_PER_WAKE; b++) {
		unsigned int n = 0, slots = 0, bufs = 0;
		int r = 1;

		/* Stop while a full super-packet may still not fit. */
		while (bufs < LOOP_TUN_BUFS && n + UDPIO_MAX_SEGS <= LOOP_PKTS &&
		       slots + UDPIO_MAX_SEGS <= LOOP_SLOTS) {
			unsigned int before = n, sb = slots;
			r = tun_read_one(w, w->tx_bufs + (size_t)bufs * LOOP_BUF_SIZE, &n, &slots);
			if (r <= 0)
				break;
			/* The read buffer holds the packet unless it was split into slots. */
			if (n > before && slots == sb)
				bufs++;
		}
		if (n)
			wg_device_tun_input(w->l->dev, w->pkts, n);
		if (r <= 0)
			return;
	}
}

static void udp_readable(struct loop_worker *w)
{
	for (int b = 0; b < LOOP_BATCHES_PER_WAKE; b++) {
		int r = udpio_recv(w->uio, w->rx_ptrs, LOOP_BUF_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM,
				   LOOP_RX_BUFS, w->upkts, LOOP_PKTS);
		if (r <= 0)
			return;
		for (int i = 0; i < r; i++) {
			w->pkts[i].data = w->upkts[i].buf;
			w->pkts[i].len = (uint32_t)w->upkts[i].len;
			memcpy(&w->pkts[i].ep, &w->upkts[i].addr, sizeof(w->pkts[i].ep));
		}
		wg_device_udp_input(w->l->dev, w->pkts, (unsigned int)r);
	}
}

/* ---- uapi connections ---- */

static void conn_free(struct wg_loop *l, struct loop_conn *c)
{
	struct loop_conn **pp;

	for (pp = &l->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
	uapi_conn_free(&c->uc);	/* closes the fd */
	free(c);
	l->n_conns--;
}

static void conn_event(struct wg_loop *l, struct loop_conn *c)
{
	struct epoll_event ev = { .data.ptr = &c->src };
	int want;

	/* configuration and `wg show` see the tables still: no worker is inside the device */
	wg_device_lock(l->dev);
	want = uapi_conn_io(&c->uc, &wg_uapi_dev_ops, l->dev);
	wg_device_unlock(l->dev);
	if (!want) {
		conn_free(l, c);
		return;
	}
	ev.events = (want & UAPI_WANT_READ ? EPOLLIN : 0) | (want & UAPI_WANT_WRITE ? EPOLLOUT : 0);
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->src.fd, &ev);
}

static void uapi_accept_all(struct wg_loop *l)
{
	for (;;) {
		int fd = uapi_accept(l->uapi.fd);
		if (fd < 0)
			return;
		if (l->n_conns >= LOOP_MAX_CONNS) {
			log_ratelimited(LOG_LVL_WARN, "too many control connections; refusing one");
			close(fd);
			continue;
		}
		struct loop_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->src.kind = SRC_CONN;
		c->src.fd = fd;
		uapi_conn_init(&c->uc, fd);
		if (ep_add(l->epfd, &c->src, EPOLLIN) < 0) {
			uapi_conn_free(&c->uc);
			free(c);
			continue;
		}
		c->next = l->conns;
		l->conns = c;
		l->n_conns++;
	}
}

/* ---- setup ---- */

static bool tun_has_vnet_hdr(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	return ioctl(fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_VNET_HDR);
}

/* TSO and checksum offload let one read carry up to 64 KB of TCP; split here. */
static bool tun_offloads(int fd)
{
	unsigned int base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

#if defined(TUN_F_USO4) && defined(TUN_F_USO6)
	if (tun_set_offload(fd, base | TUN_F_USO4 | TUN_F_USO6) == 0)
		return true;
#endif
	if (tun_set_offload(fd, base) == 0)
		return true;
	log_debug("the tun device takes no offloads: one packet per read and write");
	return false;
}

static int worker_init(struct wg_loop *l, struct loop_worker *w, unsigned int id, int tun_fd)
{
	w->l = l;
	w->id = id;
	w->epfd = -1;
	w->tun = (struct loop_src){ SRC_TUN, tun_fd };
	w->udp = (struct loop_src){ SRC_UDP, -1 };
	w->wake = (struct loop_src){ SRC_WAKE, -1 };
	pthread_mutex_init(&w->swap_lock, NULL);
	w->uio = calloc(1, sizeof(*w->uio));
	w->uio_next = calloc(1, sizeof(*w->uio_next));
	w->tx_bufs = malloc((size_t)LOOP_TUN_BUFS * LOOP_BUF_SIZE);
	w->rx_bufs = malloc((size_t)LOOP_RX_BUFS * LOOP_BUF_SIZE);
	w->slots = malloc((size_t)LOOP_SLOTS * LOOP_SLOT_SIZE);
	if (!w->uio || !w->uio_next || !w->tx_bufs || !w->rx_bufs || !w->slots)
		return -ENOMEM;
	w->uio->fd = w->uio_next->fd = -1;
	for (unsigned int i = 0; i < LOOP_RX_BUFS; i++)
		w->rx_ptrs[i] = w->rx_bufs + (size_t)i * LOOP_BUF_SIZE + WG_PKT_HEADROOM;
	if (l->tso) {
		/* without TSO on the device, merged packets could not be written */
		w->gro_bufs = malloc((size_t)LOOP_GRO_SCRATCH * GRO_SCRATCH_SIZE);
		if (!w->gro_bufs)
			return -ENOMEM;
		gro_init(&w->gro);
		w->gro.trust_l4_csum = true;
		w->gro.scratch = w->gro_bufs;
		w->gro.scratch_n = LOOP_GRO_SCRATCH;
	}
	if (id == 0) {
		w->epfd = l->epfd;
	} else {
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0)
			return -errno;
	}
	w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake.fd < 0)
		return -errno;
	fcntl(tun_fd, F_SETFL, fcntl(tun_fd, F_GETFL) | O_NONBLOCK);
	int r = ep_add(w->epfd, &w->tun, EPOLLIN);
	if (!r)
		r = ep_add(w->epfd, &w->wake, EPOLLIN);
	return r;
}

static void worker_free(struct loop_worker *w)
{
	if (!w->l)
		return;
	src_close(w->epfd, &w->tun);
	src_close(w->epfd, &w->wake);
	if (w->uio) {
		if (w->uio->fd >= 0 && w->epfd >= 0)
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->uio->fd, NULL);
		udpio_close(w->uio);
	}
	if (w->uio_next)
		udpio_close(w->uio_next);
	if (w->id != 0 && w->epfd >= 0)
		close(w->epfd);
	pthread_mutex_destroy(&w->swap_lock);
	free(w->uio);
	free(w->uio_next);
	free(w->tx_bufs);
	free(w->slots);
	free(w->gro_bufs);
	free(w->rx_bufs);
}

int wg_loop_new(struct wg_loop **out, struct wg_device *dev, const int *tun_fds, unsigned int n_queues,
		int uapi_fd, const struct wg_loop_opts *opts)
{
	struct wg_loop *l = calloc(1, sizeof(*l));
	unsigned int i;
	sigset_t mask;
	int r = -ENOMEM;

	if (!l || !n_queues || n_queues > TUN_MAX_QUEUES)
		goto fail_fds;
	l->w = calloc(n_queues, sizeof(*l->w));
	if (!l->w)
		goto fail_fds;
	l->dev = dev;
	l->o.no_offload = opts && opts->no_offload;
	l->uapi = (struct loop_src){ SRC_UAPI, uapi_fd };
	l->timer = (struct loop_src){ SRC_TIMER, -1 };
	l->sig = (struct loop_src){ SRC_SIGNAL, -1 };
	l->vnet = !l->o.no_offload && tun_has_vnet_hdr(tun_fds[0]);
	/* the device's offloads are shared by its queues: set once */
	l->tso = l->vnet && tun_offloads(tun_fds[0]);
	noise_set_slots(n_queues);

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		r = -errno;
		l->epfd = -1;
		for (i = 0; i < n_queues; i++)
			close(tun_fds[i]);
		if (uapi_fd >= 0)
			close(uapi_fd);
		free(l->w);
		free(l);
		return r;
	}
	/* From here on the workers own the fds, so wg_loop_free closes them. */
	l->n_workers = n_queues;
	for (i = 0; i < n_queues; i++)
		l->w[i].tun.fd = -1;
	for (i = 0; i < n_queues; i++)
		if ((r = worker_init(l, &l->w[i], i, tun_fds[i])) < 0)
			break;
	if (r < 0) {
		for (i++; i < n_queues; i++)
			close(tun_fds[i]);
		goto fail;
	}
	if (uapi_fd >= 0) {
		fcntl(uapi_fd, F_SETFL, fcntl(uapi_fd, F_GETFL) | O_NONBLOCK);
		if ((r = ep_add(l->epfd, &l->uapi, EPOLLIN)) < 0)
			goto fail;
	}

	l->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->timer.fd < 0) {
		r = -errno;
		goto fail;
	}
	struct itimerspec its = {
		.it_interval = { 0, LOOP_TICK_MS * 1000000L },
		.it_value = { 0, LOOP_TICK_MS * 1000000L },
	};
	timerfd_settime(l->timer.fd, 0, &its, NULL);
	if ((r = ep_add(l->epfd, &l->timer, EPOLLIN)) < 0)
		goto fail;

	/* Blocked here, before any worker thread exists, so that all of them inherit it and
	 * only the signalfd sees these signals. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	l->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sig.fd < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = ep_add(l->epfd, &l->sig, EPOLLIN)) < 0)
		goto fail;

	dev->ops.udp_send = op_udp_send;
	dev->ops.tun_write = op_tun_write;
	dev->ops.rebind = op_rebind;
	dev->ops.now = op_now;
	dev->ops.wall = op_wall;
	dev->ops.ctx = l;
	*out = l;
	return 0;

fail:
	wg_loop_free(l);
	return r;
fail_fds:
	for (i = 0; i < n_queues; i++)
		close(tun_fds[i]);
	if (uapi_fd >= 0)
		close(uapi_fd);
	if (l)
		free(l->w);
	free(l);
	return r;
}

/* ---- run ---- */

/* Padding must not push a packet past the device MTU, which `ip link` may change. */
static void refresh_mtu(struct wg_loop *l)
{
	struct ifreq ifr;

	if (l->w[0].udp.fd < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", l->dev->name);
	if (ioctl(l->w[0].udp.fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		__atomic_store_n(&l->dev->mtu, (unsigned int)ifr.ifr_mtu, __ATOMIC_RELAXED);
}

static void signal_event(struct wg_loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sig.fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("received %s, shutting down", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			loop_stop(l, 0);
		}
	}
}

/* One event of worker w; the control sources come only to worker 0. */
static void worker_event(struct loop_worker *w, struct epoll_event *ev)
{
	struct wg_loop *l = w->l;
	struct loop_src *s = ev->data.ptr;
	uint64_t v;

	switch (s->kind) {
	case SRC_TUN:
		if (ev->events & (EPOLLHUP | EPOLLERR) && !(ev->events & EPOLLIN)) {
			log_err("the tun device went away");
			loop_stop(l, -ENODEV);
			break;
		}
		tun_readable(w);
		break;
	case SRC_UDP:
		udp_readable(w);
		break;
	case SRC_WAKE:
		while (read(s->fd, &v, sizeof(v)) == sizeof(v))
			;
		break;
	case SRC_UAPI:
		uapi_accept_all(l);
		break;
	case SRC_CONN:
		conn_event(l, (struct loop_conn *)s);
		/* the connection may be gone: later events of this batch cannot name it, as
		 * one fd appears once per epoll_wait */
		break;
	case SRC_TIMER:
		while (read(s->fd, &v, sizeof(v)) == sizeof(v))
			;
		if (++l->ticks % 10 == 1)
			refresh_mtu(l);
		wg_device_tick(l->dev);
		break;
	case SRC_SIGNAL:
		signal_event(l);
		break;
	}
}

static int worker_run(struct loop_worker *w)
{
	struct epoll_event evs[32];

	self = w;
	noise_set_thread_slot(w->id);
	while (!stopping(w->l)) {
		int n = epoll_wait(w->epfd, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait failed: %s", strerror(errno));
			loop_stop(w->l, -errno);
			break;
		}
		if (__atomic_load_n(&w->swap, __ATOMIC_ACQUIRE)) {
			worker_take_socket(w);
			continue;	/* the events may name the old socket */
		}
		for (int i = 0; i < n && !stopping(w->l); i++)
			worker_event(w, &evs[i]);
	}
	return 0;
}

static void *worker_thread(void *arg)
{
	worker_run(arg);
	return NULL;
}

int wg_loop_run(struct wg_loop *l)
{
	unsigned int i;
	int r;

	for (i = 1; i < l->n_workers; i++) {
		r = pthread_create(&l->w[i].thread, NULL, worker_thread, &l->w[i]);
		if (r) {
			log_err("cannot start worker thread %u: %s", i, strerror(r));
			loop_stop(l, -r);
			break;
		}
		l->w[i].running = true;
	}
	if (!stopping(l))
		worker_run(&l->w[0]);
	loop_stop(l, 0);
	for (i = 1; i < l->n_workers; i++)
		if (l->w[i].running) {
			pthread_join(l->w[i].thread, NULL);
			l->w[i].running = false;
		}
	return l->fatal;
}

void wg_loop_free(struct wg_loop *l)
{
	if (!l)
		return;
	while (l->conns)
		conn_free(l, l->conns);
	for (unsigned int i = 0; i < l->n_workers; i++)
		worker_free(&l->w[i]);
	src_close(l->epfd, &l->uapi);
	src_close(l->epfd, &l->timer);
	src_close(l->epfd, &l->sig);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->dev && l->dev->ops.ctx == l)
		memset(&l->dev->ops, 0, sizeof(l->dev->ops));
	free(l->w);
	free(l);
}
