/* culvert: one binary, subcommands in a table. Invoked as culvert-wg it is `culvert wg`,
 * so wg-quick can use it as WG_QUICK_USERSPACE_IMPLEMENTATION. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/log.h"

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
