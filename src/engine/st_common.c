/* culvert simpletun's setup: the device, the addresses, the privilege drop, the words for
 * its offloads. The run itself is the engine's (st_loop.c). */
#include "engine/st.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/if_tun.h>

#include "lib/priv.h"
#include "lib/log.h"
#include "lib/netlink.h"
#include "lib/tun.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif

int st_drop_privileges(const struct st_config *cfg)
{
	int r;

	if (!cfg->drop)
		return 0;
	r = priv_drop(cfg->uid, cfg->gid, NULL, 0);
	if (r < 0) {
		log_err("cannot drop to uid %u gid %u: %s", (unsigned int)cfg->uid, (unsigned int)cfg->gid,
			strerror(-r));
		return r;
	}
	log_info("running as uid %u gid %u with no capabilities", (unsigned int)cfg->uid, (unsigned int)cfg->gid);
	return 0;
}

void st_warn_plaintext(void)
{
	log_warn("warning: simpletun traffic is NOT encrypted; anyone on the path can read and inject packets");
}

int st_open_device(const struct st_config *cfg, char ifname[IFNAMSIZ], int *fd, bool *existed, bool *vnet)
{
	/* A tap takes offloads as a tun does: the split and the merge work behind its frames'
	 * Ethernet headers, and the frames on the wire stay within its MTU. */
	struct tun_opts o = { .mode = cfg->tap ? TUN_MODE_TAP : TUN_MODE_TUN, .nonblock = true,
			      .vnet_hdr = !cfg->no_offload };
	char why[256];
	int r;

	*existed = nl_link_index(cfg->ifname) >= 0;
	r = tun_open(cfg->ifname, &o, ifname, fd);
	if (r == -EINVAL && o.vnet_hdr) {
		o.vnet_hdr = false;
		r = tun_open(cfg->ifname, &o, ifname, fd);
	}
	if (r < 0) {
		log_err("%s", tun_explain(r, cfg->ifname, &o, why, sizeof(why)));
		return r;
	}
	*vnet = o.vnet_hdr;
	/* A device we created goes away with our fd; one that existed is only attached to. */
	log_info("%s: %s %s device", ifname, *existed ? "attached to existing" : "created non-persistent",
		 cfg->tap ? "tap" : "tun");
	return 0;
}

int st_resolve(const struct st_config *cfg, int socktype, struct addrinfo **out)
{
	struct addrinfo hints = { .ai_family = cfg->family, .ai_socktype = socktype };
	const char *host = cfg->server ? cfg->bind : cfg->host;
	int r;

	if (cfg->server)
		hints.ai_flags = AI_PASSIVE;
	if (cfg->server && !host && cfg->family == AF_UNSPEC)
		hints.ai_family = AF_INET6;   /* [::] dual-stack: v4 and v6 clients alike */
	r = getaddrinfo(host, cfg->port, &hints, out);
	if (r) {
		log_err("cannot resolve %s port %s: %s", host ? host : "(any)", cfg->port, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	return 0;
}

const char *st_off_str(bool vnet, unsigned int tun_f, bool no_offload, bool tap, char *buf, size_t len)
{
	const char *dev = tap ? "tap" : "tun";

	if (!vnet) {
		snprintf(buf, len, "%s plain (%s)", dev, no_offload ? "--no-offload" : "the kernel refused IFF_VNET_HDR");
		return buf;
	}
	snprintf(buf, len, "%s vnet_hdr%s%s%s%s%s", dev, tun_f & TUN_F_CSUM ? " csum" : "",
		 tun_f & TUN_F_TSO4 ? " tso4" : "", tun_f & TUN_F_TSO6 ? " tso6" : "",
		 tun_f & TUN_F_USO4 ? " uso" : "", tun_f & TUN_F_TSO4 ? " gro" : "");
	return buf;
}
