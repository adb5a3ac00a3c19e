/* culvert simpletun over UDP: one packet per datagram, no header. Batches both ways: device
 * reads until EAGAIN (up to a batch) then one sendmmsg(); recvmmsg() then one device write per
 * packet. The server learns its client from the first valid datagram and follows it when the
 * client's address changes; the client talks to the server on a connected socket. */
#include "engine/st.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "engine/udpio.h"
#include "engine/busypoll.h"
#include "lib/log.h"

enum {
	ST_UDP_BATCH = 32, ST_UDP_BUF = 65536,
	ST_UDP_PKTS = UDPIO_MAX_BATCH,   /* datagrams per send; segments per receive */
	ST_UDP_WAKE_ROUNDS = 8,          /* fairness between the device and the socket */
	ST_UDP_FULL_WAIT_MS = 20,        /* socket buffer full: wait this long, then drop */
};

struct st_udp {
	struct st_ctx *x;
	int fd;
	struct udpio uio;
	size_t gso_below;                /* segments this long or longer went out one by one */
	size_t seg_max;                  /* TCP segments cut to this: the path's MTU less IP+UDP */
	uint8_t *tx, *rx;                /* ST_UDP_BATCH buffers of ST_UDP_BUF each way */
	uint8_t *rx_ptrs[ST_UDP_BATCH];
	struct udpio_pkt pkts[ST_UDP_PKTS];
	struct iovec segs[ST_MAX_SEGS];
};

/* The largest packet that reaches the peer in one unfragmented datagram. A fragmented
 * datagram costs reassembly at the peer and cannot leave as a UDP_SEGMENT run. */
static size_t path_payload(const union udpio_addr *peer)
{
	bool v6 = peer->sa.sa_family == AF_INET6;
	socklen_t al = v6 ? sizeof(peer->in6) : sizeof(peer->in), l = sizeof(int);
	size_t over = v6 ? 40 + 8 : 20 + 8;
	int fd = socket(peer->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP), mtu = 0;

	if (fd < 0)
		return SIZE_MAX;
	/* connect() on a datagram socket sends nothing: it only looks up the route. */
	if (connect(fd, &peer->sa, al) == 0 &&
	    getsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &mtu, &l) < 0)
		mtu = 0;
	close(fd);
	return mtu >= 576 ? (size_t)mtu - over : SIZE_MAX;
}

/* The peer is known or changed: measure its path. */
static void set_peer(struct st_udp *u)
{
	u->seg_max = path_payload(&u->x->pl.peer);
	if (u->seg_max != SIZE_MAX)
		log_debug("TCP segments to the peer cut to at most %zu bytes (path MTU)", u->seg_max);
}

/* One udpio_send of pkts[0..n). UDP_SEGMENT refuses segments larger than the path allows
 * (a 1500-byte packet in UDP over a 1500-byte link): remember the size, and send runs that
 * long one datagram each from then on instead of failing a syscall every time. */
static int send_batch(struct st_udp *u, size_t n, size_t maxlen)
{
	bool gso = u->uio.caps.gso, off = gso && maxlen >= u->gso_below;
	uint64_t fb = u->uio.stats.tx_gso_fallback;
	int r;

	if (off)
		u->uio.caps.gso = false;
	r = udpio_send(&u->uio, u->pkts, n);
	if (off)
		u->uio.caps.gso = true;
	if (u->uio.stats.tx_gso_fallback != fb && maxlen < u->gso_below) {
		u->gso_below = maxlen;
		log_debug("UDP GSO refused for %zu-byte segments: sending those one by one", maxlen);
	}
	return r;
}

static void send_all(struct st_udp *u, size_t n, size_t maxlen)
{
	struct st_ctx *x = u->x;
	size_t sent = 0;

	while (sent < n) {
		uint64_t dropped = u->uio.stats.tx_dropped;
		int r;

		if (sent)
			memmove(u->pkts, u->pkts + sent, (n - sent) * sizeof(u->pkts[0]));
		n -= sent;
		sent = 0;
		r = send_batch(u, n, maxlen);
		if (r == -EAGAIN || r == -ENOBUFS) {
			/* A short wait lets TCP inside see a slow link rather than loss. */
			struct pollfd pf = { .fd = u->fd, .events = POLLOUT };

			if (poll(&pf, 1, ST_UDP_FULL_WAIT_MS) > 0)
				continue;
			x->pl.c.drop[PLAIN_DROP_QUEUE_FULL] += n;
			log_ratelimited(LOG_LVL_WARN, "send: socket buffer full, dropped %zu packets (queue_full)", n);
			return;
		}
		if (r < 0) {
			x->pl.c.drop[PLAIN_DROP_SEND_ERROR] += n;
			if (r != -ECONNREFUSED)
				log_ratelimited(LOG_LVL_WARN, "send: %s", strerror(-r));
			return;
		}
		for (int i = 0; i < r; i++) {
			x->pl.c.tx_frames++;
			x->pl.c.tx_bytes += u->pkts[i].len;
			log_debug("TAP2NET %llu: Written %zu bytes to the network", x->pl.c.tx_frames, u->pkts[i].len);
		}
		if (u->uio.stats.tx_dropped != dropped) {
			uint64_t d = u->uio.stats.tx_dropped - dropped;

			x->pl.c.drop[PLAIN_DROP_SEND_ERROR] += d;
			x->pl.c.tx_frames -= d;
			if (u->uio.last_err != ECONNREFUSED)
				log_ratelimited(LOG_LVL_WARN, "send: %s", strerror(u->uio.last_err));
		}
		sent = (size_t)r;
	}
}

static void add_pkt(struct st_udp *u, size_t *n, size_t *maxlen, uint8_t *p, size_t len)
{
	log_debug("TAP2NET %llu: Read %zu bytes from the tap interface", u->x->pl.c.tx_frames + *n + 1, len);
	u->pkts[*n].buf = p;
	u->pkts[*n].len = len;
	u->pkts[*n].addr = u->x->pl.peer;
	if (len > *maxlen)
		*maxlen = len;
	(*n)++;
}

/* Device reads until EAGAIN or a full batch, then one send: runs of equal-size segments leave
 * as UDP_SEGMENT super-datagrams, which the peer receives as ordinary datagrams. */
static bool on_tun(struct st_udp *u)
{
	struct st_ctx *x = u->x;
	size_t n = 0, maxlen = 0, bufs = 0;
	bool more = true;

	for (int reads = 0; n < ST_UDP_PKTS && bufs < ST_UDP_BATCH && reads < ST_BATCH; reads++) {
		if (x->vnet) {
			if (n + ST_MAX_SEGS > ST_UDP_PKTS) {
				send_all(u, n, maxlen);
				n = maxlen = bufs = 0;
			}
			int k = st_tun_read(x, u->segs, ST_MAX_SEGS, u->seg_max);
			if (k < 0) {
				if (k != -EAGAIN)
					log_ratelimited(LOG_LVL_WARN, "%s: read: %s", x->ifname, strerror(-k));
				more = false;
				break;
			}
			if (!x->pl.have_peer) {
				x->pl.c.drop[PLAIN_DROP_NO_PEER] += (unsigned int)k;
				continue;
			}
			if (k == 1) {
				/* A lone packet lives in the read buffer: keep a copy, batch on. */
				uint8_t *p = u->tx + bufs++ * ST_UDP_BUF;
				memcpy(p, u->segs[0].iov_base, u->segs[0].iov_len);
				add_pkt(u, &n, &maxlen, p, u->segs[0].iov_len);
				continue;
			}
			/* Segments sit in the split slots, reused by the next read: send them now. */
			for (int j = 0; j < k; j++)
				add_pkt(u, &n, &maxlen, u->segs[j].iov_base, u->segs[j].iov_len);
			if (n) {
				send_all(u, n, maxlen);
				n = maxlen = bufs = 0;
			}
			continue;
		}
		uint8_t *p = u->tx + bufs * ST_UDP_BUF;
		ssize_t r = read(x->tun, p, ST_UDP_BUF);

		if (r <= 0) {
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				log_ratelimited(LOG_LVL_WARN, "%s: read: %s", x->ifname, strerror(errno));
			more = false;
			break;
		}
		if (!x->pl.have_peer) {
			x->pl.c.drop[PLAIN_DROP_NO_PEER]++;
			continue;
		}
		add_pkt(u, &n, &maxlen, p, (size_t)r);
		bufs++;
	}
	if (n)
		send_all(u, n, maxlen);
	return more;
}

static bool on_sock(struct st_udp *u)
{
	struct st_ctx *x = u->x;
	int n = udpio_recv(&u->uio, u->rx_ptrs, ST_UDP_BUF, ST_UDP_BATCH, u->pkts, ST_UDP_PKTS);

	if (n < 0) {
		/* ICMP errors from a server that is not up yet arrive here on the client: harmless. */
		if (n != -EAGAIN && n != -EINTR && n != -ECONNREFUSED)
			log_ratelimited(LOG_LVL_WARN, "recv: %s", strerror(-n));
		return n != -EAGAIN;
	}
	for (int i = 0; i < n; i++) {
		bool learned;

		if (!plain_dgram_in(&x->pl, u->pkts[i].buf, u->pkts[i].len, &u->pkts[i].addr, &learned))
			continue;
		if (learned)
			set_peer(u);
		st_tun_queue(x, u->pkts[i].buf, u->pkts[i].len);
	}
	st_tun_flush(x);
	return n > 0;
}

static int udp_open(struct st_udp *u)
{
	const struct st_config *cfg = u->x->cfg;
	struct addrinfo *ai, *a;
	char where[64];
	int r;

	if ((r = st_resolve(cfg, SOCK_DGRAM, &ai)) < 0)
		return r;
	for (a = ai; a; a = a->ai_next) {
		int v6only = cfg->family == AF_INET6, one = 1;

		u->fd = socket(a->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
		if (u->fd < 0) {
			r = -errno;
			continue;
		}
		plain_addr_str(a->ai_addr, where, sizeof(where));
		if (cfg->server) {
			setsockopt(u->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (a->ai_family == AF_INET6)
				setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
			if (bind(u->fd, a->ai_addr, a->ai_addrlen) == 0)
				break;
		} else if (connect(u->fd, a->ai_addr, a->ai_addrlen) == 0) {
			union udpio_addr pa;

			memset(&pa, 0, sizeof(pa));
			memcpy(&pa, a->ai_addr, a->ai_addrlen < sizeof(pa) ? a->ai_addrlen : sizeof(pa));
			plain_set_peer(&u->x->pl, &pa);
			set_peer(u);
			break;
		}
		r = -errno;
		log_warn("%s %s: %s", cfg->server ? "cannot bind" : "cannot use", where, strerror(-r));
		close(u->fd);
		u->fd = -1;
	}
	freeaddrinfo(ai);
	if (u->fd < 0 && cfg->server && !cfg->bind && cfg->family == AF_UNSPEC) {
		struct st_config v4 = *cfg;   /* no IPv6 here: IPv4 only */

		v4.family = AF_INET;
		u->x->cfg = &v4;
		r = udp_open(u);
		u->x->cfg = cfg;
		return r;
	}
	if (u->fd < 0)
		return r;
	log_info("%s %s (UDP)", cfg->server ? "listening on" : "sending to", where);
	struct udpio_opts uo = { .no_gso = cfg->no_offload, .no_gro = cfg->no_offload };
	if ((r = udpio_attach(&u->uio, u->fd, &uo)) < 0)
		return r;
	udpio_caps_str(&u->uio.caps, u->x->udp_caps, sizeof(u->x->udp_caps));
	log_debug("UDP socket: %s", u->x->udp_caps);
	return st_epoll_add(u->x, u->fd, EPOLLIN, ST_TAG_SOCK);
}

int st_udp_run(struct st_ctx *x)
{
	struct st_udp *u = calloc(1, sizeof(*u));
	struct epoll_event ev[8];
	struct busypoll bp;
	int r;

	if (!u)
		return -ENOMEM;
	u->x = x;
	u->fd = -1;
	u->gso_below = SIZE_MAX;
	u->seg_max = SIZE_MAX;
	u->tx = malloc((size_t)ST_UDP_BATCH * ST_UDP_BUF);
	u->rx = malloc((size_t)ST_UDP_BATCH * ST_UDP_BUF);
	if (!u->tx || !u->rx) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < ST_UDP_BATCH; i++)
		u->rx_ptrs[i] = u->rx + (size_t)i * ST_UDP_BUF;
	if ((r = udp_open(u)) < 0) {
		log_err("cannot open the UDP socket (port %s): %s", x->cfg->port, strerror(-r));
		goto out;
	}
	if ((r = st_drop_privileges(x)) < 0)
		goto out;
	busypoll_init(&bp, x->cfg->no_busy_poll);
	while (!x->stop) {
		int n = busypoll_wait(&bp, x->ep, ev, 8);
		bool data = false;

		if (n < 0 && errno != EINTR) {
			r = -errno;
			log_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !x->stop; i++) {
			switch (ev[i].data.u32) {
			case ST_TAG_TUN:
				for (int k = 0; k < ST_UDP_WAKE_ROUNDS && on_tun(u); k++)
					;
				data = true;
				break;
			case ST_TAG_SOCK:
				for (int k = 0; k < ST_UDP_WAKE_ROUNDS && on_sock(u); k++)
					;
				data = true;
				break;
			case ST_TAG_SIG:  st_on_signal(x); break;
			default: break;
			}
		}
		if (data)
			busypoll_kick(&bp);
	}
out:
	if (u->fd >= 0)
		close(u->fd);
	free(u->tx);
	free(u->rx);
	free(u);
	return r;
}
