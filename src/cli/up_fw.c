/* The nftables table wg-quick(8) adds for a full tunnel, through nft(8) as wg-quick does:
 * a packet for one of our addresses that arrives on another interface is dropped (preraw),
 * and the fwmark of the tunnel's UDP is kept in conntrack so replies find the main table. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "cli/up.h"
#include "lib/addr.h"
#include "lib/netlink.h"

struct script {
	char *text;
	size_t len, cap;
};

static void add(struct script *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct script *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!s->text)
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->text + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= s->cap - s->len) {
		char *nt = n < 0 ? NULL : realloc(s->text, s->cap * 2 + (size_t)n);

		if (!nt) {
			free(s->text);
			s->text = NULL;
			return;
		}
		s->text = nt;
		s->cap = s->cap * 2 + (size_t)n;
		va_start(ap, fmt);
		vsnprintf(s->text + s->len, s->cap - s->len, fmt, ap);
		va_end(ap);
	}
	s->len += (size_t)n;
}

struct addr_ctx {
	struct script *s;
	const char *name, *pf;
};

static int preraw(int family, const uint8_t addr[16], unsigned int prefixlen, void *arg)
{
	struct addr_ctx *c = arg;
	char ip[INET6_ADDRSTRLEN];

	(void)prefixlen;
	addr_str(family, addr, ip, sizeof(ip));
	add(c->s, "add rule %s wg-quick-%s preraw iifname != \"%s\" %s daddr %s fib saddr type != local drop\n",
	    c->pf, c->name, c->name, c->pf, ip);
	return 0;
}

int up_fw_add(const char *name, int family, uint32_t mark)
{
	struct script s = { .text = malloc(1024), .cap = 1024 };
	const char *pf = family == AF_INET ? "ip" : "ip6";
	struct addr_ctx c = { &s, name, pf };
	int r;

	add(&s, "add table %s wg-quick-%s\n", pf, name);
	add(&s, "add chain %s wg-quick-%s preraw { type filter hook prerouting priority -300; }\n", pf, name);
	add(&s, "add chain %s wg-quick-%s premangle { type filter hook prerouting priority -150; }\n", pf, name);
	add(&s, "add chain %s wg-quick-%s postmangle { type filter hook postrouting priority -150; }\n", pf, name);
	r = nl_addr_walk(name, family, preraw, &c);
	add(&s, "add rule %s wg-quick-%s postmangle meta l4proto udp mark %u ct mark set mark \n", pf, name, mark);
	add(&s, "add rule %s wg-quick-%s premangle meta l4proto udp meta mark set ct mark \n", pf, name);
	if (!s.text)
		return -ENOMEM;
	char *argv[] = { "nft", "-f", "-", NULL };

	if (r >= 0)
		r = up_run(argv, s.text, NULL);
	free(s.text);
	if (r != 0) {
		fprintf(stderr, "culvert up: %s: nft %s the full tunnel's table %s wg-quick-%s; install nftables (nft) or use Table = off\n",
			name, r == -ENOENT ? "could not be run to add" : "failed to add", pf, name);
		return r < 0 ? r : -EIO;
	}
	return 0;
}

/* Every table named wg-quick-IFACE, whatever its family, as wg-quick's remove_firewall. */
void up_fw_del(const char *name)
{
	char *list = NULL, *argv[] = { "nft", "list", "tables", NULL }, *del[] = { "nft", "-f", "-", NULL };
	struct script s = { .text = malloc(256), .cap = 256 };
	char want[64];

	snprintf(want, sizeof(want), " wg-quick-%s", name);
	if (s.text && up_run(argv, NULL, &list) == 0 && list) {
		for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
			size_t n = strlen(line), w = strlen(want);

			if (n > w && !strcmp(line + n - w, want))
				add(&s, "delete %s\n", line);
		}
		if (s.text && s.len)
			up_run(del, s.text, NULL);
	}
	free(list);
	free(s.text);
}
