/* culvert simpletun over UDP: one packet per datagram, no header. Batches both ways: device
 * reads until EAGAIN (up to a batch) then one sendmmsg(); recvmmsg() then one device write per
 * packet. The server learns its client from the first valid datagram and follows it when the
 * client's address changes; the client talks to the server on a connected socket. */
#include "engine/st.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/log.h"

enum { ST_UDP_BATCH = 32, ST_UDP_BUF = 65536 };

struct st_udp {
	struct st_ctx *x;
	int fd;
	bool have_peer;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	uint8_t *tx, *rx;   /* ST_UDP_BATCH buffers of ST_UDP_BUF each way */
	struct mmsghdr msgs[ST_UDP_BATCH];
	struct iovec iov[ST_UDP_BATCH];
	struct sockaddr_storage from[ST_UDP_BATCH];
};

static bool same_addr(const struct sockaddr_storage *a, socklen_t al, const struct sockaddr_storage *b, socklen_t bl)
{
	return al == bl && !memcmp(a, b, al);
}

static void on_tun(struct st_udp *u)
{
	struct st_ctx *x = u->x;
	unsigned int n = 0, sent = 0;

	while (n < ST_UDP_BATCH) {
		uint8_t *p = u->tx + (size_t)n * ST_UDP_BUF;
		ssize_t r = read(x->tun, p, ST_UDP_BUF);

		if (r <= 0) {
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				log_ratelimited(LOG_LVL_WARN, "%s: read: %s", x->ifname, strerror(errno));
			break;
		}
		if (!u->have_peer) {
			x->c.drop[ST_DROP_NO_PEER]++;
			continue;
		}
		log_debug("TAP2NET %llu: Read %zd bytes from the tap interface", x->c.tx_frames + n + 1, r);
		memset(&u->msgs[n], 0, sizeof(u->msgs[n]));
		u->iov[n].iov_base = p;
		u->iov[n].iov_len = (size_t)r;
		u->msgs[n].msg_hdr.msg_iov = &u->iov[n];
		u->msgs[n].msg_hdr.msg_iovlen = 1;
		if (x->cfg->server) {
			u->msgs[n].msg_hdr.msg_name = &u->peer;
			u->msgs[n].msg_hdr.msg_namelen = u->peer_len;
		}
		n++;
	}
	while (sent < n) {
		int r = sendmmsg(u->fd, u->msgs + sent, n - sent, MSG_DONTWAIT);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			/* A datagram tunnel may lose packets: never wait for the socket here. */
			x->c.drop[errno == EAGAIN || errno == ENOBUFS ? ST_DROP_QUEUE_FULL : ST_DROP_SEND_ERROR] += n - sent;
			if (errno != ECONNREFUSED)
				log_ratelimited(LOG_LVL_WARN, "send: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < r; i++) {
			x->c.tx_frames++;
			x->c.tx_bytes += u->iov[sent + (unsigned int)i].iov_len;
			log_debug("TAP2NET %llu: Written %zu bytes to the network", x->c.tx_frames,
				  u->iov[sent + (unsigned int)i].iov_len);
		}
		sent += (unsigned int)r;
	}
}

static void on_sock(struct st_udp *u)
{
	struct st_ctx *x = u->x;
	char who[64];
	int n;

	for (int i = 0; i < ST_UDP_BATCH; i++) {
		memset(&u->msgs[i], 0, sizeof(u->msgs[i]));
		u->iov[i].iov_base = u->rx + (size_t)i * ST_UDP_BUF;
		u->iov[i].iov_len = ST_UDP_BUF;
		u->msgs[i].msg_hdr.msg_iov = &u->iov[i];
		u->msgs[i].msg_hdr.msg_iovlen = 1;
		u->msgs[i].msg_hdr.msg_name = &u->from[i];
		u->msgs[i].msg_hdr.msg_namelen = sizeof(u->from[i]);
	}
	n = recvmmsg(u->fd, u->msgs, ST_UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		/* ICMP errors from a server that is not up yet arrive here on the client: harmless. */
		if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
			log_ratelimited(LOG_LVL_WARN, "recv: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		const uint8_t *p = u->iov[i].iov_base;
		size_t len = u->msgs[i].msg_len;
		struct sockaddr_storage *from = &u->from[i];
		socklen_t fl = u->msgs[i].msg_hdr.msg_namelen;

		if (len == 0) {
			x->c.drop[ST_DROP_DGRAM_EMPTY]++;
			log_ratelimited(LOG_LVL_WARN, "dropped an empty datagram from %s (dgram_empty)",
					st_addr_str((struct sockaddr *)from, who, sizeof(who)));
			continue;
		}
		if (len > x->limit && (u->msgs[i].msg_hdr.msg_flags & MSG_TRUNC || !st_refresh_limit(x) || len > x->limit)) {
			x->c.drop[ST_DROP_DGRAM_TOO_LONG]++;
			log_ratelimited(LOG_LVL_WARN, "dropped a %zu-byte datagram from %s: limit %zu (dgram_too_long)",
					len, st_addr_str((struct sockaddr *)from, who, sizeof(who)), x->limit);
			continue;
		}
		if (!st_plausible(x, p, len)) {
			x->c.drop[ST_DROP_BAD_PACKET]++;
			log_ratelimited(LOG_LVL_WARN, "dropped a %zu-byte datagram from %s that is not %s (bad_packet)",
					len, st_addr_str((struct sockaddr *)from, who, sizeof(who)),
					x->cfg->tap ? "an Ethernet frame" : "an IPv4/IPv6 packet");
			continue;
		}
		if (x->cfg->server && (!u->have_peer || !same_addr(&u->peer, u->peer_len, from, fl))) {
			log_info("%s client %s", u->have_peer ? "following" : "learned",
				 st_addr_str((struct sockaddr *)from, who, sizeof(who)));
			memcpy(&u->peer, from, fl);
			u->peer_len = fl;
			u->have_peer = true;
			x->c.connects++;
		}
		log_debug("NET2TAP %llu: Read %zu bytes from the network", x->c.rx_frames + 1, len);
		st_tun_write(x, p, len);
	}
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
		st_addr_str(a->ai_addr, where, sizeof(where));
		if (cfg->server) {
			setsockopt(u->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (a->ai_family == AF_INET6)
				setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
			if (bind(u->fd, a->ai_addr, a->ai_addrlen) == 0)
				break;
		} else if (connect(u->fd, a->ai_addr, a->ai_addrlen) == 0) {
			u->have_peer = true;
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
	st_sock_buffers(u->fd);
	return st_epoll_add(u->x, u->fd, EPOLLIN, ST_TAG_SOCK);
}

int st_udp_run(struct st_ctx *x)
{
	struct st_udp *u = calloc(1, sizeof(*u));
	struct epoll_event ev[8];
	int r;

	if (!u)
		return -ENOMEM;
	u->x = x;
	u->fd = -1;
	u->tx = malloc((size_t)ST_UDP_BATCH * ST_UDP_BUF);
	u->rx = malloc((size_t)ST_UDP_BATCH * ST_UDP_BUF);
	if (!u->tx || !u->rx) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = udp_open(u)) < 0) {
		log_err("cannot open the UDP socket (port %s): %s", x->cfg->port, strerror(-r));
		goto out;
	}
	while (!x->stop) {
		int n = epoll_wait(x->ep, ev, 8, -1);

		if (n < 0 && errno != EINTR) {
			r = -errno;
			log_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !x->stop; i++) {
			switch (ev[i].data.u32) {
			case ST_TAG_TUN:  on_tun(u); break;
			case ST_TAG_SOCK: on_sock(u); break;
			case ST_TAG_SIG:  st_on_signal(x); break;
			default: break;
			}
		}
	}
out:
	if (u->fd >= 0)
		close(u->fd);
	free(u->tx);
	free(u->rx);
	free(u);
	return r;
}
