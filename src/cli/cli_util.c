/* What every subcommand parses the same way: help, option errors, --user and --group. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "lib/priv.h"
#include "lib/tun.h"

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
