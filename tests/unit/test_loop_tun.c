/* The loop's tun writes on a real tun device with virtio headers and TSO, inside a private
 * network namespace: a thread that is not one of the loop's workers (the handshake thread
 * answering a staged packet too big for any datagram) writes without touching worker 0's GRO
 * state, which worker 0 may be using at the same moment. Needs CAP_NET_ADMIN for the tun. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>

#include "engine/loop.h"
#include "engine/loop_int.h"
#include "engine/proc.h"
#include "lib/tun.h"
#include "loop_stand_in.h"
#include "netns_private.h"
#include "ip_craft.h"

static const struct loop_proc_ops stand_in = {
	.attach = stand_in_attach,
	.tun_input = stand_in_pkts,
	.net_input = stand_in_pkts,
	.tick = stand_in_tick,
	.drop = stand_in_drop,
	.net_config = stand_in_net_config,
	.bound = stand_in_bound,
};

static struct wg_loop *loop;
static pthread_t runner;

static int setup(void **state)
{
	const struct loop_proc proc = { &stand_in, NULL };
	const struct wg_loop_opts o = { .transport = LOOP_XPORT_UDP, .no_busy_poll = true };
	const struct tun_opts to = { .mode = TUN_MODE_TUN, .vnet_hdr = true, .nonblock = true };
	char name[IFNAMSIZ];
	int fd;

	if (netns_private() < 0 || tun_open("cvlt%d", &to, name, &fd) < 0) {
		*state = NULL;
		return 0;	/* the test skips: no tun here */
	}
	if (loop_new(&loop, &proc, &fd, 1, -1, &o) < 0 || wg_loop_bind(loop) < 0)
		return -1;
	*state = loop;
	return pthread_create(&runner, NULL, stand_in_run, loop) ? -1 : 0;
}

static int teardown(void **state)
{
	if (!*state)
		return 0;
	loop_stop(loop, 0);
	pthread_join(runner, NULL);
	wg_loop_free(loop);
	return 0;
}

static void test_write_from_another_thread(void **state)
{
	uint8_t buf[WG_PKT_HEADROOM + 2048] = { 0 };
	struct wg_pkt pkt = { .data = buf + WG_PKT_HEADROOM };
	const struct gro_stats zero = { 0 };

	if (!*state)
		skip();
	/* GRO is on for this loop's worker (a tun with TSO), so its writes would go through it */
	assert_true(loop->vnet && loop->w[0].gro_bufs);
	pkt.len = make_ip4(pkt.data, "198.18.0.1", "198.18.0.2", 100, 7);
	assert_true(pkt.len > 0);
	for (int i = 0; i < 100; i++)
		loop_tun_write(loop, &pkt, 1);
	/* none of it went through worker 0's GRO: its counters never moved */
	assert_memory_equal(&loop->w[0].gro.stats, &zero, sizeof(zero));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_from_another_thread, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
