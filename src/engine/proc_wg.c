/* The WireGuard device as the loop's packet processor: tun packets to wg_device_tun_input,
 * datagrams to wg_device_udp_input, the tick, the handshake thread and the uapi callbacks; the
 * device's ops (udp_send, tun_write, rebind, authenticated, clocks) point back at the loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/loop.h"
#include "engine/proc.h"
#include "lib/clock.h"
#include "wg/device.h"
#include "wg/noise.h"
#include "wg/uapi_dev.h"

static uint64_t op_now(void *ctx)
{
	return clock_mono_ns();
}

static void op_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	uint64_t ns = clock_wall_ns();

	*sec = (int64_t)(ns / CLOCK_NSEC_PER_SEC);
	*nsec = (int64_t)(ns % CLOCK_NSEC_PER_SEC);
}

static int wg_attach(void *ctx, const struct loop_attach *a)
{
	struct wg_device *dev = ctx;

	noise_set_slots(a->threads);
	dev->ops.udp_send = loop_net_send;
	dev->ops.authenticated = a->authenticated ? loop_authenticated : NULL;
	dev->transport = a->ipproto;
	dev->ops.tun_write = loop_tun_write;
	dev->ops.rebind = loop_rebind;
	dev->ops.now = op_now;
	dev->ops.wall = op_wall;
	dev->ops.ctx = a->loop;
	return 0;
}

static void wg_detach(void *ctx)
{
	struct wg_device *dev = ctx;

	if (dev->ops.udp_send == loop_net_send)
		memset(&dev->ops, 0, sizeof(dev->ops));
}

static void wg_thread_init(void *ctx, unsigned int slot)
{
	noise_set_thread_slot(slot);
}

static void wg_tun_input(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	wg_device_tun_input(ctx, pkts, n);
}

static void wg_net_input(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	wg_device_udp_input(ctx, pkts, n);
}

static void wg_tick(void *ctx)
{
	wg_device_tick(ctx);
}

static void wg_drop(void *ctx, enum wg_drop why, uint64_t n)
{
	wg_device_drop_n(ctx, why, n);
}

static void wg_net_config(void *ctx, uint16_t *port, uint32_t *fwmark)
{
	struct wg_device *dev = ctx;

	*port = dev->listen_port;
	*fwmark = dev->fwmark;
}

static void wg_bound(void *ctx, uint16_t port, const char *desc)
{
	struct wg_device *dev = ctx;

	dev->listen_port = port;
	snprintf(dev->offload, sizeof(dev->offload), "%s", desc);
}

/* Padding must not push a packet past the device MTU. */
static void wg_mtu(void *ctx, unsigned int mtu)
{
	struct wg_device *dev = ctx;

	__atomic_store_n(&dev->mtu, mtu, __ATOMIC_RELAXED);
}

static void wg_hs_external(void *ctx, bool on)
{
	wg_device_handshake_external(ctx, on);
}

static void wg_hs_serve(void *ctx)
{
	wg_device_handshake_serve(ctx);
}

static void wg_hs_stop(void *ctx)
{
	wg_device_handshake_stop(ctx);
}

static const struct loop_proc_ops wg_proc_ops = {
	.attach = wg_attach,
	.detach = wg_detach,
	.thread_init = wg_thread_init,
	.tun_input = wg_tun_input,
	.net_input = wg_net_input,
	.tick = wg_tick,
	.drop = wg_drop,
	.net_config = wg_net_config,
	.bound = wg_bound,
	.mtu = wg_mtu,
	.hs_external = wg_hs_external,
	.hs_serve = wg_hs_serve,
	.hs_stop = wg_hs_stop,
	.uapi = &wg_uapi_dev_ops,
};

int wg_loop_new(struct wg_loop **out, struct wg_device *dev, const int *tun_fds, unsigned int n_queues,
		int uapi_fd, const struct wg_loop_opts *opts)
{
	const struct loop_proc proc = { &wg_proc_ops, dev };

	return loop_new(out, &proc, tun_fds, n_queues, uapi_fd, opts);
}
