/* Route and rule dumps, `ip route get`, rule add/delete and address dumps over rtnetlink:
 * what culvert up needs for a full tunnel (wg-quick's fwmark rules) and for its MTU guess. */
#include "lib/netlink.h"
#include "lib/netlink_talk.h"

#include <errno.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

struct walk {
	int family;
	int ifindex;
	void *cb;
	void *arg;
	int stop;
};

static int alen(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : -1;
}

static void copy_addr(uint8_t out[16], const struct nlattr *a, int family)
{
	memset(out, 0, 16);
	if ((int)mnl_attr_get_payload_len(a) == alen(family))
		memcpy(out, mnl_attr_get_payload(a), (size_t)alen(family));
}

static void parse_route(const struct nlmsghdr *nlh, struct nl_route *r)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	memset(r, 0, sizeof(*r));
	r->family = rtm->rtm_family;
	r->dst_len = rtm->rtm_dst_len;
	r->table = rtm->rtm_table;
	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		switch (mnl_attr_get_type(a)) {
		case RTA_DST: copy_addr(r->dst, a, r->family); break;
		case RTA_TABLE: r->table = mnl_attr_get_u32(a); break;
		case RTA_OIF: r->oif = (int)mnl_attr_get_u32(a); break;
		case RTA_METRICS: {
			const struct nlattr *m;

			mnl_attr_for_each_nested(m, a)
				if (mnl_attr_get_type(m) == RTAX_MTU && mnl_attr_get_payload_len(m) == 4)
					r->mtu = mnl_attr_get_u32(m);
			break;
		}
		}
	}
}

static int route_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct walk *w = data;
	struct nl_route r;

	if (w->stop)
		return MNL_CB_OK;
	parse_route(nlh, &r);
	if (r.family != w->family)
		return MNL_CB_OK;
	w->stop = ((nl_route_cb)w->cb)(&r, w->arg);
	return MNL_CB_OK;
}

static struct nlmsghdr *dump_req(char *buf, uint16_t type, size_t hdr, int family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	uint8_t *fam;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	fam = mnl_nlmsg_put_extra_header(nlh, hdr);
	*fam = (uint8_t)family;	/* rtm_family, ifa_family and fib_rule_hdr.family come first */
	return nlh;
}

int nl_route_walk(int family, nl_route_cb cb, void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct walk w = { .family = family, .cb = (void *)cb, .arg = arg };
	int r;

	if (alen(family) < 0)
		return -EINVAL;
	r = nl_talk(dump_req(buf, RTM_GETROUTE, sizeof(struct rtmsg), family), route_msg_cb, &w);
	return r < 0 ? r : w.stop;
}

static int get_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type == RTM_NEWROUTE)
		parse_route(nlh, data);
	return MNL_CB_OK;
}

int nl_route_get(int family, const void *addr, struct nl_route *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	int n = alen(family);

	if (n < 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = (uint8_t)(n * 8);
	mnl_attr_put(nlh, RTA_DST, (size_t)n, addr);
	return nl_talk(nlh, get_cb, out);
}

static int rule_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	struct walk *w = data;
	const struct nlattr *a;
	struct nl_rule r = { .family = frh->family, .table = frh->table, .suppress_prefixlen = -1,
			     .invert = !!(frh->flags & FIB_RULE_INVERT) };

	if (w->stop || r.family != w->family)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*frh)) {
		switch (mnl_attr_get_type(a)) {
		case FRA_TABLE: r.table = mnl_attr_get_u32(a); break;
		case FRA_PRIORITY: r.priority = mnl_attr_get_u32(a); break;
		case FRA_FWMARK: r.has_fwmark = true; r.fwmark = mnl_attr_get_u32(a); break;
		case FRA_SUPPRESS_PREFIXLEN: r.suppress_prefixlen = (int)mnl_attr_get_u32(a); break;
		}
	}
	w->stop = ((nl_rule_cb)w->cb)(&r, w->arg);
	return MNL_CB_OK;
}

int nl_rule_walk(int family, nl_rule_cb cb, void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct walk w = { .family = family, .cb = (void *)cb, .arg = arg };
	int r;

	if (alen(family) < 0)
		return -EINVAL;
	r = nl_talk(dump_req(buf, RTM_GETRULE, sizeof(struct fib_rule_hdr), family), rule_msg_cb, &w);
	return r < 0 ? r : w.stop;
}

/* The message ip(8) sends for `ip rule add|delete [not] [fwmark M] table T [suppress_prefixlength N]`. */
static int rule_req(bool add, const struct nl_rule *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct fib_rule_hdr *frh;

	if (alen(r->family) < 0)
		return -EINVAL;
	nlh->nlmsg_type = add ? RTM_NEWRULE : RTM_DELRULE;
	nlh->nlmsg_flags = NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)r->family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	if (r->invert)
		frh->flags |= FIB_RULE_INVERT;
	if (r->table >= 256)
		mnl_attr_put_u32(nlh, FRA_TABLE, r->table);
	if (r->priority)
		mnl_attr_put_u32(nlh, FRA_PRIORITY, r->priority);
	if (r->has_fwmark)
		mnl_attr_put_u32(nlh, FRA_FWMARK, r->fwmark);
	if (r->suppress_prefixlen >= 0)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, (uint32_t)r->suppress_prefixlen);
	return nl_talk(nlh, NULL, NULL);
}

int nl_rule_add(const struct nl_rule *r) { return rule_req(true, r); }
int nl_rule_del(const struct nl_rule *r) { return rule_req(false, r); }

static int addr_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct walk *w = data;
	const struct nlattr *a;
	uint8_t addr[16] = { 0 };
	bool have = false;

	if (w->stop || ifa->ifa_family != w->family || (int)ifa->ifa_index != w->ifindex)
		return MNL_CB_OK;
	/* IFA_LOCAL is the address itself on point-to-point links; IFA_ADDRESS otherwise. */
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_type(a) == IFA_LOCAL || (mnl_attr_get_type(a) == IFA_ADDRESS && !have)) {
			copy_addr(addr, a, w->family);
			have = true;
		}
	}
	if (have)
		w->stop = ((nl_addr_cb)w->cb)(w->family, addr, ifa->ifa_prefixlen, w->arg);
	return MNL_CB_OK;
}

int nl_addr_walk(const char *ifname, int family, nl_addr_cb cb, void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct walk w = { .family = family, .cb = (void *)cb, .arg = arg };
	int r;

	if (alen(family) < 0)
		return -EINVAL;
	w.ifindex = nl_link_index(ifname);
	if (w.ifindex < 0)
		return w.ifindex;
	r = nl_talk(dump_req(buf, RTM_GETADDR, sizeof(struct ifaddrmsg), family), addr_msg_cb, &w);
	return r < 0 ? r : w.stop;
}
