/* Peer state: keypair rotation, staging, endpoint, timers' actions. */
#include "wg/peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "wg/crypto.h"
#include "wg/key.h"

struct wg_peer *wg_peer_new(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN], const uint8_t *ss)
{
	struct wg_peer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->dev = dev;
	pthread_mutex_init(&p->lock, NULL);
	memcpy(p->public_key, pub, WG_KEY_LEN);
	if (ss)
		noise_handshake_init_ss(&p->hs, &dev->identity, pub, ss);
	else
		noise_handshake_init(&p->hs, &dev->identity, pub, NULL);
	cookie_maker_init(&p->cookie, pub);
	timers_init(&p->timers, NULL, NULL);
	return p;
}

const char *wg_peer_name(const struct wg_peer *p, char *buf, size_t len)
{
	char b64[KEY_B64_LEN + 1];

	key_to_base64(b64, p->public_key);
	snprintf(buf, len, "peer %.8s…", b64);
	return buf;
}

static void keypair_free(struct wg_peer *p, struct noise_keypair **slot)
{
	struct noise_keypair *kp = *slot;

	if (!kp)
		return;
	*slot = NULL;
	wg_index_remove(p->dev, kp->local_index);
	noise_keypair_clear(kp);
	free(kp);
}

void wg_peer_clear_keypairs(struct wg_peer *p)
{
	keypair_free(p, &p->kp_current);
	keypair_free(p, &p->kp_previous);
	keypair_free(p, &p->kp_next);
}

static void handshake_forget(struct wg_peer *p)
{
	if (p->hs_index) {
		wg_index_remove(p->dev, p->hs_index);
		p->hs_index = 0;
	}
	noise_handshake_clear(&p->hs);
}

void wg_peer_free(struct wg_peer *p)
{
	char name[64];

	if (p->up)
		log_info("%s: down (removed)", wg_peer_name(p, name, sizeof(name)));
	wg_peer_clear_keypairs(p);
	handshake_forget(p);
	wg_peer_clear_staged(p);
	noise_handshake_wipe(&p->hs);
	cookie_maker_wipe(&p->cookie);
	crypto_wipe(p->psk, sizeof(p->psk));
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void wg_peer_identity_changed(struct wg_peer *p)
{
	noise_handshake_precompute(&p->hs);
}

void wg_peer_expire_sessions(struct wg_peer *p)
{
	char name[64];

	wg_peer_clear_keypairs(p);
	handshake_forget(p);
	timers_handshake_reset(&p->timers);
	if (p->up) {
		p->up = false;
		log_info("%s: down (our private key changed)", wg_peer_name(p, name, sizeof(name)));
	}
}

void wg_peer_set_psk(struct wg_peer *p, const uint8_t *psk)
{
	p->hs_gen++;
	if (psk)
		memcpy(p->psk, psk, WG_KEY_LEN);
	else
		memset(p->psk, 0, WG_KEY_LEN);
	noise_handshake_set_psk(&p->hs, key_is_zero(p->psk) ? NULL : p->psk);
}

void wg_peer_set_persistent_keepalive(struct wg_peer *p, uint16_t seconds)
{
	p->persistent_keepalive = seconds;
	timers_set_persistent_keepalive(&p->timers, wg_device_now(p->dev), seconds);
}

void wg_peer_set_endpoint(struct wg_peer *p, const struct endpoint *ep)
{
	char a[80], b[80], name[64];

	if (endpoint_equal(&p->endpoint, ep)) {
		/* the peer may have moved to another of our addresses: answer from that one */
		if (!endpoint_local_equal(&p->endpoint.local, &ep->local)) {
			p->endpoint.local = ep->local;
		}
		return;
	}
	if (p->endpoint.sa.sa_family != AF_UNSPEC && ep->sa.sa_family != AF_UNSPEC)
		log_debug("%s: roamed from %s to %s", wg_peer_name(p, name, sizeof(name)),
			  endpoint_str(&p->endpoint, a, sizeof(a)), endpoint_str(ep, b, sizeof(b)));
	p->endpoint = *ep;
}

void wg_peer_add_keypair(struct wg_peer *p, struct noise_keypair *kp)
{
	char name[64];

	if (kp->initiator) {
		/* A "next" we never received on is abandoned for the one we initiated; the
		 * current one stays around as previous to catch in-flight packets. */
		if (p->kp_next) {
			keypair_free(p, &p->kp_previous);
			p->kp_previous = p->kp_next;
			p->kp_next = NULL;
			keypair_free(p, &p->kp_current);
		} else {
			keypair_free(p, &p->kp_previous);
			p->kp_previous = p->kp_current;
		}
		p->kp_current = kp;
	} else {
		keypair_free(p, &p->kp_next);
		p->kp_next = kp;
		keypair_free(p, &p->kp_previous);
	}
	if (p->dev->ops.wall) {
		int64_t s, ns;
		p->dev->ops.wall(p->dev->ops.ctx, &s, &ns);
		p->last_handshake_sec = s;
		p->last_handshake_nsec = ns;
	}
	if (!p->up) {
		p->up = true;
		log_info("%s: up (handshake as %s)", wg_peer_name(p, name, sizeof(name)),
			 kp->initiator ? "initiator" : "responder");
	} else {
		log_info("%s: handshake complete (as %s), new session keys", wg_peer_name(p, name, sizeof(name)),
			 kp->initiator ? "initiator" : "responder");
	}
}

void wg_peer_received_with_keypair(struct wg_peer *p, struct noise_keypair *kp)
{
	if (kp != p->kp_next)
		return;
	keypair_free(p, &p->kp_previous);
	p->kp_previous = p->kp_current;
	p->kp_current = p->kp_next;
	p->kp_next = NULL;
}

bool wg_peer_stage(struct wg_peer *p, const uint8_t *pkt, uint32_t len)
{
	bool full = p->staged_count == WG_MAX_STAGED;
	uint8_t *buf;

	if (!p->staged && !(p->staged = calloc(WG_MAX_STAGED, sizeof(*p->staged))))
		return false;
	if (full) {
		/* Keep the newest: the oldest is the most likely to be stale. */
		struct wg_staged *old = &p->staged[p->staged_head];
		free(old->buf);
		old->buf = NULL;
		p->staged_head = (p->staged_head + 1) % WG_MAX_STAGED;
		p->staged_count--;
	}
	buf = malloc(WG_PKT_HEADROOM + (size_t)len + WG_PKT_TAILROOM);
	if (!buf)
		return false;
	memcpy(buf + WG_PKT_HEADROOM, pkt, len);
	struct wg_staged *s = &p->staged[(p->staged_head + p->staged_count) % WG_MAX_STAGED];
	s->buf = buf;
	s->len = len;
	p->staged_count++;
	return !full;
}

void wg_peer_clear_staged(struct wg_peer *p)
{
	while (p->staged_count) {
		free(p->staged[p->staged_head].buf);
		p->staged[p->staged_head].buf = NULL;
		p->staged_head = (p->staged_head + 1) % WG_MAX_STAGED;
		p->staged_count--;
	}
	p->staged_head = 0;
	free(p->staged);
	p->staged = NULL;
}

void wg_peer_act(struct wg_peer *p, unsigned int act, uint64_t now)
{
	char name[64];

	if (act & TIMERS_EXPIRE_SESSION) {
		wg_peer_clear_keypairs(p);
		if (p->up) {
			p->up = false;
			log_info("%s: down (session expired)", wg_peer_name(p, name, sizeof(name)));
		}
	}
	if (act & TIMERS_ZERO_KEYS) {
		wg_peer_clear_keypairs(p);
		handshake_forget(p);
		if (p->up) {
			p->up = false;
			log_info("%s: down (keys zeroed)", wg_peer_name(p, name, sizeof(name)));
		}
	}
	if (act & TIMERS_CLEAR_QUEUE) {
		if (p->staged_count)
			log_info("%s: no handshake after %d seconds, dropping %u queued packets",
				 wg_peer_name(p, name, sizeof(name)), (int)REKEY_ATTEMPT_TIME,
				 p->staged_count);
		wg_device_drop_n(p->dev, WG_DROP_QUEUE_FULL, p->staged_count);
		wg_peer_clear_staged(p);
		handshake_forget(p);
	}
	if (act & TIMERS_SEND_HANDSHAKE_INITIATION)
		wg_peer_send_initiation(p, true);
	if (act & (TIMERS_SEND_KEEPALIVE | TIMERS_SEND_PERSISTENT_KEEPALIVE))
		wg_peer_send_keepalive(p);
	(void)now;
}

void wg_peer_defer(struct wg_peer *p, unsigned int pending, unsigned int act)
{
	p->pending |= pending;
	p->pending_act |= act;
	__atomic_store_n(&p->dev->pending, 1, __ATOMIC_RELEASE);
}

void wg_peer_run_pending(struct wg_peer *p)
{
	uint64_t now = wg_device_now(p->dev);
	unsigned int pending, act;

	pthread_mutex_lock(&p->lock);
	pending = p->pending;
	act = p->pending_act;
	p->pending = p->pending_act = 0;
	pthread_mutex_unlock(&p->lock);

	/* A newer handshake may have replaced the keypair that received meanwhile. */
	if ((pending & WG_PENDING_ROTATE) && p->kp_next && p->kp_next->local_index == p->pending_kp_index) {
		wg_peer_received_with_keypair(p, p->kp_next);
		timers_handshake_complete(&p->timers, now);
		pending |= WG_PENDING_FLUSH;
	}
	if (act)
		wg_peer_act(p, act, now);
	if ((pending & WG_PENDING_FLUSH) && p->staged_count)
		wg_peer_flush_staged(p);
	if ((pending & WG_PENDING_HANDSHAKE) &&
	    (timers_want_handshake(&p->timers, now) & TIMERS_SEND_HANDSHAKE_INITIATION))
		wg_peer_send_initiation(p, false);
}

void wg_peer_tick(struct wg_peer *p, uint64_t now)
{
	if (timers_next_deadline(&p->timers) > now)
		return;
	wg_peer_act(p, timers_tick(&p->timers, now), now);
}
