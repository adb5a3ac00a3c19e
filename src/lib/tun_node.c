/* /dev/net/tun's own permissions, judged for a device's owner before anyone trips over them. */
#include "lib/tun_node.h"
#include "lib/tun.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static const char node_path[] = "/dev/net/tun";

int tun_node_stat(struct tun_node *n)
{
	struct stat st;

	if (stat(node_path, &st) < 0)
		return -errno;
	n->mode = st.st_mode & 07777;
	n->uid = st.st_uid;
	n->gid = st.st_gid;
	return 0;
}

bool tun_node_allows(const struct tun_node *n, uid_t uid, const gid_t *groups, size_t n_groups)
{
	mode_t rw;

	if (uid == 0)
		return true;
	/* As the kernel decides: the owner's bits if the uid owns it, else the group's if any
	 * group matches, else the others' (a matching class with fewer rights does not fall
	 * through to the next one). */
	if (uid == n->uid) {
		rw = (n->mode >> 6) & 06;
	} else {
		bool member = false;

		for (size_t i = 0; i < n_groups && !member; i++)
			member = groups[i] == n->gid;
		rw = (member ? n->mode >> 3 : n->mode) & 06;
	}
	return rw == 06;
}

/* The groups a process of owner (and of group, when the device demands it) would hold. */
static size_t owner_groups(long owner, long group, gid_t *out, size_t max)
{
	size_t k = 0;

	if (owner >= 0) {
		struct passwd *pw = getpwuid((uid_t)owner);

		if (pw) {
			int n = (int)max - 1;

			if (getgrouplist(pw->pw_name, pw->pw_gid, out, &n) >= 0 && n > 0)
				k = (size_t)n;
			else if (max > 1)
				out[k++] = pw->pw_gid;
		}
	}
	if (group >= 0 && k < max)
		out[k++] = (gid_t)group;
	return k;
}

bool tun_node_owner_allowed(const struct tun_node *n, long owner, long group)
{
	gid_t groups[64];
	size_t k;

	if (owner < 0 && group < 0)
		return true;
	k = owner_groups(owner, group, groups, sizeof(groups) / sizeof(groups[0]));
	/* With only a group, judge a member of it who is neither root nor the node's owner. */
	return tun_node_allows(n, owner >= 0 ? (uid_t)owner : (uid_t)-1, groups, k);
}

static void id_text(char *out, size_t len, long id, bool user)
{
	const char *name = tun_id_name(id, user);

	if (name)
		snprintf(out, len, "%s %s (%ld)", user ? "user" : "group", name, id);
	else
		snprintf(out, len, "%s %ld", user ? "uid" : "gid", id);
}

const char *tun_node_explain(const struct tun_node *n, long owner, long group, char *buf, size_t len)
{
	char who[96], nu[64], ng[64];
	const char *name;

	/* Each lookup reuses libc's static buffer: copy its result before the next. */
	id_text(who, sizeof(who), owner >= 0 ? owner : group, owner >= 0);
	name = tun_id_name(n->uid, true);
	if (name)
		snprintf(nu, sizeof(nu), "%s", name);
	else
		snprintf(nu, sizeof(nu), "%u", (unsigned int)n->uid);
	name = tun_id_name(n->gid, false);
	if (name)
		snprintf(ng, sizeof(ng), "%s", name);
	else
		snprintf(ng, sizeof(ng), "%u", (unsigned int)n->gid);
	snprintf(buf, len, "%s cannot open %s (mode %04o, owner %s:%s), so it cannot attach without root: "
		 "most distributions ship the node as 0666; make it so with 'chmod 0666 %s' and a udev rule "
		 "(KERNEL==\"tun\", MODE=\"0666\")", who, node_path, (unsigned int)n->mode, nu, ng, node_path);
	return buf;
}
