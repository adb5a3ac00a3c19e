/* The daemon's epoll loops: one worker per tun queue, each with its own UDP socket (same
 * port, SO_REUSEPORT), buffers and epoll; worker 0 is the main thread and also serves the uapi
 * connections, the timers and the signals. Per-flow order holds: the kernel hashes a flow to
 * one tun queue and a 4-tuple to one socket, and each worker keeps order. */
#include "engine/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <netinet/in.h>

#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>

#include "engine/gro.h"
#include "engine/gso.h"
#include "engine/udpio.h"
#include "lib/log.h"
#include "lib/tun.h"
#include "wg/device.h"
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
	LOOP_GRO_SIZE = 16 + GRO_MAX_LEN + 1,	/* virtio header (aligned) + the largest merge */
};

enum src_kind { SRC_TUN, SRC_UDP, SRC_UAPI, SRC_CONN, SRC_TIMER, SRC_SIGNAL };

struct loop_src {
	enum src_kind kind;
	int fd;
};

struct loop_conn {
	struct loop_src src;	/* first: epoll data points here */
	struct uapi_conn uc;
	struct loop_conn *next;
};

struct wg_loop {
	struct wg_device *dev;
	int epfd;
	struct loop_src tun, udp, uapi, timer, sig;
	struct udpio uio;
	bool vnet;		/* the tun fd carries a virtio_net_hdr before each packet */
	struct loop_conn *conns;
	unsigned int n_conns;
	bool stop;
	int fatal;
	uint16_t bound_port;
	unsigned int ticks;

	uint8_t *tx_bufs;	/* LOOP_TUN_BUFS tun-read buffers of LOOP_BUF_SIZE */
	uint8_t *slots;		/* LOOP_SLOTS segment buffers of LOOP_SLOT_SIZE (GSO splits) */
	uint8_t *rx_bufs;	/* LOOP_RX_BUFS datagram buffers of LOOP_BUF_SIZE */
	uint8_t *rx_ptrs[LOOP_RX_BUFS];
	struct udpio_pkt upkts[LOOP_PKTS];
	struct wg_pkt pkts[LOOP_PKTS];
	struct iovec segs[UDPIO_MAX_SEGS];
	/* receive side: plaintext copied where TCP segments can be merged in place */
	struct gro gro;
	uint8_t *gro_bufs;	/* GRO_MAX_BATCH buffers of LOOP_GRO_SIZE */
	struct gro_pkt gpkts[GRO_MAX_BATCH];
	struct iovec gout[GRO_MAX_BATCH];
};

static int ep_add(struct wg_loop *l, struct loop_src *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

static void src_close(struct wg_loop *l, struct loop_src *s)
{
	if (s->fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->fd = -1;
}

/* ---- device ops ---- */

static uint64_t op_now(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * WG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void op_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = ts.tv_sec;
	*nsec = ts.tv_nsec;
}

_Static_assert(sizeof(union udpio_addr) == sizeof(struct wg_endpoint), "endpoint layouts differ");

static int op_udp_send(void *ctx, const struct wg_endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct wg_loop *l = ctx;
	struct udpio_pkt up[UDPIO_MAX_BATCH];
	unsigned int done = 0;

	if (l->udp.fd < 0)
		return -ENOTCONN;
	while (done < n) {
		unsigned int k = n - done > UDPIO_MAX_BATCH ? UDPIO_MAX_BATCH : n - done;

		for (unsigned int i = 0; i < k; i++) {
			up[i].buf = pkts[done + i].data;
			up[i].len = pkts[done + i].len;
			memcpy(&up[i].addr, ep, sizeof(up[i].addr));
		}
		int r = udpio_send(&l->uio, up, k);
		if (r == -EAGAIN || (r >= 0 && (unsigned int)r < k)) {
			/* The socket buffer is full: wait a little rather than drop, so TCP
			 * inside sees back-pressure instead of loss. */
			struct pollfd pf = { .fd = l->udp.fd, .events = POLLOUT };
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

static unsigned int tun_write_gro(struct wg_loop *l, struct wg_pkt *pkts, unsigned int n)
{
	unsigned int ok = 0;
	int k;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t *b = l->gro_bufs + (size_t)i * LOOP_GRO_SIZE + 16;
		memcpy(b, pkts[i].data, pkts[i].len);
		l->gpkts[i] = (struct gro_pkt){ .data = b, .len = pkts[i].len, .cap = GRO_MAX_LEN };
	}
	k = gro_coalesce(&l->gro, l->gpkts, n, l->gout, GRO_MAX_BATCH);
	if (k < 0)
		return 0;
	for (int i = 0; i < k; i++) {
		ssize_t w;
		do
			w = write(l->tun.fd, l->gout[i].iov_base, l->gout[i].iov_len);
		while (w < 0 && errno == EINTR);
		if (w == (ssize_t)l->gout[i].iov_len)
			ok++;
	}
	/* merged segments count as written when their packet was */
	return k && ok == (unsigned int)k ? n : ok;
}

static int op_tun_write(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	struct wg_loop *l = ctx;
	unsigned int ok = 0;

	if (l->vnet && l->gro_bufs) {
		for (unsigned int i = 0; i < n; i += GRO_MAX_BATCH)
			ok += tun_write_gro(l, pkts + i, n - i > GRO_MAX_BATCH ? GRO_MAX_BATCH : n - i);
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
		if (write(l->tun.fd, p, len) == (ssize_t)len)
			ok++;
	}
	return (int)ok;
}

static int op_rebind(void *ctx)
{
	return wg_loop_bind(ctx);
}

/* ---- UDP socket ---- */

/* One dual-stack socket ([::]:port), or IPv4 only where IPv6 is off. */
static int udp_open(struct wg_loop *l, uint16_t port)
{
	const struct udpio_opts o = { .bufsize = LOOP_SOCK_BUF };
	union udpio_addr a;
	int r;

	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons(port);
	a.in6.sin6_addr = in6addr_any;
	r = udpio_open(&l->uio, &a, &o);
	if (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL) {
		memset(&a, 0, sizeof(a));
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(port);
		r = udpio_open(&l->uio, &a, &o);
	}
	if (r < 0)
		return r;
	if (l->dev->fwmark &&
	    setsockopt(l->uio.fd, SOL_SOCKET, SO_MARK, &l->dev->fwmark, sizeof(l->dev->fwmark)) < 0) {
		r = -errno;
		udpio_close(&l->uio);
		return r;
	}
	socklen_t alen = sizeof(a);
	if (getsockname(l->uio.fd, &a.sa, &alen) < 0) {
		r = -errno;
		udpio_close(&l->uio);
		return r;
	}
	l->bound_port = ntohs(a.sa.sa_family == AF_INET6 ? a.in6.sin6_port : a.in.sin_port);
	return 0;
}

int wg_loop_bind(struct wg_loop *l)
{
	struct wg_device *dev = l->dev;
	uint16_t old = l->bound_port;
	char caps[160];
	int r;

	/* The old socket holds the port: release it first, and go back on failure. */
	if (l->udp.fd >= 0) {
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->udp.fd, NULL);
		udpio_close(&l->uio);
		l->udp.fd = -1;
	}
	r = udp_open(l, dev->listen_port);
	if (r < 0) {
		log_warn("cannot listen on UDP port %u: %s", dev->listen_port, strerror(-r));
		if (!old || udp_open(l, old) < 0)
			return r;
	}
	l->udp.fd = l->uio.fd;
	ep_add(l, &l->udp, EPOLLIN);
	dev->listen_port = l->bound_port;
	udpio_caps_str(&l->uio.caps, caps, sizeof(caps));
	snprintf(dev->offload, sizeof(dev->offload), "tun %s; udp %s",
		 l->vnet ? "vnet_hdr tso csum" : "plain", caps);
	log_debug("listening on UDP port %u (%s)", l->bound_port, caps);
	return r;
}

/* ---- data path ---- */

/* One tun read into buf (packet at buf + WG_PKT_HEADROOM); with vnet headers a GSO
 * super-packet is split into free slots. Adds to l->pkts; returns 1 on a packet, 0 on
 * EAGAIN, -1 on a fatal error. */
static int tun_read_one(struct wg_loop *l, uint8_t *buf, unsigned int *n, unsigned int *slots)
{
	uint8_t *pkt = buf + WG_PKT_HEADROOM;
	size_t room = LOOP_BUF_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM;
	struct virtio_net_hdr vh;
	enum gso_reason why;
	ssize_t r;

	do
		r = l->vnet ? read(l->tun.fd, pkt - LOOP_VNET, room + LOOP_VNET) : read(l->tun.fd, pkt, room);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		log_err("reading the tun device failed: %s", strerror(errno));
		l->fatal = -errno;
		l->stop = true;
		return -1;
	}
	if (!l->vnet) {
		l->pkts[*n] = (struct wg_pkt){ .data = pkt, .len = (uint32_t)r };
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
		l->pkts[*n] = (struct wg_pkt){ .data = pkt, .len = (uint32_t)r };
		(*n)++;
		return 1;
	}
	unsigned int free_slots = LOOP_SLOTS - *slots, max = free_slots;
	if (max > UDPIO_MAX_SEGS)
		max = UDPIO_MAX_SEGS;
	if (max > LOOP_PKTS - *n)
		max = LOOP_PKTS - *n;
	for (unsigned int i = 0; i < max; i++) {
		l->segs[i].iov_base = l->slots + (size_t)(*slots + i) * LOOP_SLOT_SIZE + WG_PKT_HEADROOM;
		l->segs[i].iov_len = LOOP_SLOT_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM;
	}
	int k = gso_split(&vh, pkt, (size_t)r, l->segs, max, &why);
	if (k < 0) {
		static struct log_ratelimit rl;
		wg_device_drop(l->dev, why == GSO_TOO_MANY_SEGS || why == GSO_SLOT_TOO_SMALL ?
				       WG_DROP_TOO_BIG : WG_DROP_BAD_INNER_PACKET);
		log_limited(&rl, LOG_LVL_DEBUG, "dropped a packet from the tun device (%s)", gso_reason_name(why));
		return 1;
	}
	for (int i = 0; i < k; i++) {
		l->pkts[*n] = (struct wg_pkt){ .data = l->segs[i].iov_base, .len = (uint32_t)l->segs[i].iov_len };
		(*n)++;
	}
	*slots += (unsigned int)k;
	return 1;
}

static void tun_readable(struct wg_loop *l)
{
	for (int b = 0; b < LOOP_BATCHES_PER_WAKE; b++) {
		unsigned int n = 0, slots = 0, bufs = 0;
		int r = 1;

		/* Stop while a full super-packet may still not fit. */
		while (bufs < LOOP_TUN_BUFS && n + UDPIO_MAX_SEGS <= LOOP_PKTS &&
		       slots + UDPIO_MAX_SEGS <= LOOP_SLOTS) {
			unsigned int before = n, sb = slots;
			r = tun_read_one(l, l->tx_bufs + (size_t)bufs * LOOP_BUF_SIZE, &n, &slots);
			if (r <= 0)
				break;
			/* The read buffer holds the packet unless it was split into slots. */
			if (n > before && slots == sb)
				bufs++;
		}
		if (n)
			wg_device_tun_input(l->dev, l->pkts, n);
		if (r <= 0)
			return;
	}
}

static void udp_readable(struct wg_loop *l)
{
	for (int b = 0; b < LOOP_BATCHES_PER_WAKE; b++) {
		int r = udpio_recv(&l->uio, l->rx_ptrs, LOOP_BUF_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM,
				   LOOP_RX_BUFS, l->upkts, LOOP_PKTS);
		if (r <= 0)
			return;
		for (int i = 0; i < r; i++) {
			l->pkts[i].data = l->upkts[i].buf;
			l->pkts[i].len = (uint32_t)l->upkts[i].len;
			memcpy(&l->pkts[i].ep, &l->upkts[i].addr, sizeof(l->pkts[i].ep));
		}
		wg_device_udp_input(l->dev, l->pkts, (unsigned int)r);
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
	int want = uapi_conn_io(&c->uc, &wg_uapi_dev_ops, l->dev);
	struct epoll_event ev = { .data.ptr = &c->src };

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
		if (ep_add(l, &c->src, EPOLLIN) < 0) {
			uapi_conn_free(&c->uc);
			free(c);
			continue;
		}
		c->next = l->conns;
		l->conns = c;
		l->n_conns++;
	}
}

/* ---- setup and run ---- */

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

int wg_loop_new(struct wg_loop **out, struct wg_device *dev, int tun_fd, int uapi_fd)
{
	struct wg_loop *l = calloc(1, sizeof(*l));
	sigset_t mask;
	int r = -ENOMEM;

	if (!l)
		goto fail_fds;
	l->dev = dev;
	l->epfd = -1;
	l->tun = (struct loop_src){ SRC_TUN, tun_fd };
	l->uapi = (struct loop_src){ SRC_UAPI, uapi_fd };
	l->udp = (struct loop_src){ SRC_UDP, -1 };
	l->uio.fd = -1;
	l->timer = (struct loop_src){ SRC_TIMER, -1 };
	l->sig = (struct loop_src){ SRC_SIGNAL, -1 };
	l->tx_bufs = malloc((size_t)LOOP_TUN_BUFS * LOOP_BUF_SIZE);
	l->rx_bufs = malloc((size_t)LOOP_RX_BUFS * LOOP_BUF_SIZE);
	l->slots = malloc((size_t)LOOP_SLOTS * LOOP_SLOT_SIZE);
	if (!l->tx_bufs || !l->rx_bufs || !l->slots)
		goto fail;
	for (unsigned int i = 0; i < LOOP_RX_BUFS; i++)
		l->rx_ptrs[i] = l->rx_bufs + (size_t)i * LOOP_BUF_SIZE + WG_PKT_HEADROOM;
	l->vnet = tun_has_vnet_hdr(tun_fd);
	if (l->vnet && tun_offloads(tun_fd)) {
		/* without TSO on the device, merged packets could not be written */
		l->gro_bufs = malloc((size_t)GRO_MAX_BATCH * LOOP_GRO_SIZE);
		gro_init(&l->gro);
	}

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		r = -errno;
		goto fail;
	}
	fcntl(tun_fd, F_SETFL, fcntl(tun_fd, F_GETFL) | O_NONBLOCK);
	if ((r = ep_add(l, &l->tun, EPOLLIN)) < 0)
		goto fail;
	if (uapi_fd >= 0) {
		fcntl(uapi_fd, F_SETFL, fcntl(uapi_fd, F_GETFL) | O_NONBLOCK);
		if ((r = ep_add(l, &l->uapi, EPOLLIN)) < 0)
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
	if ((r = ep_add(l, &l->timer, EPOLLIN)) < 0)
		goto fail;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	l->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sig.fd < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = ep_add(l, &l->sig, EPOLLIN)) < 0)
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
	close(tun_fd);
	if (uapi_fd >= 0)
		close(uapi_fd);
	return r;
}

/* Padding must not push a packet past the device MTU, which `ip link` may change. */
static void refresh_mtu(struct wg_loop *l)
{
	struct ifreq ifr;

	if (l->udp.fd < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", l->dev->name);
	if (ioctl(l->udp.fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		l->dev->mtu = (unsigned int)ifr.ifr_mtu;
}

static void signal_event(struct wg_loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sig.fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("received %s, shutting down", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			l->stop = true;
		}
	}
}

int wg_loop_run(struct wg_loop *l)
{
	struct epoll_event evs[32];

	while (!l->stop) {
		int n = epoll_wait(l->epfd, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->stop; i++) {
			struct loop_src *s = evs[i].data.ptr;
			uint64_t ticks;

			switch (s->kind) {
			case SRC_TUN:
				if (evs[i].events & (EPOLLHUP | EPOLLERR) && !(evs[i].events & EPOLLIN)) {
					log_err("the tun device went away");
					l->fatal = -ENODEV;
					l->stop = true;
					break;
				}
				tun_readable(l);
				break;
			case SRC_UDP:
				udp_readable(l);
				break;
			case SRC_UAPI:
				uapi_accept_all(l);
				break;
			case SRC_CONN:
				conn_event(l, (struct loop_conn *)s);
				/* the connection may be gone: later events of this batch cannot
				 * name it, as one fd appears once per epoll_wait */
				break;
			case SRC_TIMER:
				while (read(s->fd, &ticks, sizeof(ticks)) == sizeof(ticks))
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
	}
	return l->fatal;
}

void wg_loop_free(struct wg_loop *l)
{
	if (!l)
		return;
	while (l->conns)
		conn_free(l, l->conns);
	if (l->epfd >= 0) {
		src_close(l, &l->tun);
		src_close(l, &l->uapi);
		if (l->udp.fd >= 0) {
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->udp.fd, NULL);
			udpio_close(&l->uio);
		}
		src_close(l, &l->timer);
		src_close(l, &l->sig);
		close(l->epfd);
	} else {
		if (l->tun.fd >= 0)
			close(l->tun.fd);
		if (l->uapi.fd >= 0)
			close(l->uapi.fd);
	}
	if (l->dev && l->dev->ops.ctx == l)
		memset(&l->dev->ops, 0, sizeof(l->dev->ops));
	free(l->tx_bufs);
	free(l->slots);
	free(l->gro_bufs);
	free(l->rx_bufs);
	free(l);
}
