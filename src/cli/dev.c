/* culvert dev: persistent tun/tap devices (ip tuntap words) and their link settings. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "cli/cli_util.h"
#include "cli/json.h"
#include "lib/ifname.h"
#include "lib/tun_node.h"
#include "lib/netlink.h"
#include "lib/tun.h"

static const char usage_add[] =
	"Usage: culvert dev add NAME mode tun|tap [user USER] [group GROUP] [multi_queue] [vnet_hdr] [pi]\n"
	"Create a persistent device that USER (or members of GROUP) may later attach to without privileges.\n"
	"NAME may hold %d to let the kernel pick the number; the name it got is printed.\n";
static const char usage_del[] =
	"Usage: culvert dev del NAME [mode tun|tap]\n"
	"Delete a tun/tap device. With mode, refuse unless the device is of that mode.\n";
static const char usage_show[] =
	"Usage: culvert dev show [NAME] [-j|--json]   (or: culvert dev list)\n"
	"List tun/tap devices: mode, flags, owner, group, whether a process is attached, and\n"
	"whether the owner can open /dev/net/tun (owner_can_open; a node of mode 0600 shuts it out).\n";
static const char usage_set[] =
	"Usage: culvert dev set NAME [up|down] [mtu N] [addr CIDR]... [route CIDR]...\n"
	"Configure any link over rtnetlink. Applied in order: mtu, addresses, up/down, routes.\n"
	"An address or route that is already there is not an error.\n";

static void usage_all(FILE *f)
{
	fprintf(f, "%s\n%s\n%s\n%s", usage_add, usage_del, usage_show, usage_set);
}

__attribute__((format(printf, 1, 2)))
static int usage_err(const char *fmt, ...)
{
	va_list ap;


	fprintf(stderr, "culvert dev: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; run 'culvert dev --help'\n");
	return CLI_EXIT_USAGE;
}

static int fail(const char *msg)
{
	fprintf(stderr, "culvert dev: %s\n", msg);
	return CLI_EXIT_FAIL;
}

static bool parse_mode(const char *s, enum tun_mode *m)
{
	if (s && !strcmp(s, "tun"))
		*m = TUN_MODE_TUN;
	else if (s && !strcmp(s, "tap"))
		*m = TUN_MODE_TAP;
	else
		return false;
	return true;
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

/* Sentence for a netlink failure on NAME while doing WHAT. */
static int nl_fail(const char *name, const char *what, int err)
{
	char msg[256];

	if (err == -EPERM || err == -EACCES)
		snprintf(msg, sizeof(msg), "%s: %s: permission denied: this needs CAP_NET_ADMIN, run as root",
			 name, what);
	else if (err == -ENODEV)
		snprintf(msg, sizeof(msg), "%s does not exist: create it first with 'culvert dev add'", name);
	else
		snprintf(msg, sizeof(msg), "%s: %s: %s", name, what, strerror(-err));
	return fail(msg);
}

/* The device is made, but its owner may still be unable to open /dev/net/tun itself: say so
 * now rather than leave the user to find out from a bare EACCES. */
static void warn_node(const char *dev, long owner, long group)
{
	struct tun_node node;
	char why[512];

	if ((owner < 0 && group < 0) || tun_node_stat(&node) < 0 || tun_node_owner_allowed(&node, owner, group))
		return;
	fprintf(stderr, "culvert dev: warning: %s: %s\n", dev, tun_node_explain(&node, owner, group, why, sizeof(why)));
}

static int dev_add(int argc, char **argv)
{
	struct tun_opts o = { .queues = 1 };
	const char *name;
	char real[IFNAMSIZ], msg[320];
	bool have_mode = false, have_user = false, have_group = false;
	uid_t uid = 0;
	gid_t gid = 0;
	int fd, ret;

	if (argc < 2)
		return usage_err("%s", "dev add needs a NAME");
	name = argv[1];
	if (!ifname_valid(name))
		return usage_err("'%s' is not a valid interface name: use " IFNAME_RULE, name);
	for (int i = 2; i < argc; i++) {
		const char *w = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(w, "mode")) {
			if (!v)
				return usage_err("%s", "mode needs tun or tap");
			if (!parse_mode(v, &o.mode))
				return usage_err("mode must be tun or tap, not '%s'", v);
			have_mode = true;
			i++;
		} else if (!strcmp(w, "user")) {
			if (!v)
				return usage_err("%s", "user needs a user name or uid");
			if (!is_number(v) && !getpwnam(v))
				return usage_err("there is no user '%s' on this system: give an existing user name or a uid", v);
			if (!tun_parse_user(v, &uid))
				return CLI_EXIT_USAGE;
			have_user = true;
			i++;
		} else if (!strcmp(w, "group")) {
			if (!v)
				return usage_err("%s", "group needs a group name or gid");
			if (!is_number(v) && !getgrnam(v))
				return usage_err("there is no group '%s' on this system: give an existing group name or a gid", v);
			if (!tun_parse_group(v, &gid))
				return CLI_EXIT_USAGE;
			have_group = true;
			i++;
		} else if (!strcmp(w, "multi_queue")) {
			o.multi_queue = true;
		} else if (!strcmp(w, "vnet_hdr")) {
			o.vnet_hdr = true;
		} else if (!strcmp(w, "pi")) {
			o.pi = true;
		} else {
			return usage_err("unknown word '%s'", w);
		}
	}
	if (!have_mode)
		return usage_err("%s", "dev add needs mode tun or mode tap");
	/* Attaching to an existing device here would silently re-own it: refuse instead. */
	if (!strchr(name, '%') && nl_link_index(name) >= 0) {
		snprintf(msg, sizeof(msg), "%s already exists: delete it first with 'culvert dev del %s'", name, name);
		return fail(msg);
	}
	ret = tun_open(name, &o, real, &fd);
	if (ret < 0)
		return fail(tun_explain(ret, name, &o, msg, sizeof(msg)));
	if (have_user && (ret = tun_set_owner(fd, uid)) < 0)
		snprintf(msg, sizeof(msg), "%s: setting owner %u failed: %s", real, (unsigned int)uid, strerror(-ret));
	else if (have_group && (ret = tun_set_group(fd, gid)) < 0)
		snprintf(msg, sizeof(msg), "%s: setting group %u failed: %s", real, (unsigned int)gid, strerror(-ret));
	else if ((ret = tun_set_persist(fd, true)) < 0)
		snprintf(msg, sizeof(msg), "%s: making it persistent failed: %s", real, strerror(-ret));
	/* Closing a device that is not yet persistent removes it, so a failure leaves nothing. */
	close(fd);
	if (ret < 0)
		return fail(msg);
	if (strcmp(real, name))
		printf("%s\n", real);
	warn_node(real, have_user ? (long)uid : -1, have_group ? (long)gid : -1);
	return CLI_EXIT_OK;
}

static int dev_del(int argc, char **argv)
{
	struct tun_info info;
	struct tun_opts o = { .queues = 1 };
	char msg[320];
	int ret, fd;

	if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "mode")))
		return usage_err("%s", "usage is 'dev del NAME [mode tun|tap]'");
	if (!ifname_valid(argv[1]))
		return usage_err("'%s' is not a valid interface name: use " IFNAME_RULE, argv[1]);
	if (argc == 4 && !parse_mode(argv[3], &o.mode))
		return usage_err("mode must be tun or tap, not '%s'", argv[3]);
	ret = tun_info_get(argv[1], &info);
	if (ret == -ENODEV) {
		if (nl_link_index(argv[1]) >= 0)
			snprintf(msg, sizeof(msg), "%s is not a tun/tap device: leaving it alone (remove other links with ip link del)",
				 argv[1]);
		else
			snprintf(msg, sizeof(msg), "%s does not exist: 'culvert dev show' lists the tun/tap devices", argv[1]);
		return fail(msg);
	}
	if (ret < 0)
		return nl_fail(argv[1], "reading the device", ret);
	if (argc == 4 && info.mode != o.mode) {
		struct tun_explain_ctx c = { .exists = true, .info = &info, .euid = geteuid() };

		return fail(tun_explain_with(-EINVAL, argv[1], &o, &c, msg, sizeof(msg)));
	}
	ret = nl_link_del(argv[1]);
	if (ret != -EPERM)
		return ret < 0 ? nl_fail(argv[1], "deleting", ret) : CLI_EXIT_OK;
	/* Without CAP_NET_ADMIN the owner may still drop persistence, as tunctl -d does. */
	o.mode = info.mode;
	o.multi_queue = info.flags & IFF_MULTI_QUEUE;
	o.pi = !(info.flags & IFF_NO_PI);
	o.vnet_hdr = info.flags & IFF_VNET_HDR;
	ret = tun_open(argv[1], &o, NULL, &fd);
	if (ret < 0)
		return fail(tun_explain(ret, argv[1], &o, msg, sizeof(msg)));
	ret = tun_set_persist(fd, false);
	close(fd);
	return ret < 0 ? nl_fail(argv[1], "clearing persist", ret) : CLI_EXIT_OK;
}

static const struct { unsigned int flag; bool set; const char *word; } flag_words[] = {
	{ IFF_NO_PI, false, "pi" },
	{ IFF_VNET_HDR, true, "vnet_hdr" },
	{ IFF_MULTI_QUEUE, true, "multi_queue" },
	{ IFF_PERSIST, true, "persist" },
};

/* -1: no owner or group (root's device) or the node is unknown; else whether the owner can open it. */
static int owner_can_open(const struct tun_info *t, const struct tun_node *node)
{
	if (!node || (t->owner < 0 && t->group < 0))
		return -1;
	return tun_node_owner_allowed(node, t->owner, t->group);
}

static void show_text(const struct tun_info *t, const struct tun_node *node)
{
	int can = owner_can_open(t, node);

	printf("%s: %s", t->name, tun_mode_name(t->mode));
	for (size_t i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++)
		if (!!(t->flags & flag_words[i].flag) == flag_words[i].set)
			printf(" %s", flag_words[i].word);
	for (int u = 1; u >= 0; u--) {
		long id = u ? t->owner : t->group;
		const char *n = tun_id_name(id, u);

		if (n)
			printf(" %s %s", u ? "user" : "group", n);
		else if (id >= 0)
			printf(" %s %ld", u ? "user" : "group", id);
	}
	printf(" attached %s", t->attached ? "yes" : "no");
	if (can >= 0)
		printf(" owner_can_open %s", can ? "yes" : "no");
	printf("\n");
}

static void show_json(const struct tun_info *t, const struct tun_node *node, bool first)
{
	int can = owner_can_open(t, node);
	bool any = false;

	printf("%s{\"name\":", first ? "" : ",");
	json_str(t->name);
	printf(",\"ifindex\":%d,\"mode\":\"%s\",\"flags\":[", t->ifindex, tun_mode_name(t->mode));
	for (size_t i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++) {
		if (!!(t->flags & flag_words[i].flag) != flag_words[i].set)
			continue;
		printf("%s\"%s\"", any ? "," : "", flag_words[i].word);
		any = true;
	}
	printf("]");
	for (int u = 1; u >= 0; u--) {
		long id = u ? t->owner : t->group;
		const char *n = tun_id_name(id, u);

		printf(",\"%s\":", u ? "owner" : "group");
		if (n)
			json_str(n);
		else if (id >= 0)
			printf("\"%ld\"", id);
		else
			printf("null");
		if (id >= 0)
			printf(",\"%s\":%ld", u ? "uid" : "gid", id);
		else
			printf(",\"%s\":null", u ? "uid" : "gid");
	}
	printf(",\"attached\":%s,\"owner_can_open\":%s}", t->attached ? "true" : "false",
	       can < 0 ? "null" : can ? "true" : "false");
}

static int dev_show(int argc, char **argv)
{
	struct tun_info *list = NULL;
	const char *name = NULL;
	struct tun_node node;
	bool json = false, have_node;
	size_t n = 0, max = 16;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			json = true;
		else if (!name && argv[i][0] != '-')
			name = argv[i];
		else
			return usage_err("unexpected '%s'", argv[i]);
	}
	if (name) {
		list = calloc(1, sizeof(*list));
		if (!list)
			return fail("out of memory");
		ret = tun_info_get(name, list);
		if (ret < 0) {
			char msg[128];

			free(list);
			if (ret != -ENODEV)
				snprintf(msg, sizeof(msg), "%s: cannot read it: %s", name, strerror(-ret));
			else if (nl_link_index(name) >= 0)
				snprintf(msg, sizeof(msg), "%s is not a tun/tap device: 'ip -d link show %s' shows it", name, name);
			else
				snprintf(msg, sizeof(msg), "%s does not exist: 'culvert dev show' lists the tun/tap devices", name);
			return fail(msg);
		}
		n = 1;
	} else {
		/* The list may grow between two dumps: retry with room to spare. */
		for (int tries = 0; tries < 4; tries++) {
			free(list);
			list = calloc(max, sizeof(*list));
			if (!list)
				return fail("out of memory");
			ret = tun_list(list, max, &n);
			if (ret < 0) {
				free(list);
				return nl_fail("devices", "listing", ret);
			}
			if (n <= max)
				break;
			max = n + 16;
		}
		if (n > max)
			n = max;
	}
	have_node = tun_node_stat(&node) == 0;
	if (json)
		putchar('[');
	for (size_t i = 0; i < n; i++) {
		if (json)
			show_json(&list[i], have_node ? &node : NULL, i == 0);
		else
			show_text(&list[i], have_node ? &node : NULL);
	}
	if (json)
		printf("]\n");
	free(list);
	return CLI_EXIT_OK;
}

static bool parse_mtu(const char *s, unsigned int *mtu)
{
	uint64_t v;

	if (!cli_uint(s, 68, 65535, &v))
		return false;
	*mtu = (unsigned int)v;
	return true;
}

static int dev_set(int argc, char **argv)
{
	const char *name;
	int updown = -1, ret;
	unsigned int mtu = 0;
	uint8_t a[16];
	unsigned int plen;
	int family;

	if (argc < 3)
		return usage_err("%s", "dev set needs a NAME and at least one setting");
	name = argv[1];
	if (!ifname_valid(name))
		return usage_err("'%s' is not a valid interface name: use " IFNAME_RULE, name);
	/* Check every word before changing anything, so a typo changes nothing. */
	for (int i = 2; i < argc; i++) {
		const char *w = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(w, "up") || !strcmp(w, "down")) {
			if (updown >= 0 && updown != !strcmp(w, "up"))
				return usage_err("%s", "give up or down, not both");
			updown = !strcmp(w, "up");
		} else if (!strcmp(w, "mtu")) {
			if (!v)
				return usage_err("%s", "mtu needs a number from 68 to 65535");
			if (!parse_mtu(v, &mtu))
				return usage_err("mtu must be a number from 68 to 65535, not '%s'", v);
			i++;
		} else if (!strcmp(w, "addr") || !strcmp(w, "route")) {
			if (!v)
				return usage_err("%s needs an address with optional /prefix, e.g. 198.19.0.1/24", w);
			if (!nl_parse_prefix(v, &family, a, &plen))
				return usage_err("'%s' is not an address with optional /prefix, e.g. 198.19.0.1/24", v);
			i++;
		} else {
			return usage_err("unknown word '%s'", w);
		}
	}
	if (mtu && (ret = nl_link_set_mtu(name, mtu)) < 0)
		return nl_fail(name, "setting the mtu", ret);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "addr"))
			continue;
		ret = nl_addr_add_str(name, argv[++i]);
		if (ret < 0 && ret != -EEXIST)
			return nl_fail(name, "adding the address", ret);
	}
	if (updown >= 0 && (ret = nl_link_set_up(name, updown)) < 0)
		return nl_fail(name, updown ? "bringing it up" : "bringing it down", ret);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "route"))
			continue;
		ret = nl_route_add_str(name, argv[++i]);
		if (ret < 0 && ret != -EEXIST)
			return nl_fail(name, "adding the route", ret);
	}
	return CLI_EXIT_OK;
}

int cmd_dev(int argc, char **argv)
{
	static const struct { const char *name; int (*fn)(int, char **); const char *usage; } subs[] = {
		{ "add", dev_add, usage_add },
		{ "del", dev_del, usage_del },
		{ "show", dev_show, usage_show },
		{ "list", dev_show, usage_show },
		{ "set", dev_set, usage_set },
	};

	if (argc < 2) {
		usage_all(stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_wants_help(argc, argv)) {
		usage_all(stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name))
			continue;
		if (wants_help(argc - 1, argv + 1)) {
			fputs(subs[i].usage, stdout);
			return CLI_EXIT_OK;
		}
		return subs[i].fn(argc - 1, argv + 1);
	}
	return usage_err("unknown command '%s'", argv[1]);
}
