/* Link, address and route configuration over rtnetlink with libmnl. */
#include "lib/ifname.h"
#include "lib/netlink.h"
#include "lib/netlink_talk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

/* A dump of many links needs more than one page per datagram. */
enum { NL_BUF_SIZE = 32768 };

/* Send one request and read replies until the ack, the end of a dump, or an error.
 * cb may be NULL for requests that only expect an ack. */
int nl_talk(struct nlmsghdr *nlh, mnl_cb_t cb, void *arg)
{
	struct mnl_socket *nl;
	unsigned int portid;
	uint32_t seq;
	char *buf;
	int ret;

	buf = malloc(NL_BUF_SIZE);
	if (!buf)
		return -ENOMEM;
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl) {
		ret = -errno;
		free(buf);
		return ret;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	seq = (uint32_t)time(NULL);
	nlh->nlmsg_seq = seq;
	/* NLM_F_DUMP shares bits with NLM_F_EXCL|NLM_F_REPLACE, so only a GET (RTM_BASE + 2 + 4k)
	 * can be a dump. */
	if ((nlh->nlmsg_type & 3) != 2 || (nlh->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP)
		nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, NL_BUF_SIZE);

		if (n < 0) {
			ret = -errno;
			break;
		}
		errno = 0;
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, cb, arg);
		if (ret < 0) {
			ret = errno ? -errno : -EIO;
			break;
		}
		if (ret == MNL_CB_STOP) {
			ret = 0;
			break;
		}
	}
out:
	mnl_socket_close(nl);
	free(buf);
	return ret;
}

struct walk_ctx {
	nl_link_cb cb;
	void *arg;
	int ret;
	bool seen;
};

static int link_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_MAX) < 0)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static int info_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_INFO_MAX) < 0)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

static int link_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct walk_ctx *w = data;
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	const struct ifinfomsg *ifm;
	struct nl_link l = { 0 };

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifm)))
		return MNL_CB_OK;
	ifm = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, tb) < 0)
		return MNL_CB_OK;
	l.ifindex = ifm->ifi_index;
	l.flags = ifm->ifi_flags;
	if (tb[IFLA_IFNAME] && mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_STRING) == 0) {
		const char *s = mnl_attr_get_str(tb[IFLA_IFNAME]);
		size_t n = strnlen(s, mnl_attr_get_payload_len(tb[IFLA_IFNAME]));

		if (n >= IFNAMSIZ)
			return MNL_CB_OK;
		memcpy(l.name, s, n);
	}
	if (tb[IFLA_MTU] && mnl_attr_validate(tb[IFLA_MTU], MNL_TYPE_U32) == 0)
		l.mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_CARRIER] && mnl_attr_validate(tb[IFLA_CARRIER], MNL_TYPE_U8) == 0)
		l.carrier = mnl_attr_get_u8(tb[IFLA_CARRIER]) != 0;
	if (tb[IFLA_LINKINFO] && mnl_attr_validate(tb[IFLA_LINKINFO], MNL_TYPE_NESTED) == 0) {
		const struct nlattr *info[IFLA_INFO_MAX + 1] = { 0 };

		mnl_attr_parse_nested(tb[IFLA_LINKINFO], info_attr_cb, info);
		if (info[IFLA_INFO_KIND] && mnl_attr_validate(info[IFLA_INFO_KIND], MNL_TYPE_STRING) == 0) {
			const char *k = mnl_attr_get_str(info[IFLA_INFO_KIND]);
			size_t n = strnlen(k, mnl_attr_get_payload_len(info[IFLA_INFO_KIND]));

			if (n < sizeof(l.kind))
				memcpy(l.kind, k, n);
		}
		if (info[IFLA_INFO_DATA] && mnl_attr_validate(info[IFLA_INFO_DATA], MNL_TYPE_NESTED) == 0)
			l.info_data = info[IFLA_INFO_DATA];
	}
	w->seen = true;
	w->ret = w->cb(&l, w->arg);
	return w->ret ? MNL_CB_STOP : MNL_CB_OK;
}

int nl_link_walk(const char *ifname, nl_link_cb cb, void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;
	struct walk_ctx w = { .cb = cb, .arg = arg };
	int ret;

	if (ifname && !ifname_valid(ifname))
		return -ENODEV;
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | (ifname ? 0 : NLM_F_DUMP);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	if (ifname)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	ret = nl_talk(nlh, link_msg_cb, &w);
	/* A callback that stopped the walk ends nl_talk early with 0: report its value. */
	if (w.ret)
		return w.ret;
	if (ret < 0)
		return ret;
	return ifname && !w.seen ? -ENODEV : 0;
}

static int copy_link_cb(const struct nl_link *l, void *arg)
{
	struct nl_link *out = arg;

	*out = *l;
	out->info_data = NULL;
	return 0;
}

int nl_link_get(const char *ifname, struct nl_link *out)
{
	if (!ifname)
		return -ENODEV;
	return nl_link_walk(ifname, copy_link_cb, out);
}

int nl_link_index(const char *ifname)
{
	struct nl_link l;
	int ret = nl_link_get(ifname, &l);

	return ret < 0 ? ret : l.ifindex;
}

int nl_link_get_mtu(const char *ifname)
{
	struct nl_link l;
	int ret = nl_link_get(ifname, &l);

	return ret < 0 ? ret : (int)l.mtu;
}

/* RTM_NEWLINK/RTM_DELLINK addressed by name, so no index lookup races with a rename. */
static struct nlmsghdr *link_req(char *buf, uint16_t type, const char *ifname)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	return nlh;
}

int nl_link_set_up(const char *ifname, bool up)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;

	if (!ifname_valid(ifname))
		return -ENODEV;
	nlh = link_req(buf, RTM_NEWLINK, ifname);
	ifm = mnl_nlmsg_get_payload(nlh);
	ifm->ifi_change = IFF_UP;
	ifm->ifi_flags = up ? IFF_UP : 0;
	return nl_talk(nlh, NULL, NULL);
}

int nl_link_set_mtu(const char *ifname, unsigned int mtu)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	if (!ifname_valid(ifname))
		return -ENODEV;
	nlh = link_req(buf, RTM_NEWLINK, ifname);
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nl_talk(nlh, NULL, NULL);
}

int nl_link_del(const char *ifname)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	if (!ifname_valid(ifname))
		return -ENODEV;
	return nl_talk(link_req(buf, RTM_DELLINK, ifname), NULL, NULL);
}

static int addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : -1;
}

static int addr_req(uint16_t type, uint16_t flags, const char *ifname, int family,
		    const void *addr, unsigned int prefixlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	int alen = addr_len(family), idx;

	if (alen < 0 || prefixlen > (unsigned int)alen * 8)
		return -EINVAL;
	idx = nl_link_index(ifname);
	if (idx < 0)
		return idx;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_prefixlen = (uint8_t)prefixlen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)idx;
	mnl_attr_put(nlh, IFA_LOCAL, (size_t)alen, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, (size_t)alen, addr);
	return nl_talk(nlh, NULL, NULL);
}

int nl_addr_add(const char *ifname, int family, const void *addr, unsigned int prefixlen)
{
	return addr_req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifname, family, addr, prefixlen);
}

int nl_addr_del(const char *ifname, int family, const void *addr, unsigned int prefixlen)
{
	return addr_req(RTM_DELADDR, 0, ifname, family, addr, prefixlen);
}

static int route_req(bool add, const char *ifname, int family, const void *dst, unsigned int prefixlen,
		     uint32_t table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	uint8_t net[16] = { 0 };
	int alen = addr_len(family), idx;

	if (alen < 0 || prefixlen > (unsigned int)alen * 8)
		return -EINVAL;
	idx = nl_link_index(ifname);
	if (idx < 0)
		return idx;
	/* The kernel refuses IPv4 routes with host bits set; "198.19.0.1/24" means its network. */
	memcpy(net, dst, (size_t)alen);
	for (unsigned int i = 0; i < (unsigned int)alen; i++) {
		unsigned int keep = prefixlen > i * 8 ? prefixlen - i * 8 : 0;

		if (keep < 8)
			net[i] &= (uint8_t)(0xff00u >> keep);
	}
	nlh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = (uint8_t)prefixlen;
	/* As ip(8): tables above 255 only fit the attribute. */
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = add ? RTPROT_BOOT : RTPROT_UNSPEC;
	/* Delete matches any scope; a device route without gateway is link scope for IPv4. */
	rtm->rtm_scope = !add ? RT_SCOPE_NOWHERE : family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	if (prefixlen)
		mnl_attr_put(nlh, RTA_DST, (size_t)alen, net);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)idx);
	if (table >= 256)
		mnl_attr_put_u32(nlh, RTA_TABLE, table);
	return nl_talk(nlh, NULL, NULL);
}

int nl_route_add(const char *ifname, int family, const void *dst, unsigned int prefixlen)
{
	return route_req(true, ifname, family, dst, prefixlen, RT_TABLE_MAIN);
}

int nl_route_del(const char *ifname, int family, const void *dst, unsigned int prefixlen)
{
	return route_req(false, ifname, family, dst, prefixlen, RT_TABLE_MAIN);
}

int nl_route_add_table(const char *ifname, int family, const void *dst, unsigned int prefixlen, uint32_t table)
{
	return route_req(true, ifname, family, dst, prefixlen, table);
}

bool nl_parse_prefix(const char *s, int *family, uint8_t addr[16], unsigned int *prefixlen)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash;
	size_t hlen;
	unsigned int len = 0, max;

	if (!s)
		return false;
	slash = strchr(s, '/');
	hlen = slash ? (size_t)(slash - s) : strlen(s);
	if (hlen == 0 || hlen >= sizeof(host))
		return false;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, host, addr) == 1) {
		*family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, addr) == 1) {
		*family = AF_INET6;
		max = 128;
	} else {
		return false;
	}
	if (!slash) {
		*prefixlen = max;
		return true;
	}
	/* Plain decimal only: no sign, no spaces, no leading zeros beyond "0", at most 3 digits. */
	const char *p = slash + 1;
	size_t nd = strlen(p);

	if (nd == 0 || nd > 3 || (nd > 1 && p[0] == '0'))
		return false;
	for (size_t i = 0; i < nd; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		len = len * 10 + (unsigned int)(p[i] - '0');
	}
	if (len > max)
		return false;
	*prefixlen = len;
	return true;
}

static int str_req(const char *ifname, const char *cidr, bool route, bool add)
{
	uint8_t a[16];
	unsigned int plen;
	int family;

	if (!nl_parse_prefix(cidr, &family, a, &plen))
		return -EINVAL;
	if (route)
		return route_req(add, ifname, family, a, plen, RT_TABLE_MAIN);
	return add ? nl_addr_add(ifname, family, a, plen) : nl_addr_del(ifname, family, a, plen);
}

int nl_addr_add_str(const char *ifname, const char *cidr) { return str_req(ifname, cidr, false, true); }
int nl_addr_del_str(const char *ifname, const char *cidr) { return str_req(ifname, cidr, false, false); }
int nl_route_add_str(const char *ifname, const char *cidr) { return str_req(ifname, cidr, true, true); }
int nl_route_del_str(const char *ifname, const char *cidr) { return str_req(ifname, cidr, true, false); }
