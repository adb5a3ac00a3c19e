/* netlink_route.c (as root, inside a private network namespace): routes into numbered tables,
 * route and rule dumps, `ip route get`, the two rules of wg-quick's full tunnel added and
 * deleted, address dumps; each checked against what was set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/rtnetlink.h>

#include "lib/netlink.h"
#include "lib/tun.h"
#include "netns_private.h"

static bool in_netns;

static void need_netns(void)
{
	if (!in_netns)
		skip();
}

static int make_tun(const char *name)
{
	struct tun_opts o = { .mode = TUN_MODE_TUN };
	char real[IFNAMSIZ];
	int fd;

	assert_int_equal(tun_open(name, &o, real, &fd), 0);
	assert_int_equal(nl_link_set_up(name, true), 0);
	return fd;
}

struct find {
	uint32_t table;
	unsigned int dst_len;
	int oif, n;
};

static int find_route(const struct nl_route *r, void *arg)
{
	struct find *f = arg;

	if (r->table == f->table && r->dst_len == f->dst_len) {
		f->oif = r->oif;
		f->n++;
	}
	return 0;
}

static void test_route_tables(void **state)
{
	uint8_t any[16] = { 0 }, dst[16];
	struct find f = { .table = 51820, .dst_len = 0 };
	struct nl_route got;
	int fd, idx;

	(void)state;
	need_netns();
	fd = make_tun("cvnr0");
	idx = nl_link_index("cvnr0");
	assert_int_equal(nl_addr_add_str("cvnr0", "198.19.70.1/24"), 0);
	/* above 255: the table only fits RTA_TABLE */
	assert_int_equal(nl_route_add_table("cvnr0", AF_INET, any, 0, 51820), 0);
	assert_int_equal(nl_route_add_table("cvnr0", AF_INET6, any, 0, 51820), 0);
	assert_int_equal(nl_route_add_table("cvnr0", AF_INET, any, 0, 51820), -EEXIST);
	assert_int_equal(nl_route_walk(AF_INET, find_route, &f), 0);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.oif, idx);
	f.n = 0;
	assert_int_equal(nl_route_walk(AF_INET6, find_route, &f), 0);
	assert_int_equal(f.n, 1);
	f = (struct find){ .table = 100, .dst_len = 0 };
	assert_int_equal(nl_route_add_table("cvnr0", AF_INET, any, 0, 100), 0);
	assert_int_equal(nl_route_walk(AF_INET, find_route, &f), 0);
	assert_int_equal(f.n, 1);

	/* ip route get: the prefix route of the address, the tun's MTU through its device */
	assert_int_equal(inet_pton(AF_INET, "198.19.70.9", dst), 1);
	assert_int_equal(nl_route_get(AF_INET, dst, &got), 0);
	assert_int_equal(got.oif, idx);
	assert_int_equal(got.mtu, 0);
	/* no default route in main: the tables above are reached only through rules */
	assert_int_equal(inet_pton(AF_INET, "198.18.99.1", dst), 1);
	assert_int_equal(nl_route_get(AF_INET, dst, &got), -ENETUNREACH);
	close(fd);
}

struct rules {
	int inverted, suppress;
	uint32_t mark;
};

static int find_rules(const struct nl_rule *r, void *arg)
{
	struct rules *x = arg;

	if (r->table == 51821 && r->invert && r->has_fwmark) {
		x->inverted++;
		x->mark = r->fwmark;
	}
	if (r->table == RT_TABLE_MAIN && r->suppress_prefixlen == 0)
		x->suppress++;
	return 0;
}

static int first_rule(const struct nl_rule *r, void *arg)
{
	*(uint32_t *)arg = r->priority;
	return 7;
}

static void test_rules(void **state)
{
	struct nl_rule mark = { .family = AF_INET, .table = 51821, .has_fwmark = true, .fwmark = 51821,
				.invert = true, .suppress_prefixlen = -1 };
	struct nl_rule sup = { .family = AF_INET, .table = RT_TABLE_MAIN, .suppress_prefixlen = 0 };
	struct rules x = { 0 };
	uint32_t prio = 0;

	(void)state;
	need_netns();
	for (int fam = AF_INET; fam; fam = fam == AF_INET ? AF_INET6 : 0) {
		mark.family = sup.family = fam;
		x = (struct rules){ 0 };
		assert_int_equal(nl_rule_add(&mark), 0);
		assert_int_equal(nl_rule_add(&sup), 0);
		assert_int_equal(nl_rule_walk(fam, find_rules, &x), 0);
		assert_int_equal(x.inverted, 1);
		assert_int_equal(x.mark, 51821);
		assert_int_equal(x.suppress, 1);
		/* the kernel picked priorities below main's 32766, the newest first */
		assert_int_equal(nl_rule_walk(fam, first_rule, &prio), 7);
		assert_int_equal(prio, 0);
		/* deleted by table alone, as `ip rule delete table T` */
		struct nl_rule by_table = { .family = fam, .table = 51821, .suppress_prefixlen = -1 };

		assert_int_equal(nl_rule_del(&by_table), 0);
		assert_int_equal(nl_rule_del(&sup), 0);
		x = (struct rules){ 0 };
		assert_int_equal(nl_rule_walk(fam, find_rules, &x), 0);
		assert_int_equal(x.inverted + x.suppress, 0);
		assert_int_equal(nl_rule_del(&sup), -ENOENT);
	}
	assert_int_equal(nl_rule_walk(AF_UNIX, find_rules, &x), -EINVAL);
}

struct addrs {
	int n, v4, v6;
	unsigned int plen4;
};

static int count_addr(int family, const uint8_t addr[16], unsigned int plen, void *arg)
{
	struct addrs *a = arg;
	uint8_t want[16] = { 0 };

	a->n++;
	if (family == AF_INET && inet_pton(AF_INET, "198.19.71.1", want) == 1 && !memcmp(addr, want, 4)) {
		a->v4++;
		a->plen4 = plen;
	}
	if (family == AF_INET6 && inet_pton(AF_INET6, "2001:db8:71::1", want) == 1 && !memcmp(addr, want, 16))
		a->v6++;
	return 0;
}

static void test_addr_walk(void **state)
{
	struct addrs a = { 0 };
	int fd;

	(void)state;
	need_netns();
	fd = make_tun("cvnr1");
	assert_int_equal(nl_addr_add_str("cvnr1", "198.19.71.1/32"), 0);
	assert_int_equal(nl_addr_add_str("cvnr1", "2001:db8:71::1/128"), 0);
	assert_int_equal(nl_addr_walk("cvnr1", AF_INET, count_addr, &a), 0);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.v4, 1);
	assert_int_equal(a.plen4, 32);
	a = (struct addrs){ 0 };
	assert_int_equal(nl_addr_walk("cvnr1", AF_INET6, count_addr, &a), 0);
	assert_int_equal(a.v6, 1);
	assert_int_equal(a.v4, 0);
	assert_int_equal(nl_addr_walk("cvnr-none", AF_INET, count_addr, &a), -ENODEV);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_tables),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_addr_walk),
	};

	/* A private namespace keeps these devices away from the host and from parallel tests;
	 * as a user, one inside a user namespace (tests/unit/netns_private.h). */
	in_netns = netns_private_tun() == 0;
	if (!in_netns)
		fprintf(stderr, "no network namespace of our own or no access to /dev/net/tun: kernel tests are skipped\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
