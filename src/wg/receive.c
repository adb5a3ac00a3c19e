/* Inbound: datagrams by message type. Handshakes are checked for MAC1 always and MAC2 when
 * under load; data is authenticated, replay-checked, and its inner source must be an
 * allowed IP of the peer that sent it before it reaches the tun device. */
#include "wg/peer.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "wg/allowedips.h"

static void drop_from(struct wg_device *dev, enum wg_drop why, const struct wg_endpoint *src)
{
	char a[80];

	wg_device_drop_log(dev, why, wg_endpoint_str(src, a, sizeof(a)));
}

static void authenticated(struct wg_device *dev, const struct wg_endpoint *src)
{
	if (dev->ops.authenticated)
		dev->ops.authenticated(dev->ops.ctx, src);
}

/* MAC1 always, MAC2 when under load (answering with a cookie instead). true: go on. */
static bool check_macs(struct wg_device *dev, const void *msg, size_t len, uint32_t sender_le,
		       const struct wg_endpoint *src, uint64_t now)
{
	uint8_t addr[COOKIE_ADDR_MAX];
	size_t alen = cookie_addr_from_sockaddr(addr, &src->sa);
	bool load = wg_device_under_load(dev);
	enum cookie_result r = cookie_validate(&dev->cookie_checker, msg, len, addr, alen, load, now);

	if (r == COOKIE_BAD_MAC1) {
		drop_from(dev, WG_DROP_BAD_MAC1, src);
		return false;
	}
	if (load && r != COOKIE_GOOD_MAC2) {
		struct wg_msg_cookie_reply reply;
		struct wg_pkt pkt = { .data = (uint8_t *)&reply, .len = sizeof(reply) };
		struct wg_endpoint to = *src;

		if (!cookie_reply_create(&dev->cookie_checker, &reply, msg, len, sender_le, addr, alen, now))
			dev->ops.udp_send(dev->ops.ctx, &to, &pkt, 1);
		wg_device_drop(dev, WG_DROP_COOKIE_SENT);
		return false;
	}
	return true;
}

struct lookup_ctx {
	struct wg_device *dev;
	struct wg_peer *peer;
};

static struct noise_handshake *lookup_static(const uint8_t pub[WG_KEY_LEN], void *arg)
{
	struct lookup_ctx *c = arg;

	c->peer = wg_device_find_peer(c->dev, pub);
	return c->peer ? &c->peer->hs : NULL;
}

static void handle_initiation(struct wg_device *dev, struct wg_pkt *pkt, uint64_t now)
{
	const struct wg_msg_initiation *msg = (const void *)pkt->data;
	struct lookup_ctx lc = { dev, NULL };
	struct noise_handshake *hs;
	struct wg_msg_response resp;
	struct noise_keypair *kp;
	struct wg_peer *p;
	uint32_t idx;
	int r;

	if (pkt->len != WG_MSG_INITIATION_LEN) {
		drop_from(dev, WG_DROP_SHORT_FRAME, &pkt->ep);
		return;
	}
	if (!dev->identity.has_identity) {
		wg_device_drop(dev, WG_DROP_NO_KEY);
		return;
	}
	if (!check_macs(dev, msg, pkt->len, msg->sender_index, &pkt->ep, now))
		return;
	r = noise_consume_initiation(msg, &dev->identity, lookup_static, &lc, now, &hs);
	if (r < 0) {
		drop_from(dev, WG_DROP_BAD_HANDSHAKE, &pkt->ep);
		log_debug("handshake initiation refused: %s", strerror(-r));
		return;
	}
	p = lc.peer;
	wg_peer_set_endpoint(p, &pkt->ep);
	authenticated(dev, &pkt->ep);
	timers_auth_packet_received(&p->timers, now);
	timers_auth_packet_traversal(&p->timers, now);

	/* Any initiation of ours in flight is superseded by this exchange. */
	if (p->hs_index) {
		wg_index_remove(dev, p->hs_index);
		p->hs_index = 0;
	}
	kp = calloc(1, sizeof(*kp));
	idx = kp ? wg_index_insert(dev, WG_INDEX_HANDSHAKE, p, &p->hs) : 0;
	if (!idx) {
		free(kp);
		noise_handshake_clear(&p->hs);
		return;
	}
	r = noise_create_response(&resp, &p->hs, idx);
	if (!r)
		r = noise_begin_session(&p->hs, kp, now);
	if (r < 0) {
		wg_index_remove(dev, idx);
		noise_handshake_clear(&p->hs);
		free(kp);
		return;
	}
	wg_index_replace(dev, idx, WG_INDEX_KEYPAIR, kp);
	cookie_add_macs(&p->cookie, &resp, sizeof(resp), now);
	wg_peer_add_keypair(p, kp);
	timers_session_derived(&p->timers, now, false);
	if (!wg_peer_send_raw(p, &resp, sizeof(resp)))
		timers_auth_packet_sent(&p->timers, now);
}

static void handle_response(struct wg_device *dev, struct wg_pkt *pkt, uint64_t now)
{
	const struct wg_msg_response *msg = (const void *)pkt->data;
	struct noise_keypair *kp;
	struct wg_peer *p;
	uint32_t idx;
	int r;

	if (pkt->len != WG_MSG_RESPONSE_LEN) {
		drop_from(dev, WG_DROP_SHORT_FRAME, &pkt->ep);
		return;
	}
	if (!check_macs(dev, msg, pkt->len, msg->sender_index, &pkt->ep, now))
		return;
	idx = le32toh(msg->receiver_index);
	if (!wg_index_lookup(dev, idx, WG_INDEX_HANDSHAKE, &p)) {
		drop_from(dev, WG_DROP_UNKNOWN_INDEX, &pkt->ep);
		return;
	}
	r = noise_consume_response(msg, &p->hs);
	if (r < 0) {
		drop_from(dev, WG_DROP_BAD_HANDSHAKE, &pkt->ep);
		return;
	}
	kp = calloc(1, sizeof(*kp));
	if (!kp || noise_begin_session(&p->hs, kp, now) < 0) {
		free(kp);
		return;
	}
	wg_index_replace(dev, idx, WG_INDEX_KEYPAIR, kp);
	p->hs_index = 0;
	wg_peer_set_endpoint(p, &pkt->ep);
	authenticated(dev, &pkt->ep);
	timers_auth_packet_received(&p->timers, now);
	timers_auth_packet_traversal(&p->timers, now);
	timers_handshake_complete(&p->timers, now);
	wg_peer_add_keypair(p, kp);
	timers_session_derived(&p->timers, now, true);
	/* The responder waits for our first data message to confirm the session. */
	if (!wg_peer_flush_staged(p))
		wg_peer_send_keepalive(p);
}

static void handle_cookie_reply(struct wg_device *dev, struct wg_pkt *pkt, uint64_t now)
{
	const struct wg_msg_cookie_reply *msg = (const void *)pkt->data;
	uint32_t idx;
	struct wg_peer *p;

	if (pkt->len != WG_MSG_COOKIE_REPLY_LEN) {
		drop_from(dev, WG_DROP_SHORT_FRAME, &pkt->ep);
		return;
	}
	idx = le32toh(msg->receiver_index);
	if (!wg_index_lookup(dev, idx, WG_INDEX_HANDSHAKE, &p) && !wg_index_lookup(dev, idx, WG_INDEX_KEYPAIR, &p)) {
		drop_from(dev, WG_DROP_UNKNOWN_INDEX, &pkt->ep);
		return;
	}
	if (cookie_consume_reply(&p->cookie, msg, now) < 0) {
		drop_from(dev, WG_DROP_BAD_COOKIE, &pkt->ep);
		return;
	}
	log_debug("received a cookie reply: the peer is under load");
}

/* Validates the inner IP packet at pkt[0..*len) and trims padding; family and source out. */
static bool inner_src(const uint8_t *pkt, uint32_t *len, int *family, const uint8_t **src)
{
	uint32_t tot;

	if (*len < 1)
		return false;
	switch (pkt[0] >> 4) {
	case 4:
		if (*len < 20)
			return false;
		tot = (uint32_t)pkt[2] << 8 | pkt[3];
		if (tot < 20 || tot > *len || (pkt[0] & 0xf) < 5 || (uint32_t)(pkt[0] & 0xf) * 4 > tot)
			return false;
		*family = AF_INET;
		*src = pkt + 12;
		break;
	case 6:
		if (*len < 40)
			return false;
		tot = 40 + ((uint32_t)pkt[4] << 8 | pkt[5]);
		if (tot > *len)
			return false;
		*family = AF_INET6;
		*src = pkt + 8;
		break;
	default:
		return false;
	}
	*len = tot;
	return true;
}

/* Decrypts pkt in place. Returns the peer and sets plain and plain_len, or NULL (dropped). */
static struct wg_peer *handle_data(struct wg_device *dev, struct wg_pkt *pkt, uint64_t now,
				   uint8_t **plain, uint32_t *plain_len)
{
	const struct wg_msg_data *msg = (const void *)pkt->data;
	struct noise_keypair *kp;
	struct wg_peer *p;
	long len;

	if (pkt->len < WG_MSG_DATA_MIN_LEN) {
		drop_from(dev, WG_DROP_SHORT_FRAME, &pkt->ep);
		return NULL;
	}
	kp = wg_index_lookup(dev, le32toh(msg->receiver_index), WG_INDEX_KEYPAIR, &p);
	if (!kp) {
		drop_from(dev, WG_DROP_UNKNOWN_INDEX, &pkt->ep);
		return NULL;
	}
	len = noise_decrypt_data(kp, pkt->data, pkt->len, now);
	if (len < 0) {
		enum wg_drop why = len == -ESTALE ? WG_DROP_REPLAY :
				   len == -EKEYEXPIRED ? WG_DROP_EXPIRED_KEY : WG_DROP_DECRYPT_FAILED;
		if (why == WG_DROP_REPLAY)
			wg_device_drop(dev, why);	/* duplicates are normal on some paths */
		else
			drop_from(dev, why, &pkt->ep);
		return NULL;
	}
	pthread_mutex_lock(&p->lock);
	p->rx_bytes += pkt->len;
	if (kp == p->kp_next) {
		/* the rotation frees a keypair: left to the writer */
		p->pending_kp_index = kp->local_index;
		wg_peer_defer(p, WG_PENDING_ROTATE, 0);
	}
	wg_peer_set_endpoint(p, &pkt->ep);
	timers_auth_packet_received(&p->timers, now);
	timers_auth_packet_traversal(&p->timers, now);
	if (kp == p->kp_current) {
		unsigned int act = timers_keep_fresh_receive(&p->timers, now);
		if (act)
			wg_peer_defer(p, 0, act);
	}
	pthread_mutex_unlock(&p->lock);
	authenticated(dev, &pkt->ep);
	*plain = pkt->data + WG_MSG_DATA_HEADER_LEN;
	*plain_len = (uint32_t)len;
	return p;
}

static void handle_handshake(struct wg_device *dev, struct wg_pkt *pkt, uint64_t now)
{
	switch (pkt->data[0]) {
	case WG_MSG_INITIATION:
		handle_initiation(dev, pkt, now);
		break;
	case WG_MSG_RESPONSE:
		handle_response(dev, pkt, now);
		break;
	case WG_MSG_COOKIE_REPLY:
		handle_cookie_reply(dev, pkt, now);
		break;
	}
}

void wg_device_udp_input(struct wg_device *dev, struct wg_pkt *pkts, unsigned int n)
{
	uint64_t now = wg_device_now(dev);
	struct wg_pkt hs[WG_HS_PER_BATCH];
	unsigned int k = 0, n_hs = 0;

	pthread_rwlock_rdlock(&dev->lock);
	for (unsigned int i = 0; i < n; i++) {
		struct wg_pkt *pkt = &pkts[i];
		uint8_t *plain;
		uint32_t plen;
		const uint8_t *src;
		int family;
		struct wg_peer *p;

		if (pkt->len < 4) {
			drop_from(dev, WG_DROP_SHORT_FRAME, &pkt->ep);
			continue;
		}
		/* type is a little-endian 32-bit word: the reserved bytes must be zero */
		if (pkt->data[1] | pkt->data[2] | pkt->data[3]) {
			drop_from(dev, WG_DROP_BAD_TYPE, &pkt->ep);
			continue;
		}
		switch (pkt->data[0]) {
		case WG_MSG_INITIATION:
		case WG_MSG_RESPONSE:
		case WG_MSG_COOKIE_REPLY:
			/* They change the tables: handled after the data, as a writer. Their
			 * buffers stay untouched until this call returns. */
			if (n_hs < WG_HS_PER_BATCH)
				hs[n_hs++] = *pkt;
			else
				wg_device_drop(dev, WG_DROP_QUEUE_FULL);
			continue;
		case WG_MSG_DATA:
			break;
		default:
			drop_from(dev, WG_DROP_BAD_TYPE, &pkt->ep);
			continue;
		}
		p = handle_data(dev, pkt, now, &plain, &plen);
		if (!p || plen == 0)
			continue;	/* dropped, or a keepalive */
		if (!inner_src(plain, &plen, &family, &src)) {
			drop_from(dev, WG_DROP_BAD_INNER_PACKET, &pkt->ep);
			continue;
		}
		if (aip_lookup(dev->aip, family, src) != p) {
			char a[INET6_ADDRSTRLEN];
			wg_device_drop_log(dev, WG_DROP_UNALLOWED_SRC, inet_ntop(family, src, a, sizeof(a)));
			continue;
		}
		pthread_mutex_lock(&p->lock);
		timers_data_received(&p->timers, now);
		pthread_mutex_unlock(&p->lock);
		pkts[k].data = plain;
		pkts[k].len = plen;
		k++;
	}
	pthread_rwlock_unlock(&dev->lock);
	if (k) {
		int r = dev->ops.tun_write(dev->ops.ctx, pkts, k);
		if (r < (int)k)
			wg_device_drop_n(dev, WG_DROP_TUN_WRITE_FAILED, k - (unsigned int)(r > 0 ? r : 0));
	}
	if (n_hs || __atomic_load_n(&dev->pending, __ATOMIC_ACQUIRE)) {
		wg_device_lock(dev);
		for (unsigned int i = 0; i < n_hs; i++)
			handle_handshake(dev, &hs[i], now);
		wg_device_run_pending(dev);
		wg_device_unlock(dev);
	}
}
