/* What the subcommands share: help, option errors, numbers, --user and --group, and running a
 * process detached. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cli/cli_util.h"
#include "lib/priv.h"
#include "lib/tun.h"
#include "wg/config.h"

int cli_wants_help(int argc, char **argv)
{
	return argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
}

void cli_option_error(const char *cmd, int c, char **argv)
{
	if (c == ':')
		fprintf(stderr, "culvert %s: %s needs a value; run 'culvert %s --help'\n", cmd, argv[optind - 1], cmd);
	else if (optopt)
		fprintf(stderr, "culvert %s: unknown option '-%c'; run 'culvert %s --help'\n", cmd, optopt, cmd);
	else
		fprintf(stderr, "culvert %s: unknown option '%s'; run 'culvert %s --help'\n", cmd, argv[optind - 1], cmd);
}

bool cli_runas_user(struct cli_runas *ra, const char *s)
{
	ra->user = tun_parse_user(s, &ra->uid);
	ra->name = s;
	return ra->user;
}

bool cli_runas_group(struct cli_runas *ra, const char *s)
{
	ra->group = tun_parse_group(s, &ra->gid);
	return ra->group;
}

bool cli_runas_finish(struct cli_runas *ra, const char *cmd)
{
	if (ra->group && !ra->user) {
		fprintf(stderr, "culvert %s: --group needs --user: give the user to run as too\n", cmd);
		return false;
	}
	if (!ra->user)
		return true;
	if (ra->uid == 0) {
		fprintf(stderr, "culvert %s: user '%s' is uid 0, which would keep root: run as a dedicated system "
			"account instead (adduser --system --no-create-home culvert)\n", cmd, ra->name);
		return false;
	}
	if (!ra->group)
		ra->gid = priv_default_gid(ra->uid);
	/* Any process of the same uid can signal the daemon, and so take its port, or (culvert
	 * wg) bind the port beside it with SO_REUSEPORT and take flows: the account must be
	 * the daemon's alone. */
	pid_t example = 0;
	int n = priv_uid_processes(ra->uid, &example);
	if (n > 0)
		fprintf(stderr, "culvert %s: warning: user '%s' (uid %u) already runs %d other process%s (pid %d), "
			"which could stop this one or take its port: prefer an account of its own\n",
			cmd, ra->name, (unsigned int)ra->uid, n, n == 1 ? "" : "es", (int)example);
	return true;
}

bool cli_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (!s || !config_parse_uint(s, strlen(s), max, &v) || v < min)
		return false;
	*out = v;
	return true;
}

bool cli_number(const char *cmd, const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (cli_uint(s, min, max, out))
		return true;
	fprintf(stderr, "culvert %s: %s '%s' is not a number from %" PRIu64 " to %" PRIu64 "\n", cmd, what,
		s ? s : "", min, max);
	return false;
}

void cli_stdio_null(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

int cli_spawn_self(char *const argv[], bool own_session)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigset_t none;

		if (fork() != 0)
			_exit(0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (own_session)
			setsid();
		if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
			for (int fd = 3; fd < 1024; fd++)
				close(fd);
		if (own_session)
			cli_stdio_null();
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	while (waitpid(pid, NULL, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}
