/* ifname_valid against the kernel's dev_valid_name rules, edge by edge. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <net/if.h>
#include <cmocka.h>

#include "lib/ifname.h"

static void test_length(void **state)
{
	char name[IFNAMSIZ + 1];

	assert_false(ifname_valid(NULL));
	assert_false(ifname_valid(""));
	assert_true(ifname_valid("a"));
	memset(name, 'x', IFNAMSIZ - 1);
	name[IFNAMSIZ - 1] = '\0';
	assert_true(ifname_valid(name));	/* 15: the longest */
	name[IFNAMSIZ - 1] = 'x';
	name[IFNAMSIZ] = '\0';
	assert_false(ifname_valid(name));	/* 16: no room for the NUL */
}

static void test_dots(void **state)
{
	assert_false(ifname_valid("."));
	assert_false(ifname_valid(".."));
	assert_true(ifname_valid("..."));
	assert_true(ifname_valid(".a"));
	assert_true(ifname_valid("wg.0"));
}

static void test_characters(void **state)
{
	static const char *const bad[] = { "a/b", "/", "wg:0", "a b", "a\tb", "a\nb", "a\vb", "a\fb", "a\rb", " " };
	static const char *const good[] = { "wg0", "tun%d", "a-b_c=d+e", "WG0", "\x80\xff", "a@b", "a,b", "wg#1" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(ifname_valid(bad[i]));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(ifname_valid(good[i]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_dots),
		cmocka_unit_test(test_characters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
