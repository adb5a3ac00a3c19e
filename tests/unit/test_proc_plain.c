/* The plaintext processor's datagram checks: an oversized datagram is judged against the limit
 * the loop refreshes (ops.mtu), never by a lookup of its own, so a flood of them costs no
 * netlink round trips; it is dropped and counted as dgram_too_long. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <netinet/in.h>

#include "engine/proc_plain.h"

static uint8_t pkt[4000];
static struct plain pl;

/* An IPv4 header for a packet of len bytes, the rest zero. */
static void ipv4(size_t len)
{
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)(len >> 8);
	pkt[3] = (uint8_t)len;
}

static union endpoint_addr from(void)
{
	union endpoint_addr a;

	memset(&a, 0, sizeof(a));
	a.in.sin_family = AF_INET;
	a.in.sin_port = htons(41000);
	a.in.sin_addr.s_addr = htonl(0xc6120001);	/* 198.18.0.1 */
	return a;
}

/* "lo" exists in every network namespace (MTU 65536, so a limit of 65535 when netlink answers).
 * The loop then says the MTU is 1400: a 1500-byte datagram is dropped although a fresh lookup
 * would admit it, which is what a datagram path that looks the MTU up would do. */
static void test_too_long_uses_cached_limit(void **state)
{
	union endpoint_addr a = from();
	bool learned;

	plain_init(&pl, "lo", true, false, true);
	plain_proc_ops.mtu(&pl, 1400);
	assert_int_equal(pl.limit, 1400);
	ipv4(1500);
	for (int i = 0; i < 1000; i++)
		assert_false(plain_dgram_in(&pl, pkt, 1500, &a, &learned));
	assert_int_equal(pl.c.drop[PLAIN_DROP_DGRAM_TOO_LONG], 1000);
	assert_int_equal(pl.limit, 1400);
	assert_false(pl.have_peer);

	/* at the limit it passes, and the server learns its client */
	ipv4(1400);
	assert_true(plain_dgram_in(&pl, pkt, 1400, &a, &learned));
	assert_true(learned);
	assert_int_equal(pl.c.drop[PLAIN_DROP_DGRAM_TOO_LONG], 1000);

	/* the loop's next reading raises it: the same datagram now passes */
	plain_proc_ops.mtu(&pl, 1500);
	ipv4(1500);
	assert_true(plain_dgram_in(&pl, pkt, 1500, &a, &learned));
	assert_false(learned);
	plain_free(&pl);
}

/* tap: 22 bytes of Ethernet header and two VLAN tags on top (a QinQ frame of the full MTU),
 * 65535 at most */
static void test_tap_limit(void **state)
{
	plain_init(&pl, "lo", false, true, true);
	plain_proc_ops.mtu(&pl, 1500);
	assert_int_equal(pl.limit, 1522);
	plain_proc_ops.mtu(&pl, 65535);
	assert_int_equal(pl.limit, 65535);
	plain_free(&pl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_too_long_uses_cached_limit),
		cmocka_unit_test(test_tap_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
