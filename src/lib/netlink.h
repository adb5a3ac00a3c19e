/* Link configuration over rtnetlink (libmnl): no shelling out to ip(8).
 * Every call returns 0 (or a value >= 0) or -errno. Addresses and prefixes are "ADDR/LEN" text
 * or binary with a family. */
#ifndef CULVERT_NETLINK_H
#define CULVERT_NETLINK_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

int nl_link_index(const char *ifname);                 /* ifindex or -ENODEV */
int nl_link_set_up(const char *ifname, bool up);
int nl_link_set_mtu(const char *ifname, unsigned int mtu);
int nl_link_get_mtu(const char *ifname);               /* mtu or -errno */
int nl_link_del(const char *ifname);

/* family AF_INET or AF_INET6; addr 4 or 16 bytes. */
int nl_addr_add(const char *ifname, int family, const void *addr, unsigned int prefixlen);
int nl_addr_del(const char *ifname, int family, const void *addr, unsigned int prefixlen);
int nl_route_add(const char *ifname, int family, const void *dst, unsigned int prefixlen);
int nl_route_del(const char *ifname, int family, const void *dst, unsigned int prefixlen);

/* "198.19.0.1/24", "2001:db8::1/64", or a bare address (/32, /128). false on bad text. */
bool nl_parse_prefix(const char *s, int *family, uint8_t addr[16], unsigned int *prefixlen);
/* Same, from text: the two most common calls of culvert up and the tests. */
int nl_addr_add_str(const char *ifname, const char *cidr);
int nl_route_add_str(const char *ifname, const char *cidr);

#endif
