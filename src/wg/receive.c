/* Inbound: each batch is split by message type at once. Handshake messages are checked for
 * length and MAC1 and copied into the handshake queue (handled by handshake.c, apart from
 * this path); data is authenticated, replay-checked, and its inner source must be an
 * allowed IP of the peer that sent it before it reaches the tun device. */
#include "wg/peer.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/log.h"
#include "wg/allowedips.h"
#include "wg/crypto.h"

/* What a worker checks handshake messages with, copied under mac1_lock once a batch (and the
 * cookie secret only in a batch that meets a full queue). */
struct hs_keys {
	int state;			/* 0 not read yet, 1 read, -1 no private key */
	int secret_state;		/* 0 not read yet, 1 read, -1 none yet */
	uint8_t mac1_key[WG_HASH_LEN];
	uint64_t gen;
	uint8_t secret[WG_HASH_LEN];
	uint64_t birth, now;
};

/* A source this worker found spent (source_spent), remembered for a millisecond: a flood from
 * one address then costs the worker one check a millisecond rather than three BLAKE2s and
 * three locks a batch. */
enum { SPENT_NS = 1000 * 1000 };
static __thread struct {
	uint64_t instance, since;	/* the device's instance; its clock */
	union endpoint_addr addr;
} spent;

static void remember_spent(const struct wg_device *dev, uint64_t now, const struct endpoint *src)
{
	spent.instance = dev->instance;
	spent.since = now;
	spent.addr = src->addr;
}

/* Is src refused whatever its MACs turn out to be? Asked before any hash. A token takes 50 ms
 * to come back, so a source is refused for a millisecond once its proven bucket refused it,
 * or once neither bucket had a token. Neither can be spoofed: the proven bucket is spent only
 * with a valid MAC2, and asking spends nothing. */
static bool source_spent(struct wg_device *dev, struct hs_keys *k, const struct endpoint *src)
{
	if (spent.instance == dev->instance && k->now >= spent.since && k->now - spent.since < SPENT_NS &&
	    endpoint_same_source(&spent.addr.sa, &src->sa))
		return true;
	if (ratelimiter_has_token(&dev->proven_limiter, &src->sa, k->now) ||
	    ratelimiter_has_token(&dev->cookie_limiter, &src->sa, k->now))
		return false;
	remember_spent(dev, k->now, src);
	wg_device_handshake_refused(dev, k->now);
	return true;
}

/* The main ring is full: past its source's token bucket into a ring served before it. A valid
 * MAC2 proves the source can receive: it spends a token in proven_limiter and goes to the
 * proven ring, served first (the consumer does not charge it again). One without (a cookie
 * reply will answer it) spends one in cookie_limiter, so that spoofing a real peer's address
 * cannot use up that peer's proven tokens, and goes to the unproven ring. Both tables are the
 * workers' alone: the consumer's ratelimiter is held by a nice-10 thread. */
static bool queue_priority(struct wg_device *dev, struct wg_pkt *pkt, struct hs_keys *k, bool mac1_checked)
{
	uint8_t addr[COOKIE_ADDR_MAX];
	size_t alen;
	uint8_t mac2;
	bool proven;

	if (!k->secret_state) {
		pthread_mutex_lock(&dev->mac1_lock);
		k->secret_state = dev->mac2_set ? 1 : -1;
		memcpy(k->secret, dev->mac2_secret, WG_HASH_LEN);
		k->birth = dev->mac2_secret_birth;
		pthread_mutex_unlock(&dev->mac1_lock);
		k->now = wg_device_now(dev);
	}
	if (source_spent(dev, k, &pkt->ep)) {
		wg_device_drop(dev, WG_DROP_RATELIMITED);
		return false;
	}
	/* A MAC2 of zeros is what a sender without a cookie puts there: such a message can only
	 * take the unproven ring, so it is refused before any hash when that bucket is empty. */
	mac2 = 0;
	for (unsigned int i = pkt->len - WG_MAC_LEN; i < pkt->len; i++)
		mac2 |= pkt->data[i];
	if (!mac2 && !ratelimiter_has_token(&dev->cookie_limiter, &pkt->ep.sa, k->now)) {
		wg_device_handshake_refused(dev, k->now);
		wg_device_drop(dev, WG_DROP_COOKIE_LIMITED);
		return false;
	}
	if (!mac1_checked && !cookie_mac1_valid(k->mac1_key, pkt->data, pkt->len)) {
		wg_device_drop_from(dev, WG_DROP_BAD_MAC1, &pkt->ep);
		return false;
	}
	alen = cookie_addr_from_sockaddr(addr, &pkt->ep.sa);
	proven = mac2 && k->secret_state > 0 && alen &&
		 cookie_mac2_valid(k->secret, k->birth, k->now, pkt->data, pkt->len, addr, alen);
	if (!ratelimiter_allow(proven ? &dev->proven_limiter : &dev->cookie_limiter, &pkt->ep.sa, k->now)) {
		if (proven)
			remember_spent(dev, k->now, &pkt->ep);
		wg_device_handshake_refused(dev, k->now);
		/* counted, not logged, as the consumer's ratelimited */
		wg_device_drop(dev, proven ? WG_DROP_RATELIMITED : WG_DROP_COOKIE_LIMITED);
		return false;
	}
	if (!wg_hs_enqueue(dev, pkt->data, pkt->len, &pkt->ep, k->gen, proven ? WG_HS_PROVEN : WG_HS_UNPROVEN)) {
		wg_device_drop(dev, proven ? WG_DROP_PROVEN_FULL : WG_DROP_QUEUE_FULL);
		return false;
	}
	return true;
}

/* An initiation or response: its length and MAC1 here, without dev->lock, then the queue. */
static bool queue_handshake(struct wg_device *dev, struct wg_pkt *pkt, struct hs_keys *k)
{
	uint32_t want = pkt->data[0] == WG_MSG_INITIATION ? WG_MSG_INITIATION_LEN : WG_MSG_RESPONSE_LEN;

	if (pkt->len != want) {
		wg_device_drop_from(dev, WG_DROP_SHORT_FRAME, &pkt->ep);
		return false;
	}
	if (!k->state) {
		pthread_mutex_lock(&dev->mac1_lock);
		k->state = dev->mac1_set ? 1 : -1;
		memcpy(k->mac1_key, dev->mac1_key, WG_HASH_LEN);
		k->gen = dev->mac1_gen;
		pthread_mutex_unlock(&dev->mac1_lock);
	}
	if (k->state < 0) {
		wg_device_drop(dev, WG_DROP_NO_KEY);
		return false;
	}
	/* the depth is a hint that saves the lock; enqueue decides */
	if (wg_device_handshake_pressed(dev, wg_device_now(dev)))
		return queue_priority(dev, pkt, k, false);
	if (!cookie_mac1_valid(k->mac1_key, pkt->data, pkt->len)) {
		wg_device_drop_from(dev, WG_DROP_BAD_MAC1, &pkt->ep);
		return false;
	}
	if (wg_hs_enqueue(dev, pkt->data, pkt->len, &pkt->ep, k->gen, WG_HS_MAIN))
		return true;
	return queue_priority(dev, pkt, k, true);
}

/* A cookie reply has no MAC1: only one naming a handshake or session of ours is queued, so
 * made-up ones cannot fill the queue (dev->lock held for reading). */
static bool queue_cookie_reply(struct wg_device *dev, struct wg_pkt *pkt)
{
	const struct wg_msg_cookie_reply *msg = (const void *)pkt->data;
	uint32_t idx = le32toh(msg->receiver_index);

	if (pkt->len != WG_MSG_COOKIE_REPLY_LEN) {
		wg_device_drop_from(dev, WG_DROP_SHORT_FRAME, &pkt->ep);
		return false;
	}
	if (!wg_index_lookup(dev, idx, WG_INDEX_HANDSHAKE, NULL) && !wg_index_lookup(dev, idx, WG_INDEX_KEYPAIR, NULL)) {
		wg_device_drop_from(dev, WG_DROP_UNKNOWN_INDEX, &pkt->ep);
		return false;
	}
	if (wg_hs_enqueue(dev, pkt->data, pkt->len, &pkt->ep, 0, WG_HS_MAIN))
		return true;
	/* With the main ring full, the unproven one, as far as the source's cookie bucket goes:
	 * there is no MAC1 to check, and whoever saw one of our indices on the wire could fill
	 * the ring with replies naming it. */
	if (!ratelimiter_allow(&dev->cookie_limiter, &pkt->ep.sa, wg_device_now(dev))) {
		wg_device_drop(dev, WG_DROP_COOKIE_LIMITED);
		return false;
	}
	if (wg_hs_enqueue(dev, pkt->data, pkt->len, &pkt->ep, 0, WG_HS_UNPROVEN))
		return true;
	wg_device_drop(dev, WG_DROP_QUEUE_FULL);
	return false;
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
		wg_device_drop_from(dev, WG_DROP_SHORT_FRAME, &pkt->ep);
		return NULL;
	}
	kp = wg_index_lookup(dev, le32toh(msg->receiver_index), WG_INDEX_KEYPAIR, &p);
	if (!kp) {
		wg_device_drop_from(dev, WG_DROP_UNKNOWN_INDEX, &pkt->ep);
		return NULL;
	}
	len = noise_decrypt_data(kp, pkt->data, pkt->len, now);
	if (len < 0) {
		enum wg_drop why = len == -ESTALE ? WG_DROP_REPLAY :
				   len == -EKEYEXPIRED ? WG_DROP_EXPIRED_KEY : WG_DROP_DECRYPT_FAILED;
		if (why == WG_DROP_REPLAY)
			wg_device_drop(dev, why);	/* duplicates are normal on some paths */
		else
			wg_device_drop_from(dev, why, &pkt->ep);
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
	wg_device_authenticated(dev, &pkt->ep, p->serial);
	*plain = pkt->data + WG_MSG_DATA_HEADER_LEN;
	*plain_len = (uint32_t)len;
	return p;
}

static void run_pending(struct wg_device *dev)
{
	if (__atomic_load_n(&dev->pending, __ATOMIC_ACQUIRE)) {
		wg_device_lock(dev);
		wg_device_run_pending(dev);
		wg_device_unlock(dev);
	}
}

void wg_device_udp_input(struct wg_device *dev, struct wg_pkt *pkts, unsigned int n)
{
	uint64_t now = 0;
	struct hs_keys keys = { 0 };
	unsigned int k = 0, queued = 0, tap_base = 0;
	bool locked = false, tap = dev->tap;	/* the mode: read once a batch */
	struct wg_peer *from[WG_BATCH];		/* tap mode: the peer of each frame */

	for (unsigned int i = 0; i < n; i++) {
		struct wg_pkt *pkt = &pkts[i];
		uint8_t *plain;
		uint32_t plen;
		const uint8_t *src;
		int family;
		struct wg_peer *p;

		if (pkt->len < 4) {
			wg_device_drop_from(dev, WG_DROP_SHORT_FRAME, &pkt->ep);
			continue;
		}
		/* type is a little-endian 32-bit word: the reserved bytes must be zero */
		if (pkt->data[1] | pkt->data[2] | pkt->data[3]) {
			wg_device_drop_from(dev, WG_DROP_BAD_TYPE, &pkt->ep);
			continue;
		}
		switch (pkt->data[0]) {
		case WG_MSG_INITIATION:
		case WG_MSG_RESPONSE:
			queued += queue_handshake(dev, pkt, &keys);
			continue;
		case WG_MSG_COOKIE_REPLY:
		case WG_MSG_DATA:
			break;
		default:
			wg_device_drop_from(dev, WG_DROP_BAD_TYPE, &pkt->ep);
			continue;
		}
		/* Only data and cookie replies need the tables: a batch of handshakes alone
		 * never waits for a writer. */
		if (!locked) {
			pthread_rwlock_rdlock(&dev->lock);
			locked = true;
			now = wg_device_now(dev);
		}
		if (pkt->data[0] == WG_MSG_COOKIE_REPLY) {
			queued += queue_cookie_reply(dev, pkt);
			continue;
		}
		p = handle_data(dev, pkt, now, &plain, &plen);
		if (!p || plen == 0)
			continue;	/* dropped, or a keepalive */
		if (tap) {
			/* frames go through the switch a chunk at a time */
			if (!wg_tap_rx_check(dev, p, &plain, &plen))
				continue;
			if (k - tap_base == WG_BATCH) {
				k = tap_base + wg_tap_deliver(dev, pkts + tap_base, from, WG_BATCH, now);
				tap_base = k;
			}
			from[k - tap_base] = p;
		} else if (!inner_src(plain, &plen, &family, &src)) {
			wg_device_drop_from(dev, WG_DROP_BAD_INNER_PACKET, &pkt->ep);
			continue;
		} else if (aip_lookup(dev->aip, family, src) != p) {
			char a[INET6_ADDRSTRLEN];
			wg_device_drop_log(dev, WG_DROP_UNALLOWED_SRC, addr_str(family, src, a, sizeof(a)));
			continue;
		}
		pthread_mutex_lock(&p->lock);
		timers_data_received(&p->timers, now);
		pthread_mutex_unlock(&p->lock);
		pkts[k].data = plain;
		pkts[k].len = plen;
		k++;
	}
	if (keys.secret_state)
		crypto_wipe(keys.secret, sizeof(keys.secret));
	if (tap && k > tap_base)
		k = tap_base + wg_tap_deliver(dev, pkts + tap_base, from, k - tap_base, now);
	if (locked)
		pthread_rwlock_unlock(&dev->lock);
	/* What the batch left for a writer goes first: a responder's first data from a new session
	 * makes that session current (WG_PENDING_ROTATE), and the packets written below may be
	 * answered at once, the answer read by another worker, which must find the session in
	 * place rather than stage the answer and start a handshake of its own. */
	run_pending(dev);
	if (k) {
		int r = dev->ops.tun_write(dev->ops.ctx, pkts, k);
		if (r < (int)k)
			wg_device_drop_n(dev, WG_DROP_TUN_WRITE_FAILED, k - (unsigned int)(r > 0 ? r : 0));
	}
	/* No handshake thread: this worker serves the queue itself, a budget at a time. */
	if (!__atomic_load_n(&dev->hsq.threaded, __ATOMIC_ACQUIRE)) {
		if (wg_device_handshake_depth(dev))
			wg_device_handshake_run(dev, WG_HS_BUDGET);
	} else if (queued) {
		wg_hs_wake(dev);
	}
	run_pending(dev);
}
