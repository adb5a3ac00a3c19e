/* The one request/reply loop of the rtnetlink modules (netlink.c, netlink_route.c). */
#ifndef CULVERT_NETLINK_TALK_H
#define CULVERT_NETLINK_TALK_H
#include <libmnl/libmnl.h>

/* Sends nlh and runs cb on every reply until the ack or the end of a dump: 0 or -errno. */
int nl_talk(struct nlmsghdr *nlh, mnl_cb_t cb, void *arg);

#endif
