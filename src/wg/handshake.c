/* Handshake messages, handled by the handshake queue's consumer (hs_queue.c). The workers
 * already checked each message's length and MAC1. Here, in order:
 *   1. with dev->lock for reading, briefly: MAC2 and the cookie decision (under load and no
 *      valid MAC2: a cookie reply instead of any work), and a copy of our identity;
 *   2. under load, the per-source rate limiter (which the worker applied already to a
 *      message it put in the proven ring);
 *   3. without any lock: the Diffie-Hellman work, on copies of our identity and of the peer's
 *      handshake (the copy taken under the read lock);
 *   4. with dev->lock for writing, briefly: check that neither our key (identity_gen) nor the
 *      peer (serial, hs_gen, its handshake index) changed meanwhile, then install the index,
 *      keypair, timestamp, endpoint, timers and counters;
 *   5. with no lock: send the response or cookie reply.
 * Only one consumer runs at a time, so the cookie secret and a peer's cookie maker, which the
 * consumer changes with the read lock only, have no other writer but dev->lock's. */
#include "wg/peer.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "wg/crypto.h"

/* What the consumer copied so it can work without dev->lock. */
struct hs_ctx {
	struct wg_device *dev;
	struct noise_identity id;
	uint64_t gen;			/* dev->identity_gen of id */
	struct wg_peer *peer;		/* compared, never followed, without the lock */
	uint64_t serial, hs_gen;
	struct noise_handshake hs;	/* the peer's handshake, identity pointing at id */
};

static void ctx_wipe(struct hs_ctx *c)
{
	crypto_wipe(&c->id, sizeof(c->id));
	noise_handshake_wipe(&c->hs);
}

/* Copies p's handshake into c (dev->lock held). */
static void ctx_take_peer(struct hs_ctx *c, struct wg_peer *p)
{
	c->hs = p->hs;
	c->hs.identity = &c->id;
	c->peer = p;
	c->serial = p->serial;
	c->hs_gen = p->hs_gen;
}

/* Still the same peer, key and psk as when c was taken (dev->lock held). */
static bool ctx_current(const struct hs_ctx *c, const struct wg_peer *p)
{
	return p && p == c->peer && p->serial == c->serial && p->hs_gen == c->hs_gen &&
	       c->dev->identity_gen == c->gen;
}

/* ep is a copy: a source address the host no longer has is cleared in it, not in the peer's
 * endpoint (the peer's next data send clears that). */
static void send_to(struct wg_device *dev, struct endpoint *ep, void *msg, size_t len)
{
	struct wg_pkt pkt = { .data = msg, .len = (uint32_t)len };
	int r = dev->ops.udp_send(dev->ops.ctx, ep, &pkt, 1);

	if (r != 1)
		wg_device_drop(dev, r >= 0 || r == -EAGAIN || r == -ENOBUFS ? WG_DROP_SEND_FULL : WG_DROP_SEND_FAILED);
}

/* Steps 1 and 2 for an initiation or response. true: go on (c->id and c->gen are set). */
static bool admit(struct wg_device *dev, const struct wg_hs_item *it, uint32_t sender_le,
		  struct hs_ctx *c, uint64_t now)
{
	uint8_t addr[COOKIE_ADDR_MAX];
	size_t alen = cookie_addr_from_sockaddr(addr, &it->ep.sa);
	bool load = wg_device_under_load(dev, now), reply_ok = false;
	struct wg_msg_cookie_reply reply;
	enum cookie_result r = COOKIE_BAD_MAC1;

	pthread_rwlock_rdlock(&dev->lock);
	if (!dev->identity.has_identity) {
		pthread_rwlock_unlock(&dev->lock);
		wg_device_drop(dev, WG_DROP_NO_KEY);
		return false;
	}
	/* MAC1 again only if the key changed since the worker checked it */
	if (it->mac1_gen != dev->identity_gen)
		r = cookie_validate(&dev->cookie_checker, it->msg, it->len, addr, alen, load, now);
	else if (load)
		r = cookie_validate_mac2(&dev->cookie_checker, it->msg, it->len, addr, alen, now);
	else
		r = COOKIE_GOOD_MAC1;
	if (load && r == COOKIE_GOOD_MAC1)
		reply_ok = !cookie_reply_create(&dev->cookie_checker, &reply, it->msg, it->len, sender_le,
						addr, alen, now);
	else if (r != COOKIE_BAD_MAC1) {
		c->id = dev->identity;
		c->gen = dev->identity_gen;
	}
	wg_device_publish_cookie_secret(dev);	/* either may have made a new one */
	pthread_rwlock_unlock(&dev->lock);
	if (r == COOKIE_BAD_MAC1) {
		wg_device_drop_from(dev, WG_DROP_BAD_MAC1, &it->ep);
		return false;
	}
	if (load && r != COOKIE_GOOD_MAC2) {
		if (reply_ok) {
			struct endpoint to = it->ep;
			send_to(dev, &to, &reply, sizeof(reply));
		}
		wg_device_drop(dev, WG_DROP_COOKIE_SENT);
		return false;
	}
	/* one from the proven ring spent its token when the worker put it there */
	if (load && it->cls != WG_HS_PROVEN && !ratelimiter_allow(&dev->ratelimiter, &it->ep.sa, now)) {
		/* counted, not logged: a flood makes millions, and formatting each costs more
		 * than the check that refused it */
		wg_device_drop(dev, WG_DROP_RATELIMITED);
		crypto_wipe(&c->id, sizeof(c->id));
		return false;
	}
	return true;
}

/* noise_consume_initiation's lookup: the peer of that static key, copied. */
static struct noise_handshake *lookup_copy(const uint8_t pub[WG_KEY_LEN], void *arg)
{
	struct hs_ctx *c = arg;
	struct wg_peer *p = NULL;

	pthread_rwlock_rdlock(&c->dev->lock);
	if (c->dev->identity_gen == c->gen)
		p = wg_device_find_peer(c->dev, pub);
	if (p)
		ctx_take_peer(c, p);
	pthread_rwlock_unlock(&c->dev->lock);
	return p ? &c->hs : NULL;
}

/* Step 4 for an initiation (dev->lock held for writing); 0 or -errno. *to: where resp goes. */
static int install_initiation(struct hs_ctx *c, struct noise_keypair *kp, struct wg_msg_response *resp,
			      const struct wg_hs_item *it, uint64_t now, struct endpoint *to)
{
	struct wg_device *dev = c->dev;
	struct wg_peer *p = wg_device_find_peer(dev, c->hs.remote_static);
	uint32_t idx;

	if (!ctx_current(c, p))
		return -ESTALE;
	/* another initiation of this peer may have been installed meanwhile */
	if (memcmp(c->hs.latest_timestamp, p->hs.latest_timestamp, WG_TIMESTAMP_LEN) <= 0)
		return -ESTALE;
	idx = wg_index_insert(dev, WG_INDEX_KEYPAIR, p, kp);
	if (!idx)
		return -ENOMEM;
	memcpy(p->hs.latest_timestamp, c->hs.latest_timestamp, WG_TIMESTAMP_LEN);
	p->hs.last_initiation_consumption = now;
	p->hs.consumed_any = true;
	/* Any initiation of ours in flight is superseded by this exchange. */
	if (p->hs_index) {
		wg_index_remove(dev, p->hs_index);
		p->hs_index = 0;
	}
	noise_handshake_clear(&p->hs);
	kp->local_index = idx;
	resp->sender_index = htole32(idx);

	p->rx_bytes += it->len;
	wg_peer_set_endpoint(p, &it->ep);
	timers_auth_packet_received(&p->timers, now);
	timers_auth_packet_traversal(&p->timers, now);
	wg_peer_add_keypair(p, kp);
	timers_session_derived(&p->timers, now, false);
	cookie_add_macs(&p->cookie, resp, sizeof(*resp), now);
	/* sent once the lock is released; counted here, where the peer is known */
	*to = p->endpoint;
	p->tx_bytes += sizeof(*resp);
	timers_auth_packet_sent(&p->timers, now);
	return 0;
}

static void handle_initiation(struct wg_device *dev, const struct wg_hs_item *it, uint64_t now)
{
	const struct wg_msg_initiation *msg = (const void *)it->msg;
	struct hs_ctx c = { .dev = dev };
	struct noise_keypair *kp = NULL;
	struct noise_handshake *hs;
	struct wg_msg_response resp;
	struct endpoint to;
	int r;

	if (!admit(dev, it, msg->sender_index, &c, now))
		return;
	r = noise_consume_initiation(msg, &c.id, lookup_copy, &c, now, &hs);
	if (r < 0) {
		wg_device_drop_from(dev, WG_DROP_BAD_HANDSHAKE, &it->ep);
		log_debug("handshake initiation refused: %s", strerror(-r));
		goto out;
	}
	/* the index is the table's to give: set when installing (it is outside the Noise hash) */
	kp = calloc(1, sizeof(*kp));
	if (!kp || noise_create_response(&resp, &c.hs, 0) < 0 || noise_begin_session(&c.hs, kp, now) < 0)
		goto out;
	wg_device_lock(dev);
	r = install_initiation(&c, kp, &resp, it, now, &to);
	wg_device_unlock(dev);
	if (r < 0) {
		wg_device_drop_from(dev, WG_DROP_BAD_HANDSHAKE, &it->ep);
		log_debug("handshake initiation not installed: %s", strerror(-r));
		goto out;
	}
	kp = NULL;
	wg_device_authenticated(dev, &it->ep, c.serial);
	send_to(dev, &to, &resp, sizeof(resp));
out:
	if (kp) {
		noise_keypair_clear(kp);
		free(kp);
	}
	ctx_wipe(&c);
}

static void handle_response(struct wg_device *dev, const struct wg_hs_item *it, uint64_t now)
{
	const struct wg_msg_response *msg = (const void *)it->msg;
	uint32_t idx = le32toh(msg->receiver_index);
	struct hs_ctx c = { .dev = dev };
	struct noise_keypair *kp = NULL;
	struct wg_peer *p = NULL;

	if (!admit(dev, it, msg->sender_index, &c, now))
		return;
	pthread_rwlock_rdlock(&dev->lock);
	if (dev->identity_gen == c.gen && wg_index_lookup(dev, idx, WG_INDEX_HANDSHAKE, &p))
		ctx_take_peer(&c, p);
	pthread_rwlock_unlock(&dev->lock);
	if (!c.peer) {
		wg_device_drop_from(dev, WG_DROP_UNKNOWN_INDEX, &it->ep);
		goto out;
	}
	if (noise_consume_response(msg, &c.hs) < 0) {
		wg_device_drop_from(dev, WG_DROP_BAD_HANDSHAKE, &it->ep);
		goto out;
	}
	kp = calloc(1, sizeof(*kp));
	if (!kp || noise_begin_session(&c.hs, kp, now) < 0)
		goto out;

	wg_device_lock(dev);
	p = NULL;
	/* our initiation must still be the one in flight: a newer one replaced its index */
	if (!wg_index_lookup(dev, idx, WG_INDEX_HANDSHAKE, &p) || !ctx_current(&c, p) || p->hs_index != idx) {
		wg_device_unlock(dev);
		wg_device_drop_from(dev, WG_DROP_BAD_HANDSHAKE, &it->ep);
		goto out;
	}
	wg_index_replace(dev, idx, WG_INDEX_KEYPAIR, kp);
	p->hs_index = 0;
	noise_handshake_clear(&p->hs);
	p->rx_bytes += it->len;
	wg_peer_set_endpoint(p, &it->ep);
	timers_auth_packet_received(&p->timers, now);
	timers_auth_packet_traversal(&p->timers, now);
	timers_handshake_complete(&p->timers, now);
	wg_peer_add_keypair(p, kp);
	timers_session_derived(&p->timers, now, true);
	/* The responder waits for our first data message to confirm the session. */
	if (!wg_peer_flush_staged(p))
		wg_peer_send_keepalive(p);
	wg_device_unlock(dev);
	kp = NULL;
	wg_device_authenticated(dev, &it->ep, c.serial);
out:
	if (kp) {
		noise_keypair_clear(kp);
		free(kp);
	}
	ctx_wipe(&c);
}

static void handle_cookie_reply(struct wg_device *dev, const struct wg_hs_item *it, uint64_t now)
{
	const struct wg_msg_cookie_reply *msg = (const void *)it->msg;
	uint32_t idx = le32toh(msg->receiver_index);
	struct wg_peer *p = NULL;
	int r = -ENOENT;

	pthread_rwlock_rdlock(&dev->lock);
	if (wg_index_lookup(dev, idx, WG_INDEX_HANDSHAKE, &p) || wg_index_lookup(dev, idx, WG_INDEX_KEYPAIR, &p))
		r = cookie_consume_reply(&p->cookie, msg, now);
	pthread_rwlock_unlock(&dev->lock);
	if (r == -ENOENT && !p) {
		wg_device_drop_from(dev, WG_DROP_UNKNOWN_INDEX, &it->ep);
		return;
	}
	if (r < 0) {
		wg_device_drop_from(dev, WG_DROP_BAD_COOKIE, &it->ep);
		return;
	}
	log_debug("received a cookie reply: the peer is under load");
}

void wg_handshake_handle(struct wg_device *dev, const struct wg_hs_item *it, uint64_t now)
{
	switch (it->msg[0]) {
	case WG_MSG_INITIATION:
		if (it->len == WG_MSG_INITIATION_LEN)
			handle_initiation(dev, it, now);
		break;
	case WG_MSG_RESPONSE:
		if (it->len == WG_MSG_RESPONSE_LEN)
			handle_response(dev, it, now);
		break;
	case WG_MSG_COOKIE_REPLY:
		if (it->len == WG_MSG_COOKIE_REPLY_LEN)
			handle_cookie_reply(dev, it, now);
		break;
	}
}
