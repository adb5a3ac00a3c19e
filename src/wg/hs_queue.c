/* The handshake queue: a bounded ring of handshake messages whose MAC1 the workers already
 * checked, served apart from the data path by one consumer at a time (the engine's handshake
 * thread, or a budgeted turn of udp_input when no thread runs). Its depth is what "under
 * load" means: spoofed garbage never gets in, so it can never make real peers pay a cookie
 * round trip. Beside the main ring, two small ones that the consumer serves first: when the
 * main ring is full, the workers put there what they let past a per-source token bucket
 * (receive.c), a message with a valid MAC2 in the proven ring, one without (it will get a
 * cookie reply) in the unproven ring, so a flood of those never costs a proven source its
 * room or its turn. All three are allocated once, together. */
#include "wg/device.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wg/crypto.h"

enum { HS_ITEMS = WG_HS_PROVEN_LEN + WG_HS_UNPROVEN_LEN + WG_HS_QUEUE_LEN };

int wg_hs_queue_init(struct wg_device *dev)
{
	static const unsigned int len[WG_HS__COUNT] = {
		[WG_HS_PROVEN] = WG_HS_PROVEN_LEN,
		[WG_HS_UNPROVEN] = WG_HS_UNPROVEN_LEN,
		[WG_HS_MAIN] = WG_HS_QUEUE_LEN,
	};
	struct wg_hs_queue *q = &dev->hsq;
	struct wg_hs_item *items;

	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	pthread_mutex_init(&q->serve, NULL);
	items = calloc(HS_ITEMS, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (int c = 0; c < WG_HS__COUNT; c++) {
		q->ring[c].items = items;
		q->ring[c].len = len[c];
		items += len[c];
	}
	return 0;
}

void wg_hs_queue_uninit(struct wg_device *dev)
{
	struct wg_hs_queue *q = &dev->hsq;

	if (q->ring[0].items) {
		/* initiations carry an ephemeral key and our static one's ciphertext: wiped */
		crypto_wipe(q->ring[0].items, HS_ITEMS * sizeof(struct wg_hs_item));
		free(q->ring[0].items);
		memset(q->ring, 0, sizeof(q->ring));
	}
	pthread_mutex_destroy(&q->serve);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}

/* q->lock held */
static bool queue_empty(const struct wg_hs_queue *q)
{
	for (int c = 0; c < WG_HS__COUNT; c++)
		if (q->ring[c].count)
			return false;
	return true;
}

bool wg_hs_enqueue(struct wg_device *dev, const uint8_t *msg, uint32_t len, const struct endpoint *src,
		   uint64_t mac1_gen, enum wg_hs_class cls)
{
	struct wg_hs_queue *q = &dev->hsq;
	struct wg_hs_ring *r = &q->ring[cls];
	struct wg_hs_item *it;

	if (len > sizeof(it->msg))
		return false;
	pthread_mutex_lock(&q->lock);
	if (r->count == r->len) {
		pthread_mutex_unlock(&q->lock);
		return false;
	}
	it = &r->items[(r->head + r->count) % r->len];
	memcpy(it->msg, msg, len);
	it->len = len;
	it->ep = *src;
	it->mac1_gen = mac1_gen;
	it->cls = (uint8_t)cls;
	r->count++;
	__atomic_add_fetch(&q->depth, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&q->lock);
	return true;
}

void wg_hs_wake(struct wg_device *dev)
{
	struct wg_hs_queue *q = &dev->hsq;

	pthread_mutex_lock(&q->lock);
	if (!queue_empty(q) && q->threaded)
		pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

unsigned int wg_device_handshake_depth(const struct wg_device *dev)
{
	return __atomic_load_n(&dev->hsq.depth, __ATOMIC_RELAXED);
}

/* Where no thread serves the queue, the worker's turn after each batch drains it (a batch is
 * at most 64 deep), so its depth never shows a flood: a TCP connection or ICMP session full of
 * initiations would get the full DH, no cookie and no rate limit, on the one worker that
 * carries everyone's data. There the rate is the load: the WG_HS_LOAD_DEPTH-th message served
 * in one second finds the device under load, which bounds the DH a flood buys to that many a
 * second (about 30 ms of a core) before cookies and the per-source limit take over. */
static bool served_fast(struct wg_hs_queue *q)
{
	return !__atomic_load_n(&q->threaded, __ATOMIC_ACQUIRE) && q->served_n >= WG_HS_LOAD_DEPTH;
}

bool wg_device_under_load(struct wg_device *dev, uint64_t now)
{
	struct wg_hs_queue *q = &dev->hsq;

	uint64_t t;

	if (wg_device_handshake_depth(dev) >= WG_HS_LOAD_DEPTH || served_fast(q)) {
		__atomic_store_n(&q->last_under_load, now, __ATOMIC_RELAXED);
		return true;
	}
	t = __atomic_load_n(&q->last_under_load, __ATOMIC_RELAXED);
	return t && now - t < WG_NSEC_PER_SEC;
}

void wg_device_note_load(struct wg_device *dev, uint64_t now)
{
	__atomic_store_n(&dev->hsq.last_under_load, now ? now : 1, __ATOMIC_RELAXED);
}

/* With a handshake thread the main ring fills under a flood, and what no longer fits goes
 * through the per-source buckets. Where the worker serves the queue itself the ring never
 * fills, and every message of a flood paid the MAC1 hash, then the consumer's MAC2 and
 * rate-limit hashes, on the worker that carries the data (an ICMP listener flooded at 400k
 * initiations a second lost a third of its established pings): there the consumer's load is
 * the signal, and the buckets, which refuse a spent source for a millisecond before any
 * hash, come first. */
bool wg_device_handshake_pressed(const struct wg_device *dev, uint64_t now)
{
	const struct wg_hs_queue *q = &dev->hsq;
	uint64_t t;

	if (wg_device_handshake_depth(dev) >= WG_HS_QUEUE_LEN)
		return true;
	if (__atomic_load_n(&q->threaded, __ATOMIC_ACQUIRE))
		return false;
	t = __atomic_load_n(&q->last_under_load, __ATOMIC_RELAXED);
	return t && now >= t && now - t < WG_NSEC_PER_SEC;
}

/* Once the buckets come first the consumer sees only what they let through, too little to
 * keep it under load, and a flood would buy WG_HS_LOAD_DEPTH DH every other second. A bucket
 * is emptied only by messages whose MAC1 was valid, so a refusal is the flood still going on:
 * it keeps the device under load, where no thread serves the queue (with one, the full ring
 * says so). */
void wg_device_handshake_refused(struct wg_device *dev, uint64_t now)
{
	if (!__atomic_load_n(&dev->hsq.threaded, __ATOMIC_ACQUIRE))
		wg_device_note_load(dev, now);
}

/* Takes the oldest message of the first ring that has one (proven, unproven, main) into
 * *out; false when all are empty. */
static bool take(struct wg_hs_queue *q, struct wg_hs_item *out)
{
	pthread_mutex_lock(&q->lock);
	for (int c = 0; c < WG_HS__COUNT; c++) {
		struct wg_hs_ring *r = &q->ring[c];
		if (!r->count)
			continue;
		*out = r->items[r->head];
		r->head = (r->head + 1) % r->len;
		r->count--;
		pthread_mutex_unlock(&q->lock);
		return true;
	}
	pthread_mutex_unlock(&q->lock);
	return false;
}

unsigned int wg_device_handshake_run(struct wg_device *dev, unsigned int budget)
{
	struct wg_hs_queue *q = &dev->hsq;
	struct wg_hs_item it;
	unsigned int n = 0;

	pthread_mutex_lock(&q->serve);
	while (n < budget && take(q, &it)) {
		uint64_t now = wg_device_now(dev);

		if (now - q->second_start >= WG_NSEC_PER_SEC) {
			q->second_start = now;
			q->served_n = 0;
		}
		q->served_n++;
		wg_handshake_handle(dev, &it, now);
		__atomic_sub_fetch(&q->depth, 1, __ATOMIC_RELAXED);
		n++;
	}
	pthread_mutex_unlock(&q->serve);
	crypto_wipe(&it, sizeof(it));
	/* What installing left for a writer (a flush of staged packets, a rotation). */
	if (n && __atomic_load_n(&dev->pending, __ATOMIC_ACQUIRE)) {
		wg_device_lock(dev);
		wg_device_run_pending(dev);
		wg_device_unlock(dev);
	}
	return n;
}

void wg_device_handshake_external(struct wg_device *dev, bool on)
{
	pthread_mutex_lock(&dev->hsq.lock);
	__atomic_store_n(&dev->hsq.threaded, on, __ATOMIC_RELEASE);
	dev->hsq.stop = false;
	pthread_mutex_unlock(&dev->hsq.lock);
}

void wg_device_handshake_serve(struct wg_device *dev)
{
	struct wg_hs_queue *q = &dev->hsq;

	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (queue_empty(q) && !q->stop)
			pthread_cond_wait(&q->cond, &q->lock);
		bool stop = q->stop;
		pthread_mutex_unlock(&q->lock);
		if (stop)
			return;
		/* a small budget: pending work gets its turn between runs */
		wg_device_handshake_run(dev, 64);
	}
}

void wg_device_handshake_stop(struct wg_device *dev)
{
	pthread_mutex_lock(&dev->hsq.lock);
	dev->hsq.stop = true;
	pthread_cond_broadcast(&dev->hsq.cond);
	pthread_mutex_unlock(&dev->hsq.lock);
}
