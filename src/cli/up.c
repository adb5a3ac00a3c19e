/* culvert up / culvert down / culvert strip: a wg-quick config file brought up on a `culvert wg`
 * daemon in wg-quick(8)'s order: PreUp, daemon, keys and peers, addresses, MTU and link up, DNS,
 * routes (and the full tunnel's rules and firewall), PostUp; down undoes it in wg-quick's order.
 * Links, addresses, routes and rules go over rtnetlink; hooks, resolvconf and nft are run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli/cli_util.h"
#include "cli/up.h"
#include "engine/loop.h"
#include "lib/addr.h"
#include "lib/netlink.h"
#include "wg/config.h"
#include "wg/messages.h"
#include "wg/uapi_client.h"

enum { DOWN_WAIT_MS = 3000 };

static void usage(FILE *f, const char *cmd)
{
	if (!strcmp(cmd, "down")) {
		fprintf(f,
			"Usage: culvert down FILE|IFACE\n"
			"\n"
			"Takes down an interface brought up with `culvert up`, as wg-quick down does: runs\n"
			"PreDown, saves the state if SaveConfig = true, removes the full tunnel's rules,\n"
			"deletes the interface, removes its DNS and firewall table, runs PostDown. IFACE\n"
			"means /etc/wireguard/IFACE.conf. See culvert-up(8).\n");
		return;
	}
	if (!strcmp(cmd, "syncconf")) {
		fprintf(f,
			"Usage: culvert syncconf FILE|IFACE\n"
			"\n"
			"Applies the keys and peers of the wg-quick(8) configuration FILE to the running\n"
			"interface as `wg syncconf IFACE <(wg-quick strip FILE)` does: peers that stay keep\n"
			"their sessions, peers no longer in the file are removed; addresses, routes and DNS\n"
			"are left alone. A daemon started by `culvert up` does this on SIGHUP.\n"
			"See culvert-up(8).\n");
		return;
	}
	if (!strcmp(cmd, "strip")) {
		fprintf(f,
			"Usage: culvert strip FILE|IFACE\n"
			"\n"
			"Prints the wg-quick(8) configuration FILE without the keys only wg-quick knows\n"
			"(Address, DNS, MTU, Table, PreUp, PostUp, PreDown, PostDown, SaveConfig) and\n"
			"culvert's Mode, as wg setconf and wg syncconf read it. See culvert-up(8).\n");
		return;
	}
	fprintf(f,
		"Usage: culvert up FILE|IFACE\n"
		"\n"
		"Brings up the wg-quick(8) configuration FILE (or /etc/wireguard/IFACE.conf) as\n"
		"wg-quick up does, on a `culvert wg IFACE` daemon: PreUp, keys and peers, Address,\n"
		"MTU (guessed from the route to the endpoints when absent), DNS through resolvconf,\n"
		"routes for the peers' allowed IPs (Table = auto|off|N|name; a /0 makes a full tunnel\n"
		"with fwmark rules and an nftables table), PostUp. Take it down with `culvert down`.\n"
		"Mode = tap in [Interface] makes the device a tap (culvert wg --mode tap).\n"
		"See culvert-up(8).\n");
}

static bool valid_ifname(const char *s, size_t len)
{
	if (len == 0 || len >= IFNAMSIZ)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_=+.-", s[i]))
			return false;
	return true;
}

/* FILE (has a '/' or ends in .conf) or IFACE (/etc/wireguard/IFACE.conf), as wg-quick does. */
bool up_target(const char *cmd, const char *arg, char *path, size_t plen, char name[IFNAMSIZ])
{
	size_t len = strlen(arg);
	const char *base;

	if (!strchr(arg, '/') && (len < 5 || strcmp(arg + len - 5, ".conf"))) {
		if (!valid_ifname(arg, len)) {
			fprintf(stderr, "culvert %s: '%s' is not an interface name (1-%d of a-z A-Z 0-9 _ = + . -) nor a .conf file\n",
				cmd, arg, IFNAMSIZ - 1);
			return false;
		}
		snprintf(path, plen, "/etc/wireguard/%s.conf", arg);
		memcpy(name, arg, len + 1);
		return true;
	}
	base = strrchr(arg, '/');
	base = base ? base + 1 : arg;
	len = strlen(base);
	if (len < 5 || strcmp(base + len - 5, ".conf") || !valid_ifname(base, len - 5)) {
		fprintf(stderr, "culvert %s: '%s' must be named IFACE.conf, IFACE being 1-%d of a-z A-Z 0-9 _ = + . -\n",
			cmd, arg, IFNAMSIZ - 1);
		return false;
	}
	if (strlen(arg) >= plen) {
		fprintf(stderr, "culvert %s: '%s' is too long a path\n", cmd, arg);
		return false;
	}
	memcpy(path, arg, strlen(arg) + 1);
	memcpy(name, base, len - 5);
	name[len - 5] = '\0';
	return true;
}

/* 1 when NAME's control socket is there, 0 when not, -errno when we cannot look. */
static int socket_state(const char *name)
{
	char path[108];
	struct stat st;

	if (uapi_socket_path(path, sizeof(path), NULL, name) < 0)
		return 0;
	if (stat(path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	return S_ISSOCK(st.st_mode);
}

static bool socket_exists(const char *name)
{
	return socket_state(name) == 1;
}

static int bad_usage(const char *cmd, const char *why)
{
	fprintf(stderr, "culvert %s: %s; run 'culvert %s --help'\n", cmd, why, cmd);
	return CLI_EXIT_USAGE;
}

static bool wait_socket_gone(const char *name, int ms)
{
	struct timespec step = { 0, 50 * 1000000L };

	for (int waited = 0; socket_exists(name); waited += 50) {
		if (waited >= ms)
			return false;
		nanosleep(&step, NULL);
	}
	return true;
}

/* Runs this binary as `culvert wg IFACE`, which returns once its control socket is ready. */
static int start_daemon(const char *name, const char *path, bool tap)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* --config: SIGHUP re-reads the file (culvert syncconf), as a reload should. */
		char *args[] = { "culvert", "wg", "--config", (char *)path, (char *)name, NULL, NULL, NULL };

		if (tap)	/* Mode = tap; without it the daemon's environment decides, as before */
			args[4] = "--mode", args[5] = "tap", args[6] = (char *)name;
		execv("/proc/self/exe", args);
		fprintf(stderr, "culvert up: cannot run /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}


/* Reads FILE|IFACE for cmd into c; on failure one sentence has been printed. */
static int load(const char *cmd, const char *path, struct config *c, bool check_mode)
{
	char err[512];
	int r = check_mode ? config_check_private_file(path, err, sizeof(err)) : 0;

	if (r == -ENOENT || (!check_mode && access(path, F_OK) < 0 && errno == ENOENT)) {
		fprintf(stderr, "culvert %s: %s does not exist: write a wg-quick config there, or give the path of one\n",
			cmd, path);
		return -ENOENT;
	}
	if (r < 0) {
		fprintf(stderr, "culvert %s: %s\n", cmd, err);
		return r;
	}
	r = config_load(c, path, CONFIG_WG_QUICK, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "culvert %s: %s\n", cmd, err);
	return r;
}

/* wg-quick's del_if: DNS and firewall if this run set them, the full tunnel's rules, the link
 * (which ends the daemon and takes the routes of every table with it). */
static void del_if(const char *name, const struct config *c, uint32_t table, bool dns_set, bool fw_set)
{
	if (dns_set)
		up_dns_unset(c, name);
	if (fw_set)
		up_fw_del(name);
	up_rules_del(name, table);
	nl_link_del(name);
	wait_socket_gone(name, DOWN_WAIT_MS);
}

static int set_addresses_mtu_up(const char *name, const struct config *c)
{
	char ip[ADDR_STRLEN];
	unsigned int mtu = c->mtu;
	int r;

	for (size_t i = 0; i < c->n_addresses; i++) {
		const struct config_cidr *a = &c->addresses[i];

		r = nl_addr_add(name, a->family, a->addr, a->cidr);
		if (r < 0) {
			fprintf(stderr, "culvert up: %s: cannot add the address %s: %s\n", name,
				addr_cidr_str(a->family, a->addr, a->cidr, ip, sizeof(ip)), strerror(-r));
			return r;
		}
	}
	r = c->has_mtu ? 0 : up_mtu_guess(name, &mtu);
	/* a guess is the datagram budget: a tap's frames carry their Ethernet header in it */
	if (r >= 0 && !c->has_mtu && c->tap)
		mtu = mtu > 68 + WG_TAP_MTU_OVERHEAD ? mtu - WG_TAP_MTU_OVERHEAD : 68;
	/* ... and a transport other than UDP takes its own headers from it too (the daemon reads
	 * the same variable; an unknown value is its error to report) */
	const char *tr = getenv("CULVERT_WG_TRANSPORT");
	enum loop_transport t;
	if (r >= 0 && !c->has_mtu && tr && *tr && loop_transport_parse(tr, &t)) {
		size_t extra = loop_transport_mtu_extra(t);

		mtu = mtu > 68 + extra ? mtu - (unsigned int)extra : 68;
	}
	if (r >= 0)
		r = nl_link_set_mtu(name, mtu);
	if (r < 0) {
		fprintf(stderr, "culvert up: %s: cannot set the MTU to %u: %s\n", name, mtu, strerror(-r));
		return r;
	}
	r = nl_link_set_up(name, true);
	if (r < 0)
		fprintf(stderr, "culvert up: %s: cannot set the link up: %s\n", name, strerror(-r));
	return r;
}

static int up(const char *name, const char *path, const struct config *c, uint32_t table,
	      const struct uapi_buf *req, bool names)
{
	bool dns_set = false, fw_set = false;
	int r;

	if (up_hooks(c->pre_up, c->n_pre_up, name, "PreUp") < 0)
		return -ECANCELED;
	r = start_daemon(name, path, c->tap);
	if (r < 0) {
		fprintf(stderr, "culvert up: %s: the daemon 'culvert wg %s' did not start (see above)\n", name, name);
		return r;
	}
	r = uapi_client_set(NULL, name, req->data, req->len, UP_TIMEOUT_MS);
	if (r < 0)
		fprintf(stderr, "culvert up: %s: the daemon refused the configuration: %s\n", name, strerror(-r));
	if (r >= 0)
		r = set_addresses_mtu_up(name, c);
	if (r >= 0) {
		r = up_dns_set(c, name);
		dns_set = r >= 0;
	}
	if (r >= 0)
		r = up_routes(name, table, &fw_set);
	if (r >= 0)
		r = up_hooks(c->post_up, c->n_post_up, name, "PostUp");
	if (r < 0) {
		del_if(name, c, table, dns_set, fw_set);
		fprintf(stderr, "culvert up: %s: the interface was removed again\n", name);
		return r;
	}
	/* Endpoint names follow their DNS records while the interface lives (culvert reresolve). */
	if (names && (r = up_reresolve_start(path)) < 0)
		fprintf(stderr, "culvert up: %s: cannot start re-resolving the endpoint names: %s; the interface is up without it\n",
			name, strerror(-r));
	return 0;
}

int cmd_up(int argc, char **argv)
{
	char path[4096], name[IFNAMSIZ], err[512];
	struct uapi_buf req = { 0 };
	struct config c;
	uint32_t table;
	bool names;
	int ret = CLI_EXIT_FAIL;

	if (cli_wants_help(argc, argv)) {
		usage(stdout, "up");
		return CLI_EXIT_OK;
	}
	if (argc != 2)
		return bad_usage("up", argc < 2 ? "give a config FILE or an IFACE" : "give only one FILE or IFACE");
	if (argv[1][0] == '-')
		return bad_usage("up", "it has no options");
	if (!up_target("up", argv[1], path, sizeof(path), name))
		return CLI_EXIT_USAGE;
	if (load("up", path, &c, true) < 0)
		return CLI_EXIT_FAIL;
	/* wg-quick would bring up a keyless interface that can never handshake: say so instead. */
	if (!c.has_private_key) {
		fprintf(stderr, "culvert up: %s: the [Interface] section has no PrivateKey; add one (culvert genkey prints a new key)\n",
			name);
		goto out;
	}
	if (!up_table_parse(c.table, &table)) {
		fprintf(stderr, "culvert up: %s: Table = %s is neither auto, off, a number nor a table name of "
			"/etc/iproute2/rt_tables; fix the Table line\n", name, c.table);
		goto out;
	}
	if (nl_link_index(name) >= 0) {
		fprintf(stderr, "culvert up: %s already exists; take it down first with 'culvert down %s'\n", name, name);
		goto out;
	}
	/* Names are resolved before anything is made, waiting for DNS if the environment says
	 * so: nothing is left to undo when one never resolves. */
	names = up_has_endpoint_names(&c);
	if (up_resolve_endpoints("up", name, &c) < 0)
		goto out;
	if (uapi_client_build_set(&req, &c, true, err, sizeof(err)) < 0) {
		fprintf(stderr, "culvert up: %s: %s\n", name, err);
		goto out;
	}
	if (up(name, path, &c, table, &req, names) >= 0)
		ret = CLI_EXIT_OK;
out:
	uapi_buf_free(&req);
	config_free(&c);
	return ret;
}

int cmd_down(int argc, char **argv)
{
	char path[4096], name[IFNAMSIZ];
	struct config c;
	bool have_conf = false;
	uint32_t table = 0;
	int r, ret = CLI_EXIT_OK;

	if (cli_wants_help(argc, argv)) {
		usage(stdout, "down");
		return CLI_EXIT_OK;
	}
	if (argc != 2)
		return bad_usage("down", argc < 2 ? "give the IFACE (or its config FILE)" : "give only one FILE or IFACE");
	if (argv[1][0] == '-')
		return bad_usage("down", "it has no options");
	if (!up_target("down", argv[1], path, sizeof(path), name))
		return CLI_EXIT_USAGE;
	if (nl_link_index(name) < 0) {
		fprintf(stderr, "culvert down: there is no interface %s in this network namespace\n", name);
		return CLI_EXIT_FAIL;
	}
	r = socket_state(name);
	if (r < 0) {
		fprintf(stderr, "culvert down: cannot look for %s/%s.sock: %s%s\n", UAPI_SOCKET_DIR, name, strerror(-r),
			r == -EACCES ? " (run as root)" : "");
		return CLI_EXIT_FAIL;
	}
	if (!r) {
		fprintf(stderr, "culvert down: %s is not a culvert interface (no control socket %s/%s.sock), so it was left alone; "
			"culvert down only removes what culvert up or culvert wg made\n", name, UAPI_SOCKET_DIR, name);
		return CLI_EXIT_FAIL;
	}
	/* Without its file (gone since up) there are no hooks, DNS or Table to honour: the rest
	 * is read from the interface itself. */
	if (access(path, F_OK) == 0) {
		if (load("down", path, &c, false) < 0)
			return CLI_EXIT_FAIL;
		have_conf = true;
		if (!up_table_parse(c.table, &table))
			table = 0;
	}
	/* A failing PreDown stops wg-quick half-way; culvert down still takes the interface down
	 * and only reports the failure in its exit status. */
	if (have_conf && up_hooks(c.pre_down, c.n_pre_down, name, "PreDown") < 0)
		ret = CLI_EXIT_FAIL;
	if (have_conf && c.save_config && up_save(path, name, &c) < 0)
		ret = CLI_EXIT_FAIL;
	up_rules_del(name, table);
	r = nl_link_del(name);
	if (r < 0) {
		fprintf(stderr, "culvert down: cannot delete %s: %s%s\n", name, strerror(-r),
			r == -EPERM ? " (need CAP_NET_ADMIN)" : "");
		ret = CLI_EXIT_FAIL;
		goto out;
	}
	if (!wait_socket_gone(name, DOWN_WAIT_MS)) {
		fprintf(stderr, "culvert down: %s was deleted but its daemon still serves %s/%s.sock after 3 s; stop it by its pid\n",
			name, UAPI_SOCKET_DIR, name);
		ret = CLI_EXIT_FAIL;
	}
	if (have_conf && up_dns_unset(&c, name) < 0)
		ret = CLI_EXIT_FAIL;
	up_fw_del(name);
	if (have_conf && up_hooks(c.post_down, c.n_post_down, name, "PostDown") < 0)
		ret = CLI_EXIT_FAIL;
out:
	if (have_conf)
		config_free(&c);
	return ret;
}

int cmd_strip(int argc, char **argv)
{
	char path[4096], name[IFNAMSIZ];

	if (cli_wants_help(argc, argv)) {
		usage(stdout, "strip");
		return CLI_EXIT_OK;
	}
	if (argc != 2)
		return bad_usage("strip", argc < 2 ? "give a config FILE or an IFACE" : "give only one FILE or IFACE");
	if (!up_target("strip", argv[1], path, sizeof(path), name))
		return CLI_EXIT_USAGE;
	if (access(path, F_OK) < 0) {
		fprintf(stderr, "culvert strip: %s does not exist: give the path of a wg-quick config\n", path);
		return CLI_EXIT_FAIL;
	}
	return up_strip(path, name) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cmd_syncconf(int argc, char **argv)
{
	char path[4096], name[IFNAMSIZ];
	struct config c;
	int r;

	if (cli_wants_help(argc, argv)) {
		usage(stdout, "syncconf");
		return CLI_EXIT_OK;
	}
	if (argc != 2)
		return bad_usage("syncconf", argc < 2 ? "give a config FILE or an IFACE" : "give only one FILE or IFACE");
	if (!up_target("syncconf", argv[1], path, sizeof(path), name))
		return CLI_EXIT_USAGE;
	if (load("syncconf", path, &c, true) < 0)
		return CLI_EXIT_FAIL;
	r = up_resolve_endpoints("syncconf", name, &c);
	if (r >= 0)
		r = up_sync(name, &c);
	config_free(&c);
	return r < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
