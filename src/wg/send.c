/* Outbound: tun packets to peers (cryptokey routing by destination), handshake initiations,
 * keepalives and the packets staged while a handshake was in flight. */
#include "wg/peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/log.h"
#include "lib/packet.h"
#include "wg/allowedips.h"
#include "wire/icmp.h"

/* Sends pkts[0..n) to the peer's endpoint, from the address the peer last reached us at. When
 * that address has gone from the host the engine sends from another and says so; the peer
 * forgets it (unless a newer one came in meanwhile), as the module does, so that later sends
 * do not try it first. What did not leave is counted: send_full when the socket was full. */
static int peer_udp_send(struct wg_peer *p, struct wg_pkt *pkts, unsigned int n)
{
	struct wg_device *dev = p->dev;
	struct endpoint ep, was;
	int r;

	pthread_mutex_lock(&p->lock);
	ep = was = p->endpoint;
	pthread_mutex_unlock(&p->lock);
	r = dev->ops.udp_send(dev->ops.ctx, &ep, pkts, n);
	if (!endpoint_local_equal(&ep.local, &was.local)) {
		pthread_mutex_lock(&p->lock);
		if (endpoint_local_equal(&p->endpoint.local, &was.local))
			endpoint_clear_local(&p->endpoint);
		pthread_mutex_unlock(&p->lock);
	}
	if (r < (int)n) {
		bool full = r >= 0 || r == -EAGAIN || r == -ENOBUFS;
		wg_device_drop_n(dev, full ? WG_DROP_SEND_FULL : WG_DROP_SEND_FAILED, n - (unsigned int)(r > 0 ? r : 0));
		log_ratelimited(LOG_LVL_INFO, "sending to a peer failed: %s",
				full ? "the socket buffer is full" : strerror(-r));
	}
	return r;
}

int wg_peer_send_raw(struct wg_peer *p, void *msg, size_t len)
{
	struct wg_pkt pkt = { .data = msg, .len = (uint32_t)len };
	int r;

	if (p->endpoint.sa.sa_family == AF_UNSPEC) {
		wg_device_drop(p->dev, WG_DROP_NO_ENDPOINT);
		return -EDESTADDRREQ;
	}
	r = peer_udp_send(p, &pkt, 1);
	if (r == 1) {
		p->tx_bytes += len;
		return 0;
	}
	return r < 0 ? r : -EIO;
}

int wg_peer_send_initiation(struct wg_peer *p, bool retry)
{
	struct wg_device *dev = p->dev;
	struct wg_msg_initiation msg;
	uint64_t now = wg_device_now(dev);
	char name[64];
	uint32_t idx;
	int r;

	if (!dev->identity.has_identity)
		return -ENOKEY;
	/* Nowhere to send it: no index, and no ephemeral key or DH under the device lock (the
	 * tick's retries would make one every 5 s); the retries stay armed for when it has one. */
	if (p->endpoint.sa.sa_family == AF_UNSPEC) {
		wg_device_drop(dev, WG_DROP_NO_ENDPOINT);
		timers_handshake_initiated(&p->timers, now);
		return -EDESTADDRREQ;
	}
	if (p->hs_index) {
		wg_index_remove(dev, p->hs_index);
		p->hs_index = 0;
	}
	idx = wg_index_insert(dev, WG_INDEX_HANDSHAKE, p, &p->hs);
	if (!idx)
		return -ENOMEM;
	r = noise_create_initiation(&msg, &p->hs, idx);
	if (r < 0) {
		wg_index_remove(dev, idx);
		log_ratelimited(LOG_LVL_WARN, "%s: cannot create a handshake initiation: %s",
				wg_peer_name(p, name, sizeof(name)), strerror(-r));
		return r;
	}
	p->hs_index = idx;
	cookie_add_macs(&p->cookie, &msg, sizeof(msg), now);
	log_debug("%s: sending handshake initiation%s", wg_peer_name(p, name, sizeof(name)),
		  retry ? " (retry)" : "");
	timers_auth_packet_traversal(&p->timers, now);
	r = wg_peer_send_raw(p, &msg, sizeof(msg));
	if (!r)
		timers_auth_packet_sent(&p->timers, now);
	/* Armed even when it could not leave (no endpoint yet): the retries go on. */
	timers_handshake_initiated(&p->timers, now);
	return r;
}

static bool keypair_usable(const struct noise_keypair *kp, uint64_t now)
{
	return kp && kp->valid &&
	       timers_session_usable(kp->birth, now, __atomic_load_n(&kp->send_counter, __ATOMIC_RELAXED));
}

/* An inner packet too large for any UDP datagram (MTUs near 65535) would be lost again and
 * again: tell its sender the size that fits, the way a router on the path would (ICMP
 * "fragmentation needed" for IPv4 with DF, "packet too big" for IPv6), written to the tun as if
 * from the packet's destination, so the sender's path MTU (TCP's segment size) drops to it. */
static void send_too_big(struct wg_device *dev, const uint8_t *pkt, uint32_t len, size_t fits)
{
	enum { V6_QUOTE = 1280 - 40 - 8 };
	uint8_t buf[WG_PKT_HEADROOM + 40 + 8 + V6_QUOTE + WG_PKT_TAILROOM];
	uint8_t *o = buf + WG_PKT_HEADROOM, *icmp;
	struct wg_pkt out = { .data = o };
	uint32_t mtu = (uint32_t)fits;
	size_t quote;

	if (!dev->ops.tun_write || dev->tap)
		return;	/* a tap takes frames, and a bridge has no path MTU to tell */
	if ((pkt[0] >> 4) == 4) {
		size_t ihl = (size_t)(pkt[0] & 15) * 4;
		if (!(pkt[6] & 0x40) || ihl < 20 || len < ihl + 8 || pkt[9] == IPPROTO_ICMP)
			return;	/* no DF: the sender did not ask; never answer ICMP with ICMP */
		quote = ihl + 8;
		memset(o, 0, 28);
		o[0] = 0x45;
		o[2] = (uint8_t)((28 + quote) >> 8), o[3] = (uint8_t)(28 + quote);
		o[8] = 64, o[9] = IPPROTO_ICMP;
		memcpy(o + 12, pkt + 16, 4);
		memcpy(o + 16, pkt + 12, 4);
		uint16_t c = pkt_csum(o, 20);
		o[10] = (uint8_t)(c >> 8), o[11] = (uint8_t)c;
		icmp = o + 20;
		icmp[0] = 3, icmp[1] = 4;	/* destination unreachable, fragmentation needed */
		icmp[6] = (uint8_t)(mtu >> 8), icmp[7] = (uint8_t)mtu;
		memcpy(icmp + 8, pkt, quote);
		c = pkt_csum(icmp, 8 + quote);
		icmp[2] = (uint8_t)(c >> 8), icmp[3] = (uint8_t)c;
		out.len = (uint32_t)(28 + quote);
	} else {
		if (pkt[6] == IPPROTO_ICMPV6)
			return;
		quote = len < V6_QUOTE ? len : V6_QUOTE;
		memset(o, 0, 48);
		o[0] = 0x60;
		o[4] = (uint8_t)((8 + quote) >> 8), o[5] = (uint8_t)(8 + quote);
		o[6] = IPPROTO_ICMPV6, o[7] = 64;
		memcpy(o + 8, pkt + 24, 16);
		memcpy(o + 24, pkt + 8, 16);
		icmp = o + 40;
		icmp[0] = 2;			/* packet too big */
		icmp[4] = (uint8_t)(mtu >> 24), icmp[5] = (uint8_t)(mtu >> 16);
		icmp[6] = (uint8_t)(mtu >> 8), icmp[7] = (uint8_t)mtu;
		memcpy(icmp + 8, pkt, quote);
		uint16_t c = pkt_csum_l4_6(o + 8, o + 24, IPPROTO_ICMPV6, icmp, 8 + quote);
		icmp[2] = (uint8_t)(c >> 8), icmp[3] = (uint8_t)c;
		out.len = (uint32_t)(48 + quote);
	}
	dev->ops.tun_write(dev->ops.ctx, &out, 1);
}

/* Encrypts pkts[0..n) (data at their own buffers, headroom in front) for p with kp and sends
 * them; returns how many left. Runs on several threads at once with dev->lock held for
 * reading (or alone, held for writing): the peer's own state is touched under p->lock and
 * what needs more (a rekey, a keepalive) is deferred. */
static unsigned int encrypt_and_send(struct wg_peer *p, struct noise_keypair *kp, struct wg_pkt *pkts,
				     unsigned int n, uint64_t now)
{
	struct wg_device *dev = p->dev;
	unsigned int k = 0, act;
	uint64_t bytes = 0;
	bool payload = false;
	/* the device's MTU, and in tap mode the frame's header and tags beside it */
	unsigned int mtu = __atomic_load_n(&dev->mtu, __ATOMIC_RELAXED) + dev->mtu_overhead;
	size_t room;
	int r;

	pthread_mutex_lock(&p->lock);
	room = p->endpoint.sa.sa_family == AF_INET6 ? WG_UDP6_PAYLOAD_MAX : WG_UDP4_PAYLOAD_MAX;
	pthread_mutex_unlock(&p->lock);
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *msg = pkts[i].data - WG_MSG_DATA_HEADER_LEN;
		long len;

		/* Only at MTUs near 65535: what cannot be one UDP datagram cannot leave at all. */
		if (WG_MSG_DATA_OVERHEAD + noise_padded_len(pkts[i].len, mtu) > room) {
			wg_device_drop(dev, WG_DROP_TOO_BIG);
			send_too_big(dev, pkts[i].data, pkts[i].len,
				     (room - WG_MSG_DATA_OVERHEAD) & ~(size_t)(WG_PADDING_MULTIPLE - 1));
			continue;
		}
		len = noise_encrypt_data(kp, msg, WG_MSG_DATA_HEADER_LEN + pkts[i].len + WG_PKT_TAILROOM,
					 pkts[i].len, mtu, now);
		if (len < 0) {
			wg_device_drop(dev, len == -EKEYEXPIRED ? WG_DROP_EXPIRED_KEY : WG_DROP_TOO_BIG);
			continue;
		}
		payload |= pkts[i].len != 0;
		pkts[k].data = msg;
		pkts[k].len = (uint32_t)len;
		bytes += (uint64_t)len;
		k++;
	}
	if (!k)
		return 0;
	r = peer_udp_send(p, pkts, k);
	if (r <= 0)
		return 0;
	pthread_mutex_lock(&p->lock);
	p->tx_bytes += bytes;
	if (payload)
		timers_data_sent(&p->timers, now);
	timers_auth_packet_sent(&p->timers, now);
	timers_auth_packet_traversal(&p->timers, now);
	act = timers_keep_fresh_send(&p->timers, now, __atomic_load_n(&kp->send_counter, __ATOMIC_RELAXED));
	if (act)
		wg_peer_defer(p, 0, act);
	pthread_mutex_unlock(&p->lock);
	return (unsigned int)r;
}

static void want_handshake(struct wg_peer *p, uint64_t now)
{
	if (timers_want_handshake(&p->timers, now) & TIMERS_SEND_HANDSHAKE_INITIATION)
		wg_peer_send_initiation(p, false);
}

unsigned int wg_peer_flush_staged(struct wg_peer *p)
{
	uint64_t now = wg_device_now(p->dev);
	struct wg_pkt pkts[WG_BATCH];
	unsigned int sent = 0;

	if (!p->staged_count)
		return 0;
	if (!keypair_usable(p->kp_current, now) || p->endpoint.sa.sa_family == AF_UNSPEC) {
		want_handshake(p, now);
		return 0;
	}
	while (p->staged_count) {
		unsigned int n = 0, head = p->staged_head;

		while (n < WG_BATCH && n < p->staged_count) {
			struct wg_staged *s = &p->staged[(head + n) % WG_MAX_STAGED];
			pkts[n].data = s->buf + WG_PKT_HEADROOM;
			pkts[n].len = s->len;
			n++;
		}
		sent += encrypt_and_send(p, p->kp_current, pkts, n, now);
		for (unsigned int i = 0; i < n; i++) {
			free(p->staged[p->staged_head].buf);
			p->staged[p->staged_head].buf = NULL;
			p->staged_head = (p->staged_head + 1) % WG_MAX_STAGED;
			p->staged_count--;
		}
	}
	p->staged_head = 0;
	return sent;
}

void wg_peer_send_keepalive(struct wg_peer *p)
{
	uint64_t now = wg_device_now(p->dev);
	uint8_t buf[WG_PKT_HEADROOM + WG_PKT_TAILROOM];
	struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM, .len = 0 };
	char name[64];

	if (p->staged_count) {
		wg_peer_flush_staged(p);
		return;
	}
	if (!keypair_usable(p->kp_current, now)) {
		want_handshake(p, now);
		return;
	}
	if (p->endpoint.sa.sa_family == AF_UNSPEC) {
		wg_device_drop(p->dev, WG_DROP_NO_ENDPOINT);
		return;
	}
	log_debug("%s: sending keepalive", wg_peer_name(p, name, sizeof(name)));
	encrypt_and_send(p, p->kp_current, &pkt, 1, now);
}

/* Destination of a raw IP packet from the tun device; false if it is not one. */
static bool inner_dst(const uint8_t *pkt, uint32_t len, int *family, const uint8_t **dst)
{
	if (len < 1)
		return false;
	switch (pkt[0] >> 4) {
	case 4:
		if (len < 20)
			return false;
		*family = AF_INET;
		*dst = pkt + 16;
		return true;
	case 6:
		if (len < 40)
			return false;
		*family = AF_INET6;
		*dst = pkt + 24;
		return true;
	}
	return false;
}

/* Our own traffic to p come back: a datagram (a segment with the TCP transport, an echo with
 * the ICMP one) from our port to p's endpoint, about to be sent to p once more. The route to
 * that endpoint leads into this device, and each round would send it again, fragmented
 * further, without end; the module stops it the same way (-ELOOP when the endpoint's route is
 * the device itself). Another peer's endpoint behind p is onion routing, and passes. ICMP has
 * no ports: an echo carrying the transport's magic to p's address is ours (the identifier is
 * ours in a request and the peer's in a reply). One byte compare for most packets. */
static bool routing_loop(struct wg_device *dev, struct wg_peer *p, const uint8_t *pkt, uint32_t len, int family)
{
	struct endpoint ep;
	size_t l4;
	bool v6 = family == AF_INET6, icmp = dev->transport == PKT_IPPROTO_ICMP;

	if (pkt[v6 ? 6 : 9] != (icmp && v6 ? PKT_IPPROTO_ICMPV6 : dev->transport))
		return false;
	l4 = v6 ? 40 : (size_t)(pkt[0] & 15) * 4;
	/* a later IPv4 fragment carries no ports (IPv6 ones have a header in front: pass) */
	if (len < l4 + 4 || (!v6 && ((pkt[6] & 0x1f) || pkt[7])))
		return false;
	if (icmp ? !icmpw_is_ours(pkt + l4, len - l4, v6) :
		   (uint16_t)(pkt[l4] << 8 | pkt[l4 + 1]) != dev->listen_port || !dev->listen_port)
		return false;
	pthread_mutex_lock(&p->lock);
	ep = p->endpoint;
	pthread_mutex_unlock(&p->lock);
	if (v6)
		return ep.sa.sa_family == AF_INET6 && !memcmp(pkt + 24, &ep.in6.sin6_addr, 16) &&
		       (icmp || !memcmp(pkt + l4 + 2, &ep.in6.sin6_port, 2));
	return ep.sa.sa_family == AF_INET && !memcmp(pkt + 16, &ep.in4.sin_addr, 4) &&
	       (icmp || !memcmp(pkt + l4 + 2, &ep.in4.sin_port, 2));
}

static void drop_dst(struct wg_device *dev, int family, const uint8_t *dst)
{
	static struct log_ratelimit rl;
	char a[INET6_ADDRSTRLEN];

	wg_device_drop(dev, WG_DROP_NO_PEER_FOR_DST);
	log_limited(&rl, LOG_LVL_DEBUG, "no peer has an allowed IP for %s",
		    addr_str(family, dst, a, sizeof(a)));
}

/* A run of packets for p (dev->lock held for reading): sent now, or staged behind what is
 * already staged while the session is not usable, with the rest left to the writer. */
static void send_run(struct wg_peer *p, struct wg_pkt *pkts, unsigned int n, uint64_t now)
{
	struct wg_device *dev = p->dev;
	struct noise_keypair *kp = p->kp_current;
	bool usable = keypair_usable(kp, now);

	pthread_mutex_lock(&p->lock);
	bool has_ep = p->endpoint.sa.sa_family != AF_UNSPEC;
	if (usable && has_ep && !p->staged_count) {
		pthread_mutex_unlock(&p->lock);
		encrypt_and_send(p, kp, pkts, n, now);
		return;
	}
	if (!has_ep && !kp) {
		pthread_mutex_unlock(&p->lock);
		wg_device_drop_n(dev, WG_DROP_NO_ENDPOINT, n);
		return;
	}
	/* Staged packets go first, so that a flow keeps its order. */
	for (unsigned int i = 0; i < n; i++)
		if (!wg_peer_stage(p, pkts[i].data, pkts[i].len))
			wg_device_drop(dev, WG_DROP_QUEUE_FULL);
	wg_peer_defer(p, usable && has_ep ? WG_PENDING_FLUSH : WG_PENDING_HANDSHAKE, 0);
	pthread_mutex_unlock(&p->lock);
}

void wg_peer_send_batch(struct wg_peer *p, struct wg_pkt *pkts, unsigned int n, uint64_t now)
{
	send_run(p, pkts, n, now);
}

void wg_device_tun_input(struct wg_device *dev, struct wg_pkt *pkts, unsigned int n)
{
	uint64_t now;
	struct wg_peer *run_peer = NULL;
	unsigned int run_start = 0, k = 0;

	if (dev->tap) {
		wg_tap_input(dev, pkts, n);
		return;
	}
	now = wg_device_now(dev);
	pthread_rwlock_rdlock(&dev->lock);
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *dst;
		int family;
		struct wg_peer *p;

		if (!inner_dst(pkts[i].data, pkts[i].len, &family, &dst)) {
			wg_device_drop(dev, WG_DROP_BAD_INNER_PACKET);
			continue;
		}
		p = aip_lookup(dev->aip, family, dst);
		if (!p) {
			drop_dst(dev, family, dst);
			continue;
		}
		if (routing_loop(dev, p, pkts[i].data, pkts[i].len, family)) {
			wg_device_drop(dev, WG_DROP_ROUTING_LOOP);
			log_ratelimited(LOG_LVL_INFO, "%s: dropped a packet (routing_loop): the route to a peer's "
					"endpoint leads into the tunnel itself; route it elsewhere (wg-quick uses a "
					"fwmark rule)", dev->name);
			continue;
		}
		if (p != run_peer && k > run_start) {
			send_run(run_peer, pkts + run_start, k - run_start, now);
			run_start = k;
		}
		run_peer = p;
		pkts[k++] = pkts[i];
	}
	if (k > run_start)
		send_run(run_peer, pkts + run_start, k - run_start, now);
	pthread_rwlock_unlock(&dev->lock);
	if (__atomic_load_n(&dev->pending, __ATOMIC_ACQUIRE)) {
		wg_device_lock(dev);
		wg_device_run_pending(dev);
		wg_device_unlock(dev);
	}
}
