/* The plaintext processor's rules (see proc_plain.h). */
#include "engine/proc_plain.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "lib/netlink.h"

enum { PLAIN_TAP_EXTRA = 14 + 4 };   /* Ethernet header and one VLAN tag on top of the MTU */

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

const char *plain_close_name(enum plain_close why)
{
	return why < PLAIN_CLOSE_MAX ? close_names[why] : "?";
}

static size_t limit_for(const struct plain *pl)
{
	int mtu = nl_link_get_mtu(pl->ifname);
	size_t l;

	if (mtu <= 0)
		mtu = 1500;
	l = (size_t)mtu + (pl->tap ? PLAIN_TAP_EXTRA : 0);
	return l > 65535 ? 65535 : l;
}

void plain_init(struct plain *pl, const char *ifname, bool server, bool tap, bool udp)
{
	memset(pl, 0, sizeof(*pl));
	snprintf(pl->ifname, sizeof(pl->ifname), "%s", ifname);
	pl->server = server;
	pl->tap = tap;
	pl->udp = udp;
	pl->limit = limit_for(pl);
}

bool plain_refresh_limit(struct plain *pl)
{
	size_t l = limit_for(pl);
	bool grew = l > pl->limit;

	pl->limit = l;
	return grew;
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

void plain_set_peer(struct plain *pl, const union udpio_addr *a)
{
	pl->peer = *a;
	pl->have_peer = true;
}

bool plain_dgram_in(struct plain *pl, const uint8_t *p, size_t len, const union udpio_addr *from,
		    bool *learned)
{
	char who[64];

	*learned = false;
	if (len == 0) {
		pl->c.drop[PLAIN_DROP_DGRAM_EMPTY]++;
		log_ratelimited(LOG_LVL_WARN, "dropped an empty datagram from %s (dgram_empty)",
				plain_addr_str(&from->sa, who, sizeof(who)));
		return false;
	}
	if (len > pl->limit && (!plain_refresh_limit(pl) || len > pl->limit)) {
		pl->c.drop[PLAIN_DROP_DGRAM_TOO_LONG]++;
		log_ratelimited(LOG_LVL_WARN, "dropped a %zu-byte datagram from %s: limit %zu (dgram_too_long)",
				len, plain_addr_str(&from->sa, who, sizeof(who)), pl->limit);
		return false;
	}
	if (!plain_plausible(pl, p, len)) {
		pl->c.drop[PLAIN_DROP_BAD_PACKET]++;
		log_ratelimited(LOG_LVL_WARN, "dropped a %zu-byte datagram from %s that is not %s (bad_packet)",
				len, plain_addr_str(&from->sa, who, sizeof(who)), what(pl));
		return false;
	}
	/* Only a valid packet moves the server's peer: garbage cannot steal the client's place. */
	if (pl->server && (!pl->have_peer || !udpio_addr_equal(&pl->peer, from))) {
		log_info("%s client %s", pl->have_peer ? "following" : "learned",
			 plain_addr_str(&from->sa, who, sizeof(who)));
		plain_set_peer(pl, from);
		pl->c.connects++;
		*learned = true;
	}
	log_debug("NET2TAP %llu: Read %zu bytes from the network", pl->c.rx_frames + 1, len);
	return true;
}

const char *plain_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;
		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
	} else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
	}
	return buf;
}

void plain_print(const struct plain *pl, const struct plain_tun_stats *ts)
{
	char drops[512], closes[256];
	size_t o = 0;

	drops[0] = closes[0] = '\0';
	for (int i = 0; i < PLAIN_DROP_MAX; i++)
		o += (size_t)snprintf(drops + o, sizeof(drops) - o, " %s=%llu", drop_names[i], pl->c.drop[i]);
	o = 0;
	for (int i = 0; i < PLAIN_CLOSE_MAX; i++)
		o += (size_t)snprintf(closes + o, sizeof(closes) - o, " %s=%llu", close_names[i], pl->c.close[i]);
	log_info("%s: tun->net %llu frames %llu bytes, net->tun %llu frames %llu bytes, connections %llu",
		 pl->ifname, pl->c.tx_frames, pl->c.tx_bytes, pl->c.rx_frames, pl->c.rx_bytes, pl->c.connects);
	log_info("%s: drops:%s", pl->ifname, drops);
	log_info("%s: offloads: %s%s%s; tso_split=%llu segs=%llu csum=%llu gro_merged=%llu gro_out=%llu",
		 pl->ifname, ts->offloads, pl->udp ? "; udp " : "", pl->udp ? ts->udp_caps : "",
		 ts->tso_pkts, ts->tso_segs, ts->csum_done, ts->gro_merged, ts->gro_out);
	if (!pl->udp)
		log_info("%s: closes:%s", pl->ifname, closes);
}
