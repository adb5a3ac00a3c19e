/* culvert: one binary, subcommands in a table. Invoked as culvert-wg it is `culvert wg`,
 * so wg-quick can use it as WG_QUICK_USERSPACE_IMPLEMENTATION. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "lib/tun.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "dev",       cmd_dev,       "create, delete and list tun/tap devices" },
	{ "dump",      cmd_dump,      "read packets from a device, decode them, write pcap" },
	{ "respond",   cmd_respond,   "answer ping, ARP and neighbour discovery on a device" },
	{ "simpletun", cmd_simpletun, "the tutorial's plaintext tunnel over TCP or UDP" },
	{ "wg",        cmd_wg,        "run an encrypted WireGuard interface (like wireguard-go)" },
	{ "up",        cmd_up,        "bring up an interface from a wg-quick config file" },
	{ "down",      cmd_down,      "take down an interface brought up with `culvert up`" },
	{ "strip",     cmd_strip,     "print a wg-quick config without its wg-quick keys (for wg setconf)" },
	{ "syncconf",  cmd_syncconf,  "apply a wg-quick config's keys and peers to a running interface, sessions kept" },
	{ "reresolve", cmd_reresolve, "re-resolve endpoint names of peers whose handshakes stopped" },
	{ "show",      cmd_show,      "show interfaces, peers, transfer and drop counters" },
	{ "genkey",    cmd_genkey,    "print a new private key (base64)" },
	{ "pubkey",    cmd_pubkey,    "read a private key on stdin, print its public key" },
	{ "genpsk",    cmd_genpsk,    "print a new preshared key (base64)" },
};

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

static void usage(FILE *f)
{
	fprintf(f, "Usage: culvert COMMAND [ARGS...]\n       culvert COMMAND --help\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].fn)
			fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nSee culvert(8).\n");
}

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/');

	self = self ? self + 1 : argv[0];
	log_init_env();
	if (!strcmp(self, "culvert-wg") && cmd_wg)
		return cmd_wg(argc, argv);

	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("culvert %s\n", CULVERT_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name) && commands[i].fn)
			return commands[i].fn(argc - 1, argv + 1);

	fprintf(stderr, "culvert: unknown command '%s'; run 'culvert --help' for the list\n", argv[1]);
	return CLI_EXIT_USAGE;
}
