/* Two devices wired together in-process, each driven as the daemon drives it: two worker
 * threads (noise slots 0 and 1) reading "tun" batches and "UDP" batches at once, and a control
 * thread that runs the timers with a fast clock and changes peer settings under the lock.
 * It checks that traffic flows both ways through handshakes and rekeys and that nothing
 * arrives damaged; run under ThreadSanitizer (tests/run.sh tsan) it checks the locking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "ip_craft.h"
#include "wg/allowedips.h"
#include "wg/crypto.h"
#include "wg/device.h"
#include "wg/noise.h"
#include "wg/peer.h"
#include "wg/uapi_dev.h"

enum {
	WORKERS = 2, BATCH = 8, QCAP = 1024, DGRAM = 1600,
	FAKE_SECONDS = 400,	/* past REJECT_AFTER_TIME twice: only rekeys keep traffic going */
	REAL_SECONDS_MAX = 60,
	SPEEDUP = 100,
	SLOT = WG_PKT_HEADROOM + DGRAM + WG_PKT_TAILROOM,
};
#define FAKE_START (1000 * WG_NSEC_PER_SEC)

struct dgram {
	uint32_t len;
	struct endpoint src;
	uint8_t data[DGRAM];
};

struct host {
	struct wg_device dev;
	struct endpoint addr;
	const char *tun_ip, *peer_tun_ip;
	struct host *other;
	struct wg_peer *peer;
	pthread_mutex_t qlock;		/* the inbound "UDP socket" */
	struct dgram *q;
	unsigned int qhead, qlen;
	uint64_t q_overflow, delivered, damaged;	/* atomic */
};

static uint64_t real_start;	/* CLOCK_MONOTONIC at the start */
static int stop;		/* atomic */

/* Fake time runs SPEEDUP times faster than real time (and never waits for a tick), so
 * minutes of session lifetime pass in seconds. */
static uint64_t t_now(void *ctx)
{
	return FAKE_START + (clock_mono_ns() - real_start) * SPEEDUP;
}

static void t_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	uint64_t t = t_now(ctx) + 1700000000ULL * WG_NSEC_PER_SEC;

	*sec = (int64_t)(t / WG_NSEC_PER_SEC);
	*nsec = (int64_t)(t % WG_NSEC_PER_SEC);
}

static int t_udp_send(void *ctx, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct host *to = ((struct host *)ctx)->other;

	if (!endpoint_equal(ep, &to->addr))
		return (int)n;	/* nobody there */
	pthread_mutex_lock(&to->qlock);
	for (unsigned int i = 0; i < n; i++) {
		if (to->qlen == QCAP || pkts[i].len > DGRAM) {
			__atomic_add_fetch(&to->q_overflow, 1, __ATOMIC_RELAXED);
			continue;
		}
		struct dgram *d = &to->q[(to->qhead + to->qlen) % QCAP];
		__atomic_store_n(&to->qlen, to->qlen + 1, __ATOMIC_RELAXED);
		d->len = pkts[i].len;
		d->src = ((struct host *)ctx)->addr;
		memcpy(d->data, pkts[i].data, pkts[i].len);
	}
	pthread_mutex_unlock(&to->qlock);
	return (int)n;
}

static int t_tun_write(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	struct host *h = ctx;
	uint8_t want[DGRAM];

	for (unsigned int i = 0; i < n; i++) {
		uint32_t len = pkts[i].len;
		bool ok = len > 20 && len <= DGRAM;
		if (ok) {
			make_ip4(want, h->peer_tun_ip, h->tun_ip, len, pkts[i].data[20] - 20);
			ok = !memcmp(pkts[i].data, want, len);
		}
		__atomic_add_fetch(ok ? &h->delivered : &h->damaged, 1, __ATOMIC_RELAXED);
	}
	return (int)n;
}

static void host_init(struct host *h, struct host *other, const char *ip, uint16_t port,
		      const char *tun_ip, const char *peer_tun_ip)
{
	struct wg_device_ops ops = {
		.udp_send = t_udp_send, .tun_write = t_tun_write,
		.now = t_now, .wall = t_wall, .ctx = h,
	};
	uint8_t priv[32];

	memset(h, 0, sizeof(*h));
	h->other = other;
	h->tun_ip = tun_ip;
	h->peer_tun_ip = peer_tun_ip;
	h->addr.in4.sin_family = AF_INET;
	h->addr.in4.sin_port = htons(port);
	inet_pton(AF_INET, ip, &h->addr.in4.sin_addr);
	h->q = calloc(QCAP, sizeof(*h->q));
	assert_non_null(h->q);
	pthread_mutex_init(&h->qlock, NULL);
	assert_int_equal(wg_device_init(&h->dev, "thr", &ops), 0);
	crypto_x25519_keygen(priv);
	assert_int_equal(wg_device_set_private_key(&h->dev, priv), 0);
	crypto_wipe(priv, sizeof(priv));
}

static void host_peer(struct host *h)
{
	uint8_t a[4];

	h->peer = wg_device_add_peer(&h->dev, h->other->dev.identity.static_public);
	assert_non_null(h->peer);
	wg_peer_set_endpoint(h->peer, &h->other->addr);
	inet_pton(AF_INET, h->peer_tun_ip, a);
	assert_int_equal(aip_insert(h->dev.aip, AF_INET, a, 32, h->peer), 0);
}

static void host_free(struct host *h)
{
	wg_device_uninit(&h->dev);
	pthread_mutex_destroy(&h->qlock);
	free(h->q);
}

struct worker {
	struct host *h;
	unsigned int slot;
	uint8_t *bufs;			/* BATCH * 4 slots */
};

/* One round of what a daemon worker does: a tun batch out, then a UDP batch in. */
static void worker_round(struct worker *w, unsigned int round)
{
	struct wg_pkt pkts[BATCH * 4];
	struct host *h = w->h;
	unsigned int n = 0;

	/* the receiver is behind: let it catch up rather than encrypt for the overflow counter */
	if (__atomic_load_n(&h->other->qlen, __ATOMIC_RELAXED) > QCAP / 2)
		goto rx;
	for (unsigned int i = 0; i < BATCH; i++) {
		uint32_t len = 40 + (round * 7 + i * 13 + w->slot) % 200;
		pkts[i].data = w->bufs + (size_t)i * SLOT + WG_PKT_HEADROOM;
		pkts[i].len = len;
		make_ip4(pkts[i].data, h->tun_ip, h->peer_tun_ip, len, (uint8_t)(round + i));
	}
	wg_device_tun_input(&h->dev, pkts, BATCH);
rx:
	pthread_mutex_lock(&h->qlock);
	for (; n < BATCH * 4 && h->qlen; n++) {
		struct dgram *d = &h->q[h->qhead];
		pkts[n].data = w->bufs + (size_t)n * SLOT + WG_PKT_HEADROOM;
		pkts[n].len = d->len;
		pkts[n].ep = d->src;
		memcpy(pkts[n].data, d->data, d->len);
		h->qhead = (h->qhead + 1) % QCAP;
		__atomic_store_n(&h->qlen, h->qlen - 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&h->qlock);
	if (n)
		wg_device_udp_input(&h->dev, pkts, n);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	noise_set_thread_slot(w->slot);
	for (unsigned int r = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); r++)
		worker_round(w, r);
	return NULL;
}

/* The control thread: the timers about every millisecond (100 ms of fake time), as the
 * daemon's control thread runs them, a peer setting changed under the lock now and then, as
 * `wg set` does while traffic flows, and `wg show` (a uapi get, under the lock for reading
 * while the workers go on). */
static void *control_run(void *arg)
{
	struct host *hs = arg;
	const struct timespec pause = { 0, 1000 * 1000 };
	struct uapi_conn uc;

	uapi_conn_init(&uc, -1);
	for (unsigned int i = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++) {
		for (int k = 0; k < 2; k++) {
			struct host *h = &hs[k];
			wg_device_tick(&h->dev);
			if (i % 4 == 2) {
				uapi_conn_feed(&uc, &wg_uapi_dev_ops, &h->dev, "get=culvert\n\n", 13);
				if (uc.out.len < 9 || memcmp(uc.out.data + uc.out.len - 9, "errno=0\n\n", 9))
					abort();	/* no cmocka assert off the main thread */
				uc.out.len = 0;
			}
			if (i % 16 == (unsigned int)k * 8) {
				wg_device_lock(&h->dev);
				wg_peer_set_persistent_keepalive(h->peer, (uint16_t)(i % 32 ? 25 : 0));
				wg_peer_set_endpoint(h->peer, &h->other->addr);
				wg_device_unlock(&h->dev);
			}
		}
		nanosleep(&pause, NULL);
	}
	uapi_conn_free(&uc);
	return NULL;
}

static void test_two_workers_each_side(void **state)
{
	struct host *hs = calloc(2, sizeof(*hs));
	struct worker w[2][WORKERS];
	pthread_t wt[2][WORKERS], ct;
	uint64_t start, mid[2] = { 0, 0 };
	const struct timespec poll = { 0, 10 * 1000 * 1000 };
	int waited;

	assert_non_null(hs);
	noise_set_slots(WORKERS);
	real_start = clock_mono_ns();
	start = FAKE_START;
	stop = 0;
	host_init(&hs[0], &hs[1], "198.18.0.1", 51820, "198.19.0.1", "198.19.0.2");
	host_init(&hs[1], &hs[0], "198.18.0.2", 51821, "198.19.0.2", "198.19.0.1");
	host_peer(&hs[0]);
	host_peer(&hs[1]);

	assert_int_equal(pthread_create(&ct, NULL, control_run, hs), 0);
	for (int k = 0; k < 2; k++)
		for (unsigned int i = 0; i < WORKERS; i++) {
			w[k][i] = (struct worker){ .h = &hs[k], .slot = i, .bufs = malloc(BATCH * 4 * SLOT) };
			assert_non_null(w[k][i].bufs);
			assert_int_equal(pthread_create(&wt[k][i], NULL, worker_run, &w[k][i]), 0);
		}
	/* traffic counted after the first session's keys were rejected (180 s) must grow */
	for (waited = 0; waited < REAL_SECONDS_MAX * 100; waited++) {
		uint64_t t = t_now(NULL) - start;
		if (t < 200 * WG_NSEC_PER_SEC)
			for (int k = 0; k < 2; k++)
				mid[k] = __atomic_load_n(&hs[k].delivered, __ATOMIC_RELAXED);
		else if (t >= FAKE_SECONDS * WG_NSEC_PER_SEC &&
			 __atomic_load_n(&hs[0].delivered, __ATOMIC_RELAXED) > mid[0] + 1000 &&
			 __atomic_load_n(&hs[1].delivered, __ATOMIC_RELAXED) > mid[1] + 1000)
			break;
		nanosleep(&poll, NULL);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int k = 0; k < 2; k++)
		for (unsigned int i = 0; i < WORKERS; i++) {
			pthread_join(wt[k][i], NULL);
			free(w[k][i].bufs);
		}
	pthread_join(ct, NULL);

	for (int k = 0; k < 2; k++) {
		struct wg_device *d = &hs[k].dev;
		print_message("host %d: %llu delivered (%llu after 200 s), %llu damaged, %llu queue overflows, "
			      "%llu decrypt_failed, %llu replay, %llu unknown_index, %llu s of fake time\n", k,
			      (unsigned long long)hs[k].delivered, (unsigned long long)(hs[k].delivered - mid[k]),
			      (unsigned long long)hs[k].damaged,
			      (unsigned long long)hs[k].q_overflow,
			      (unsigned long long)d->drops[WG_DROP_DECRYPT_FAILED],
			      (unsigned long long)d->drops[WG_DROP_REPLAY],
			      (unsigned long long)d->drops[WG_DROP_UNKNOWN_INDEX],
			      (unsigned long long)((t_now(NULL) - start) / WG_NSEC_PER_SEC));
		assert_int_equal(hs[k].damaged, 0);
		assert_true(hs[k].delivered > mid[k] + 1000);
		assert_int_equal(d->drops[WG_DROP_DECRYPT_FAILED], 0);
		assert_int_equal(d->drops[WG_DROP_UNALLOWED_SRC], 0);
		assert_int_equal(d->drops[WG_DROP_BAD_INNER_PACKET], 0);
		assert_true(hs[k].peer->tx_bytes > 0 && hs[k].peer->rx_bytes > 0);
	}
	host_free(&hs[0]);
	host_free(&hs[1]);
	free(hs);
	noise_set_slots(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_workers_each_side),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
