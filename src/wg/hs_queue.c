/* The handshake queue: a bounded ring of handshake messages whose MAC1 the workers already
 * checked, served apart from the data path by one consumer at a time (the engine's handshake
 * thread, or a budgeted turn of udp_input when no thread runs). Its depth is what "under
 * load" means: spoofed garbage never gets in, so it can never make real peers pay a cookie
 * round trip. The ring is allocated once; a full ring drops (queue_full). */
#include "wg/device.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wg/crypto.h"

int wg_hs_queue_init(struct wg_device *dev)
{
	struct wg_hs_queue *q = &dev->hsq;

	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	pthread_mutex_init(&q->serve, NULL);
	q->items = calloc(WG_HS_QUEUE_LEN, sizeof(*q->items));
	return q->items ? 0 : -ENOMEM;
}

void wg_hs_queue_uninit(struct wg_device *dev)
{
	struct wg_hs_queue *q = &dev->hsq;

	if (q->items) {
		/* initiations carry an ephemeral key and our static one's ciphertext: wiped */
		crypto_wipe(q->items, WG_HS_QUEUE_LEN * sizeof(*q->items));
		free(q->items);
		q->items = NULL;
	}
	pthread_mutex_destroy(&q->serve);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}

bool wg_hs_enqueue(struct wg_device *dev, const uint8_t *msg, uint32_t len, const struct endpoint *src,
		   uint64_t mac1_gen)
{
	struct wg_hs_queue *q = &dev->hsq;
	struct wg_hs_item *it;

	if (len > sizeof(it->msg))
		return false;
	pthread_mutex_lock(&q->lock);
	if (q->count == WG_HS_QUEUE_LEN) {
		pthread_mutex_unlock(&q->lock);
		wg_device_drop(dev, WG_DROP_QUEUE_FULL);
		return false;
	}
	it = &q->items[(q->head + q->count) % WG_HS_QUEUE_LEN];
	memcpy(it->msg, msg, len);
	it->len = len;
	it->ep = *src;
	it->mac1_gen = mac1_gen;
	q->count++;
	__atomic_add_fetch(&q->depth, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&q->lock);
	return true;
}

void wg_hs_wake(struct wg_device *dev)
{
	struct wg_hs_queue *q = &dev->hsq;

	pthread_mutex_lock(&q->lock);
	if (q->count && q->threaded)
		pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

unsigned int wg_device_handshake_depth(const struct wg_device *dev)
{
	return __atomic_load_n(&dev->hsq.depth, __ATOMIC_RELAXED);
}

bool wg_device_under_load(struct wg_device *dev, uint64_t now)
{
	struct wg_hs_queue *q = &dev->hsq;

	if (wg_device_handshake_depth(dev) >= WG_HS_LOAD_DEPTH) {
		q->last_under_load = now;
		return true;
	}
	return q->last_under_load && now - q->last_under_load < WG_NSEC_PER_SEC;
}

void wg_device_note_load(struct wg_device *dev, uint64_t now)
{
	dev->hsq.last_under_load = now ? now : 1;
}

/* Takes the oldest message into *out; false when empty. */
static bool take(struct wg_hs_queue *q, struct wg_hs_item *out)
{
	pthread_mutex_lock(&q->lock);
	if (!q->count) {
		pthread_mutex_unlock(&q->lock);
		return false;
	}
	*out = q->items[q->head];
	q->head = (q->head + 1) % WG_HS_QUEUE_LEN;
	q->count--;
	pthread_mutex_unlock(&q->lock);
	return true;
}

unsigned int wg_device_handshake_run(struct wg_device *dev, unsigned int budget)
{
	struct wg_hs_queue *q = &dev->hsq;
	struct wg_hs_item it;
	unsigned int n = 0;

	pthread_mutex_lock(&q->serve);
	while (n < budget && take(q, &it)) {
		wg_handshake_handle(dev, &it, wg_device_now(dev));
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
	dev->hsq.threaded = on;
	dev->hsq.stop = false;
	pthread_mutex_unlock(&dev->hsq.lock);
}

void wg_device_handshake_serve(struct wg_device *dev)
{
	struct wg_hs_queue *q = &dev->hsq;

	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (!q->count && !q->stop)
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
