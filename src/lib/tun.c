/* tun/tap devices: open, attach, persist, ownership, queues, offloads, and why it failed. */
#include "lib/ifname.h"
#include "lib/tun.h"
#include "lib/netlink.h"
#include "lib/tun_node.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>

static const char tun_path[] = "/dev/net/tun";

const char *tun_mode_name(enum tun_mode mode)
{
	return mode == TUN_MODE_TAP ? "tap" : "tun";
}

static int set_iff(int fd, const char *name, short flags, char name_out[IFNAMSIZ])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = flags;
	if (name)
		memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	if (name_out) {
		memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
		name_out[IFNAMSIZ - 1] = '\0';
	}
	return 0;
}

int tun_open(const char *name, const struct tun_opts *o, char name_out[IFNAMSIZ], int *fds)
{
	unsigned int n = o->queues ? o->queues : 1, i;
	char real[IFNAMSIZ] = "";
	short flags;
	int ret = 0;

	/* "" and NULL let the kernel pick; "tun%d" is a valid name, a pattern to it */
	if (name && *name && !ifname_valid(name))
		return -EINVAL;
	if (n > TUN_MAX_QUEUES || (n > 1 && !o->multi_queue))
		return -EINVAL;
	flags = o->mode == TUN_MODE_TAP ? IFF_TAP : IFF_TUN;
	if (!o->pi)
		flags |= IFF_NO_PI;
	if (o->vnet_hdr)
		flags |= IFF_VNET_HDR;
	if (o->multi_queue)
		flags |= IFF_MULTI_QUEUE;

	for (i = 0; i < n; i++) {
		int fd = open(tun_path, O_RDWR | O_CLOEXEC | (o->nonblock ? O_NONBLOCK : 0));

		if (fd < 0) {
			ret = -errno;
			break;
		}
		/* Later queues name the device the first one got, not the pattern again, and
		 * attach to it: only the first creates. */
		ret = set_iff(fd, i ? real : name, (short)(flags | (o->excl && !i ? IFF_TUN_EXCL : 0)),
			      i ? NULL : real);
		/* the kernel's answer to IFF_TUN_EXCL when the name is taken */
		if (ret == -EBUSY && o->excl && !i)
			ret = -EEXIST;
		if (ret < 0) {
			close(fd);
			break;
		}
		fds[i] = fd;
	}
	if (ret < 0) {
		while (i--)
			close(fds[i]);
		return ret;
	}
	if (name_out)
		memcpy(name_out, real, IFNAMSIZ);
	return 0;
}

int tun_alloc(char *name, int flags)
{
	int fd = open(tun_path, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = set_iff(fd, name, (short)flags, name);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

static int tun_ioctl(int fd, unsigned long req, unsigned long arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

int tun_set_persist(int fd, bool on) { return tun_ioctl(fd, TUNSETPERSIST, on ? 1 : 0); }
int tun_set_owner(int fd, uid_t uid) { return tun_ioctl(fd, TUNSETOWNER, uid); }
int tun_set_group(int fd, gid_t gid) { return tun_ioctl(fd, TUNSETGROUP, gid); }
int tun_set_offload(int fd, unsigned int tun_f_flags) { return tun_ioctl(fd, TUNSETOFFLOAD, tun_f_flags); }

int tun_set_vnet_hdr_len(int fd, int len)
{
	return ioctl(fd, TUNSETVNETHDRSZ, &len) < 0 ? -errno : 0;
}

/* --- device information from rtnetlink (IFLA_INFO_DATA of kind "tun", Linux 4.15+) --- */

static int tun_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_TUN_MAX) < 0)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static bool attr_u8(const struct nlattr *a)
{
	return a && mnl_attr_validate(a, MNL_TYPE_U8) == 0 && mnl_attr_get_u8(a);
}

static long attr_id(const struct nlattr *a)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return -1;
	return (long)mnl_attr_get_u32(a);
}

/* Older kernels give no IFLA_INFO_DATA: sysfs has the flags, and carrier follows attachment. */
static long sysfs_num(const char *name, const char *file, bool hex)
{
	char path[96], buf[32];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f)) {
		char *end;

		errno = 0;
		v = strtol(buf, &end, hex ? 16 : 10);
		if (errno || end == buf)
			v = -1;
	}
	fclose(f);
	return v;
}

static int fill_info(const struct nl_link *l, struct tun_info *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->name, l->name, IFNAMSIZ);
	out->ifindex = l->ifindex;
	if (l->info_data) {
		const struct nlattr *tb[IFLA_TUN_MAX + 1] = { 0 };

		mnl_attr_parse_nested(l->info_data, tun_attr_cb, tb);
		if (tb[IFLA_TUN_TYPE] && mnl_attr_validate(tb[IFLA_TUN_TYPE], MNL_TYPE_U8) == 0 &&
		    mnl_attr_get_u8(tb[IFLA_TUN_TYPE]) == IFF_TAP)
			out->flags |= IFF_TAP;
		else
			out->flags |= IFF_TUN;
		if (!attr_u8(tb[IFLA_TUN_PI]))
			out->flags |= IFF_NO_PI;
		if (attr_u8(tb[IFLA_TUN_VNET_HDR]))
			out->flags |= IFF_VNET_HDR;
		if (attr_u8(tb[IFLA_TUN_MULTI_QUEUE]))
			out->flags |= IFF_MULTI_QUEUE;
		if (attr_u8(tb[IFLA_TUN_PERSIST]))
			out->flags |= IFF_PERSIST;
		out->owner = attr_id(tb[IFLA_TUN_OWNER]);
		out->group = attr_id(tb[IFLA_TUN_GROUP]);
		/* Queue counts come only for multi_queue devices. Otherwise the carrier tells: the
		 * kernel turns it on when a queue attaches and off when the last one detaches
		 * (a reader that set TUNSETCARRIER off looks detached). */
		if (tb[IFLA_TUN_NUM_QUEUES])
			out->attached = attr_id(tb[IFLA_TUN_NUM_QUEUES]) > 0 ||
					attr_id(tb[IFLA_TUN_NUM_DISABLED_QUEUES]) > 0;
		else
			out->attached = l->carrier;
	} else {
		long f = sysfs_num(l->name, "tun_flags", true);

		out->flags = f < 0 ? IFF_TUN : (unsigned int)f;
		out->owner = sysfs_num(l->name, "owner", false);
		out->group = sysfs_num(l->name, "group", false);
		out->attached = l->carrier;
	}
	out->mode = out->flags & IFF_TAP ? TUN_MODE_TAP : TUN_MODE_TUN;
	out->persist = out->flags & IFF_PERSIST;
	return 0;
}

static int info_one_cb(const struct nl_link *l, void *arg)
{
	if (strcmp(l->kind, "tun"))
		return -ENODEV;
	fill_info(l, arg);
	return 1;
}

int tun_info_get(const char *name, struct tun_info *out)
{
	int ret = nl_link_walk(name, info_one_cb, out);

	if (ret == 1)
		return 0;
	return ret < 0 ? ret : -ENODEV;
}

struct list_ctx {
	struct tun_info *out;
	size_t max, n;
};

static int info_list_cb(const struct nl_link *l, void *arg)
{
	struct list_ctx *c = arg;

	if (strcmp(l->kind, "tun"))
		return 0;
	if (c->n < c->max)
		fill_info(l, &c->out[c->n]);
	c->n++;
	return 0;
}

int tun_list(struct tun_info *out, size_t max, size_t *n)
{
	struct list_ctx c = { .out = out, .max = max };
	int ret = nl_link_walk(NULL, info_list_cb, &c);

	*n = c.n;
	return ret;
}

/* --- users and groups --- */

static bool parse_id(const char *s, unsigned long *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoul(s, &end, 10);
	/* (uid_t)-1 means "no owner" to the kernel, so it is not a usable id. */
	return !errno && !*end && *v < UINT_MAX;
}

bool tun_parse_user(const char *s, uid_t *uid)
{
	unsigned long v;
	struct passwd *pw;

	if (parse_id(s, &v)) {
		*uid = (uid_t)v;
		return true;
	}
	pw = s && *s ? getpwnam(s) : NULL;
	if (!pw) {
		fprintf(stderr, "culvert: there is no user '%s' on this system: give an existing user name or a uid\n", s ? s : "");
		return false;
	}
	*uid = pw->pw_uid;
	return true;
}

bool tun_parse_group(const char *s, gid_t *gid)
{
	unsigned long v;
	struct group *gr;

	if (parse_id(s, &v)) {
		*gid = (gid_t)v;
		return true;
	}
	gr = s && *s ? getgrnam(s) : NULL;
	if (!gr) {
		fprintf(stderr, "culvert: there is no group '%s' on this system: give an existing group name or a gid\n", s ? s : "");
		return false;
	}
	*gid = gr->gr_gid;
	return true;
}

/* --- explaining failures --- */

const char *tun_id_name(long id, bool user)
{
	if (id < 0)
		return NULL;
	if (user) {
		struct passwd *pw = getpwuid((uid_t)id);

		return pw ? pw->pw_name : NULL;
	}
	struct group *gr = getgrgid((gid_t)id);

	return gr ? gr->gr_name : NULL;
}

static void id_name(char *out, size_t len, long id, bool user)
{
	const char *n = tun_id_name(id, user);

	if (n)
		snprintf(out, len, " (%s)", n);
	else
		out[0] = '\0';
}

static const char *explain_eperm(const char *dev, bool named, const struct tun_opts *o,
				 const struct tun_explain_ctx *c, char *buf, size_t len)
{
	const struct tun_info *i = c->info;
	char who[80];

	if (i && i->owner >= 0 && (uid_t)i->owner != c->euid) {
		id_name(who, sizeof(who), i->owner, true);
		snprintf(buf, len, "%s: permission denied: it is a persistent device owned by uid %ld%s: "
			 "run as that user or root", dev, i->owner, who);
	} else if (i && i->group >= 0 && !c->in_group) {
		id_name(who, sizeof(who), i->group, false);
		snprintf(buf, len, "%s: permission denied: it is a persistent device owned by group %ld%s: "
			 "run as a member of that group or root", dev, i->group, who);
	} else if (i) {
		snprintf(buf, len, "%s: permission denied though the device is open to you: "
			 "a security module (SELinux, AppArmor) refused it", dev);
	} else {
		snprintf(buf, len, "%s: permission denied: creating a %s device needs CAP_NET_ADMIN: run as root, "
			 "or have root create it with 'culvert dev add %s mode %s user USER'", dev,
			 tun_mode_name(o->mode), named ? dev : "NAME", tun_mode_name(o->mode));
	}
	return buf;
}

static const char *explain_einval(const char *dev, const char *name, const struct tun_opts *o,
				  const struct tun_explain_ctx *c, char *buf, size_t len)
{
	const struct tun_info *i = c->info;

	if (name && *name && !ifname_valid(name))
		snprintf(buf, len, "'%s' is not a valid interface name: use " IFNAME_RULE, name);
	else if (o->queues > TUN_MAX_QUEUES)
		snprintf(buf, len, "%s: at most %d queues can be opened", dev, TUN_MAX_QUEUES);
	else if (o->queues > 1 && !o->multi_queue)
		snprintf(buf, len, "%s: %u queues need multi_queue", dev, o->queues);
	else if (i && i->mode != o->mode)
		snprintf(buf, len, "%s is a %s device but %s was asked: use mode %s", dev,
			 tun_mode_name(i->mode), tun_mode_name(o->mode), tun_mode_name(i->mode));
	else if (i && !!(i->flags & IFF_MULTI_QUEUE) != o->multi_queue)
		snprintf(buf, len, o->multi_queue ?
			 "%s was created without multi_queue: drop multi_queue, or delete and recreate it with multi_queue" :
			 "%s was created with multi_queue: ask for multi_queue too", dev);
	else if (!i && c->exists)
		snprintf(buf, len, "%s exists and is not a tun/tap device: pick another name", dev);
	else
		snprintf(buf, len, "%s: the kernel refused these flags (invalid argument)", dev);
	return buf;
}

const char *tun_explain_with(int err, const char *name, const struct tun_opts *o,
			     const struct tun_explain_ctx *c, char *buf, size_t len)
{
	bool named = name && *name && !strchr(name, '%');
	const char *dev = named ? name : tun_mode_name(o->mode);

	if (!buf || !len)
		return buf;
	if (err < 0)
		err = -err;
	switch (err) {
	case EPERM:
		return explain_eperm(dev, named, o, c, buf, len);
	case EINVAL:
		return explain_einval(dev, name, o, c, buf, len);
	case EBUSY:
		if (c->info && (c->info->flags & IFF_MULTI_QUEUE))
			snprintf(buf, len, "%s is busy: another process holds it exclusively", dev);
		else
			snprintf(buf, len, "%s is already attached by another process: a device without "
				 "multi_queue takes one reader; stop the other process, or recreate the device "
				 "with multi_queue", dev);
		break;
	case ENOENT:
	case ENODEV:
	case ENXIO:
		snprintf(buf, len, "%s is missing: load the tun module (modprobe tun)", tun_path);
		break;
	case EACCES:
		if (c->node)
			tun_node_explain(c->node, (long)c->euid, -1, buf, len);
		else
			snprintf(buf, len, "cannot open %s: permission denied: it is usually mode 0666 "
				 "(crw-rw-rw-); fix its mode or run as root", tun_path);
		break;
	case EEXIST:
		snprintf(buf, len, "%s: a device of that name exists already: delete it or choose another name", dev);
		break;
	case E2BIG:
		snprintf(buf, len, "%s already has as many queues attached as the kernel allows", dev);
		break;
	case EMFILE:
	case ENFILE:
		snprintf(buf, len, "%s: too many open files: raise the limit (ulimit -n) or open fewer queues", dev);
		break;
	default:
		snprintf(buf, len, "%s: %s", dev, strerror(err));
		break;
	}
	return buf;
}

static bool in_group(long gid)
{
	gid_t *groups;
	bool found = false;
	int n;

	if (gid < 0)
		return false;
	if ((gid_t)gid == getegid())
		return true;
	n = getgroups(0, NULL);
	if (n <= 0)
		return false;
	groups = calloc((size_t)n, sizeof(*groups));
	if (!groups)
		return false;
	n = getgroups(n, groups);
	for (int i = 0; i < n && !found; i++)
		found = groups[i] == (gid_t)gid;
	free(groups);
	return found;
}

const char *tun_explain(int err, const char *name, const struct tun_opts *o, char *buf, size_t len)
{
	struct tun_explain_ctx c = { .euid = geteuid() };
	struct tun_info info;
	struct tun_node node;

	if ((err == EACCES || err == -EACCES) && tun_node_stat(&node) == 0)
		c.node = &node;

	if (ifname_valid(name) && !strchr(name, '%')) {
		if (tun_info_get(name, &info) == 0) {
			c.info = &info;
			c.exists = true;
			c.in_group = in_group(info.group);
		} else {
			c.exists = nl_link_index(name) >= 0;
		}
	}
	return tun_explain_with(err, name, o, &c, buf, len);
}
