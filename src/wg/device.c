/* Device state: identity, the peer set with its public-key hash, the receiver-index table. */
#include "wg/device.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/log.h"
#include "wg/allowedips.h"
#include "wg/cookie.h"
#include "wg/crypto.h"
#include "wg/fdb.h"
#include "wg/key.h"
#include "wg/peer.h"

static const char *const drop_names[WG_DROP__COUNT] = {
	[WG_DROP_SHORT_FRAME] = "short_frame",
	[WG_DROP_BAD_TYPE] = "bad_type",
	[WG_DROP_BAD_MAC1] = "bad_mac1",
	[WG_DROP_COOKIE_SENT] = "cookie_sent",
	[WG_DROP_BAD_MAC2] = "bad_mac2",
	[WG_DROP_BAD_HANDSHAKE] = "bad_handshake",
	[WG_DROP_BAD_COOKIE] = "bad_cookie",
	[WG_DROP_UNKNOWN_INDEX] = "unknown_index",
	[WG_DROP_EXPIRED_KEY] = "expired_key",
	[WG_DROP_REPLAY] = "replay",
	[WG_DROP_DECRYPT_FAILED] = "decrypt_failed",
	[WG_DROP_UNALLOWED_SRC] = "unallowed_src",
	[WG_DROP_NO_PEER_FOR_DST] = "no_peer_for_dst",
	[WG_DROP_NO_ENDPOINT] = "no_endpoint",
	[WG_DROP_BAD_INNER_PACKET] = "bad_inner_packet",
	[WG_DROP_TOO_BIG] = "too_big",
	[WG_DROP_QUEUE_FULL] = "queue_full",
	[WG_DROP_NO_KEY] = "no_private_key",
	[WG_DROP_SEND_FAILED] = "send_failed",
	[WG_DROP_SEND_FULL] = "send_full",
	[WG_DROP_TUN_WRITE_FAILED] = "tun_write_failed",
	[WG_DROP_BAD_FRAME] = "bad_frame",
	[WG_DROP_RATELIMITED] = "ratelimited",
	[WG_DROP_COOKIE_LIMITED] = "cookie_limited",
	[WG_DROP_PROVEN_FULL] = "proven_full",
	[WG_DROP_TCP_UNPROVEN] = "tcp_unproven",
	[WG_DROP_TCP_REFUSED] = "tcp_refused",
	[WG_DROP_ROUTING_LOOP] = "routing_loop",
	[WG_DROP_ICMP_SHORT] = "icmp_short",
	[WG_DROP_ICMP_TYPE] = "icmp_type",
	[WG_DROP_ICMP_CSUM] = "icmp_csum",
	[WG_DROP_ICMP_FOREIGN] = "icmp_foreign",
	[WG_DROP_ICMP_VERSION] = "icmp_version",
	[WG_DROP_ICMP_LENGTH] = "icmp_length",
	[WG_DROP_ICMP_TOO_LONG] = "icmp_too_long",
	[WG_DROP_ICMP_WRONG_ID] = "icmp_wrong_id",
	[WG_DROP_ICMP_QUEUE_FULL] = "icmp_queue_full",
	[WG_DROP_ICMP_NO_SESSION] = "icmp_no_session",
	[WG_DROP_ICMP_TABLE_FULL] = "icmp_table_full",
	[WG_DROP_ICMP_SEND] = "icmp_send",
};

const char *wg_drop_name(enum wg_drop d)
{
	return (unsigned int)d < WG_DROP__COUNT ? drop_names[d] : "unknown";
}

void wg_device_drop_log(struct wg_device *dev, enum wg_drop why, const char *who)
{
	static struct log_ratelimit rl[WG_DROP__COUNT];

	wg_device_drop(dev, why);
	log_limited(&rl[why], LOG_LVL_INFO, "dropped a packet (%s)%s%s", wg_drop_name(why),
		    who ? " from " : "", who ? who : "");
}

void wg_device_drop_from(struct wg_device *dev, enum wg_drop why, const struct endpoint *src)
{
	char a[80];

	wg_device_drop_log(dev, why, endpoint_str(src, a, sizeof(a)));
}

/* ---- hashing ---- */

static size_t key_hash(const uint8_t k[WG_KEY_LEN], size_t size)
{
	uint64_t h;

	/* public keys are uniformly random already */
	memcpy(&h, k, sizeof(h));
	return (size_t)(h & (size - 1));
}

struct wg_index_entry {
	uint32_t idx;
	enum wg_index_kind kind;
	struct wg_peer *peer;
	void *obj;
	struct wg_index_entry *next;
};

static size_t idx_slot(uint32_t idx, size_t size)
{
	return (size_t)((idx * 0x9e3779b1u) >> 8) & (size - 1);
}

static int index_grow(struct wg_device *dev)
{
	size_t nsize = dev->index_hash_size ? dev->index_hash_size * 2 : 256;
	struct wg_index_entry **nh = calloc(nsize, sizeof(*nh));

	if (!nh)
		return -ENOMEM;
	for (size_t i = 0; i < dev->index_hash_size; i++) {
		struct wg_index_entry *e = dev->index_hash[i], *next;
		for (; e; e = next) {
			next = e->next;
			size_t s = idx_slot(e->idx, nsize);
			e->next = nh[s];
			nh[s] = e;
		}
	}
	free(dev->index_hash);
	dev->index_hash = nh;
	dev->index_hash_size = nsize;
	return 0;
}

static struct wg_index_entry *index_find(const struct wg_device *dev, uint32_t idx)
{
	if (!dev->index_hash_size)
		return NULL;
	for (struct wg_index_entry *e = dev->index_hash[idx_slot(idx, dev->index_hash_size)]; e; e = e->next)
		if (e->idx == idx)
			return e;
	return NULL;
}

uint32_t wg_index_insert(struct wg_device *dev, enum wg_index_kind kind, struct wg_peer *peer, void *obj)
{
	struct wg_index_entry *e;
	uint32_t idx;

	if (dev->n_index + 1 > dev->index_hash_size && index_grow(dev) < 0)
		return 0;
	e = malloc(sizeof(*e));
	if (!e)
		return 0;
	do
		crypto_random(&idx, sizeof(idx));
	while (idx == 0 || index_find(dev, idx));
	*e = (struct wg_index_entry){ .idx = idx, .kind = kind, .peer = peer, .obj = obj };
	size_t s = idx_slot(idx, dev->index_hash_size);
	e->next = dev->index_hash[s];
	dev->index_hash[s] = e;
	dev->n_index++;
	return idx;
}

void wg_index_remove(struct wg_device *dev, uint32_t idx)
{
	if (!idx || !dev->index_hash_size)
		return;
	for (struct wg_index_entry **pp = &dev->index_hash[idx_slot(idx, dev->index_hash_size)]; *pp;
	     pp = &(*pp)->next) {
		if ((*pp)->idx == idx) {
			struct wg_index_entry *e = *pp;
			*pp = e->next;
			free(e);
			dev->n_index--;
			return;
		}
	}
}

void wg_index_replace(struct wg_device *dev, uint32_t idx, enum wg_index_kind kind, void *obj)
{
	struct wg_index_entry *e = index_find(dev, idx);

	if (e) {
		e->kind = kind;
		e->obj = obj;
	}
}

void *wg_index_lookup(const struct wg_device *dev, uint32_t idx, enum wg_index_kind kind,
		      struct wg_peer **peer)
{
	struct wg_index_entry *e = index_find(dev, idx);

	if (!e || e->kind != kind)
		return NULL;
	if (peer)
		*peer = e->peer;
	return e->obj;
}

/* ---- peers ---- */

static int peer_hash_grow(struct wg_device *dev)
{
	size_t nsize = dev->peer_hash_size ? dev->peer_hash_size * 2 : 64;
	struct wg_peer **nh = calloc(nsize, sizeof(*nh));

	if (!nh)
		return -ENOMEM;
	for (struct wg_peer *p = dev->peers; p; p = p->next) {
		size_t s = key_hash(p->public_key, nsize);
		p->hash_next = nh[s];
		nh[s] = p;
	}
	free(dev->peer_hash);
	dev->peer_hash = nh;
	dev->peer_hash_size = nsize;
	return 0;
}

struct wg_peer *wg_device_find_peer(const struct wg_device *dev, const uint8_t pub[WG_KEY_LEN])
{
	if (!dev->peer_hash_size)
		return NULL;
	for (struct wg_peer *p = dev->peer_hash[key_hash(pub, dev->peer_hash_size)]; p; p = p->hash_next)
		if (!memcmp(p->public_key, pub, WG_KEY_LEN))
			return p;
	return NULL;
}

struct wg_peer *wg_device_add_peer(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN])
{
	return wg_device_add_peer_ss(dev, pub, NULL);
}

struct wg_peer *wg_device_add_peer_ss(struct wg_device *dev, const uint8_t pub[WG_KEY_LEN],
				      const uint8_t *ss)
{
	struct wg_peer *p;

	if (wg_device_find_peer(dev, pub) || dev->n_peers >= WG_MAX_PEERS)
		return NULL;
	if (dev->n_peers + 1 > dev->peer_hash_size && peer_hash_grow(dev) < 0)
		return NULL;
	p = wg_peer_new(dev, pub, ss);
	if (!p)
		return NULL;
	p->serial = ++dev->peer_serial;
	p->prev = dev->peers_tail;
	if (dev->peers_tail)
		dev->peers_tail->next = p;
	else
		dev->peers = p;
	dev->peers_tail = p;
	size_t s = key_hash(pub, dev->peer_hash_size);
	p->hash_next = dev->peer_hash[s];
	dev->peer_hash[s] = p;
	dev->n_peers++;
	return p;
}

void wg_device_remove_peer(struct wg_device *dev, struct wg_peer *peer)
{
	struct wg_peer **pp = &dev->peer_hash[key_hash(peer->public_key, dev->peer_hash_size)];

	for (; *pp; pp = &(*pp)->hash_next)
		if (*pp == peer) {
			*pp = peer->hash_next;
			break;
		}
	if (peer->prev)
		peer->prev->next = peer->next;
	else
		dev->peers = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	else
		dev->peers_tail = peer->prev;
	dev->n_peers--;
	aip_remove_peer(dev->aip, peer);
	if (dev->fdb)
		fdb_remove_peer(dev->fdb, peer);
	wg_peer_free(peer);
}

void wg_device_remove_all_peers(struct wg_device *dev)
{
	while (dev->peers)
		wg_device_remove_peer(dev, dev->peers);
}

/* ---- identity ---- */

/* The workers' copy of the MAC1 key, taken under its own lock (never dev->lock). */
static void mac1_key_update(struct wg_device *dev)
{
	pthread_mutex_lock(&dev->mac1_lock);
	dev->mac1_set = dev->identity.has_identity;
	dev->mac1_gen = dev->identity_gen;
	if (dev->mac1_set)
		memcpy(dev->mac1_key, dev->cookie_checker.mac1_key, WG_HASH_LEN);
	else
		crypto_wipe(dev->mac1_key, WG_HASH_LEN);
	pthread_mutex_unlock(&dev->mac1_lock);
}

/* Only the consumer changes the secret (cookie.c, lazily), so only it can see it change. */
void wg_device_publish_cookie_secret(struct wg_device *dev)
{
	const struct cookie_checker *c = &dev->cookie_checker;

	if (!c->have_secret || c->secret_birth == dev->hsq.published_birth)
		return;
	pthread_mutex_lock(&dev->mac1_lock);
	memcpy(dev->mac2_secret, c->secret, WG_HASH_LEN);
	dev->mac2_secret_birth = c->secret_birth;
	dev->mac2_set = true;
	pthread_mutex_unlock(&dev->mac1_lock);
	dev->hsq.published_birth = c->secret_birth;
}

int wg_device_set_private_key(struct wg_device *dev, const uint8_t *priv)
{
	return wg_device_set_private_key_ahead(dev, priv, NULL, NULL);
}

int wg_device_set_private_key_ahead(struct wg_device *dev, const uint8_t *priv, wg_ss_ahead *ahead, void *arg)
{
	if (!priv || key_is_zero(priv)) {
		if (!dev->identity.has_identity)
			return 0;
		noise_identity_wipe(&dev->identity);
		dev->identity.has_identity = false;
	} else {
		uint8_t clamped[WG_KEY_LEN];
		bool same;

		/* The stored key is clamped: a key differing only in the clamped bits is the same
		 * key (wg syncconf sends it as written in the file). */
		memcpy(clamped, priv, WG_KEY_LEN);
		crypto_x25519_clamp(clamped);
		same = dev->identity.has_identity && key_equal(dev->identity.static_private, clamped);
		crypto_wipe(clamped, sizeof(clamped));
		if (same)
			return 0;
		if (noise_identity_set(&dev->identity, priv) < 0)
			return -EINVAL;
		/* A peer with our own public key could never complete a handshake. */
		struct wg_peer *self = wg_device_find_peer(dev, dev->identity.static_public);
		if (self)
			wg_device_remove_peer(dev, self);
		cookie_checker_init(&dev->cookie_checker, dev->identity.static_public);
	}
	/* Handshakes the consumer has in hand were made with the old key: not installed. */
	dev->identity_gen++;
	mac1_key_update(dev);
	for (struct wg_peer *p = dev->peers; p; p = p->next) {
		const uint8_t *ss = ahead && dev->identity.has_identity ? ahead(arg, p->public_key) : NULL;

		/* one X25519 a peer: 2.65 s under the write lock at 60,000 peers if done here */
		if (ss)
			noise_handshake_set_ss(&p->hs, ss);
		else
			wg_peer_identity_changed(p);
		wg_peer_expire_sessions(p);
	}
	return 0;
}

/* ---- lifetime ---- */

static uint64_t device_wall_ns(void *arg)
{
	struct wg_device *dev = arg;
	int64_t sec, nsec;

	dev->ops.wall(dev->ops.ctx, &sec, &nsec);
	return (uint64_t)sec * WG_NSEC_PER_SEC + (uint64_t)nsec;
}

int wg_device_init(struct wg_device *dev, const char *name, const struct wg_device_ops *ops)
{
	pthread_rwlockattr_t ra;
	int r;

	static uint64_t instances;

	memset(dev, 0, sizeof(*dev));
	dev->instance = __atomic_add_fetch(&instances, 1, __ATOMIC_RELAXED);
	/* Readers (the workers) hold the lock almost always: without writer preference the
	 * control thread could wait for ever. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&dev->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&dev->mac1_lock, NULL);
	r = wg_hs_queue_init(dev);
	snprintf(dev->name, sizeof(dev->name), "%s", name ? name : "");
	if (ops)
		dev->ops = *ops;
	dev->mtu = WG_DEFAULT_MTU;
	dev->transport = IPPROTO_UDP;
	dev->aip = aip_new();
	dev->identity.wall_clock_ns = device_wall_ns;
	dev->identity.hook_arg = dev;
	if (r < 0 || !dev->aip || peer_hash_grow(dev) < 0 || index_grow(dev) < 0 ||
	    ratelimiter_init(&dev->ratelimiter) < 0 || ratelimiter_init(&dev->proven_limiter) < 0 ||
	    ratelimiter_init(&dev->cookie_limiter) < 0) {
		wg_device_uninit(dev);
		return -ENOMEM;
	}
	return 0;
}

void wg_device_uninit(struct wg_device *dev)
{
	wg_device_remove_all_peers(dev);
	wg_hs_queue_uninit(dev);
	for (size_t i = 0; i < dev->index_hash_size; i++) {
		struct wg_index_entry *e = dev->index_hash[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(dev->index_hash);
	free(dev->peer_hash);
	aip_free(dev->aip);
	if (dev->fdb) {
		fdb_uninit(dev->fdb);
		free(dev->fdb);
	}
	cookie_checker_wipe(&dev->cookie_checker);
	ratelimiter_uninit(&dev->ratelimiter);
	ratelimiter_uninit(&dev->proven_limiter);
	ratelimiter_uninit(&dev->cookie_limiter);
	noise_identity_wipe(&dev->identity);
	crypto_wipe(dev->mac1_key, WG_HASH_LEN);
	crypto_wipe(dev->mac2_secret, WG_HASH_LEN);
	pthread_mutex_destroy(&dev->mac1_lock);
	pthread_rwlock_destroy(&dev->lock);
	memset(dev, 0, sizeof(*dev));
}

void wg_device_lock(struct wg_device *dev)
{
	pthread_rwlock_wrlock(&dev->lock);
}

void wg_device_rdlock(struct wg_device *dev)
{
	pthread_rwlock_rdlock(&dev->lock);
}

void wg_device_unlock(struct wg_device *dev)
{
	pthread_rwlock_unlock(&dev->lock);
}

void wg_device_run_pending(struct wg_device *dev)
{
	if (!__atomic_exchange_n(&dev->pending, 0, __ATOMIC_ACQ_REL))
		return;
	for (struct wg_peer *p = dev->peers, *next; p; p = next) {
		next = p->next;
		if (p->pending || p->pending_act)
			wg_peer_run_pending(p);
	}
}

void wg_device_tick(struct wg_device *dev)
{
	uint64_t now = wg_device_now(dev);

	wg_device_lock(dev);
	wg_device_run_pending(dev);
	dev->last_tick = now;
	for (struct wg_peer *p = dev->peers, *next; p; p = next) {
		next = p->next;
		wg_peer_tick(p, now);
	}
	wg_device_unlock(dev);
	if (dev->fdb && now / 1000000000u != dev->fdb_last_expire) {
		dev->fdb_last_expire = now / 1000000000u;	/* once a second is enough */
		fdb_expire(dev->fdb, now);
	}
}
