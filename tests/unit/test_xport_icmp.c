/* The ICMP transport's endpoints: a listener session named as address:identifier with the
 * local address as source, and back, for both families; sessions found through the endpoint
 * the device keeps (two diallers behind one NAT stay apart); a silent session is no longer
 * sent to. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "engine/xport_icmp.h"

#define SEC 1000000000ull

static void key4(struct icmpw_key *k, const char *addr, uint16_t id, const char *local)
{
	memset(k, 0, sizeof(*k));
	k->ep.in4.sin_family = AF_INET;
	inet_pton(AF_INET, addr, &k->ep.in4.sin_addr);
	inet_pton(AF_INET, local, &k->ep.local.in);
	k->id = id;
}

static void test_round_trip(void **state)
{
	struct icmpw_key k, back;
	struct endpoint ep;
	char b[64];

	key4(&k, "198.18.1.1", 0xbeef, "198.18.3.5");
	xport_icmp_ep_from_key(&k, &ep);
	assert_string_equal(endpoint_str(&ep, b, sizeof(b)), "198.18.1.1:48879");
	assert_true(xport_icmp_key_from_ep(&ep, &back));
	assert_memory_equal(&k, &back, sizeof(k));

	memset(&k, 0, sizeof(k));
	k.ep.in6.sin6_family = AF_INET6;
	k.id = 7;
	inet_pton(AF_INET6, "2001:db8:1::1", &k.ep.in6.sin6_addr);
	inet_pton(AF_INET6, "fe80::5", &k.ep.local.in6);
	k.ep.local.ifindex = 3;
	xport_icmp_ep_from_key(&k, &ep);
	assert_int_equal(ep.sa.sa_family, AF_INET6);
	assert_int_equal(ep.local.ifindex, 3);
	assert_string_equal(endpoint_str(&ep, b, sizeof(b)), "[2001:db8:1::1]:7");
	assert_true(xport_icmp_key_from_ep(&ep, &back));
	assert_memory_equal(&k, &back, sizeof(k));

	memset(&ep, 0, sizeof(ep));
	assert_false(xport_icmp_key_from_ep(&ep, &back));
}

/* Two diallers behind one NAT (the NAT gave them identifiers 1 and 2) and one dialling a second
 * address of ours with identifier 1: three sessions, each found again through its endpoint. */
static void test_sessions_by_endpoint(void **state)
{
	struct icmpw_table t;
	struct icmpw_key k[3], back;
	struct icmpw_session *s[3];
	struct endpoint ep;
	uint64_t now = 100 * SEC;

	assert_int_equal(icmpw_table_init(&t, 4, 2, 256), 0);
	key4(&k[0], "198.18.2.2", 1, "198.18.3.1");
	key4(&k[1], "198.18.2.2", 2, "198.18.3.1");
	key4(&k[2], "198.18.2.2", 1, "198.18.3.5");
	for (int i = 0; i < 3; i++) {
		s[i] = icmpw_table_get(&t, &k[i], now, true);
		assert_non_null(s[i]);
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(s[i], s[j]);
	}
	for (int i = 0; i < 3; i++) {
		xport_icmp_ep_from_key(&k[i], &ep);
		assert_true(xport_icmp_key_from_ep(&ep, &back));
		assert_ptr_equal(icmpw_table_get(&t, &back, now, false), s[i]);
	}
	/* a configured endpoint (its port no identifier seen) names no session: it is dialled */
	memset(&ep, 0, sizeof(ep));
	ep.in4.sin_family = AF_INET;
	ep.in4.sin_port = htons(51820);
	inet_pton(AF_INET, "198.18.2.2", &ep.in4.sin_addr);
	assert_true(xport_icmp_key_from_ep(&ep, &back));
	assert_null(icmpw_table_get(&t, &back, now, false));
	icmpw_table_free(&t);
}

static void test_live(void **state)
{
	struct icmpw_table t;
	struct icmpw_key k;
	struct icmpw_session *s;
	uint64_t now = 100 * SEC;

	assert_false(xport_icmp_session_live(NULL, now));
	assert_int_equal(icmpw_table_init(&t, 2, 2, 256), 0);
	key4(&k, "198.18.2.2", 9, "198.18.3.1");
	s = icmpw_table_get(&t, &k, now, true);
	assert_true(xport_icmp_session_live(s, now));
	/* the dialler polls at least every ICMPW_IDLE_MAX_NS: a few missed polls are tolerated */
	assert_true(xport_icmp_session_live(s, now + 2 * ICMPW_IDLE_MAX_NS));
	assert_false(xport_icmp_session_live(s, now + XPORT_ICMP_SESSION_LIVE_NS));
	icmpw_session_hold(s, 1, now + XPORT_ICMP_SESSION_LIVE_NS);
	assert_true(xport_icmp_session_live(s, now + XPORT_ICMP_SESSION_LIVE_NS));
	icmpw_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_sessions_by_endpoint),
		cmocka_unit_test(test_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
