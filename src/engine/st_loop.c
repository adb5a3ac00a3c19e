/* culvert simpletun on the engine: the device, the loop with the plaintext processor
 * (proc_plain.c) and a transport, the privilege drop, the run and the exit counters. */
#include "engine/st.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/loop.h"
#include "engine/proc_plain.h"
#include "lib/addr.h"
#include "lib/log.h"
#include "lib/netlink.h"
#include "lib/tun.h"
#include "wire/icmp.h"

static void addr_from(union endpoint_addr *out, const struct addrinfo *ai)
{
	memset(out, 0, sizeof(*out));
	memcpy(out, ai->ai_addr, ai->ai_addrlen < sizeof(*out) ? ai->ai_addrlen : sizeof(*out));
}

/* The server's address to bind (-b, or -4/-6 alone), or the client's server: with more (a
 * TCP client), its name's other addresses too, to be dialled in turn. */
static int st_address(const struct st_config *cfg, union endpoint_addr *out, bool *any,
		      union endpoint_addr *more, unsigned int *n_more)
{
	struct addrinfo *ai;
	int r;

	*any = false;
	memset(out, 0, sizeof(*out));
	if (cfg->server && !cfg->bind && cfg->family == AF_UNSPEC) {
		*any = true;	/* [::] dual-stack, or 0.0.0.0 without IPv6 */
		return 0;
	}
	if ((r = st_resolve(cfg, cfg->udp || cfg->icmp ? SOCK_DGRAM : SOCK_STREAM, &ai)) < 0)
		return r;
	addr_from(out, ai);
	for (const struct addrinfo *a = ai->ai_next; more && a && *n_more < LOOP_DIAL_MAX - 1; a = a->ai_next)
		addr_from(&more[(*n_more)++], a);
	freeaddrinfo(ai);
	/* ICMP has no ports: the peer is its address */
	if (cfg->icmp && out->sa.sa_family == AF_INET6)
		out->in6.sin6_port = 0;
	else if (cfg->icmp)
		out->in.sin_port = 0;
	return 0;
}

/* Networks that pass only ping often drop IP fragments (a rule on the ICMP type cannot match a
 * later fragment), so a device made for --icmp gets an MTU whose echoes fit a 1500-byte
 * underlay unfragmented: less the IP header (IPv6's unless IPv4 is all it carries), the echo's
 * and ours, and on tap the Ethernet header. A device that existed keeps its own. */
static void st_icmp_mtu(const struct st_config *cfg, const char *ifname, int family)
{
	unsigned int mtu = 1500 - (family == AF_INET ? 20 : 40) - ICMPW_OVERHEAD - (cfg->tap ? 14 : 0);
	int r = nl_link_set_mtu(ifname, mtu);

	if (r < 0)
		log_warn("%s: cannot set the MTU to %u: %s; packets above it will be fragmented", ifname, mtu,
			 strerror(-r));
	else
		log_info("%s: MTU %u (one packet per echo, unfragmented over a 1500-byte path)", ifname, mtu);
}

static void print_counters(const struct plain *pl, const struct wg_loop *l, const struct st_config *cfg)
{
	struct loop_tun_stats ls;
	char off[128];
	struct plain_tun_stats ts;

	loop_tun_stats(l, &ls);
	ts = (struct plain_tun_stats){
		.offloads = st_off_str(ls.vnet, ls.tun_f, cfg->no_offload, cfg->tap, off, sizeof(off)),
		.udp_caps = pl->udp_caps,
		.tso_pkts = ls.tso_pkts, .tso_segs = ls.tso_segs, .csum_done = ls.csum_done,
		.gro_merged = ls.gro_merged, .gro_out = ls.gro_out,
	};
	plain_print(pl, &ts);
}

int st_loop_run(const struct st_config *cfg)
{
	struct wg_loop_opts lo = { .no_offload = cfg->no_offload, .no_busy_poll = cfg->no_busy_poll,
				   .transport = cfg->icmp ? LOOP_XPORT_ICMP : cfg->udp ? LOOP_XPORT_UDP : LOOP_XPORT_TCP,
				   .tcp_one = !cfg->udp && !cfg->icmp, .icmp_one = cfg->icmp,
				   .untrusted = true, .v6only = cfg->family == AF_INET6 };
	const char *proto = cfg->icmp ? "ICMP echo" : cfg->udp ? "UDP" : "TCP";
	bool dgram = cfg->udp || cfg->icmp;
	struct plain *pl = calloc(1, sizeof(*pl));
	struct loop_proc proc = { &plain_proc_ops, pl };
	struct wg_loop *l = NULL;
	struct loop_tun_stats ls;
	char ifname[IFNAMSIZ], where[ADDR_STRLEN], off[128];
	union endpoint_addr addr, more[LOOP_DIAL_MAX - 1];
	unsigned int n_more = 0;
	bool existed, vnet, any;
	int fd = -1, r;

	if (!pl)
		return -ENOMEM;
	if ((r = st_address(cfg, &addr, &any, !cfg->server && !dgram ? more : NULL, &n_more)) < 0)
		goto out;
	if ((r = st_open_device(cfg, ifname, &fd, &existed, &vnet)) < 0)
		goto out;
	if (cfg->icmp && !existed)
		st_icmp_mtu(cfg, ifname, cfg->server ? cfg->family : addr.sa.sa_family);
	plain_init(pl, ifname, cfg->server, cfg->tap, dgram);
	pl->icmp = cfg->icmp;
	if (cfg->server) {
		pl->port = cfg->icmp ? 0 : (uint16_t)atoi(cfg->port);
		if (!any)
			lo.bind_addr = &addr.sa;
	} else if (dgram) {
		plain_set_peer(pl, &addr);
		if (cfg->icmp)
			lo.dial = &addr.sa;
	} else {
		lo.dial = &addr.sa;
		lo.dial_more = more;
		lo.n_dial_more = n_more;
		lo.dial_name = cfg->host;
	}
	r = loop_new(&l, &proc, &fd, 1, -1, &lo);	/* the loop's fd now, also on failure */
	if (r < 0) {
		l = NULL;
		fd = -1;
		log_err("cannot set up the event loop: %s", strerror(-r));
		goto out;
	}
	loop_tun_stats(l, &ls);
	log_debug("%s: offloads: %s", ifname, st_off_str(ls.vnet, ls.tun_f, cfg->no_offload, cfg->tap, off, sizeof(off)));
	st_warn_plaintext();
	if ((r = wg_loop_bind(l)) < 0) {
		if (cfg->icmp)
			log_err("cannot set up the ICMP sockets: %s", strerror(-r));
		else if (cfg->udp)
			log_err("cannot open the UDP socket (port %s): %s", cfg->port, strerror(-r));
		else
			log_err("cannot listen on TCP port %s: %s%s", cfg->port, strerror(-r),
				r == -EADDRINUSE ? " (another program has it: pick another port with -p)" : "");
		goto out;
	}
	if (cfg->server && cfg->icmp) {
		snprintf(where, sizeof(where), "%s", cfg->family == AF_INET ? "IPv4" : cfg->family == AF_INET6 ? "IPv6" :
			 "IPv4 and IPv6");
	} else if (cfg->server) {
		if (any)
			snprintf(where, sizeof(where), "[::]:%s", cfg->port);
		else
			addr_sockaddr_str(&addr.sa, true, where, sizeof(where));
	}
	if (cfg->icmp)
		log_info("%s %s (%s)", cfg->server ? "answering echo requests on" : "sending echo requests to",
			 cfg->server ? where : addr_sockaddr_str(&pl->peer.sa, false, where, sizeof(where)), proto);
	else if (cfg->server || cfg->udp)
		log_info("%s %s (%s)", cfg->server ? "listening on" : "sending to",
			 cfg->server ? where : addr_sockaddr_str(&pl->peer.sa, true, where, sizeof(where)), proto);
	if (cfg->udp)
		log_debug("UDP socket: %s", pl->udp_caps);
	if ((r = st_drop_privileges(cfg)) < 0)
		goto out;
	/* The data path logs: it must not wait for the reader. After the drop, as in culvert wg. */
	if (log_async_start(0) < 0)
		log_warn("cannot start the log thread: lines are written as they come");
	r = wg_loop_run(l);
out:
	if (l) {
		/* A run that failed before anything moved (the port is taken) has nothing to count. */
		struct plain_counters zero = { 0 };

		if (r >= 0 || memcmp(&pl->c, &zero, sizeof(zero)))
			print_counters(pl, l, cfg);
		/* A device that outlives us must not keep TSO on for a reader without vnet headers. */
		if (existed && ls.tun_f)
			tun_set_offload(fd, 0);
		wg_loop_free(l);
	} else if (fd >= 0) {
		close(fd);
	}
	plain_free(pl);
	free(pl);
	log_async_stop();	/* the counters, and all before them, are written */
	return r;
}
