/* Routes of culvert up, as wg-quick(8) adds them: Table = auto|off|N|name, the full tunnel of a
 * /0 allowed IP (fwmark, "not fwmark M table M", "table main suppress_prefixlength 0") and the
 * MTU guessed from the route to the endpoints. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/rtnetlink.h>

#include "cli/up.h"
#include "lib/addr.h"
#include "lib/netlink.h"
#include "wg/uapi_client.h"

enum { OVERHEAD = 80, FIRST_TABLE = 51820, FALLBACK_MTU = 1500 };

static bool table_in_file(const char *path, const char *name, uint32_t *table)
{
	FILE *f = fopen(path, "re");
	char line[256], word[128];
	unsigned long n;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %lu %127s", &n, word) == 2 && word[0] != '#' && !strcmp(word, name) &&
		    n <= 0xffffffffUL) {
			*table = (uint32_t)n;
			fclose(f);
			return true;
		}
	}
	fclose(f);
	return false;
}

bool up_table_parse(const char *text, uint32_t *table)
{
	static const char *const files[] = {
		"/etc/iproute2/rt_tables", "/etc/iproute2/rt_tables.d/*.conf",
		"/usr/share/iproute2/rt_tables", "/usr/share/iproute2/rt_tables.d/*.conf",
		"/usr/lib/iproute2/rt_tables", "/usr/lib/iproute2/rt_tables.d/*.conf",
	};
	char *end;
	unsigned long n;

	if (!text || !strcasecmp(text, "auto")) {
		*table = 0;
		return true;
	}
	if (!strcmp(text, "off")) {
		*table = UP_TABLE_OFF;
		return true;
	}
	/* ip(8) reads numbers with strtoul base 0; table 0 is main to the kernel. */
	n = strtoul(text, &end, 0);
	if (*text >= '0' && *text <= '9' && !*end && n < UP_TABLE_OFF) {
		*table = n ? (uint32_t)n : RT_TABLE_MAIN;
		return true;
	}
	if (!strcmp(text, "main") || !strcmp(text, "local") || !strcmp(text, "default")) {
		*table = !strcmp(text, "main") ? RT_TABLE_MAIN : !strcmp(text, "local") ? RT_TABLE_LOCAL : RT_TABLE_DEFAULT;
		return true;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		glob_t g;
		bool found = false;

		if (glob(files[i], 0, NULL, &g))
			continue;
		for (size_t j = 0; j < g.gl_pathc && !found; j++)
			found = table_in_file(g.gl_pathv[j], text, table);
		globfree(&g);
		if (found)
			return true;
	}
	return false;
}

/* ---- MTU ---------------------------------------------------------------------------------- */

static unsigned int route_mtu(const struct nl_route *r)
{
	char dev[IF_NAMESIZE];
	int m;

	if (r->mtu)
		return r->mtu;
	if (!r->oif || !if_indextoname((unsigned int)r->oif, dev))
		return 0;
	m = nl_link_get_mtu(dev);
	return m > 0 ? (unsigned int)m : 0;
}

static int first_default(const struct nl_route *r, void *arg)
{
	if (r->table != RT_TABLE_MAIN || r->dst_len)
		return 0;
	*(struct nl_route *)arg = *r;
	return 1;
}

int up_mtu_guess(const char *name, unsigned int *mtu)
{
	struct uapi_device_state d;
	struct nl_route r;
	unsigned int best = 0;
	int ret = uapi_client_get(NULL, name, &d, UP_TIMEOUT_MS);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < d.n_peers; i++) {
		char host[64];
		const char *e = d.peers[i].endpoint, *colon = strrchr(e, ':');
		uint8_t a[16];
		int fam;
		size_t len;

		if (!colon || colon == e)
			continue;
		if (*e == '[') {
			e++;
			len = (size_t)(colon - e) - 1;
		} else {
			len = (size_t)(colon - e);
		}
		if (len >= sizeof(host))
			continue;
		memcpy(host, e, len);
		host[len] = '\0';
		fam = strchr(host, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(fam, host, a) != 1 || nl_route_get(fam, a, &r) < 0)
			continue;
		if (route_mtu(&r) > best)
			best = route_mtu(&r);
	}
	uapi_device_state_free(&d);
	if (!best && nl_route_walk(AF_INET, first_default, &r) == 1)
		best = route_mtu(&r);
	*mtu = (best ? best : FALLBACK_MTU) - OVERHEAD;
	return 0;
}

/* ---- routes ------------------------------------------------------------------------------- */

static void mask(uint8_t *a, unsigned int bits, int family)
{
	unsigned int len = family == AF_INET ? 4 : 16;

	for (unsigned int i = 0; i < len; i++) {
		unsigned int keep = bits > i * 8 ? bits - i * 8 : 0;

		if (keep < 8)
			a[i] &= (uint8_t)(0xff00 >> keep);
	}
}

struct cover {
	int ifindex;
	struct config_cidr p;
};

/* `ip route show dev IFACE match P` is not empty: a main-table route through us covers P. */
static int covers(const struct nl_route *r, void *arg)
{
	const struct cover *c = arg;
	uint8_t a[16], b[16];

	if (r->table != RT_TABLE_MAIN || r->oif != c->ifindex || r->dst_len > c->p.cidr)
		return 0;
	memcpy(a, r->dst, 16);
	memcpy(b, c->p.addr, 16);
	mask(a, r->dst_len, r->family);
	mask(b, r->dst_len, r->family);
	return !memcmp(a, b, 16);
}

static int table_used(const struct nl_route *r, void *arg)
{
	return r->table == *(uint32_t *)arg;
}

/* wg-quick: sort -nr -k 2 -t / over "ADDR/LEN" lines: longest prefix first, ties by the
 * whole line in reverse byte order. */
static int by_len_desc(const void *x, const void *y)
{
	const struct config_cidr *a = x, *b = y;
	char ta[64], tb[64];

	if (a->cidr != b->cidr)
		return a->cidr < b->cidr ? 1 : -1;
	addr_cidr_str(a->family, a->addr, a->cidr, ta, sizeof(ta));
	addr_cidr_str(b->family, b->addr, b->cidr, tb, sizeof(tb));
	return -strcmp(ta, tb);
}

static int set_fwmark(const char *name, uint32_t mark)
{
	char req[64];
	int n = snprintf(req, sizeof(req), "set=1\nfwmark=%u\n\n", mark);

	return uapi_client_set(NULL, name, req, (size_t)n, UP_TIMEOUT_MS);
}

/* Where /proc/sys is read-only (a hardened unit), a value already 1 (sysctl.d) will do. */
static int src_valid_mark(void)
{
	static const char path[] = "/proc/sys/net/ipv4/conf/all/src_valid_mark";
	FILE *f = fopen(path, "we");
	char now[8] = "";
	int r = 0;

	if (f) {
		if (fputs("1\n", f) < 0)
			r = -EIO;
		if (fclose(f) && !r)
			r = -errno;
		if (!r)
			return 0;
	} else {
		r = -errno;
	}
	f = fopen(path, "re");
	if (f && fgets(now, sizeof(now), f) && now[0] == '1')
		r = 0;
	if (f)
		fclose(f);
	return r;
}

/* wg-quick's add_default: the fwmark (FwMark, or the first free table from 51820) is both the
 * daemon's socket mark and the table of the /0 route; marked packets (the tunnel's own UDP)
 * skip that table, and the main table still wins for anything more specific than its default. */
static int add_default(const char *name, const struct config_cidr *p, bool *fw_set)
{
	struct uapi_device_state d;
	uint32_t mark;
	int r = uapi_client_get(NULL, name, &d, UP_TIMEOUT_MS);
	const char *step;

	if (r < 0) {
		step = "cannot read its fwmark";
		goto fail;
	}
	mark = d.fwmark;
	uapi_device_state_free(&d);
	if (!mark) {
		for (mark = FIRST_TABLE; nl_route_walk(AF_INET, table_used, &mark) == 1 ||
					 nl_route_walk(AF_INET6, table_used, &mark) == 1; mark++)
			;
		r = set_fwmark(name, mark);
		if (r < 0) {
			step = "the daemon refused the fwmark";
			goto fail;
		}
	}
	struct nl_rule not_marked = { .family = p->family, .table = mark, .has_fwmark = true, .fwmark = mark,
				      .invert = true, .suppress_prefixlen = -1 };
	struct nl_rule suppress = { .family = p->family, .table = RT_TABLE_MAIN, .suppress_prefixlen = 0 };

	step = "cannot add the default route to its table";
	r = nl_route_add_table(name, p->family, p->addr, 0, mark);
	if (r >= 0) {
		step = "cannot add the rule 'not fwmark' rule";
		r = nl_rule_add(&not_marked);
	}
	if (r >= 0) {
		step = "cannot add the rule 'table main suppress_prefixlength 0'";
		r = nl_rule_add(&suppress);
	}
	if (r >= 0 && p->family == AF_INET) {
		step = "cannot set net.ipv4.conf.all.src_valid_mark to 1 (set it in /etc/sysctl.d if /proc/sys is read-only here)";
		r = src_valid_mark();
	}
	if (r >= 0) {
		*fw_set = true;
		r = up_fw_add(name, p->family, mark);
		if (r < 0)
			return r;
	}
	if (r >= 0)
		return 0;
fail:
	fprintf(stderr, "culvert up: %s: full tunnel for %s: %s: %s\n", name, p->family == AF_INET ? "0.0.0.0/0" : "::/0",
		step, strerror(-r));
	return r;
}

int up_routes(const char *name, uint32_t table, bool *fw_set)
{
	struct uapi_device_state d;
	struct config_cidr *all = NULL;
	size_t n = 0, cap = 0;
	char txt[64];
	int r, idx;

	*fw_set = false;
	if (table == UP_TABLE_OFF)
		return 0;
	idx = nl_link_index(name);
	r = idx < 0 ? idx : uapi_client_get(NULL, name, &d, UP_TIMEOUT_MS);
	if (r < 0) {
		fprintf(stderr, "culvert up: %s: cannot read its allowed IPs back: %s\n", name, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < d.n_peers; i++)
		cap += d.peers[i].n_allowed_ips;
	all = calloc(cap ? cap : 1, sizeof(*all));
	if (!all) {
		uapi_device_state_free(&d);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d.n_peers; i++)
		for (size_t j = 0; j < d.peers[i].n_allowed_ips; j++) {
			all[n] = d.peers[i].allowed_ips[j];
			mask(all[n].addr, all[n].cidr, all[n].family);
			n++;
		}
	uapi_device_state_free(&d);
	qsort(all, n, sizeof(*all), by_len_desc);
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct config_cidr *p = &all[i];
		struct cover cv = { .ifindex = idx, .p = *p };

		if (table) {
			r = nl_route_add_table(name, p->family, p->addr, p->cidr, table);
		} else if (p->cidr == 0) {
			r = add_default(name, p, fw_set);
			continue;
		} else if (nl_route_walk(p->family, covers, &cv) == 1) {
			continue;
		} else {
			r = nl_route_add(name, p->family, p->addr, p->cidr);
		}
		if (r < 0) {
			addr_cidr_str(p->family, p->addr, p->cidr, txt, sizeof(txt));
			fprintf(stderr, "culvert up: %s: cannot add the route %s dev %s", name, txt, name);
			if (table)
				fprintf(stderr, " table %u", table);
			fprintf(stderr, ": %s\n", strerror(-r));
		}
	}
	free(all);
	return r < 0 ? r : 0;
}

struct rule_match {
	uint32_t table;
	int suppress;
};

static int rule_matches(const struct nl_rule *r, void *arg)
{
	const struct rule_match *m = arg;

	return r->table == m->table && (m->suppress < 0 || r->suppress_prefixlen == m->suppress);
}

/* wg-quick's del_if: while `ip rule` shows one, delete it. */
static void del_rules(int family, uint32_t table, int suppress)
{
	struct rule_match m = { table, suppress };
	struct nl_rule r = { .family = family, .table = table, .suppress_prefixlen = suppress };

	for (int i = 0; i < 1000 && nl_rule_walk(family, rule_matches, &m) == 1; i++)
		if (nl_rule_del(&r) < 0)
			break;
}

void up_rules_del(const char *name, uint32_t table)
{
	struct uapi_device_state d;
	bool has_default = false;
	uint32_t mark;

	if (table || uapi_client_get(NULL, name, &d, UP_TIMEOUT_MS) < 0)
		return;
	mark = d.fwmark;
	for (size_t i = 0; i < d.n_peers; i++)
		for (size_t j = 0; j < d.peers[i].n_allowed_ips; j++)
			has_default |= d.peers[i].allowed_ips[j].cidr == 0;
	uapi_device_state_free(&d);
	if (!mark || !has_default)
		return;
	del_rules(AF_INET, mark, -1);
	del_rules(AF_INET, RT_TABLE_MAIN, 0);
	del_rules(AF_INET6, mark, -1);
	del_rules(AF_INET6, RT_TABLE_MAIN, 0);
}
