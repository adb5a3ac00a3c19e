/* Test-only: moves the calling process into a network namespace of its own with loopback up,
 * so that 127.0.0.1 and ::1, and the devices and routes a test makes, are the test's alone.
 * As root a plain network namespace; otherwise (a package build by a user) one inside a user
 * namespace where the user is root, made once. 0, or -1 when neither is allowed: test_udpio,
 * test_icmp_sock and test_xport_tcp then fail; test_netlink and test_netlink_route, whose
 * parsers need no kernel, skip only their kernel cases. */
#ifndef CULVERT_TEST_NETNS_PRIVATE_H
#define CULVERT_TEST_NETNS_PRIVATE_H
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* Set once the fallback made a user namespace: capabilities that need the host's root (such as
 * SO_SNDBUFFORCE) are then missing. */
static int netns_in_user_ns;

static inline int netns_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

/* A user namespace mapping us to its root: from then on CLONE_NEWNET is allowed. */
static inline int netns_become_root(void)
{
	char map[64];
	unsigned int uid = (unsigned int)geteuid(), gid = (unsigned int)getegid();

	if (unshare(CLONE_NEWUSER) < 0)
		return -1;
	netns_in_user_ns = 1;
	snprintf(map, sizeof(map), "0 %u 1", uid);
	if (netns_write("/proc/self/uid_map", map) < 0 || netns_write("/proc/self/setgroups", "deny") < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", gid);
	return netns_write("/proc/self/gid_map", map);
}

static inline int netns_private(void)
{
	struct ifreq ifr;
	int fd, r = -1;

	if (unshare(CLONE_NEWNET) < 0 && (errno != EPERM || netns_become_root() < 0 || unshare(CLONE_NEWNET) < 0))
		return -1;
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return r;
}

/* netns_private() for a test that makes tun devices there: the node's mode may keep a user out
 * even where the namespace was allowed. */
static inline int netns_private_tun(void)
{
	return netns_private() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0 ? 0 : -1;
}

#endif
