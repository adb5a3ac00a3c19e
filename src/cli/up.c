/* culvert up / culvert down: a wg-quick config file brought up on a `culvert wg` daemon, with
 * MTU, addresses, link state and routes set over rtnetlink. Hooks and DNS are not run. */
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

#include "cli/cli.h"
#include "lib/netlink.h"
#include "wg/config.h"
#include "wg/uapi_client.h"

enum {
	DEFAULT_MTU = 1420,
	SET_TIMEOUT_MS = 5000,
	DOWN_WAIT_MS = 3000,
};

static void usage(FILE *f, const char *cmd)
{
	if (!strcmp(cmd, "down")) {
		fprintf(f,
			"Usage: culvert down FILE|IFACE\n"
			"\n"
			"Deletes an interface brought up with `culvert up` (its addresses and routes go\n"
			"with it) and waits until its daemon has exited. IFACE means the interface of\n"
			"/etc/wireguard/IFACE.conf. See culvert-up(8).\n");
		return;
	}
	fprintf(f,
		"Usage: culvert up FILE|IFACE\n"
		"\n"
		"Brings up the wg-quick(8) configuration FILE (or /etc/wireguard/IFACE.conf): starts\n"
		"`culvert wg IFACE` (IFACE is the file name without .conf), sends it the keys and\n"
		"peers, sets MTU (default %d), addresses and routes for the peers' allowed IPs, and\n"
		"sets the link up. DNS, Table names, PreUp/PostUp/PreDown/PostDown and SaveConfig\n"
		"are not acted on. Routes of /0 (all traffic through the tunnel) are refused.\n"
		"Take it down with `culvert down`. See culvert-up(8).\n", DEFAULT_MTU);
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
static bool resolve_target(const char *cmd, const char *arg, char *path, size_t plen, char name[IFNAMSIZ])
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

/* Masks host bits: the kernel refuses a route like 198.19.0.5/24. */
static void mask_prefix(uint8_t *a, unsigned int bits, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++) {
		unsigned int keep = bits > i * 8 ? bits - i * 8 : 0;

		if (keep < 8)
			a[i] &= (uint8_t)(0xff00 >> keep);
	}
}

static bool prefix_covers(const struct config_cidr *net, const struct config_cidr *p)
{
	uint8_t a[16], b[16];
	unsigned int len = net->family == AF_INET ? 4 : 16;

	if (net->family != p->family || p->cidr < net->cidr)
		return false;
	memcpy(a, net->addr, len);
	memcpy(b, p->addr, len);
	mask_prefix(a, net->cidr, len);
	mask_prefix(b, net->cidr, len);
	return !memcmp(a, b, len);
}

static void note_ignored(const struct config *c, const char *name)
{
	char keys[128] = "";
	struct { const char *key; bool present; } k[] = {
		{ "DNS", c->n_dns > 0 }, { "PreUp", c->n_pre_up > 0 }, { "PostUp", c->n_post_up > 0 },
		{ "PreDown", c->n_pre_down > 0 }, { "PostDown", c->n_post_down > 0 },
		{ "SaveConfig", c->has_save_config },
	};

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (k[i].present)
			snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s", keys[0] ? ", " : "", k[i].key);
	if (keys[0])
		fprintf(stderr, "culvert up: %s: note: ignoring %s (culvert up runs no hooks and sets no DNS; use wg-quick with culvert-wg for those)\n",
			name, keys);
}

/* Runs this binary as `culvert wg IFACE`, which returns once its control socket is ready. */
static int start_daemon(const char *name)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char *args[] = { "culvert", "wg", (char *)name, NULL };

		execv("/proc/self/exe", args);
		fprintf(stderr, "culvert up: cannot run /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

static void addr_text(char *out, size_t len, const struct config_cidr *a)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	inet_ntop(a->family, a->addr, ip, sizeof(ip));
	snprintf(out, len, "%s/%u", ip, a->cidr);
}

/* MTU, addresses, link up, routes. On failure *what says which step. */
static int configure_link(const char *name, const struct config *c, bool routes, char *what, size_t wlen)
{
	char txt[64];
	int r;

	r = nl_link_set_mtu(name, c->has_mtu ? c->mtu : DEFAULT_MTU);
	if (r < 0) {
		snprintf(what, wlen, "cannot set the MTU of %s to %u", name, c->has_mtu ? c->mtu : DEFAULT_MTU);
		return r;
	}
	for (size_t i = 0; i < c->n_addresses; i++) {
		const struct config_cidr *a = &c->addresses[i];

		r = nl_addr_add(name, a->family, a->addr, a->cidr);
		if (r < 0) {
			addr_text(txt, sizeof(txt), a);
			snprintf(what, wlen, "cannot add the address %s to %s", txt, name);
			return r;
		}
	}
	r = nl_link_set_up(name, true);
	if (r < 0) {
		snprintf(what, wlen, "cannot set %s up", name);
		return r;
	}
	for (size_t i = 0; routes && i < c->n_peers; i++) {
		for (size_t j = 0; j < c->peers[i].n_allowed_ips; j++) {
			struct config_cidr p = c->peers[i].allowed_ips[j];
			bool covered = false;

			for (size_t k = 0; k < c->n_addresses && !covered; k++)
				covered = prefix_covers(&c->addresses[k], &p);
			if (covered)
				continue;
			mask_prefix(p.addr, p.cidr, p.family == AF_INET ? 4 : 16);
			r = nl_route_add(name, p.family, p.addr, p.cidr);
			if (r < 0 && r != -EEXIST) {
				addr_text(txt, sizeof(txt), &p);
				snprintf(what, wlen, "cannot add the route %s dev %s", txt, name);
				return r;
			}
		}
	}
	return 0;
}

/* Everything that can be refused without changing the system. */
static bool check_config(const struct config *c, const char *name, bool *routes)
{
	*routes = true;
	/* wg-quick would bring up a keyless interface that can never handshake: say so instead. */
	if (!c->has_private_key) {
		fprintf(stderr, "culvert up: %s: the [Interface] section has no PrivateKey; add one (culvert genkey prints a new key)\n",
			name);
		return false;
	}
	if (c->table && !strcmp(c->table, "off")) {
		*routes = false;
	} else if (c->table && strcmp(c->table, "auto")) {
		fprintf(stderr, "culvert up: %s: Table = %s is not supported by culvert up (only auto and off); use wg-quick with culvert-wg\n",
			name, c->table);
		return false;
	}
	for (size_t i = 0; *routes && i < c->n_peers; i++)
		for (size_t j = 0; j < c->peers[i].n_allowed_ips; j++)
			if (c->peers[i].allowed_ips[j].cidr == 0) {
				fprintf(stderr, "culvert up: %s: default routes through the tunnel are not supported by culvert up yet "
					"(AllowedIPs of the peer at line %u has a /0); use wg-quick with culvert-wg, or Table = off\n",
					name, c->peers[i].line);
				return false;
			}
	return true;
}

int cmd_up(int argc, char **argv)
{
	char path[4096], name[IFNAMSIZ], err[512], what[256];
	struct uapi_buf req = { 0 };
	struct config c;
	bool routes;
	int r, ret = CLI_EXIT_FAIL;

	if (cli_wants_help(argc, argv)) {
		usage(stdout, "up");
		return CLI_EXIT_OK;
	}
	if (argc != 2)
		return bad_usage("up", argc < 2 ? "give a config FILE or an IFACE" : "give only one FILE or IFACE");
	if (argv[1][0] == '-')
		return bad_usage("up", "it has no options");
	if (!resolve_target("up", argv[1], path, sizeof(path), name))
		return CLI_EXIT_USAGE;
	r = config_check_private_file(path, err, sizeof(err));
	if (r == -ENOENT) {
		fprintf(stderr, "culvert up: %s does not exist: write a wg-quick config there, or give the path of one\n", path);
		return CLI_EXIT_FAIL;
	}
	if (r < 0) {
		fprintf(stderr, "culvert up: %s\n", err);
		return CLI_EXIT_FAIL;
	}
	r = config_load(&c, path, CONFIG_WG_QUICK, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "culvert up: %s\n", err);
		return CLI_EXIT_FAIL;
	}
	if (!check_config(&c, name, &routes))
		goto out;
	if (uapi_client_build_set(&req, &c, true, err, sizeof(err)) < 0) {
		fprintf(stderr, "culvert up: %s: %s\n", name, err);
		goto out;
	}
	if (nl_link_index(name) >= 0) {
		fprintf(stderr, "culvert up: %s already exists; take it down first with 'culvert down %s'\n", name, name);
		goto out;
	}
	note_ignored(&c, name);

	r = start_daemon(name);
	if (r < 0) {
		fprintf(stderr, "culvert up: %s: the daemon 'culvert wg %s' did not start (see above)\n", name, name);
		goto out;
	}
	r = uapi_client_set(NULL, name, req.data, req.len, SET_TIMEOUT_MS);
	if (r < 0)
		snprintf(what, sizeof(what), "the daemon refused the configuration");
	else
		r = configure_link(name, &c, routes, what, sizeof(what));
	if (r < 0) {
		fprintf(stderr, "culvert up: %s: %s: %s; the interface was removed again\n", name, what, strerror(-r));
		nl_link_del(name);
		wait_socket_gone(name, DOWN_WAIT_MS);
		goto out;
	}
	ret = CLI_EXIT_OK;
out:
	uapi_buf_free(&req);
	config_free(&c);
	return ret;
}

int cmd_down(int argc, char **argv)
{
	char path[4096], name[IFNAMSIZ];
	int r;

	if (cli_wants_help(argc, argv)) {
		usage(stdout, "down");
		return CLI_EXIT_OK;
	}
	if (argc != 2)
		return bad_usage("down", argc < 2 ? "give the IFACE (or its config FILE)" : "give only one FILE or IFACE");
	if (argv[1][0] == '-')
		return bad_usage("down", "it has no options");
	if (!resolve_target("down", argv[1], path, sizeof(path), name))
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
	r = nl_link_del(name);
	if (r < 0) {
		fprintf(stderr, "culvert down: cannot delete %s: %s%s\n", name, strerror(-r),
			r == -EPERM ? " (need CAP_NET_ADMIN)" : "");
		return CLI_EXIT_FAIL;
	}
	if (!wait_socket_gone(name, DOWN_WAIT_MS)) {
		fprintf(stderr, "culvert down: %s was deleted but its daemon still serves %s/%s.sock after 3 s; stop it by its pid\n",
			name, UAPI_SOCKET_DIR, name);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
