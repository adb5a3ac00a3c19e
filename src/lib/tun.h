/* tun/tap devices: the tutorial's tun_alloc() done right. All calls return 0 (or an fd) or -errno. */
#ifndef CULVERT_TUN_H
#define CULVERT_TUN_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <net/if.h>

struct tun_node;

enum tun_mode { TUN_MODE_TUN, TUN_MODE_TAP };

enum { TUN_MAX_QUEUES = 64 };

struct tun_opts {
	enum tun_mode mode;
	bool pi;           /* keep the 4-byte packet information header (default: IFF_NO_PI) */
	bool vnet_hdr;     /* IFF_VNET_HDR: each packet starts with a struct virtio_net_hdr */
	bool multi_queue;  /* IFF_MULTI_QUEUE */
	unsigned int queues; /* fds to open (multi_queue only; 0 means 1) */
	bool nonblock;     /* O_NONBLOCK on every fd */
	bool excl;         /* IFF_TUN_EXCL: create NAME, never attach to one that exists (-EEXIST) */
};

/* Create or attach NAME ("" or a pattern with %d lets the kernel pick). The real name goes to
 * name_out; fds[] gets max(1, o->queues) descriptors. On failure nothing stays open. */
int tun_open(const char *name, const struct tun_opts *o, char name_out[IFNAMSIZ], int *fds);

/* The tutorial's signature: name in/out (IFNAMSIZ), flags IFF_TUN|IFF_TAP|IFF_NO_PI...; fd or -errno. */
int tun_alloc(char *name, int flags);

int tun_set_persist(int fd, bool on);
int tun_set_owner(int fd, uid_t uid);
int tun_set_group(int fd, gid_t gid);
/* TUNSETOFFLOAD with TUN_F_* flags; -EINVAL when the kernel lacks one of them. */
int tun_set_offload(int fd, unsigned int tun_f_flags);
int tun_set_vnet_hdr_len(int fd, int len);

/* One sentence that explains a tun_open() failure and what to do, e.g. EPERM: needs
 * CAP_NET_ADMIN or ownership of the persistent device; EBUSY: attached elsewhere; EINVAL:
 * the device is tap and tun was asked. Returns buf. */
const char *tun_explain(int err, const char *name, const struct tun_opts *o, char *buf, size_t len);

struct tun_info {
	char name[IFNAMSIZ];
	int ifindex;
	enum tun_mode mode;
	unsigned int flags;  /* IFF_* the device was set up with */
	long owner, group;   /* -1: none */
	bool persist;
	bool attached;       /* some process has a queue open */
};

/* From rtnetlink (sysfs on kernels before 4.15); -ENODEV if NAME is not a tun/tap device. */
int tun_info_get(const char *name, struct tun_info *out);
/* Every tun/tap device in this network namespace; *n set to the count (may exceed max). */
int tun_list(struct tun_info *out, size_t max, size_t *n);

/* User and group by name or number; false names the bad token on stderr once, saying what
 * to give instead. */
bool tun_parse_user(const char *s, uid_t *uid);
bool tun_parse_group(const char *s, gid_t *gid);

/* tun_explain() with what it looks up passed in, so each case can be tested without a kernel. */
struct tun_explain_ctx {
	bool exists;                  /* a link named NAME exists (tun/tap or not) */
	const struct tun_info *info;  /* NULL unless NAME is a tun/tap device */
	uid_t euid;
	bool in_group;                /* the caller is in info->group */
	const struct tun_node *node;  /* /dev/net/tun's mode and owner, NULL if unknown */
};
const char *tun_explain_with(int err, const char *name, const struct tun_opts *o,
			     const struct tun_explain_ctx *c, char *buf, size_t len);
/* "tun" or "tap". */
const char *tun_mode_name(enum tun_mode mode);
/* The name of a user (user true) or group id, NULL if it has none or id < 0. The string is
 * libc's static buffer: use it before the next lookup. */
const char *tun_id_name(long id, bool user);

#endif
