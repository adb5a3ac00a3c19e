/* Link configuration over rtnetlink (libmnl): no shelling out to ip(8).
 * Every call returns 0 (or a value >= 0) or -errno. Addresses and prefixes are "ADDR/LEN" text
 * or binary with a family. */
#ifndef CULVERT_NETLINK_H
#define CULVERT_NETLINK_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <net/if.h>

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
/* As nl_route_add, into routing table `table` (254 is main). */
int nl_route_add_table(const char *ifname, int family, const void *dst, unsigned int prefixlen, uint32_t table);

/* netlink_route.c: what policy routing (culvert up's full tunnel) reads and writes. */
struct nl_route {
	int family;
	uint8_t dst[16];
	unsigned int dst_len;
	uint32_t table;
	int oif;		/* 0: none */
	uint32_t mtu;		/* the route's mtu metric; 0: none */
};
typedef int (*nl_route_cb)(const struct nl_route *r, void *arg);	/* non-zero stops */
/* Every route of family in every table; cb's non-zero return ends the walk and is returned. */
int nl_route_walk(int family, nl_route_cb cb, void *arg);
/* The route the kernel picks for addr (`ip route get`): its oif and mtu metric. */
int nl_route_get(int family, const void *addr, struct nl_route *out);

struct nl_rule {
	int family;
	uint32_t table;
	uint32_t priority;	/* 0 in nl_rule_add: the kernel picks, as ip rule add does */
	bool has_fwmark, invert;
	uint32_t fwmark;
	int suppress_prefixlen;	/* -1: none */
};
typedef int (*nl_rule_cb)(const struct nl_rule *r, void *arg);
int nl_rule_walk(int family, nl_rule_cb cb, void *arg);
int nl_rule_add(const struct nl_rule *r);
/* Deletes the first rule matching r's table, fwmark and suppress_prefixlen (priority if set). */
int nl_rule_del(const struct nl_rule *r);

typedef int (*nl_addr_cb)(int family, const uint8_t addr[16], unsigned int prefixlen, void *arg);
/* The addresses of family on ifname in the kernel's order (`ip -o addr show dev`). */
int nl_addr_walk(const char *ifname, int family, nl_addr_cb cb, void *arg);

/* "198.19.0.1/24", "2001:db8::1/64", or a bare address (/32, /128). false on bad text. */
bool nl_parse_prefix(const char *s, int *family, uint8_t addr[16], unsigned int *prefixlen);
/* Same, from text: the two most common calls of culvert up and the tests. */
int nl_addr_add_str(const char *ifname, const char *cidr);
int nl_route_add_str(const char *ifname, const char *cidr);

/* One link as RTM_GETLINK reports it. info_data is the IFLA_INFO_DATA nest (a struct nlattr *)
 * for the link's kind, valid only inside an nl_link_walk() callback; NULL when absent. */
struct nl_link {
	int ifindex;
	char name[IFNAMSIZ];
	unsigned int flags;      /* IFF_UP, IFF_RUNNING... */
	unsigned int mtu;
	bool carrier;
	char kind[16];           /* IFLA_INFO_KIND ("tun", "veth"...), "" if none */
	const void *info_data;
};
/* Call cb for IFNAME, or for every link when IFNAME is NULL. A non-zero return from cb stops
 * the walk and is returned; -ENODEV when IFNAME does not exist. */
typedef int (*nl_link_cb)(const struct nl_link *link, void *arg);
int nl_link_walk(const char *ifname, nl_link_cb cb, void *arg);
int nl_link_get(const char *ifname, struct nl_link *out);  /* out->info_data is NULL */
int nl_addr_del_str(const char *ifname, const char *cidr);
int nl_route_del_str(const char *ifname, const char *cidr);

#endif
