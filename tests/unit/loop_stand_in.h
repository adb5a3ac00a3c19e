/* Test-only: what the tests of a running loop (test_loop_ctl, test_loop_tun, test_xport_tcp,
 * test_xport_udp) share of their stand-in processor: callbacks with nothing to watch, and the
 * thread that runs the loop. Each test puts these in its struct loop_proc_ops where it has
 * nothing of its own to do. */
#ifndef CULVERT_TEST_LOOP_STAND_IN_H
#define CULVERT_TEST_LOOP_STAND_IN_H
#include <stdint.h>

#include "engine/loop.h"
#include "engine/proc.h"

static inline int stand_in_attach(void *ctx, const struct loop_attach *a) { return 0; }
static inline void stand_in_pkts(void *ctx, struct wg_pkt *pkts, unsigned int n) {}
static inline void stand_in_tick(void *ctx) {}
static inline void stand_in_drop(void *ctx, enum wg_drop why, uint64_t n) {}
static inline void stand_in_net_config(void *ctx, uint16_t *port, uint32_t *fwmark) { *port = 0, *fwmark = 0; }
static inline void stand_in_bound(void *ctx, uint16_t port, const char *desc) {}

/* The runner thread: the loop given, until loop_stop. */
static inline void *stand_in_run(void *loop)
{
	wg_loop_run(loop);
	return NULL;
}

#endif
