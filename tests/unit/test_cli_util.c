/* The numbers every subcommand reads (--workers, -c, ports, MTUs, descriptors): digits only,
 * inside the range, or one sentence naming the bad token. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli/cli_util.h"

static void test_uint(void **state)
{
	uint64_t v = 7;

	assert_true(cli_uint("0", 0, 10, &v));
	assert_int_equal(v, 0);
	assert_true(cli_uint("65535", 1, 65535, &v));
	assert_int_equal(v, 65535);
	assert_true(cli_uint("18446744073709551615", 0, UINT64_MAX, &v));
	assert_true(v == UINT64_MAX);
	v = 7;
	/* out of range, signs, spaces, hex, trailing bytes, empty, overflow: false, v untouched */
	static const char *const bad[] = { "65536", "0", "-1", "+1", " 1", "1 ", "0x10", "1k", "", "18446744073709551616" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(cli_uint(bad[i], 1, 65535, &v));
	assert_false(cli_uint(NULL, 0, 1, &v));
	assert_int_equal(v, 7);
}

static void test_number_sentence(void **state)
{
	char path[] = "/tmp/test_cli_util.XXXXXX", text[256] = "";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	uint64_t v;
	FILE *f;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	assert_true(cli_number("wg", "--workers", "3", 1, 64, &v));
	assert_false(cli_number("wg", "--workers", "65", 1, 64, &v));
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fdopen(fd, "r");
	assert_non_null(f);
	rewind(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	unlink(path);
	assert_string_equal(text, "culvert wg: --workers '65' is not a number from 1 to 64\n");
	assert_int_equal(v, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_number_sentence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
