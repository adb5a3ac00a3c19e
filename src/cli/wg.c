/* culvert wg (also run as culvert-wg): a WireGuard interface in userspace, managed by `wg`
 * through /var/run/wireguard/IFACE.sock, exactly as wireguard-go is. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <linux/capability.h>

#include "cli/cli.h"
#include "cli/up.h"
#include "cli/wg_env.h"
#include "engine/loop.h"
#include "lib/log.h"
#include "lib/netlink.h"
#include "lib/notify.h"
#include "lib/priv.h"
#include "lib/sandbox.h"
#include "lib/tun.h"
#include "wg/device.h"
#include "wg/uapi.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: culvert wg [-f|--foreground] [-d|--debug] [--workers N] [--no-offload]\n"
		"                  [--no-busy-poll] [--transport udp|tcp] [--mode tun|tap] [--attach]\n"
		"                  [--user USER [--group GROUP]] [--no-seccomp] IFACE\n"
		"       culvert-wg [-f] [-d] [--workers N] [--no-offload] [--no-busy-poll]\n"
		"                  [--transport udp|tcp] [--mode tun|tap] [--attach]\n"
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
		"  --mode tap        a tap device (Ethernet frames, MTU %d) joined to the peers\n"
		"                    by a learning switch, for bridging LANs; culvert peers\n"
		"                    only, both ends need it; no vnet offloads on the tap\n"
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
		WG_DEFAULT_MTU, UAPI_SOCKET_DIR, TUN_MAX_QUEUES, WG_DEFAULT_MTU - WG_TAP_MTU_OVERHEAD);
}

/* The kernel drops what a tun queue cannot hold while the workers are busy elsewhere (a
 * small machine, bursts of UDP): a longer queue than the default 500 absorbs that. */
static void set_txqueuelen(const char *name, int len)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_qlen = len;
	if (ioctl(fd, SIOCSIFTXQLEN, &ifr) < 0)
		log_debug("cannot set the queue length of %s: %s", name, strerror(errno));
	close(fd);
}

static bool parse_transport(const char *s, const char *what, enum loop_transport *t)
{
	if (!loop_transport_parse(s, t)) {
		fprintf(stderr, "culvert wg: %s '%s' is not udp or tcp\n", what, s);
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

/* Detaches; the parent exits 0 only now, when `wg` can already talk to the socket. */
static int daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(CLI_EXIT_OK);
	if (setsid() < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	log_use_syslog(true);
	return 0;
}

int cmd_wg(int argc, char **argv)
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
	bool foreground = false, debug = false, workers_given = false, transport_given = false, mode_given = false;
	bool no_seccomp = false;
	struct cli_runas ra = { 0 };
	struct tun_opts to = { .mode = TUN_MODE_TUN, .nonblock = true, .vnet_hdr = true, .excl = true };
	struct wg_loop_opts lo = { 0 };
	char *reload_path = NULL;	/* lives as long as the daemon */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int workers = cpus < 1 ? 1 : cpus > TUN_MAX_QUEUES ? TUN_MAX_QUEUES : (unsigned int)cpus;
	int tun_fds[TUN_MAX_QUEUES];
	char *end;
	long v;
	char name[IFNAMSIZ], why[256], prefix[IFNAMSIZ + 16];
	struct wg_device dev;
	struct wg_loop *loop;
	int c, uapi_fd, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fdw:u:g:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'f': foreground = true; break;
		case 'd': debug = true; break;
		case 'w':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > TUN_MAX_QUEUES) {
				fprintf(stderr, "culvert wg: --workers '%s' is not a number from 1 to %d\n",
					optarg, TUN_MAX_QUEUES);
				return CLI_EXIT_USAGE;
			}
			workers = (unsigned int)v;
			workers_given = true;
			break;
		case 'T':
			if (!parse_transport(optarg, "--transport", &lo.transport))
				return CLI_EXIT_USAGE;
			transport_given = true;
			break;
		case 'M':
			if (!parse_mode(optarg, "--mode", &to.mode))
				return CLI_EXIT_USAGE;
			mode_given = true;
			break;
		case 'O': lo.no_offload = true; break;
		case 'A': to.excl = false; break;
		case 'P': lo.no_busy_poll = true; break;
		case 'S': no_seccomp = true; break;
		case 'u':
			if (!cli_runas_user(&ra, optarg))
				return CLI_EXIT_USAGE;
			break;
		case 'g':
			if (!cli_runas_group(&ra, optarg))
				return CLI_EXIT_USAGE;
			break;
		case 'C':
			/* The daemon chdirs to / when it detaches: keep the path absolute. */
			reload_path = realpath(optarg, NULL);
			if (!reload_path) {
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
	/* wg-quick (and culvert up) start the daemon with the interface name only: the
	 * environment is how a user reaches --transport and --user through them. */
	const char *env_transport = getenv("CULVERT_WG_TRANSPORT");
	if (!transport_given && env_transport && *env_transport &&
	    !parse_transport(env_transport, "CULVERT_WG_TRANSPORT", &lo.transport))
		return CLI_EXIT_USAGE;
	const char *env_mode = getenv("CULVERT_WG_MODE");
	if (!mode_given && env_mode && *env_mode && !parse_mode(env_mode, "CULVERT_WG_MODE", &to.mode))
		return CLI_EXIT_USAGE;
	const char *env_user = getenv("CULVERT_WG_USER");
	if (!ra.user && env_user && *env_user && !cli_runas_user(&ra, env_user))
		return CLI_EXIT_USAGE;
	const char *env_nosc = getenv("CULVERT_WG_NO_SECCOMP");
	if (env_nosc && *env_nosc && strcmp(env_nosc, "0"))
		no_seccomp = true;
	bool one_worker = loop_transport_one_worker(lo.transport);
	const char *tname = loop_transport_name(lo.transport);
	char tup[8];	/* "UDP", "TCP": for the log and status lines */
	snprintf(tup, sizeof(tup), "%s", tname);
	for (char *p = tup; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (one_worker && workers_given && workers > 1) {
		fprintf(stderr, "culvert wg: --transport %s runs one worker: drop --workers %u\n", tname, workers);
		return CLI_EXIT_USAGE;
	}
	if (one_worker)
		workers = 1;
	if (!cli_runas_finish(&ra, "wg"))
		return CLI_EXIT_USAGE;
	/* The data path under its seccomp filter can neither fork nor exec `culvert syncconf`:
	 * with --config a root monitor runs beside it, as with --user, and does that on SIGHUP. */
	bool monitor = ra.user || (reload_path && !no_seccomp);
	if (reload_path) {
		/* With --user only the root monitor can read the file: the child hands it SIGHUP. */
		lo.on_hup = monitor ? up_sync_to_parent : up_sync_spawn;
		lo.hup_arg = reload_path;
		priv_monitor_on_hup(up_sync_spawn, reload_path);
	}
	const char *ifname = argv[optind];
	if (!*ifname || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/') || strchr(ifname, '%')) {
		fprintf(stderr, "culvert wg: '%s' is not a usable interface name (1-%d characters, no '/' or '%%')\n",
			ifname, IFNAMSIZ - 1);
		return CLI_EXIT_USAGE;
	}
	notify_init();
	snprintf(prefix, sizeof(prefix), "culvert-wg %s", ifname);
	log_set_prefix(prefix);
	if (debug)
		log_set_level(LOG_LVL_DEBUG);

	/* One worker keeps the plain single-queue device of before. */
	to.multi_queue = workers > 1;
	to.queues = workers;
	bool tap = to.mode == TUN_MODE_TAP;
	/* Tap mode starts without vnet headers: the engine then reads and writes plain frames
	 * (UDP GSO/GRO stay on). */
	to.vnet_hdr = !lo.no_offload && !tap;
	/* A launcher's open tun (wireguard-go's WG_TUN_FD): one queue, its name, its flags. */
	bool vnet = to.vnet_hdr;
	if (tap && getenv("WG_TUN_FD") && *getenv("WG_TUN_FD")) {
		fprintf(stderr, "culvert wg: WG_TUN_FD hands over a tun device; unset it for --mode tap\n");
		return CLI_EXIT_USAGE;
	}
	r = wg_env_tun(name, tun_fds, &vnet);
	if (r > 0) {
		workers = 1;
		lo.no_offload = !vnet;
	} else if (r < 0) {
		return CLI_EXIT_FAIL;
	} else {
		r = tun_open(ifname, &to, name, tun_fds);
	}
	if (r == -EEXIST) {
		/* A device someone else made (a persistent multi-queue one, say) may have other
		 * queues attached, or get them later: they would see and inject plaintext. */
		fprintf(stderr, "culvert wg: %s: a device of that name exists (created by someone else); "
			"delete it or pass --attach\n", ifname);
		return CLI_EXIT_FAIL;
	}
	if (r < 0) {
		fprintf(stderr, "culvert wg: %s\n", tun_explain(-r, ifname, &to, why, sizeof(why)));
		return CLI_EXIT_FAIL;
	}
	/* A frame's Ethernet header and tags ride in the same datagram as a tun's packet. */
	int mtu = tap ? WG_DEFAULT_MTU - WG_TAP_MTU_OVERHEAD : WG_DEFAULT_MTU;
	r = nl_link_set_mtu(name, mtu);
	if (r < 0)
		log_warn("cannot set the MTU of %s to %d: %s", name, mtu, strerror(-r));
	set_txqueuelen(name, 2000);

	/* A launcher's listening control socket (wireguard-go's WG_UAPI_FD). */
	uapi_fd = wg_env_uapi();
	if (uapi_fd < 0 && uapi_fd != -ENOENT) {
		for (unsigned int i = 0; i < workers; i++)
			close(tun_fds[i]);
		return CLI_EXIT_FAIL;
	}
	if (uapi_fd == -ENOENT)
		uapi_fd = uapi_listen(NULL, name);
	if (uapi_fd < 0) {
		if (uapi_fd == -EADDRINUSE)
			fprintf(stderr, "culvert wg: %s/%s.sock is served by another running process; stop it first\n",
				UAPI_SOCKET_DIR, name);
		else if (uapi_fd == -EPERM && uapi_dir_check(NULL, why, sizeof(why)) == -EPERM)
			fprintf(stderr, "culvert wg: %s\n", why);
		else
			fprintf(stderr, "culvert wg: cannot create the control socket %s/%s.sock: %s (need root?)\n",
				UAPI_SOCKET_DIR, name, strerror(-uapi_fd));
		for (unsigned int i = 0; i < workers; i++)
			close(tun_fds[i]);
		return CLI_EXIT_FAIL;
	}

	if (!foreground && !wg_env_foreground() && (r = daemonize()) < 0) {
		fprintf(stderr, "culvert wg: cannot detach: %s\n", strerror(-r));
		uapi_unlink(NULL, name);
		return CLI_EXIT_FAIL;
	}

	pid_t monitor_pid = getpid();
	if (monitor) {
		int status;

		r = priv_monitor_relay(&status, notify_relay_open(), notify_relay_forward);
		if (r < 0) {
			log_err("cannot fork the monitor process: %s", strerror(-r));
			uapi_unlink(NULL, name);
			return CLI_EXIT_FAIL;
		}
		if (r > 0) {	/* the monitor: the child has ended */
			uapi_unlink(NULL, name);
			return status;
		}
		notify_relay_child();
	}

	r = wg_device_init(&dev, name, NULL);
	if (r == 0 && tap) {
		r = wg_device_set_tap(&dev, NULL);
		if (r < 0)
			wg_device_uninit(&dev);
	}
	if (r < 0) {
		log_err("out of memory");
		uapi_unlink(NULL, name);
		return CLI_EXIT_FAIL;
	}
	r = wg_loop_new(&loop, &dev, tun_fds, workers, uapi_fd, &lo);
	if (r < 0) {
		log_err("cannot start the event loop: %s", strerror(-r));
		uapi_unlink(NULL, name);
		wg_device_uninit(&dev);
		return CLI_EXIT_FAIL;
	}
	if (ra.user) {
		/* fwmark (SO_MARK) needs CAP_NET_ADMIN, a listen-port below 1024 the other. */
		static const int keep[] = { CAP_NET_ADMIN, CAP_NET_BIND_SERVICE };

		r = priv_drop(ra.uid, ra.gid, keep, sizeof(keep) / sizeof(keep[0]));
		if (r < 0) {
			log_err("cannot drop to uid %u gid %u: %s", (unsigned int)ra.uid, (unsigned int)ra.gid,
				strerror(-r));
			wg_loop_free(loop);
			wg_device_uninit(&dev);
			return CLI_EXIT_FAIL;
		}
		log_info("running as uid %u gid %u with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only",
			 (unsigned int)ra.uid, (unsigned int)ra.gid);
	}
	/* Bound after the drop: SO_REUSEPORT joins only sockets of one uid, and every later
	 * rebind (wg set listen-port or fwmark, the TCP transport's dialling sockets) opens its
	 * sockets beside these as the user the daemon runs as. */
	r = wg_loop_bind(loop);
	if (r < 0)
		log_warn("cannot open a %s socket: %s", tup, strerror(-r));
	log_info("interface %s (%s) up, control socket %s/%s.sock, %s port %u, %u worker%s", name,
		 tun_mode_name(to.mode), UAPI_SOCKET_DIR, name, tup, dev.listen_port,
		 workers, workers == 1 ? "" : "s");
	/* kill -9 of the monitor (the main PID) ends the data path too, as it ends a daemon
	 * without one. Set after the drop, which clears it. */
	if (monitor && (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != monitor_pid)) {
		log_err("the monitor process has ended; stopping");
		wg_loop_free(loop);
		wg_device_uninit(&dev);
		return CLI_EXIT_FAIL;
	}
	/* Last, before the worker threads start and anything arrives from the network: from
	 * here on only the calls of the data path, control socket and shutdown are allowed. */
	if (!no_seccomp && (r = sandbox_apply(prefix, !foreground)) < 0) {
		log_err("cannot install the seccomp filter: %s; run with --no-seccomp "
			"(CULVERT_WG_NO_SECCOMP=1) on a kernel without it", strerror(-r));
		uapi_unlink(NULL, name);
		wg_loop_free(loop);
		wg_device_uninit(&dev);
		return CLI_EXIT_FAIL;
	}
	log_debug("seccomp filter %s", no_seccomp ? "off (--no-seccomp)" : "on");
	notify_sendf("READY=1\nSTATUS=%s up, %s port %u, %u worker%s", name, tup,
		     dev.listen_port, workers, workers == 1 ? "" : "s");

	r = wg_loop_run(loop);
	notify_sendf("STOPPING=1\nSTATUS=%s stopping", name);
	uapi_unlink(NULL, name);
	wg_loop_free(loop);	/* closing the tun fd removes the device */
	wg_device_uninit(&dev);
	log_info("interface %s removed", name);
	return r < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
