/* rtnetlink: the prefix parser, and (as root, inside a private network namespace) link state,
 * MTU, addresses and routes checked through independent kernel interfaces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "lib/netlink.h"
#include "lib/tun.h"
#include "netns_private.h"

static bool in_netns;

static void need_netns(void)
{
	if (!in_netns)
		skip();
}

static void prefix_ok(const char *s, int fam, const char *addr, unsigned int plen)
{
	uint8_t got[16], want[16] = { 0 };
	unsigned int l = 999;
	int f = -1;

	assert_true(nl_parse_prefix(s, &f, got, &l));
	assert_int_equal(f, fam);
	assert_int_equal(l, plen);
	assert_int_equal(inet_pton(fam, addr, want), 1);
	assert_memory_equal(got, want, fam == AF_INET ? 4 : 16);
}

static void test_parse_prefix(void **state)
{
	static const char *bad[] = {
		"", "/24", "198.19.0.1/", "198.19.0.1/33", "198.19.0.1/-1", "198.19.0.1/+8",
		"198.19.0.1/ 8", "198.19.0.1/08", "198.19.0.1/2x", "198.19.0.1/1000", "198.19.0",
		"198.19.0.256", "2001:db8::1/129", "2001:db8::g", "2001:db8::1%eth0/64", "host/24",
		"198.19.0.1/24/1", "::1/64 ", " ::1/64",
		"2001:0db8:0000:0000:0000:0000:0000:0001:ffff/64",
	};
	uint8_t a[16];
	unsigned int l;
	int f;

	prefix_ok("198.19.0.1/24", AF_INET, "198.19.0.1", 24);
	prefix_ok("198.19.0.1", AF_INET, "198.19.0.1", 32);
	prefix_ok("0.0.0.0/0", AF_INET, "0.0.0.0", 0);
	prefix_ok("198.19.255.255/32", AF_INET, "198.19.255.255", 32);
	prefix_ok("2001:db8::1/64", AF_INET6, "2001:db8::1", 64);
	prefix_ok("2001:db8::1", AF_INET6, "2001:db8::1", 128);
	prefix_ok("::/0", AF_INET6, "::", 0);
	prefix_ok("::ffff:198.19.0.1/128", AF_INET6, "::ffff:198.19.0.1", 128);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (nl_parse_prefix(bad[i], &f, a, &l))
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_false(nl_parse_prefix(NULL, &f, a, &l));
	assert_int_equal(nl_addr_add_str("lo", "not-an-address"), -EINVAL);
}

static int make_tun(const char *name)
{
	struct tun_opts o = { .mode = TUN_MODE_TUN };
	char real[IFNAMSIZ];
	int fd;

	assert_int_equal(tun_open(name, &o, real, &fd), 0);
	assert_string_equal(real, name);
	return fd;
}

static unsigned int ioctl_flags(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	strcpy(ifr.ifr_name, name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	close(s);
	return (unsigned short)ifr.ifr_flags;
}

static int ioctl_mtu(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	strcpy(ifr.ifr_name, name);
	assert_int_equal(ioctl(s, SIOCGIFMTU, &ifr), 0);
	close(s);
	return ifr.ifr_mtu;
}

static void test_link_up_mtu(void **state)
{
	struct nl_link l;
	int fd, idx;

	need_netns();
	fd = make_tun("cvnl0");
	idx = nl_link_index("cvnl0");
	assert_true(idx > 0);
	assert_int_equal((unsigned int)idx, if_nametoindex("cvnl0"));
	assert_int_equal(nl_link_index("cvnl-none"), -ENODEV);
	assert_int_equal(nl_link_index("this-name-is-far-too-long"), -ENODEV);

	assert_false(ioctl_flags("cvnl0") & IFF_UP);
	assert_int_equal(nl_link_set_up("cvnl0", true), 0);
	assert_true(ioctl_flags("cvnl0") & IFF_UP);
	assert_int_equal(nl_link_get("cvnl0", &l), 0);
	assert_string_equal(l.name, "cvnl0");
	assert_string_equal(l.kind, "tun");
	assert_true(l.flags & IFF_UP);
	assert_true(l.carrier);   /* a queue is attached */

	assert_int_equal(nl_link_set_mtu("cvnl0", 1280), 0);
	assert_int_equal(ioctl_mtu("cvnl0"), 1280);
	assert_int_equal(nl_link_get_mtu("cvnl0"), 1280);
	assert_int_equal(nl_link_set_mtu("cvnl0", 9000), 0);
	assert_int_equal(nl_link_get_mtu("cvnl0"), 9000);
	assert_int_equal(nl_link_set_mtu("cvnl0", 20), -EINVAL);
	assert_int_equal(nl_link_set_mtu("cvnl-none", 1400), -ENODEV);

	assert_int_equal(nl_link_set_up("cvnl0", false), 0);
	assert_false(ioctl_flags("cvnl0") & IFF_UP);
	close(fd);
	assert_int_equal(nl_link_index("cvnl0"), -ENODEV);
}

static bool has_addr(const char *ifname, int family, const char *text, unsigned int plen)
{
	struct ifaddrs *list, *i;
	uint8_t want[16];
	bool found = false;

	assert_int_equal(inet_pton(family, text, want), 1);
	assert_int_equal(getifaddrs(&list), 0);
	for (i = list; i && !found; i = i->ifa_next) {
		const void *a, *m;
		unsigned int bits = 0, n = family == AF_INET ? 4 : 16;

		if (!i->ifa_addr || i->ifa_addr->sa_family != family || strcmp(i->ifa_name, ifname))
			continue;
		if (family == AF_INET) {
			a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
			m = &((struct sockaddr_in *)i->ifa_netmask)->sin_addr;
		} else {
			a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			m = &((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr;
		}
		for (unsigned int k = 0; k < n; k++)
			bits += (unsigned int)__builtin_popcount(((const uint8_t *)m)[k]);
		found = !memcmp(a, want, n) && bits == plen;
	}
	freeifaddrs(list);
	return found;
}

/* /proc/net/route: "Iface Destination(hex, host order as stored) ... Mask". */
static bool has_route4(const char *ifname, const char *net, unsigned int plen)
{
	char line[256], dev[IFNAMSIZ + 1];
	unsigned int dst, gw, flags, ref, use, metric, mask;
	struct in_addr want;
	uint32_t wmask = plen ? htonl(~0u << (32 - plen)) : 0;
	bool found = false;
	FILE *f = fopen("/proc/net/route", "r");

	assert_non_null(f);
	assert_int_equal(inet_pton(AF_INET, net, &want), 1);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%16s %x %x %x %u %u %u %x", dev, &dst, &gw, &flags, &ref, &use, &metric,
			   &mask) == 8 && !strcmp(dev, ifname) && dst == want.s_addr && mask == wmask)
			found = true;
	fclose(f);
	return found;
}

static bool has_route6(const char *ifname, const char *net, unsigned int plen)
{
	char line[512], dst[33], dev[IFNAMSIZ + 1], want_hex[33];
	unsigned int dlen;
	uint8_t want[16];
	bool found = false;
	FILE *f = fopen("/proc/net/ipv6_route", "r");

	assert_non_null(f);
	assert_int_equal(inet_pton(AF_INET6, net, want), 1);
	for (int i = 0; i < 16; i++)
		sprintf(want_hex + 2 * i, "%02x", want[i]);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%32s %x %*s %*s %*s %*s %*s %*s %*s %16s", dst, &dlen, dev) == 3 &&
		    !strcmp(dev, ifname) && !strcmp(dst, want_hex) && dlen == plen)
			found = true;
	fclose(f);
	return found;
}

static void test_addr_route(void **state)
{
	uint8_t a4[4], a6[16];
	int fd;

	need_netns();
	fd = make_tun("cvnl1");
	assert_int_equal(nl_link_set_up("cvnl1", true), 0);

	assert_int_equal(nl_addr_add_str("cvnl1", "198.19.7.1/24"), 0);
	assert_true(has_addr("cvnl1", AF_INET, "198.19.7.1", 24));
	assert_int_equal(nl_addr_add_str("cvnl1", "198.19.7.1/24"), -EEXIST);
	inet_pton(AF_INET6, "2001:db8:7::1", a6);
	assert_int_equal(nl_addr_add("cvnl1", AF_INET6, a6, 64), 0);
	assert_true(has_addr("cvnl1", AF_INET6, "2001:db8:7::1", 64));
	assert_int_equal(nl_addr_add("cvnl1", AF_INET6, a6, 129), -EINVAL);
	assert_int_equal(nl_addr_add("cvnl1", AF_UNIX, a6, 8), -EINVAL);
	assert_int_equal(nl_addr_add_str("cvnl-none", "198.19.7.1/24"), -ENODEV);

	/* Host bits are cleared: 198.19.8.9/24 means 198.19.8.0/24. */
	assert_int_equal(nl_route_add_str("cvnl1", "198.19.8.9/24"), 0);
	assert_true(has_route4("cvnl1", "198.19.8.0", 24));
	assert_int_equal(nl_route_add_str("cvnl1", "198.19.8.0/24"), -EEXIST);
	assert_int_equal(nl_route_add_str("cvnl1", "2001:db8:8::/48"), 0);
	assert_true(has_route6("cvnl1", "2001:db8:8::", 48));
	assert_int_equal(nl_route_add_str("cvnl1", "2001:db8:9::5/128"), 0);
	assert_true(has_route6("cvnl1", "2001:db8:9::5", 128));

	assert_int_equal(nl_route_del_str("cvnl1", "198.19.8.0/24"), 0);
	assert_false(has_route4("cvnl1", "198.19.8.0", 24));
	assert_int_equal(nl_route_del_str("cvnl1", "198.19.8.0/24"), -ESRCH);
	inet_pton(AF_INET6, "2001:db8:8::", a6);
	assert_int_equal(nl_route_del("cvnl1", AF_INET6, a6, 48), 0);
	assert_false(has_route6("cvnl1", "2001:db8:8::", 48));

	inet_pton(AF_INET, "198.19.7.1", a4);
	assert_int_equal(nl_addr_del("cvnl1", AF_INET, a4, 24), 0);
	assert_false(has_addr("cvnl1", AF_INET, "198.19.7.1", 24));
	assert_int_equal(nl_addr_del_str("cvnl1", "2001:db8:7::1/64"), 0);
	assert_false(has_addr("cvnl1", AF_INET6, "2001:db8:7::1", 64));

	assert_int_equal(tun_set_persist(fd, true), 0);
	close(fd);
	assert_true(nl_link_index("cvnl1") > 0);
	assert_int_equal(nl_link_del("cvnl1"), 0);
	assert_int_equal(nl_link_index("cvnl1"), -ENODEV);
	assert_int_equal(nl_link_del("cvnl1"), -ENODEV);
}

struct count { int links, tuns; bool lo; };

static int count_cb(const struct nl_link *l, void *arg)
{
	struct count *c = arg;

	c->links++;
	c->tuns += !strcmp(l->kind, "tun") && l->info_data;
	c->lo |= !strcmp(l->name, "lo") && l->ifindex == 1;
	return 0;
}

static int stop_cb(const struct nl_link *l, void *arg)
{
	(*(int *)arg)++;
	return 42;
}

static void test_link_walk(void **state)
{
	struct count c = { 0 };
	int fds[3], calls = 0;

	need_netns();
	fds[0] = make_tun("cvnl2");
	fds[1] = make_tun("cvnl3");
	fds[2] = make_tun("cvnl4");
	assert_int_equal(nl_link_walk(NULL, count_cb, &c), 0);
	assert_true(c.lo);
	assert_int_equal(c.tuns, 3);
	assert_true(c.links >= 4);
	assert_int_equal(nl_link_walk(NULL, stop_cb, &calls), 42);
	assert_int_equal(calls, 1);
	assert_int_equal(nl_link_walk("cvnl-none", count_cb, &c), -ENODEV);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_prefix),
		cmocka_unit_test(test_link_up_mtu),
		cmocka_unit_test(test_addr_route),
		cmocka_unit_test(test_link_walk),
	};

	/* A private namespace keeps these devices away from the host and from parallel tests;
	 * as a user, one inside a user namespace (tests/unit/netns_private.h). */
	in_netns = netns_private_tun() == 0;
	if (!in_netns)
		fprintf(stderr, "no network namespace of our own or no access to /dev/net/tun: kernel tests are skipped\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
