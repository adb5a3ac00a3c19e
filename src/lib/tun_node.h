/* Whether a user can open /dev/net/tun at all: a persistent device owned by a user is of no use
 * to that user when the node itself is closed to them (mode 0600 on many minimal systems). */
#ifndef CULVERT_TUN_NODE_H
#define CULVERT_TUN_NODE_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tun_node {
	mode_t mode;	/* permission bits only */
	uid_t uid;
	gid_t gid;
};

/* stat() of /dev/net/tun; 0 or -errno. */
int tun_node_stat(struct tun_node *n);
/* May a process with this uid and these groups open the node for reading and writing? Root may. */
bool tun_node_allows(const struct tun_node *n, uid_t uid, const gid_t *groups, size_t n_groups);
/* May the owner of a device (owner and group as in struct tun_info, -1 for none) open the node?
 * A process that may use a device with both set runs as owner and is a member of group, as the
 * kernel demands; with only a group, a member of it. Supplementary groups of the owner come from
 * the group database. A device with neither is root's: true. */
bool tun_node_owner_allowed(const struct tun_node *n, long owner, long group);
/* One sentence: who cannot open the node, its mode and owner, and what to do. Returns buf. */
const char *tun_node_explain(const struct tun_node *n, long owner, long group, char *buf, size_t len);

#endif
