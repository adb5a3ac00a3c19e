/* culvert wg (also run as culvert-wg): a WireGuard interface in userspace, managed by `wg`
 * through /var/run/wireguard/IFACE.sock, exactly as wireguard-go is. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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

#include "cli/cli_util.h"
#include "cli/up.h"
#include "cli/wg_args.h"
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

/* Detaches; the parent exits 0 only now, when `wg` can already talk to the socket. */
static int daemonize(void)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(CLI_EXIT_OK);
	if (setsid() < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	cli_stdio_null();
	log_use_syslog(true);
	return 0;
}

/* Everything the daemon opens, closed in reverse on the one way out of wg_run. */
struct wg_daemon {
	char name[IFNAMSIZ];
	char prefix[IFNAMSIZ + 16];
	int tun_fds[TUN_MAX_QUEUES];
	unsigned int n_tun;		/* tun_fds to close; 0 once the loop owns them */
	int uapi_fd;			/* -1 once the loop owns it */
	bool uapi_bound;		/* the socket file is ours to unlink */
	bool dev_init;
	struct wg_device dev;
	struct wg_loop *loop;
};

static int open_tun(struct wg_cli_config *cfg, struct wg_daemon *w)
{
	char why[256];
	bool vnet = cfg->to.vnet_hdr;
	/* A launcher's open tun (wireguard-go's WG_TUN_FD): one queue, its name, its flags. */
	int r = wg_env_tun(w->name, w->tun_fds, &vnet);

	if (r > 0) {
		cfg->workers = 1;
		cfg->lo.no_offload = !vnet;
	} else if (r < 0) {
		return r;
	} else {
		r = tun_open(cfg->ifname, &cfg->to, w->name, w->tun_fds);
	}
	if (r == -EEXIST) {
		/* A device someone else made (a persistent multi-queue one, say) may have other
		 * queues attached, or get them later: they would see and inject plaintext. */
		fprintf(stderr, "culvert wg: %s: a device of that name exists (created by someone else); "
			"delete it or pass --attach\n", cfg->ifname);
		return r;
	}
	if (r < 0) {
		fprintf(stderr, "culvert wg: %s\n", tun_explain(-r, cfg->ifname, &cfg->to, why, sizeof(why)));
		return r;
	}
	w->n_tun = cfg->workers;
	return 0;
}

static int open_uapi(struct wg_daemon *w)
{
	char why[256];
	/* A launcher's listening control socket (wireguard-go's WG_UAPI_FD). */
	int fd = wg_env_uapi();

	if (fd < 0 && fd != -ENOENT)
		return fd;
	if (fd == -ENOENT) {
		fd = uapi_listen(NULL, w->name);
		if (fd == -EADDRINUSE)
			fprintf(stderr, "culvert wg: %s/%s.sock is served by another running process; stop it first\n",
				UAPI_SOCKET_DIR, w->name);
		else if (fd == -EPERM && uapi_dir_check(NULL, why, sizeof(why)) == -EPERM)
			fprintf(stderr, "culvert wg: %s\n", why);
		else if (fd < 0)
			fprintf(stderr, "culvert wg: cannot create the control socket %s/%s.sock: %s (need root?)\n",
				UAPI_SOCKET_DIR, w->name, strerror(-fd));
		if (fd < 0)
			return fd;
	}
	w->uapi_fd = fd;
	w->uapi_bound = true;
	return 0;
}

static int start_loop(struct wg_cli_config *cfg, struct wg_daemon *w)
{
	int r = wg_device_init(&w->dev, w->name, NULL);

	if (r < 0) {
		log_err("out of memory");
		return r;
	}
	w->dev_init = true;
	if (cfg->to.mode == TUN_MODE_TAP && (r = wg_device_set_tap(&w->dev, NULL)) < 0) {
		log_err("out of memory");
		return r;
	}
	r = wg_loop_new(&w->loop, &w->dev, w->tun_fds, cfg->workers, w->uapi_fd, &cfg->lo);
	/* the loop owns the descriptors now, also on failure */
	w->n_tun = 0;
	w->uapi_fd = -1;
	if (r < 0)
		log_err("cannot start the event loop: %s", strerror(-r));
	return r;
}

static int drop_privileges(const struct cli_runas *ra)
{
	/* fwmark (SO_MARK) needs CAP_NET_ADMIN, a listen-port below 1024 the other. */
	static const int keep[] = { CAP_NET_ADMIN, CAP_NET_BIND_SERVICE };
	int r = priv_drop(ra->uid, ra->gid, keep, sizeof(keep) / sizeof(keep[0]));

	if (r < 0) {
		log_err("cannot drop to uid %u gid %u: %s", (unsigned int)ra->uid, (unsigned int)ra->gid,
			strerror(-r));
		return r;
	}
	log_info("running as uid %u gid %u with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only",
		 (unsigned int)ra->uid, (unsigned int)ra->gid);
	return 0;
}

static int wg_run(struct wg_cli_config *cfg)
{
	struct wg_daemon w = { .uapi_fd = -1 };
	bool tap = cfg->to.mode == TUN_MODE_TAP;
	char transport[8];	/* "UDP", "TCP": for the log and status lines */
	int exit_code = CLI_EXIT_FAIL, r;
	bool ran = false;
	pid_t monitor_pid;

	snprintf(transport, sizeof(transport), "%s", loop_transport_name(cfg->lo.transport));
	for (char *p = transport; *p; p++)
		*p = (char)toupper((unsigned char)*p);

	if (cfg->reload_path) {
		/* With --user only the root monitor can read the file: the child hands it SIGHUP. */
		cfg->lo.on_hup = cfg->monitor ? up_sync_to_parent : up_sync_spawn;
		cfg->lo.hup_arg = cfg->reload_path;
		priv_monitor_on_hup(up_sync_spawn, cfg->reload_path);
	}
	notify_init();
	snprintf(w.prefix, sizeof(w.prefix), "culvert-wg %s", cfg->ifname);
	log_set_prefix(w.prefix);
	if (cfg->debug)
		log_set_level(LOG_LVL_DEBUG);

	if (open_tun(cfg, &w) < 0)
		goto out;
	/* A frame's Ethernet header and tags ride in the same datagram as a tun's packet. */
	int mtu = tap ? WG_DEFAULT_MTU - WG_TAP_MTU_OVERHEAD : WG_DEFAULT_MTU;
	mtu -= (int)loop_transport_mtu_extra(cfg->lo.transport);	/* ICMP's longer header */
	r = nl_link_set_mtu(w.name, mtu);
	if (r < 0)
		log_warn("cannot set the MTU of %s to %d: %s", w.name, mtu, strerror(-r));
	set_txqueuelen(w.name, 2000);
	if (open_uapi(&w) < 0)
		goto out;

	if (!cfg->foreground && !wg_env_foreground() && (r = daemonize()) < 0) {
		fprintf(stderr, "culvert wg: cannot detach: %s\n", strerror(-r));
		goto out;
	}
	monitor_pid = getpid();
	if (cfg->monitor) {
		int status;

		r = priv_monitor_relay(&status, notify_relay_open(), notify_relay_forward);
		if (r < 0) {
			log_err("cannot fork the monitor process: %s", strerror(-r));
			goto out;
		}
		if (r > 0) {	/* the monitor: the child has ended */
			exit_code = status;
			goto out;
		}
		notify_relay_child();
	}
	if (start_loop(cfg, &w) < 0)
		goto out;
	if (cfg->ra.user && drop_privileges(&cfg->ra) < 0)
		goto out;
	/* From here on lines are logged with the device lock held: the log's own thread writes
	 * them, so no worker waits for the reader. Started after the drop, so that thread runs
	 * with the same credentials as the rest, and before the filter, which covers it too. */
	r = log_async_start(0);
	if (r < 0)
		log_warn("cannot start the log thread (%s): lines are written as they come",
			 strerror(-r));
	/* Bound after the drop: SO_REUSEPORT joins only sockets of one uid, and every later
	 * rebind (wg set listen-port or fwmark, the TCP transport's dialling sockets) opens its
	 * sockets beside these as the user the daemon runs as. */
	r = wg_loop_bind(w.loop);
	if (r < 0)
		log_warn("cannot open a %s socket: %s", transport, strerror(-r));
	log_info("interface %s (%s) up, control socket %s/%s.sock, %s port %u, %u worker%s", w.name,
		 tun_mode_name(cfg->to.mode), UAPI_SOCKET_DIR, w.name, transport, w.dev.listen_port,
		 cfg->workers, cfg->workers == 1 ? "" : "s");
	/* kill -9 of the monitor (the main PID) ends the data path too, as it ends a daemon
	 * without one. Set after the drop, which clears it. */
	if (cfg->monitor && (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != monitor_pid)) {
		log_err("the monitor process has ended; stopping");
		goto out;
	}
	/* Last, before the worker threads start and anything arrives from the network: from
	 * here on only the calls of the data path, control socket and shutdown are allowed. */
	if (!cfg->no_seccomp && (r = sandbox_apply(w.prefix, !cfg->foreground)) < 0) {
		log_err("cannot install the seccomp filter: %s; run with --no-seccomp "
			"(CULVERT_WG_NO_SECCOMP=1) on a kernel without it", strerror(-r));
		goto out;
	}
	log_debug("seccomp filter %s", cfg->no_seccomp ? "off (--no-seccomp)" : "on");
	notify_sendf("READY=1\nSTATUS=%s up, %s port %u, %u worker%s", w.name, transport,
		     w.dev.listen_port, cfg->workers, cfg->workers == 1 ? "" : "s");

	r = wg_loop_run(w.loop);
	notify_sendf("STOPPING=1\nSTATUS=%s stopping", w.name);
	exit_code = r < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	ran = true;
out:
	if (w.uapi_bound)
		uapi_unlink(NULL, w.name);
	if (w.loop)
		wg_loop_free(w.loop);	/* closing the tun fd removes the device */
	if (w.dev_init)
		wg_device_uninit(&w.dev);
	if (w.uapi_fd >= 0)
		close(w.uapi_fd);
	for (unsigned int i = 0; i < w.n_tun; i++)
		close(w.tun_fds[i]);
	if (ran)
		log_info("interface %s removed", w.name);
	log_async_stop();	/* every line queued is written before the exit */
	return exit_code;
}

int cmd_wg(int argc, char **argv)
{
	struct wg_cli_config cfg;
	int r = wg_cli_parse(&cfg, argc, argv);

	if (r == WG_CLI_RUN)
		r = wg_run(&cfg);
	wg_cli_config_free(&cfg);
	return r;
}
