/* log: the journal's priority prefixes when JOURNAL_STREAM names stderr (and not otherwise),
 * and LOG_LEVEL as wireguard-go reads it. stderr goes to a file the tests read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "lib/log.h"

static char path[64];
static int saved_stderr = -1;

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/culvert-test-log-%d", (int)getpid());
	saved_stderr = dup(2);
	return freopen(path, "w+", stderr) ? 0 : -1;
}

static int teardown(void **state)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	unlink(path);
	return 0;
}

/* What was written to stderr since the last call; empties it. */
static const char *taken(void)
{
	static char buf[4096];
	size_t n;

	fflush(stderr);
	rewind(stderr);
	n = fread(buf, 1, sizeof(buf) - 1, stderr);
	buf[n] = '\0';
	if (ftruncate(fileno(stderr), 0) != 0)
		buf[0] = '\0';
	rewind(stderr);
	return buf;
}

static void stream_env(bool ours)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(2, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + (ours ? 0 : 1));
	setenv("JOURNAL_STREAM", v, 1);
}

static void test_journal_prefix(void **state)
{
	unsetenv("LOG_LEVEL");
	log_set_level(LOG_LVL_DEBUG);
	stream_env(true);
	log_init_env();
	log_err("e %d", 1);
	log_warn("w");
	log_info("i");
	log_debug("d");
	assert_string_equal(taken(), "<3>culvert: e 1\n<4>culvert: w\n<6>culvert: i\n<7>culvert: d\n");
	/* another file's inode: plain lines */
	stream_env(false);
	log_init_env();
	log_err("e");
	assert_string_equal(taken(), "culvert: e\n");
	setenv("JOURNAL_STREAM", "garbage", 1);
	log_init_env();
	log_err("e");
	assert_string_equal(taken(), "culvert: e\n");
	unsetenv("JOURNAL_STREAM");
	log_init_env();
	log_info("i");
	assert_string_equal(taken(), "culvert: i\n");
}

static void test_log_level(void **state)
{
	unsetenv("JOURNAL_STREAM");
	log_set_level(LOG_LVL_INFO);
	setenv("LOG_LEVEL", "error", 1);
	log_init_env();
	log_warn("w");
	log_info("i");
	log_err("e");
	assert_string_equal(taken(), "culvert: e\n");
	setenv("LOG_LEVEL", "verbose", 1);
	log_init_env();
	log_debug("d");
	assert_string_equal(taken(), "culvert: d\n");
	setenv("LOG_LEVEL", "debug", 1);
	log_set_level(LOG_LVL_INFO);
	log_init_env();
	assert_true(log_enabled(LOG_LVL_DEBUG));
	setenv("LOG_LEVEL", "silent", 1);
	log_init_env();
	log_err("e");
	assert_string_equal(taken(), "");
	/* -d after LOG_LEVEL=silent: the option wins */
	log_set_level(LOG_LVL_DEBUG);
	log_err("e");
	assert_string_equal(taken(), "culvert: e\n");
	/* anything else keeps the default */
	log_set_level(LOG_LVL_INFO);
	setenv("LOG_LEVEL", "loud", 1);
	log_init_env();
	log_info("i");
	log_debug("d");
	assert_string_equal(taken(), "culvert: i\n");
	unsetenv("LOG_LEVEL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_prefix),
		cmocka_unit_test(test_log_level),
	};
	/* cmocka reports on stdout (CMOCKA_MESSAGE_OUTPUT=stdout in the runner) */
	return cmocka_run_group_tests(tests, setup, teardown);
}
