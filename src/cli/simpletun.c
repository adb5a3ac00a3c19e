/* culvert simpletun: the tutorial's tunnel, same flags and bytes on the wire, done robustly. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>

#include "cli/cli_util.h"
#include "engine/st.h"
#include "lib/ifname.h"
#include "lib/log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: culvert simpletun -i IFACE [-s | -c SERVER] [-p PORT] [-u | -a] [-d]\n"
		"                         [--udp | --icmp] [-4 | -6] [-b ADDR] [--no-offload] [--no-busy-poll]\n"
		"                         [--user USER [--group GROUP]]\n"
		"\n"
		"Relay packets between a tun/tap device and a peer, like the tutorial's simpletun\n"
		"(interoperates with it over TCP). Traffic is NOT encrypted.\n"
		"\n"
		"  -i IFACE     device to use; created (and removed at exit) if it does not exist\n"
		"  -s           server: wait for a client (a new client replaces the current one)\n"
		"  -c SERVER    client: connect to SERVER (name, IPv4 or IPv6 address); reconnects\n"
		"  -p PORT      TCP or UDP port (default %d)\n"
		"  -u | -a      tun device (default) or tap device\n"
		"  -d           debug: one line per packet\n"
		"  --udp        one packet per UDP datagram instead of length-prefixed TCP\n"
		"  --icmp       one packet per ICMP echo, for networks that pass only ping (culvert\n"
		"               peers only): the client sends echo requests (polling while idle),\n"
		"               the server answers with echo replies and turns the kernel's own\n"
		"               echo replies off until it exits (it answers ordinary pings itself).\n"
		"               Needs CAP_NET_RAW (the server: root). No ports: -p and -b are refused\n"
		"               (the server takes the echoes of every address)\n"
		"  -4 | -6      IPv4 or IPv6 only (default: server listens on [::] for both; with\n"
		"               --icmp, on both families' raw sockets)\n"
		"  -b, --bind ADDR  server: listen on ADDR only\n"
		"  --no-offload one packet per device read and write, no UDP GSO/GRO (default: a tun\n"
		"               device reads up to 64 KB of TCP at once and culvert splits it; frames\n"
		"               and datagrams on the wire are always single packets of at most the MTU)\n"
		"  --no-busy-poll sleep as soon as a batch is done (default: poll for 50 us after\n"
		"               traffic, which lowers the latency of an idle tunnel)\n"
		"  --user USER  once the device and socket are open, run as USER (name or uid)\n"
		"               with no capabilities at all. Use an account of its own (adduser\n"
		"               --system --no-create-home culvert): any process of a shared one\n"
		"               such as nobody can signal (stop) simpletun and take its port.\n"
		"               Root (uid 0) is refused\n"
		"  --group GROUP  the group to run as (default: USER's primary group)\n"
		"\nSee culvert-simpletun(8).\n", ST_DEFAULT_PORT);
}

static int conflict(const char *a, const char *b)
{
	fprintf(stderr, "culvert simpletun: %s and %s exclude each other: give only one; run 'culvert simpletun --help'\n", a, b);
	return CLI_EXIT_USAGE;
}

/* A name that cannot exist fails now, before a device is made; a resolver that is only
 * unreachable for the moment (EAI_AGAIN) is left to the client's retries. */
static bool name_resolves(const struct st_config *cfg)
{
	const char *host = cfg->server ? cfg->bind : cfg->host;
	struct addrinfo hints = { .ai_family = cfg->family,
				  .ai_socktype = cfg->udp || cfg->icmp ? SOCK_DGRAM : SOCK_STREAM };
	struct addrinfo *ai;
	int r;

	if (!host)
		return true;
	if (cfg->server)
		hints.ai_flags = AI_PASSIVE;
	r = getaddrinfo(host, cfg->port, &hints, &ai);
	if (!r) {
		freeaddrinfo(ai);
		return true;
	}
	if (r == EAI_AGAIN && !cfg->server)
		return true;
	fprintf(stderr, "culvert simpletun: cannot resolve %s '%s': %s; check the %s\n",
		cfg->server ? "the -b address" : "the server", host, gai_strerror(r),
		cfg->server ? "address" : "name");
	return false;
}

int cmd_simpletun(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "udp", no_argument, NULL, 'U' },
		{ "icmp", no_argument, NULL, 'I' },
		{ "bind", required_argument, NULL, 'b' },
		{ "no-offload", no_argument, NULL, 'O' },
		{ "no-busy-poll", no_argument, NULL, 'P' },
		{ "user", required_argument, NULL, 'X' },
		{ "group", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct st_config cfg = { .port = "55555", .family = AF_UNSPEC };
	int mode = -1, dev = -1, opt;
	bool port_given = false;
	struct cli_runas ra = { 0 };
	uint64_t port;

	if (cli_wants_help(argc, argv)) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":i:sc:p:uadb:46h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i': cfg.ifname = optarg; break;
		case 's':
		case 'c':
			if (mode >= 0 && mode != (opt == 's'))
				return conflict("-s", "-c SERVER");
			mode = opt == 's';
			if (opt == 'c')
				cfg.host = optarg;
			break;
		case 'p': cfg.port = optarg; port_given = true; break;
		case 'u':
		case 'a':
			if (dev >= 0 && dev != (opt == 'a'))
				return conflict("-u", "-a");
			dev = opt == 'a';
			cfg.tap = dev;
			break;
		case 'd': cfg.debug = true; break;
		case 'b': cfg.bind = optarg; break;
		case '4':
		case '6':
			if (cfg.family != AF_UNSPEC && cfg.family != (opt == '4' ? AF_INET : AF_INET6))
				return conflict("-4", "-6");
			cfg.family = opt == '4' ? AF_INET : AF_INET6;
			break;
		case 'U': cfg.udp = true; break;
		case 'I': cfg.icmp = true; break;
		case 'O': cfg.no_offload = true; break;
		case 'P': cfg.no_busy_poll = true; break;
		case 'X':
			if (!cli_runas_user(&ra, optarg))
				return CLI_EXIT_USAGE;
			break;
		case 'G':
			if (!cli_runas_group(&ra, optarg))
				return CLI_EXIT_USAGE;
			break;
		case 'h': usage(stdout); return CLI_EXIT_OK;
		default:	/* ':' or '?' */
			cli_option_error("simpletun", opt, argv);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "culvert simpletun: unexpected argument '%s'; see --help\n", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (!ifname_valid(cfg.ifname)) {
		fprintf(stderr, "culvert simpletun: give the device with -i IFACE (" IFNAME_RULE ")\n");
		return CLI_EXIT_USAGE;
	}
	if (mode < 0) {
		fprintf(stderr, "culvert simpletun: choose server (-s) or client (-c SERVER) mode\n");
		return CLI_EXIT_USAGE;
	}
	if (!cli_runas_finish(&ra, "simpletun"))
		return CLI_EXIT_USAGE;
	cfg.drop = ra.user;
	cfg.uid = ra.uid;
	cfg.gid = ra.gid;
	cfg.server = mode == 1;
	if (cfg.icmp && cfg.udp)
		return conflict("--udp", "--icmp");
	if (cfg.icmp && (port_given || cfg.bind)) {
		fprintf(stderr, "culvert simpletun: --icmp has no ports and takes every address's echoes: "
			"leave out %s\n", port_given ? "-p" : "-b");
		return CLI_EXIT_USAGE;
	}
	if (cfg.bind && !cfg.server) {
		fprintf(stderr, "culvert simpletun: -b is for the server (-s)\n");
		return CLI_EXIT_USAGE;
	}
	if (!cli_uint(cfg.port, 1, 65535, &port)) {
		fprintf(stderr, "culvert simpletun: bad port '%s' (1-65535)\n", cfg.port);
		return CLI_EXIT_USAGE;
	}
	log_set_prefix("culvert simpletun");
	if (cfg.debug)
		log_set_level(LOG_LVL_DEBUG);
	if (!name_resolves(&cfg))
		return CLI_EXIT_FAIL;
	return st_loop_run(&cfg) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
