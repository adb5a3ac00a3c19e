/* culvert wg's parser: argv and the CULVERT_WG_* / WG_TUN_FD variables into struct
 * wg_cli_config, and the exit code of every usage error, without opening anything. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli/wg_args.h"

static const char *const env_vars[] = {
	"CULVERT_WG_TRANSPORT", "CULVERT_WG_MODE", "CULVERT_WG_USER", "CULVERT_WG_NO_SECCOMP", "WG_TUN_FD",
};

static int clear_env(void **state)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	return 0;
}

/* argv as getopt wants it: mutable pointers, a NULL after the last. */
#define PARSE(cfg, ...) parse_argv(cfg, (const char *[]){ "culvert-wg", __VA_ARGS__, NULL })

static int parse_argv(struct wg_cli_config *cfg, const char **args)
{
	char *argv[32];
	int argc = 0, r;

	while (args[argc]) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	r = wg_cli_parse(cfg, argc, argv);
	if (r != WG_CLI_RUN)
		wg_cli_config_free(cfg);
	return r;
}

static void test_defaults(void **state)
{
	struct wg_cli_config c;

	assert_int_equal(PARSE(&c, "wg0"), WG_CLI_RUN);
	assert_string_equal(c.ifname, "wg0");
	assert_int_equal(c.lo.transport, LOOP_XPORT_UDP);
	assert_false(c.lo.no_offload);
	assert_false(c.foreground);
	assert_false(c.no_seccomp);
	assert_false(c.monitor);
	assert_int_equal(c.to.mode, TUN_MODE_TUN);
	assert_true(c.to.excl);
	assert_true(c.to.vnet_hdr);
	assert_true(c.workers >= 1 && c.workers <= TUN_MAX_QUEUES);
	assert_int_equal(c.to.queues, c.workers);
	assert_int_equal(c.to.multi_queue, c.workers > 1);
	wg_cli_config_free(&c);
}

static void test_flags(void **state)
{
	struct wg_cli_config c;

	assert_int_equal(PARSE(&c, "-f", "-d", "--workers", "3", "--no-offload", "--no-busy-poll", "--attach",
			       "--no-seccomp", "wg1"), WG_CLI_RUN);
	assert_true(c.foreground);
	assert_true(c.debug);
	assert_int_equal(c.workers, 3);
	assert_true(c.to.multi_queue);
	assert_int_equal(c.to.queues, 3);
	assert_true(c.lo.no_offload);
	assert_false(c.to.vnet_hdr);
	assert_true(c.lo.no_busy_poll);
	assert_false(c.to.excl);
	assert_true(c.no_seccomp);
	/* options after the name, as getopt_long permutes */
	assert_int_equal(PARSE(&c, "wg1", "-w", "1"), WG_CLI_RUN);
	assert_int_equal(c.workers, 1);
	assert_false(c.to.multi_queue);
}

static void test_workers_range(void **state)
{
	struct wg_cli_config c;
	char over[16];

	snprintf(over, sizeof(over), "%d", TUN_MAX_QUEUES + 1);
	assert_int_equal(PARSE(&c, "--workers", "0", "wg0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--workers", over, "wg0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--workers", "2x", "wg0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--workers", "", "wg0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "-w", "-1", "wg0"), CLI_EXIT_USAGE);
}

static void test_transport(void **state)
{
	struct wg_cli_config c;

	assert_int_equal(PARSE(&c, "--transport", "tcp", "wg0"), WG_CLI_RUN);
	assert_int_equal(c.lo.transport, LOOP_XPORT_TCP);
	assert_int_equal(c.workers, 1);
	assert_false(c.to.multi_queue);
	assert_int_equal(PARSE(&c, "--transport", "udp", "wg0"), WG_CLI_RUN);
	assert_int_equal(c.lo.transport, LOOP_XPORT_UDP);
	assert_int_equal(PARSE(&c, "--transport", "sctp", "wg0"), CLI_EXIT_USAGE);
	/* TCP runs one worker: asking for more is refused, one is fine */
	assert_int_equal(PARSE(&c, "--transport", "tcp", "-w", "2", "wg0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--transport", "tcp", "-w", "1", "wg0"), WG_CLI_RUN);
}

static void test_mode(void **state)
{
	struct wg_cli_config c;

	assert_int_equal(PARSE(&c, "--mode", "tap", "wg0"), WG_CLI_RUN);
	assert_int_equal(c.to.mode, TUN_MODE_TAP);
	assert_true(c.to.vnet_hdr);	/* the tap's offloads, as a tun's */
	assert_int_equal(PARSE(&c, "--mode", "tap", "--no-offload", "wg0"), WG_CLI_RUN);
	assert_false(c.to.vnet_hdr);
	assert_int_equal(PARSE(&c, "--mode", "tun", "wg0"), WG_CLI_RUN);
	assert_int_equal(c.to.mode, TUN_MODE_TUN);
	assert_int_equal(PARSE(&c, "--mode", "ethernet", "wg0"), CLI_EXIT_USAGE);
	/* a launcher's tun cannot be a tap */
	setenv("WG_TUN_FD", "3", 1);
	assert_int_equal(PARSE(&c, "--mode", "tap", "wg0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "wg0"), WG_CLI_RUN);
}

static void test_env(void **state)
{
	struct wg_cli_config c;

	setenv("CULVERT_WG_TRANSPORT", "tcp", 1);
	setenv("CULVERT_WG_MODE", "tap", 1);
	setenv("CULVERT_WG_NO_SECCOMP", "1", 1);
	assert_int_equal(PARSE(&c, "wg0"), WG_CLI_RUN);
	assert_int_equal(c.lo.transport, LOOP_XPORT_TCP);
	assert_int_equal(c.workers, 1);
	assert_int_equal(c.to.mode, TUN_MODE_TAP);
	assert_true(c.no_seccomp);
	/* the options win over the environment */
	assert_int_equal(PARSE(&c, "--transport", "udp", "--mode", "tun", "wg0"), WG_CLI_RUN);
	assert_int_equal(c.lo.transport, LOOP_XPORT_UDP);
	assert_int_equal(c.to.mode, TUN_MODE_TUN);
	/* an empty variable is unset; "0" is off */
	setenv("CULVERT_WG_TRANSPORT", "", 1);
	setenv("CULVERT_WG_NO_SECCOMP", "0", 1);
	assert_int_equal(PARSE(&c, "wg0"), WG_CLI_RUN);
	assert_int_equal(c.lo.transport, LOOP_XPORT_UDP);
	assert_false(c.no_seccomp);
	/* a bad value is a usage error even though no option was given */
	setenv("CULVERT_WG_TRANSPORT", "quic", 1);
	assert_int_equal(PARSE(&c, "wg0"), CLI_EXIT_USAGE);
	/* ... but not when the option overrides it */
	assert_int_equal(PARSE(&c, "--transport", "udp", "wg0"), WG_CLI_RUN);
	setenv("CULVERT_WG_MODE", "bridge", 1);
	assert_int_equal(PARSE(&c, "--transport", "udp", "wg0"), CLI_EXIT_USAGE);
	/* --workers beyond one meets the environment's TCP too */
	setenv("CULVERT_WG_TRANSPORT", "tcp", 1);
	unsetenv("CULVERT_WG_MODE");
	assert_int_equal(PARSE(&c, "-w", "2", "wg0"), CLI_EXIT_USAGE);
}

static void test_user(void **state)
{
	struct wg_cli_config c;

	assert_int_equal(PARSE(&c, "--group", "0", "wg0"), CLI_EXIT_USAGE);	/* without --user */
	assert_int_equal(PARSE(&c, "--user", "0", "wg0"), CLI_EXIT_USAGE);	/* root */
	assert_int_equal(PARSE(&c, "--user", "no-such-user-culvert", "wg0"), CLI_EXIT_USAGE);
	setenv("CULVERT_WG_USER", "0", 1);
	assert_int_equal(PARSE(&c, "wg0"), CLI_EXIT_USAGE);
}

static void test_ifname(void **state)
{
	struct wg_cli_config c;

	assert_int_equal(PARSE(&c, "a/b"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "wg%d"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, ""), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, ".."), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "wg:0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "wg 0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "0123456789abcdef"), CLI_EXIT_USAGE);	/* 16: one too many */
	assert_int_equal(PARSE(&c, "0123456789abcde"), WG_CLI_RUN);
	wg_cli_config_free(&c);
}

static void test_arity(void **state)
{
	struct wg_cli_config c;

	assert_int_equal(parse_argv(&c, (const char *[]){ "culvert-wg", NULL }), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "wg0", "wg1"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--no-such-option", "wg0"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--workers"), CLI_EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--help"), CLI_EXIT_OK);
	assert_int_equal(PARSE(&c, "-V"), CLI_EXIT_OK);
}

static void test_config(void **state)
{
	struct wg_cli_config c;
	char dir[] = "/tmp/test_wg_args.XXXXXX", file[64], cwd[4096];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/wg0.conf", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	/* relative on the command line, absolute in the struct: the daemon chdirs to / */
	assert_int_equal(PARSE(&c, "--config", "wg0.conf", "--config", "./wg0.conf", "wg0"), WG_CLI_RUN);
	assert_string_equal(c.reload_path, file);
	assert_true(c.monitor);		/* the filtered data path cannot exec syncconf */
	wg_cli_config_free(&c);
	assert_null(c.reload_path);
	assert_int_equal(PARSE(&c, "--config", "wg0.conf", "--no-seccomp", "wg0"), WG_CLI_RUN);
	assert_false(c.monitor);
	wg_cli_config_free(&c);
	assert_int_equal(PARSE(&c, "--config", "missing.conf", "wg0"), CLI_EXIT_USAGE);
	/* an error after --config frees the path (ASan's leak check sees it otherwise) */
	assert_int_equal(PARSE(&c, "--config", "wg0.conf", "a/b"), CLI_EXIT_USAGE);
	assert_int_equal(chdir(cwd), 0);
	unlink(file);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clear_env),
		cmocka_unit_test_setup(test_flags, clear_env),
		cmocka_unit_test_setup(test_workers_range, clear_env),
		cmocka_unit_test_setup(test_transport, clear_env),
		cmocka_unit_test_setup(test_mode, clear_env),
		cmocka_unit_test_setup(test_env, clear_env),
		cmocka_unit_test_setup(test_user, clear_env),
		cmocka_unit_test_setup(test_ifname, clear_env),
		cmocka_unit_test_setup(test_arity, clear_env),
		cmocka_unit_test_setup(test_config, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
