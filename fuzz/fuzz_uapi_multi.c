/* libFuzzer: several control connections interleaved against one real device (wg_uapi_dev_ops),
 * as concurrent `wg set` runs would be. The input is records:
 *
 *   [h][n][n + 1 bytes]   h & 3: the connection; (h >> 2) & 3 == 3: that client closes its
 *                         side (the bytes are then ignored and a new connection takes its
 *                         place), else the bytes go to it
 *
 * Each connection has its own, small, limits so that refusals are reached too. After every
 * record: the lock is free, every answer is whole ("...\n\n"), and each allowed IP in the table
 * belongs to a peer of the device (a freed peer left there is what the race of issue 9 did). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wg/allowedips.h"
#include "wg/peer.h"
#include "wg/uapi_dev.h"

enum { NCONN = 4 };

static struct uapi_ops ops;
static int held;

static void f_lock(void *d, bool write)
{
	if (held)
		abort();	/* taken twice: a request inside another */
	held = 1;
	wg_uapi_dev_ops.lock(d, write);
}

static void f_unlock(void *d, bool write)
{
	held = 0;
	wg_uapi_dev_ops.unlock(d, write);
}

static int f_send(void *ctx, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	return (int)n;
}

static int f_tun(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	return (int)n;
}

static uint64_t f_now(void *ctx)
{
	return 1000ULL * 1000000000ULL;
}

static void f_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	*sec = 1700000000;
	*nsec = 0;
}

static void conn_open(struct uapi_conn *c, unsigned int k)
{
	uapi_conn_init(c, -1);
	c->lim.request_bytes = 512u << k;
	c->lim.peers = 2 + 3 * k;
	c->lim.allowed_ips = 4 + 6 * k;
}

static void conn_check(struct uapi_conn *c)
{
	if (held || (c->out.len && (c->out.len < 2 || memcmp(c->out.data + c->out.len - 2, "\n\n", 2))))
		abort();
	c->out.len = 0;
}

static void device_check(struct wg_device *dev)
{
	size_t n = 0, peers = 0;

	for (struct wg_peer *p = dev->peers; p; p = p->next, peers++)
		n += aip_count_of_peer(dev->aip, p);
	if (n != aip_count(dev->aip) || peers != dev->n_peers)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct wg_device_ops dops = { .udp_send = f_send, .tun_write = f_tun,
						   .now = f_now, .wall = f_wall };
	struct uapi_conn c[NCONN];
	struct wg_device dev;
	size_t off = 0;

	ops = wg_uapi_dev_ops;
	ops.lock = f_lock;
	ops.unlock = f_unlock;
	held = 0;
	if (wg_device_init(&dev, "fuzz-multi", &dops))
		abort();
	for (unsigned int k = 0; k < NCONN; k++)
		conn_open(&c[k], k);
	while (off + 2 <= size) {
		unsigned int k = data[off] & 3, close_it = ((data[off] >> 2) & 3) == 3;
		size_t n = (size_t)data[off + 1] + 1;

		off += 2;
		if (n > size - off)
			n = size - off;
		if (close_it) {
			uapi_conn_eof(&c[k], &ops, &dev);
			conn_check(&c[k]);
			uapi_conn_free(&c[k]);
			conn_open(&c[k], k);
		} else {
			uapi_conn_feed(&c[k], &ops, &dev, (const char *)data + off, n);
			conn_check(&c[k]);
			off += n;
		}
		device_check(&dev);
	}
	for (unsigned int k = 0; k < NCONN; k++) {
		uapi_conn_eof(&c[k], &ops, &dev);
		conn_check(&c[k]);
		uapi_conn_free(&c[k]);
	}
	device_check(&dev);
	conn_open(&c[0], 3);
	c[0].lim.request_bytes = UAPI_REQUEST_MAX;
	uapi_conn_feed(&c[0], &ops, &dev, "get=1\n\n", 7);
	conn_check(&c[0]);
	uapi_conn_free(&c[0]);
	wg_device_uninit(&dev);
	return 0;
}
