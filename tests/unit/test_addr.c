/* addr_sockaddr_str, addr_str and addr_cidr_str: the text every log line, `culvert show`, the
 * uapi's endpoint= and allowed_ip= lines and culvert up's saved files carry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "lib/addr.h"

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };

	assert_int_equal(inet_pton(AF_INET, ip, &s.sin_addr), 1);
	return s;
}

static struct sockaddr_in6 v6(const char *ip, uint16_t port, uint32_t scope)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_scope_id = scope };

	assert_int_equal(inet_pton(AF_INET6, ip, &s.sin6_addr), 1);
	return s;
}

static void test_sockaddr(void **state)
{
	char buf[ADDR_STRLEN];
	struct sockaddr_in a = v4("198.18.0.1", 51820);
	struct sockaddr_in6 b = v6("2001:db8::1", 443, 0), c = v6("fe80::1", 1, 7);

	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&a, true, buf, sizeof(buf)), "198.18.0.1:51820");
	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&a, false, buf, sizeof(buf)), "198.18.0.1");
	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&b, true, buf, sizeof(buf)), "[2001:db8::1]:443");
	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&b, false, buf, sizeof(buf)), "2001:db8::1");
	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&c, true, buf, sizeof(buf)), "[fe80::1%7]:1");
	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&c, false, buf, sizeof(buf)), "fe80::1%7");
	/* a v4-mapped address stays one IPv6 address, bracketed */
	b = v6("::ffff:198.18.0.2", 0, 0);
	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&b, true, buf, sizeof(buf)), "[::ffff:198.18.0.2]:0");
}

static void test_other_families(void **state)
{
	char buf[ADDR_STRLEN];
	struct sockaddr_storage ss = { .ss_family = AF_UNSPEC };

	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&ss, true, buf, sizeof(buf)), "(none)");
	ss.ss_family = AF_UNIX;
	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&ss, true, buf, sizeof(buf)), "(family 1)");
	assert_string_equal(addr_str(AF_UNIX, &ss, buf, sizeof(buf)), "?");
}

/* The longest text there is fits ADDR_STRLEN; a short buffer truncates and stays terminated. */
static void test_lengths(void **state)
{
	char buf[ADDR_STRLEN], small[8];
	struct sockaddr_in6 s = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 4294967295u);
	const char *want = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535";

	assert_true(strlen(want) < ADDR_STRLEN);
	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&s, true, buf, sizeof(buf)), want);
	memset(small, 'x', sizeof(small));
	assert_string_equal(addr_sockaddr_str((struct sockaddr *)&s, true, small, sizeof(small)), "[ffff:f");
}

static void test_raw_and_cidr(void **state)
{
	char buf[ADDR_STRLEN];
	uint8_t a4[4] = { 198, 18, 0, 0 }, a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	assert_string_equal(addr_str(AF_INET, a4, buf, sizeof(buf)), "198.18.0.0");
	assert_string_equal(addr_str(AF_INET6, a6, buf, sizeof(buf)), "2001:db8::");
	assert_string_equal(addr_cidr_str(AF_INET, a4, 15, buf, sizeof(buf)), "198.18.0.0/15");
	assert_string_equal(addr_cidr_str(AF_INET6, a6, 32, buf, sizeof(buf)), "2001:db8::/32");
	assert_string_equal(addr_cidr_str(AF_UNSPEC, a6, 0, buf, sizeof(buf)), "?/0");
	/* too small a buffer for inet_ntop: "?" rather than garbage */
	assert_string_equal(addr_str(AF_INET6, a6, buf, 4), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sockaddr),
		cmocka_unit_test(test_other_families),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_raw_and_cidr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
