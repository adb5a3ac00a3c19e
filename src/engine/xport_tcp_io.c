/* The TCP transport's data: messages queued per connection and flushed as the socket takes
 * them, and the bytes read split into frames that go to the device in batches. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "engine/xport_tcp.h"
#include "engine/xport_tcp_int.h"
#include "lib/clock.h"
#include "lib/log.h"

static void conn_flush(struct wg_loop *l, struct tcp_conn *c)
{
	if (c->connecting || c->dead)
		return;
	while (framing_txq_pending(&c->tx)) {
		ssize_t r = framing_txq_flush(&c->tx, c->src.fd);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			xtcp_conn_end(l, c, LOOP_CLOSE_ERROR, true, "send: %s", strerror((int)-r));
			return;
		}
	}
	xtcp_set_out(l, c, framing_txq_pending(&c->tx) > 0);
	if (xt(l)->one && framing_txq_pending(&c->tx) <= c->tx.cap / 2)
		loop_tun_pause(l, false);
}

/* One peer: whatever the processor sends goes to the one connection, if it is up. Back-pressure
 * instead of loss: while the queue is half full the tun is not read, so TCP inside slows down
 * as it would on a slow link. */
static int one_send(struct wg_loop *l, struct wg_pkt *pkts, unsigned int n)
{
	struct tcp_conn *c = xtcp_one_conn(l);
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

int xtcp_send(struct wg_loop *l, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct tcp_conn *c;
	unsigned int i;

	if (xt(l)->one)
		return one_send(l, pkts, n);
	c = xtcp_find(l, ep);
	/* A cookie reply goes to whoever sent a handshake message, authenticated or not: if
	 * that connection is gone, dialling its address would let anyone make us dial. */
	if (!c && pkts[0].data[0] == WG_MSG_COOKIE_REPLY)
		return -ENOTCONN;
	if (!c && !(c = xtcp_conn_dial(l, ep)))
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
			xtcp_conn_end(l, c, LOOP_CLOSE_ZERO_LENGTH, true, "frame length 0 (zero_length)");
		else
			xtcp_conn_end(l, c, LOOP_CLOSE_TOO_LONG, true, "frame length %zu exceeds the limit %zu of %s (frame_too_long)",
				      c->rx.bad_len, c->rx.limit, l->ifname);
	} else if (r < 0) {
		loop_drop(l, WG_DROP_BAD_FRAME);
		xtcp_conn_kill(l, c, c->rx.err != FRAMING_OK ? framing_err_name(c->rx.err) :
							       "a frame length no WireGuard message has");
	}
	if (n)
		loop_net_input(l, w->pkts, n);
	xt(l)->in = NULL;
}

void xtcp_conn_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
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
			xtcp_conn_end(l, c, LOOP_CLOSE_ERROR, false, "%s", strerror(err));	/* xtcp_one_lost says so */
			return;
		}
		if (err) {
			xtcp_conn_kill(l, c, strerror(err));
			return;
		}
		c->connecting = false;
		if (xt(l)->one) {
			xtcp_dial_ok(l);
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
			xtcp_conn_end(l, c, LOOP_CLOSE_PEER, true, "the peer closed the connection");
			return;
		}
		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				xtcp_conn_end(l, c, errno == ECONNRESET ? LOOP_CLOSE_PEER : LOOP_CLOSE_ERROR, true, "recv: %s",
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
