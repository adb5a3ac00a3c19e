/* culvert simpletun over TCP: the original's wire format (2-byte big-endian length, then the
 * packet), but non-blocking: device packets are read in batches straight into a bounded send
 * queue behind their length slot and leave in one send(); received bytes are reassembled by
 * framing_rx whatever the read boundaries. One peer at a time: on the server a new client
 * replaces the current one (a restarted client is served at once); the client reconnects with
 * exponential backoff. */
#include "engine/st.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "engine/busypoll.h"
#include "lib/log.h"
#include "wire/framing.h"

enum {
	ST_TXQ_BYTES = 1 << 20, ST_RXBUF_BYTES = 256 << 10, ST_RX_READS = 16,
	/* Room one device read may need in the queue: 64 KB split into MTU frames. */
	ST_TXQ_NEED = FRAMING_HDR_LEN * ST_MAX_SEGS + ST_READ_BUF + 64 * ST_MAX_SEGS,
};

struct st_tcp {
	struct st_ctx *x;
	int lfd, fd;
	bool connecting, out_armed;
	bool tun_paused;                 /* device reads wait for the queue to drain */
	char peer[64];
	struct framing_rx rx;
	struct framing_txq txq;
	struct addrinfo *ai, *ai_next;   /* client: resolved server, next address to try */
	unsigned int backoff_ms;
	uint8_t scratch[65536];
	struct iovec segs[ST_MAX_SEGS];
};

/* Back-pressure instead of loss: while the queue cannot take a whole read, leave packets in
 * the device's queue, so TCP inside slows down as it would on a slow link. */
static void tun_pause(struct st_tcp *t, bool on)
{
	if (t->tun_paused == on)
		return;
	t->tun_paused = on;
	st_epoll_mod(t->x, t->x->tun, on ? 0 : EPOLLIN, ST_TAG_TUN);
}

static size_t txq_room(const struct st_tcp *t)
{
	return t->txq.cap - framing_txq_pending(&t->txq);
}

static void conn_close(struct st_tcp *t, enum plain_close why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void schedule_reconnect(struct st_tcp *t)
{
	if (t->x->cfg->server)
		return;
	st_timer_arm(t->x, t->backoff_ms);
	log_debug("reconnecting in %u ms", t->backoff_ms);
	t->backoff_ms = t->backoff_ms * 2 > ST_BACKOFF_MAX_MS ? ST_BACKOFF_MAX_MS : t->backoff_ms * 2;
}

static void conn_close(struct st_tcp *t, enum plain_close why, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t->fd >= 0) {
		/* One rate limit per reason, so a flood of one kind does not hide another. */
		static struct log_ratelimit rl[PLAIN_CLOSE_MAX];
		log_limited(&rl[why], LOG_LVL_WARN, "closing connection with %s: %s", t->peer, msg);
		close(t->fd);
		t->x->pl.c.close[why]++;
	}
	t->fd = -1;
	t->connecting = t->out_armed = false;
	/* A half-sent frame must never reach the next connection: start both streams afresh. */
	framing_rx_reset(&t->rx);
	framing_txq_reset(&t->txq);
	tun_pause(t, false);
	schedule_reconnect(t);
}

static void set_out(struct st_tcp *t, bool on)
{
	if (t->fd < 0 || t->out_armed == on)
		return;
	t->out_armed = on;
	st_epoll_mod(t->x, t->fd, EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), ST_TAG_SOCK);
}

static void flush(struct st_tcp *t)
{
	ssize_t n = framing_txq_flush(&t->txq, t->fd);

	if (n == -EAGAIN || n == -ENOBUFS) {
		set_out(t, true);
		return;
	}
	if (n < 0) {
		conn_close(t, PLAIN_CLOSE_ERROR, "send: %s", strerror((int)-n));
		return;
	}
	if (n > 0)
		log_debug("TAP2NET %llu: Written %zd bytes to the network", t->x->pl.c.tx_frames, n);
	set_out(t, framing_txq_pending(&t->txq) > 0);
	if (t->tun_paused && txq_room(t) >= t->txq.cap / 2)
		tun_pause(t, false);
}

static void conn_ready(struct st_tcp *t)
{
	int one = 1;

	/* Each frame leaves at once: Nagle plus the peer's delayed ACK is the original's 40 ms. */
	setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A peer that vanished without a FIN is noticed in about half a minute, not 15 minutes,
	 * so the client reconnects and the server's slot frees. */
	int idle = 10, intvl = 5, cnt = 3;
	unsigned int user_timeout_ms = 30000;
	setsockopt(t->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(t->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(t->fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(t->fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(t->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
	t->connecting = false;
	t->out_armed = false;
	t->backoff_ms = ST_BACKOFF_MIN_MS;
	t->x->pl.c.connects++;
	st_epoll_mod(t->x, t->fd, EPOLLIN | EPOLLRDHUP, ST_TAG_SOCK);
}

/* Device readable: up to ST_BATCH reads into the queue, then one send for all of them. With
 * offloads a read may be a 64 KB super-packet; it leaves as MTU-sized frames. */
static void on_tun(struct st_tcp *t)
{
	struct st_ctx *x = t->x;
	bool queued = false;
	size_t need = x->vnet ? ST_TXQ_NEED : FRAMING_HDR_LEN + FRAMING_MAX_LEN;

	for (int i = 0; i < ST_BATCH; i++) {
		bool up = t->fd >= 0 && !t->connecting;
		uint8_t *p = NULL;
		ssize_t n;
		int k;

		if (up && txq_room(t) < need) {
			tun_pause(t, true);
			break;
		}
		if (x->vnet) {
			k = st_tun_read(x, t->segs, ST_MAX_SEGS, SIZE_MAX);
			if (k < 0) {
				if (k != -EAGAIN)
					log_ratelimited(LOG_LVL_WARN, "%s: read: %s", x->ifname, strerror(-k));
				break;
			}
			for (int j = 0; j < k; j++) {
				if (!up || framing_txq_append(&t->txq, t->segs[j].iov_base, t->segs[j].iov_len) < 0) {
					x->pl.c.drop[up ? PLAIN_DROP_QUEUE_FULL : PLAIN_DROP_NO_PEER]++;
					continue;
				}
				x->pl.c.tx_frames++;
				x->pl.c.tx_bytes += t->segs[j].iov_len;
				log_debug("TAP2NET %llu: Read %zu bytes from the tap interface", x->pl.c.tx_frames,
					  t->segs[j].iov_len);
				queued = true;
			}
			continue;
		}
		p = up ? framing_txq_reserve(&t->txq, FRAMING_MAX_LEN) : NULL;
		n = read(x->tun, p ? p : t->scratch, p ? FRAMING_MAX_LEN : sizeof(t->scratch));
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_ratelimited(LOG_LVL_WARN, "%s: read: %s", x->ifname, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (!p) {
			x->pl.c.drop[up ? PLAIN_DROP_QUEUE_FULL : PLAIN_DROP_NO_PEER]++;
			continue;
		}
		framing_txq_commit(&t->txq, (size_t)n);
		x->pl.c.tx_frames++;
		x->pl.c.tx_bytes += (size_t)n;
		log_debug("TAP2NET %llu: Read %zd bytes from the tap interface", x->pl.c.tx_frames, n);
		queued = true;
	}
	if (queued && !t->out_armed)
		flush(t);
}

static void sock_read(struct st_tcp *t)
{
	struct st_ctx *x = t->x;

	for (int i = 0; i < ST_RX_READS && t->fd >= 0; i++) {
		const uint8_t *f;
		size_t room, len;
		uint8_t *p = framing_rx_space(&t->rx, &room);
		ssize_t n = recv(t->fd, p, room, MSG_DONTWAIT);
		int r;

		if (n == 0) {
			conn_close(t, PLAIN_CLOSE_PEER, "the peer closed the connection");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_close(t, errno == ECONNRESET ? PLAIN_CLOSE_PEER : PLAIN_CLOSE_ERROR, "recv: %s", strerror(errno));
			return;
		}
		framing_rx_commit(&t->rx, (size_t)n);
		for (;;) {
			r = framing_rx_next(&t->rx, &f, &len);
			if (r == 1) {
				log_debug("NET2TAP %llu: Read %zu bytes from the network", x->pl.c.rx_frames + 1, len);
				st_tun_queue(x, f, len);
				continue;
			}
			if (r == 0)
				break;
			/* The MTU may have been raised since we looked: check before blaming the peer. */
			if (t->rx.err == FRAMING_TOO_LONG && plain_refresh_limit(&x->pl) && t->rx.bad_len <= x->pl.limit &&
			    framing_rx_set_limit(&t->rx, x->pl.limit) == 0) {
				t->rx.err = FRAMING_OK;
				continue;
			}
			if (t->rx.err == FRAMING_ZERO_LENGTH)
				conn_close(t, PLAIN_CLOSE_ZERO_LENGTH, "frame length 0 (zero_length)");
			else
				conn_close(t, PLAIN_CLOSE_TOO_LONG, "frame length %zu exceeds the limit %zu of %s (frame_too_long)",
					   t->rx.bad_len, t->rx.limit, x->ifname);
			return;
		}
		if ((size_t)n < room)
			return;
	}
}

/* Frames of one wake-up go to the device together, so TCP segments among them merge. */
static void on_sock_readable(struct st_tcp *t)
{
	sock_read(t);
	st_tun_flush(t->x);
}

static void on_sock(struct st_tcp *t, uint32_t ev)
{
	if (t->connecting) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			log_ratelimited(LOG_LVL_WARN, "cannot connect to %s: %s", t->peer, strerror(err));
			close(t->fd);
			t->fd = -1;
			t->connecting = false;
			schedule_reconnect(t);
			return;
		}
		log_info("connected to server %s", t->peer);
		conn_ready(t);
		return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		on_sock_readable(t);
	if (t->fd >= 0 && (ev & EPOLLOUT))
		flush(t);
}

static void client_connect(struct st_tcp *t)
{
	struct addrinfo *a;

	if (!t->ai && st_resolve(t->x->cfg, SOCK_STREAM, &t->ai) < 0) {
		schedule_reconnect(t);
		return;
	}
	if (!t->ai_next)
		t->ai_next = t->ai;
	a = t->ai_next;
	t->ai_next = a->ai_next;
	plain_addr_str(a->ai_addr, t->peer, sizeof(t->peer));
	t->fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (t->fd < 0) {
		log_ratelimited(LOG_LVL_WARN, "socket: %s", strerror(errno));
		schedule_reconnect(t);
		return;
	}
	if (connect(t->fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
		log_ratelimited(LOG_LVL_WARN, "cannot connect to %s: %s", t->peer, strerror(errno));
		close(t->fd);
		t->fd = -1;
		schedule_reconnect(t);
		return;
	}
	t->connecting = true;
	st_epoll_add(t->x, t->fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, ST_TAG_SOCK);
	log_debug("connecting to %s", t->peer);
}

static void on_timer(struct st_tcp *t)
{
	uint64_t exp;

	while (read(t->x->timer, &exp, sizeof(exp)) > 0)
		;
	if (t->fd < 0)
		client_connect(t);
	/* Re-resolve a name on every round through its addresses: it may have moved. */
	if (t->fd < 0 && t->ai && !t->ai_next) {
		freeaddrinfo(t->ai);
		t->ai = NULL;
	}
}

static void on_accept(struct st_tcp *t)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = accept4(t->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	char who[64];

	if (fd < 0)
		return;
	plain_addr_str((struct sockaddr *)&ss, who, sizeof(who));
	if (t->fd >= 0)
		conn_close(t, PLAIN_CLOSE_REPLACED, "replaced by a new client from %s", who);
	t->fd = fd;
	memcpy(t->peer, who, sizeof(who));
	log_info("client connected from %s", who);
	st_epoll_add(t->x, t->fd, EPOLLIN | EPOLLRDHUP, ST_TAG_SOCK);
	conn_ready(t);
}

static int server_listen(struct st_tcp *t)
{
	const struct st_config *cfg = t->x->cfg;
	struct addrinfo *ai, *a;
	int one = 1, r = -EADDRNOTAVAIL;
	char where[64];

	if ((r = st_resolve(cfg, SOCK_STREAM, &ai)) < 0)
		return r;
	for (a = ai; a; a = a->ai_next) {
		int v6only = cfg->family == AF_INET6;

		t->lfd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
		if (t->lfd < 0) {
			r = -errno;
			continue;
		}
		setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (a->ai_family == AF_INET6)
			setsockopt(t->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
		if (bind(t->lfd, a->ai_addr, a->ai_addrlen) == 0 && listen(t->lfd, 8) == 0)
			break;
		r = -errno;
		plain_addr_str(a->ai_addr, where, sizeof(where));
		log_debug("cannot listen on %s: %s", where, strerror(-r));
		close(t->lfd);
		t->lfd = -1;
	}
	if (t->lfd < 0 && !cfg->bind && cfg->family == AF_UNSPEC) {
		/* No IPv6 in this namespace: fall back to IPv4 only. */
		struct st_config v4 = *cfg;
		v4.family = AF_INET;
		freeaddrinfo(ai);
		t->x->cfg = &v4;
		r = server_listen(t);
		t->x->cfg = cfg;
		return r;
	}
	if (t->lfd >= 0)
		log_info("listening on %s (TCP)", plain_addr_str(a->ai_addr, where, sizeof(where)));
	freeaddrinfo(ai);
	if (t->lfd < 0)
		return r;
	return st_epoll_add(t->x, t->lfd, EPOLLIN, ST_TAG_LISTEN);
}

int st_tcp_run(struct st_ctx *x)
{
	struct st_tcp *t = calloc(1, sizeof(*t));
	struct epoll_event ev[16];
	struct busypoll bp;
	int r;

	if (!t)
		return -ENOMEM;
	t->x = x;
	t->lfd = t->fd = -1;
	t->backoff_ms = ST_BACKOFF_MIN_MS;
	if (framing_rx_init(&t->rx, x->pl.limit, ST_RXBUF_BYTES) < 0 || framing_txq_init(&t->txq, ST_TXQ_BYTES) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (x->cfg->server) {
		if ((r = server_listen(t)) < 0) {
			log_err("cannot listen on TCP port %s: %s%s", x->cfg->port, strerror(-r),
				r == -EADDRINUSE ? " (another program has it: pick another port with -p)" : "");
			goto out;
		}
	} else {
		st_timer_arm(x, 0);
	}
	if ((r = st_drop_privileges(x->cfg)) < 0)
		goto out;
	r = 0;
	busypoll_init(&bp, x->cfg->no_busy_poll);
	while (!x->stop) {
		int n = busypoll_wait(&bp, x->ep, ev, 16);
		bool data = false;

		if (n < 0 && errno != EINTR) {
			r = -errno;
			log_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !x->stop; i++) {
			switch (ev[i].data.u32) {
			case ST_TAG_TUN:    on_tun(t); data = true; break;
			case ST_TAG_SOCK:   if (t->fd >= 0) on_sock(t, ev[i].events); data = true; break;
			case ST_TAG_LISTEN: on_accept(t); break;
			case ST_TAG_TIMER:  on_timer(t); break;
			case ST_TAG_SIG:    st_on_signal(x); break;
			}
		}
		if (data)
			busypoll_kick(&bp);
	}
out:
	if (t->fd >= 0)
		close(t->fd);
	if (t->lfd >= 0)
		close(t->lfd);
	if (t->ai)
		freeaddrinfo(t->ai);
	framing_rx_free(&t->rx);
	framing_txq_free(&t->txq);
	free(t);
	return r;
}
