/* The plaintext processor's rules (see proc_plain.h). */
#include "engine/proc_plain.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/addr.h"
#include "lib/log.h"
#include "lib/netlink.h"
#include "lib/packet.h"
#include "engine/gro.h"
#include "engine/loop.h"

enum { PLAIN_TAP_EXTRA = PKT_ETH_MAX_HLEN };   /* Ethernet header and two VLAN tags on top of the MTU */

static const char *const drop_names[PLAIN_DROP_MAX] = {
	[PLAIN_DROP_NO_PEER] = "no_peer", [PLAIN_DROP_QUEUE_FULL] = "queue_full",
	[PLAIN_DROP_BAD_PACKET] = "bad_packet", [PLAIN_DROP_TUN_WRITE] = "tun_write",
	[PLAIN_DROP_DGRAM_EMPTY] = "dgram_empty", [PLAIN_DROP_DGRAM_TOO_LONG] = "dgram_too_long",
	[PLAIN_DROP_SEND_ERROR] = "send_error", [PLAIN_DROP_BAD_OFFLOAD] = "bad_offload",
};
static const char *const close_names[PLAIN_CLOSE_MAX] = {
	[PLAIN_CLOSE_PEER] = "peer_closed", [PLAIN_CLOSE_ZERO_LENGTH] = "zero_length",
	[PLAIN_CLOSE_TOO_LONG] = "frame_too_long", [PLAIN_CLOSE_ERROR] = "socket_error",
	[PLAIN_CLOSE_REPLACED] = "replaced",
};

static size_t limit_for(const struct plain *pl, unsigned int mtu)
{
	size_t l = (size_t)mtu + (pl->tap ? PLAIN_TAP_EXTRA : 0);

	return l > 65535 ? 65535 : l;
}

void plain_init(struct plain *pl, const char *ifname, bool server, bool tap, bool udp)
{
	int mtu;

	memset(pl, 0, sizeof(*pl));
	snprintf(pl->ifname, sizeof(pl->ifname), "%s", ifname);
	pl->server = server;
	pl->tap = tap;
	pl->udp = udp;
	mtu = nl_link_get_mtu(pl->ifname);
	pl->limit = limit_for(pl, mtu > 0 ? (unsigned int)mtu : 1500);
}

bool plain_plausible(const struct plain *pl, const uint8_t *p, size_t n)
{
	if (pl->tap)
		return n >= 14;
	if (n < 1)
		return false;
	switch (p[0] >> 4) {
	case 4:
		return n >= 20 && (size_t)(p[0] & 15) * 4 >= 20 && ((size_t)p[2] << 8 | p[3]) <= n &&
		       ((size_t)p[2] << 8 | p[3]) >= (size_t)(p[0] & 15) * 4;
	case 6:
		return n >= 40 && 40 + ((size_t)p[4] << 8 | p[5]) <= n;
	}
	return false;
}

static const char *what(const struct plain *pl)
{
	return pl->tap ? "an Ethernet frame" : "an IPv4/IPv6 packet";
}

bool plain_check_write(struct plain *pl, const uint8_t *p, size_t n)
{
	if (plain_plausible(pl, p, n))
		return true;
	pl->c.drop[PLAIN_DROP_BAD_PACKET]++;
	log_ratelimited(LOG_LVL_WARN, "%s: dropped a %zu-byte packet from the peer that is not %s (bad_packet)",
			pl->ifname, n, what(pl));
	return false;
}

/* The largest packet that reaches the peer in one unfragmented datagram. A fragmented
 * datagram costs reassembly at the peer and cannot leave as a UDP_SEGMENT run. */
static size_t path_payload(const union endpoint_addr *peer)
{
	bool v6 = peer->sa.sa_family == AF_INET6;
	socklen_t al = v6 ? sizeof(peer->in6) : sizeof(peer->in), l = sizeof(int);
	size_t over = v6 ? 40 + 8 : 20 + 8;	/* and the ICMP transport's extra, by the caller */
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

void plain_set_peer(struct plain *pl, const union endpoint_addr *a)
{
	pl->peer = *a;
	pl->have_peer = true;
	if (pl->udp && pl->loop) {
		size_t seg_max = path_payload(a);

		if (pl->icmp && seg_max != SIZE_MAX)
			seg_max -= loop_transport_mtu_extra(LOOP_XPORT_ICMP);

		/* TCP segments from the device's super-packets leave as datagrams that fit */
		loop_set_seg_max(pl->loop, seg_max);
		if (seg_max != SIZE_MAX)
			log_debug("TCP segments to the peer cut to at most %zu bytes (path MTU)", seg_max);
	}
}

bool plain_dgram_in(struct plain *pl, const uint8_t *p, size_t len, const union endpoint_addr *from,
		    bool *learned)
{
	char who[ADDR_STRLEN];

	*learned = false;
	if (len == 0) {
		pl->c.drop[PLAIN_DROP_DGRAM_EMPTY]++;
		log_ratelimited(LOG_LVL_WARN, "dropped an empty datagram from %s (dgram_empty)",
				addr_sockaddr_str(&from->sa, true, who, sizeof(who)));
		return false;
	}
	/* The limit the loop refreshes once a second (op_mtu): a lookup per oversized datagram
	 * would let any sender make us do a netlink round trip per packet. */
	if (len > pl->limit) {
		pl->c.drop[PLAIN_DROP_DGRAM_TOO_LONG]++;
		log_ratelimited(LOG_LVL_WARN, "dropped a %zu-byte datagram from %s: limit %zu (dgram_too_long)",
				len, addr_sockaddr_str(&from->sa, true, who, sizeof(who)), pl->limit);
		return false;
	}
	if (!plain_plausible(pl, p, len)) {
		pl->c.drop[PLAIN_DROP_BAD_PACKET]++;
		log_ratelimited(LOG_LVL_WARN, "dropped a %zu-byte datagram from %s that is not %s (bad_packet)",
				len, addr_sockaddr_str(&from->sa, true, who, sizeof(who)), what(pl));
		return false;
	}
	/* Only a valid packet moves the server's peer: garbage cannot steal the client's place. */
	if (pl->server && (!pl->have_peer || !endpoint_addr_equal(&pl->peer, from))) {
		log_info("%s client %s", pl->have_peer ? "following" : "learned",
			 addr_sockaddr_str(&from->sa, true, who, sizeof(who)));
		plain_set_peer(pl, from);
		pl->c.connects++;
		*learned = true;
	}
	log_debug("NET2TAP %llu: Read %zu bytes from the network", pl->c.rx_frames + 1, len);
	return true;
}

void plain_print(const struct plain *pl, const struct plain_tun_stats *ts)
{
	char drops[1024], closes[256];
	size_t o = 0;

	drops[0] = closes[0] = '\0';
	for (int i = 0; i < PLAIN_DROP_MAX; i++)
		o += (size_t)snprintf(drops + o, sizeof(drops) - o, " %s=%llu", drop_names[i], pl->c.drop[i]);
	for (int i = 0; pl->icmp && i < ICMPW_DROP_MAX; i++)
		o += (size_t)snprintf(drops + o, sizeof(drops) - o, " %s=%llu", icmpw_drop_name(i), pl->c.icmp[i]);
	o = 0;
	for (int i = 0; i < PLAIN_CLOSE_MAX; i++)
		o += (size_t)snprintf(closes + o, sizeof(closes) - o, " %s=%llu", close_names[i], pl->c.close[i]);
	log_info("%s: tun->net %llu frames %llu bytes, net->tun %llu frames %llu bytes, connections %llu",
		 pl->ifname, pl->c.tx_frames, pl->c.tx_bytes, pl->c.rx_frames, pl->c.rx_bytes, pl->c.connects);
	log_info("%s: drops:%s", pl->ifname, drops);
	log_info("%s: offloads: %s%s%s; tso_split=%llu segs=%llu csum=%llu gro_merged=%llu gro_out=%llu",
		 pl->ifname, ts->offloads, pl->udp && !pl->icmp ? "; udp " : "",
		 pl->udp && !pl->icmp ? ts->udp_caps : "",
		 ts->tso_pkts, ts->tso_segs, ts->csum_done, ts->gro_merged, ts->gro_out);
	if (!pl->udp)
		log_info("%s: closes:%s", pl->ifname, closes);
}

/* ---- the loop's processor ---- */

enum {
	PLAIN_STAGE_BYTES = 1 << 20,
	PLAIN_LEAD = 16,          /* before each staged packet: its virtio header, aligned */
};

static int op_attach(void *ctx, const struct loop_attach *a)
{
	struct plain *pl = ctx;
	struct loop_tun_stats ts;

	pl->loop = a->loop;
	loop_tun_stats(a->loop, &ts);
	/* Received datagrams may lie back to back (UDP GRO): the virtio header a merged write
	 * puts in front of one would overwrite the end of the one before. Stage copies then.
	 * ICMP messages each have a buffer of their own, with the echo headers in front. */
	if (pl->udp && !pl->icmp && ts.vnet && !pl->stage && !(pl->stage = malloc(PLAIN_STAGE_BYTES)))
		return -ENOMEM;
	if (pl->have_peer)
		plain_set_peer(pl, &pl->peer);
	loop_set_frame_max(pl->loop, pl->limit);
	return 0;
}

static void op_detach(void *ctx)
{
	struct plain *pl = ctx;

	pl->loop = NULL;
}

void plain_free(struct plain *pl)
{
	free(pl->stage);
	pl->stage = NULL;
}

static void op_tun_input(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	struct plain *pl = ctx;
	struct endpoint ep;
	int r;

	/* a stream has its peer while its connection is up (the transport knows) */
	if (pl->udp && !pl->have_peer) {
		pl->c.drop[PLAIN_DROP_NO_PEER] += n;
		return;
	}
	for (unsigned int i = 0; i < n; i++)
		log_debug("TAP2NET %llu: Read %u bytes from the tap interface", pl->c.tx_frames + i + 1, pkts[i].len);
	memset(&ep, 0, sizeof(ep));
	if (pl->icmp && pl->server)
		ep = pl->peer_ep;
	else
		ep.addr = pl->peer;
	r = loop_net_send(pl->loop, &ep, pkts, n);
	if (r == -ENOTCONN) {
		pl->c.drop[PLAIN_DROP_NO_PEER] += n;
		return;
	}
	if (r < 0) {
		bool full = r == -EAGAIN || r == -ENOBUFS;

		pl->c.drop[full ? PLAIN_DROP_QUEUE_FULL : PLAIN_DROP_SEND_ERROR] += n;
		if (full)
			log_ratelimited(LOG_LVL_WARN, "send: socket buffer full, dropped %u packets (queue_full)", n);
		else if (r != -ECONNREFUSED)
			log_ratelimited(LOG_LVL_WARN, "send: %s", strerror(-r));
		return;
	}
	for (int i = 0; i < r; i++) {
		pl->c.tx_frames++;
		pl->c.tx_bytes += pkts[i].len;
		log_debug("TAP2NET %llu: Written %u bytes to the network", pl->c.tx_frames, pkts[i].len);
	}
	if ((unsigned int)r < n) {
		pl->c.drop[PLAIN_DROP_QUEUE_FULL] += n - (unsigned int)r;
		log_ratelimited(LOG_LVL_WARN, "send: socket buffer full, dropped %u packets (queue_full)", n - (unsigned int)r);
	}
}

/* Packets for the device go out together, so TCP segments among them merge. */
static void flush(struct plain *pl)
{
	unsigned int n = pl->n_staged;
	int w;

	if (!n)
		return;
	pl->n_staged = 0;
	pl->stage_used = 0;
	w = loop_tun_write(pl->loop, pl->staged, n);
	if (w < 0)
		w = 0;
	for (int i = 0; i < w; i++) {
		pl->c.rx_frames++;
		pl->c.rx_bytes += pl->staged[i].len;
		log_debug("NET2TAP %llu: Written %u bytes to the tap interface", pl->c.rx_frames, pl->staged[i].len);
	}
	if ((unsigned int)w < n) {
		pl->c.drop[PLAIN_DROP_TUN_WRITE] += n - (unsigned int)w;
		log_ratelimited(LOG_LVL_WARN, "%s: device refused %u packets (tun_write)", pl->ifname, n - (unsigned int)w);
	}
}

static void stage(struct plain *pl, struct wg_pkt *p)
{
	if (pl->n_staged == UDPIO_MAX_BATCH ||
	    (pl->stage && pl->stage_used + PLAIN_LEAD + p->len > PLAIN_STAGE_BYTES))
		flush(pl);
	if (pl->stage) {
		uint8_t *b = pl->stage + pl->stage_used + PLAIN_LEAD;

		memcpy(b, p->data, p->len);
		pl->staged[pl->n_staged] = (struct wg_pkt){ .data = b, .len = p->len };
		pl->stage_used += (PLAIN_LEAD + p->len + 15) & ~(size_t)15;
	} else {
		pl->staged[pl->n_staged] = *p;
	}
	pl->n_staged++;
}

static void op_net_input(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	struct plain *pl = ctx;

	for (unsigned int i = 0; i < n; i++) {
		bool learned;

		if (pl->udp) {
			union endpoint_addr from;

			from = pkts[i].ep.addr;
			if (!plain_dgram_in(pl, pkts[i].data, pkts[i].len, &from, &learned))
				continue;
			/* replies leave from the address the client's requests went to */
			if (pl->icmp && pl->server)
				pl->peer_ep = pkts[i].ep;
		} else {
			log_debug("NET2TAP %llu: Read %u bytes from the network", pl->c.rx_frames + 1, pkts[i].len);
			if (!plain_check_write(pl, pkts[i].data, pkts[i].len))
				continue;
		}
		stage(pl, &pkts[i]);
	}
	flush(pl);
}

static void op_drop(void *ctx, enum wg_drop why, uint64_t n)
{
	struct plain *pl = ctx;

	if (why >= WG_DROP_ICMP_SHORT && why < WG_DROP_ICMP_SHORT + ICMPW_DROP_MAX) {
		pl->c.icmp[why - WG_DROP_ICMP_SHORT] += n;
		return;
	}
	/* the tun side's: a super-packet that could not be split (the reason is logged) */
	pl->c.drop[why == WG_DROP_BAD_INNER_PACKET || why == WG_DROP_TOO_BIG ? PLAIN_DROP_BAD_OFFLOAD :
		   PLAIN_DROP_SEND_ERROR] += n;
}

static void op_net_config(void *ctx, uint16_t *port, uint32_t *fwmark)
{
	struct plain *pl = ctx;

	*port = pl->port;
	*fwmark = 0;
}

/* desc is the transport's line: "tun ...; udp CAPS; workers=..." */
static void op_bound(void *ctx, uint16_t port, const char *desc)
{
	struct plain *pl = ctx;
	const char *u = strstr(desc, "; udp "), *e;

	if (!u)
		return;
	u += 6;
	e = strstr(u, "; workers");
	snprintf(pl->udp_caps, sizeof(pl->udp_caps), "%.*s", (int)(e ? (size_t)(e - u) : strlen(u)), u);
}

static void op_mtu(void *ctx, unsigned int mtu)
{
	struct plain *pl = ctx;

	pl->limit = limit_for(pl, mtu);
	if (pl->loop)
		loop_set_frame_max(pl->loop, pl->limit);
}

static void op_conn_up(void *ctx, const struct endpoint *ep, bool dialled)
{
	struct plain *pl = ctx;
	char who[ADDR_STRLEN];

	addr_sockaddr_str(&ep->sa, true, who, sizeof(who));
	if (dialled)
		log_info("connected to server %s", who);
	else
		log_info("client connected from %s", who);
	pl->c.connects++;
}

_Static_assert((int)PLAIN_CLOSE_MAX == (int)LOOP_CLOSE_MAX && (int)PLAIN_CLOSE_REPLACED == (int)LOOP_CLOSE_REPLACED &&
	       (int)PLAIN_CLOSE_ZERO_LENGTH == (int)LOOP_CLOSE_ZERO_LENGTH && (int)PLAIN_CLOSE_TOO_LONG == (int)LOOP_CLOSE_TOO_LONG &&
	       (int)PLAIN_CLOSE_ERROR == (int)LOOP_CLOSE_ERROR, "close reasons differ");

static void op_conn_closed(void *ctx, const struct endpoint *ep, enum loop_close why, const char *msg)
{
	/* One rate limit per reason, so a flood of one kind does not hide another. */
	static struct log_ratelimit rl[PLAIN_CLOSE_MAX];
	struct plain *pl = ctx;
	char who[ADDR_STRLEN];

	log_limited(&rl[why], LOG_LVL_WARN, "closing connection with %s: %s", addr_sockaddr_str(&ep->sa, true, who, sizeof(who)),
		    msg);
	pl->c.close[why]++;
}

const struct loop_proc_ops plain_proc_ops = {
	.attach = op_attach,
	.detach = op_detach,
	.tun_input = op_tun_input,
	.net_input = op_net_input,
	.drop = op_drop,
	.net_config = op_net_config,
	.bound = op_bound,
	.mtu = op_mtu,
	.conn_up = op_conn_up,
	.conn_closed = op_conn_closed,
};
