/* culvert wg's options and environment variables, read into struct wg_cli_config. Nothing is
 * opened here, so every usage error comes before the device exists. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>

#include "cli/wg_args.h"
#include "lib/ifname.h"
#include "wg/device.h"
#include "wg/uapi.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: culvert wg [-f|--foreground] [-d|--debug] [--workers N] [--no-offload]\n"
		"                  [--no-busy-poll] [--transport udp|tcp|icmp] [--mode tun|tap] [--attach]\n"
		"                  [--user USER [--group GROUP]] [--no-seccomp] IFACE\n"
		"       culvert-wg [-f] [-d] [--workers N] [--no-offload] [--no-busy-poll]\n"
		"                  [--transport udp|tcp|icmp] [--mode tun|tap] [--attach]\n"
		"                  [--user USER [--group GROUP]] [--no-seccomp] IFACE\n"
		"\n"
		"Creates the tun device IFACE (MTU %d) and runs a WireGuard interface on it,\n"
		"configured with wg(8) through %s/IFACE.sock, like wireguard-go.\n"
		"Then use: wg setconf IFACE FILE; ip link set IFACE up; ip addr add ...\n"
		"Or: WG_QUICK_USERSPACE_IMPLEMENTATION=culvert-wg wg-quick up FILE\n"
		"\n"
		"  -f, --foreground  stay in the foreground and log to stderr\n"
		"                    (default: detach once the control socket is ready, log to syslog)\n"
		"  -d, --debug       log every handshake, keepalive and dropped packet\n"
		"  -w, --workers N   data-path threads, one tun queue and UDP socket each\n"
		"                    (1-%d; default: the number of online CPUs)\n"
		"  --no-offload      no tun TSO/checksum offload, no UDP GSO/GRO: one packet per\n"
		"                    syscall (what is active shows in `culvert show`)\n"
		"  --no-busy-poll    sleep as soon as a batch is done (default: poll for 50 us\n"
		"                    after traffic, which lowers the latency of an idle tunnel)\n"
		"  --transport tcp   carry WireGuard messages over TCP (length-prefixed) instead of\n"
		"                    UDP, for networks that pass no UDP; culvert peers only, both\n"
		"                    ends need it; one worker (default: udp, wire-compatible)\n"
		"  --transport icmp  carry them in ICMP echo payloads, for networks that pass only\n"
		"                    ping: every daemon listens (and turns the kernel's own echo\n"
		"                    replies off while it runs) and dials peers that have an\n"
		"                    endpoint; culvert peers only, root, one worker, MTU %d\n"
		"  --mode tap        a tap device (Ethernet frames, MTU %d) joined to the peers\n"
		"                    by a learning switch, for bridging LANs; culvert peers\n"
		"                    only, both ends need it; TSO on the tap as on a tun\n"
		"                    (default: tun, IP packets, wire-compatible)\n"
		"  -u, --user USER   once the device and control socket are open, run as USER\n"
		"                    (name or uid) with only CAP_NET_ADMIN (fwmark) and\n"
		"                    CAP_NET_BIND_SERVICE (ports below 1024); a root monitor\n"
		"                    process removes the control socket when it ends. Use an\n"
		"                    account of its own (adduser --system --no-create-home\n"
		"                    culvert): any process of a shared one such as nobody can\n"
		"                    signal the daemon or join its port with SO_REUSEPORT and\n"
		"                    take its traffic. Root (uid 0) is refused\n"
		"  -g, --group GROUP the group to run as (default: USER's primary group)\n"
		"  --attach          use the device IFACE if it exists already (default: refuse).\n"
		"                    Dangerous: whoever may open that device (its creator, its\n"
		"                    owner) can attach queues of their own and read and inject\n"
		"                    the tunnel's plaintext\n"
		"  --config FILE     on SIGHUP, run `culvert syncconf FILE` (culvert up passes it)\n"
		"  --no-seccomp      no system call filter (default: once set up, only the calls\n"
		"                    the daemon makes are allowed; any other ends it, with a log\n"
		"                    line naming the call: `culvert show` says seccomp: on)\n"
		"\n"
		"For wg-quick and culvert up, which pass nothing but IFACE, the environment\n"
		"variables CULVERT_WG_TRANSPORT=tcp, CULVERT_WG_MODE=tap, CULVERT_WG_USER=USER and\n"
		"CULVERT_WG_NO_SECCOMP=1 do as the options.\n"
		"As with wireguard-go, WG_TUN_FD (an open tun device, IFF_TUN | IFF_NO_PI; its name\n"
		"wins over IFACE; one worker), WG_UAPI_FD (a listening control socket) and\n"
		"WG_PROCESS_FOREGROUND=1 (do not detach) let a launcher hand over what it opened.\n"
		"\n"
		"SIGTERM or SIGINT removes the socket and the device; SIGHUP re-reads --config.\n"
		"See culvert-wg(8).\n",
		WG_DEFAULT_MTU, UAPI_SOCKET_DIR, TUN_MAX_QUEUES,
		WG_DEFAULT_MTU - (int)loop_transport_mtu_extra(LOOP_XPORT_ICMP), WG_DEFAULT_MTU - WG_TAP_MTU_OVERHEAD);
}

static bool parse_transport(const char *s, const char *what, enum loop_transport *t)
{
	if (!loop_transport_parse(s, t)) {
		fprintf(stderr, "culvert wg: %s '%s' is not udp, tcp or icmp\n", what, s);
		return false;
	}
	return true;
}

static bool parse_mode(const char *s, const char *what, enum tun_mode *mode)
{
	if (strcmp(s, "tun") && strcmp(s, "tap")) {
		fprintf(stderr, "culvert wg: %s '%s' is not tun or tap\n", what, s);
		return false;
	}
	*mode = !strcmp(s, "tap") ? TUN_MODE_TAP : TUN_MODE_TUN;
	return true;
}

void wg_cli_config_free(struct wg_cli_config *cfg)
{
	free(cfg->reload_path);
	cfg->reload_path = NULL;
}

/* wg-quick (and culvert up) start the daemon with the interface name only: the environment is
 * how a user reaches --transport, --mode, --user and --no-seccomp through them. */
static bool parse_env(struct wg_cli_config *cfg, bool transport_given, bool mode_given)
{
	const char *s;

	s = getenv("CULVERT_WG_TRANSPORT");
	if (!transport_given && s && *s && !parse_transport(s, "CULVERT_WG_TRANSPORT", &cfg->lo.transport))
		return false;
	s = getenv("CULVERT_WG_MODE");
	if (!mode_given && s && *s && !parse_mode(s, "CULVERT_WG_MODE", &cfg->to.mode))
		return false;
	s = getenv("CULVERT_WG_USER");
	if (!cfg->ra.user && s && *s && !cli_runas_user(&cfg->ra, s))
		return false;
	s = getenv("CULVERT_WG_NO_SECCOMP");
	if (s && *s && strcmp(s, "0"))
		cfg->no_seccomp = true;
	return true;
}

int wg_cli_parse(struct wg_cli_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "workers", required_argument, NULL, 'w' },
		{ "no-offload", no_argument, NULL, 'O' },
		{ "no-busy-poll", no_argument, NULL, 'P' },
		{ "transport", required_argument, NULL, 'T' },
		{ "mode", required_argument, NULL, 'M' },
		{ "user", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "attach", no_argument, NULL, 'A' },
		{ "config", required_argument, NULL, 'C' },
		{ "no-seccomp", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	bool workers_given = false, transport_given = false, mode_given = false;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	const char *ifname, *tun_fd;
	uint64_t v;
	int c;

	*cfg = (struct wg_cli_config){
		.to = { .mode = TUN_MODE_TUN, .nonblock = true, .vnet_hdr = true, .excl = true },
		.workers = cpus < 1 ? 1 : cpus > TUN_MAX_QUEUES ? TUN_MAX_QUEUES : (unsigned int)cpus,
	};
	optind = 1;
	while ((c = getopt_long(argc, argv, "fdw:u:g:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'f': cfg->foreground = true; break;
		case 'd': cfg->debug = true; break;
		case 'w':
			if (!cli_number("wg", "--workers", optarg, 1, TUN_MAX_QUEUES, &v))
				return CLI_EXIT_USAGE;
			cfg->workers = (unsigned int)v;
			workers_given = true;
			break;
		case 'T':
			if (!parse_transport(optarg, "--transport", &cfg->lo.transport))
				return CLI_EXIT_USAGE;
			transport_given = true;
			break;
		case 'M':
			if (!parse_mode(optarg, "--mode", &cfg->to.mode))
				return CLI_EXIT_USAGE;
			mode_given = true;
			break;
		case 'O': cfg->lo.no_offload = true; break;
		case 'A': cfg->to.excl = false; break;
		case 'P': cfg->lo.no_busy_poll = true; break;
		case 'S': cfg->no_seccomp = true; break;
		case 'u':
			if (!cli_runas_user(&cfg->ra, optarg))
				return CLI_EXIT_USAGE;
			break;
		case 'g':
			if (!cli_runas_group(&cfg->ra, optarg))
				return CLI_EXIT_USAGE;
			break;
		case 'C':
			/* The daemon chdirs to / when it detaches: keep the path absolute. */
			free(cfg->reload_path);
			cfg->reload_path = realpath(optarg, NULL);
			if (!cfg->reload_path) {
				fprintf(stderr, "culvert wg: --config %s: %s\n", optarg, strerror(errno));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return CLI_EXIT_OK;
		case 'V': printf("culvert-wg %s\n", CULVERT_VERSION); return CLI_EXIT_OK;
		default: usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!parse_env(cfg, transport_given, mode_given))
		return CLI_EXIT_USAGE;
	if (loop_transport_one_worker(cfg->lo.transport) && workers_given && cfg->workers > 1) {
		fprintf(stderr, "culvert wg: --transport %s runs one worker: drop --workers %u\n",
			loop_transport_name(cfg->lo.transport), cfg->workers);
		return CLI_EXIT_USAGE;
	}
	if (loop_transport_one_worker(cfg->lo.transport))
		cfg->workers = 1;
	if (!cli_runas_finish(&cfg->ra, "wg"))
		return CLI_EXIT_USAGE;
	/* The data path under its seccomp filter can neither fork nor exec `culvert syncconf`:
	 * with --config a root monitor runs beside it, as with --user, and does that on SIGHUP. */
	cfg->monitor = cfg->ra.user || (cfg->reload_path && !cfg->no_seccomp);
	ifname = argv[optind];
	/* a pattern ("wg%d") would let the kernel pick a name the control socket does not know */
	if (!ifname_valid(ifname) || strchr(ifname, '%')) {
		fprintf(stderr, "culvert wg: '%s' is not a usable interface name (" IFNAME_RULE ", no '%%')\n",
			ifname);
		return CLI_EXIT_USAGE;
	}
	cfg->ifname = ifname;
	tun_fd = getenv("WG_TUN_FD");
	if (cfg->to.mode == TUN_MODE_TAP && tun_fd && *tun_fd) {
		fprintf(stderr, "culvert wg: WG_TUN_FD hands over a tun device; unset it for --mode tap\n");
		return CLI_EXIT_USAGE;
	}
	/* One worker keeps the plain single-queue device of before. */
	cfg->to.multi_queue = cfg->workers > 1;
	cfg->to.queues = cfg->workers;
	/* A tap takes vnet headers as a tun does: the engine splits super-frames and merges
	 * written ones behind their Ethernet headers. */
	cfg->to.vnet_hdr = !cfg->lo.no_offload;
	return WG_CLI_RUN;
}
