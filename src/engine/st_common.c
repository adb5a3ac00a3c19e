/* culvert simpletun: device, signals, timers, addresses and counters shared by TCP and UDP. */
#include "engine/st.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lib/priv.h"
#include "lib/log.h"
#include "lib/netlink.h"
#include "lib/tun.h"

int st_epoll_add(struct st_ctx *x, int fd, uint32_t events, enum st_tag tag)
{
	struct epoll_event ev = { .events = events, .data.u32 = tag };

	return epoll_ctl(x->ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int st_epoll_mod(struct st_ctx *x, int fd, uint32_t events, enum st_tag tag)
{
	struct epoll_event ev = { .events = events, .data.u32 = tag };

	return epoll_ctl(x->ep, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void st_timer_arm(struct st_ctx *x, unsigned int ms)
{
	struct itimerspec its = { .it_value = { ms / 1000, (long)(ms % 1000) * 1000000L } };

	if (!ms)
		its.it_value.tv_nsec = 1;
	timerfd_settime(x->timer, 0, &its, NULL);
}

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
	/* Tap keeps one frame per read: its super-packets carry an Ethernet header that the
	 * split and merge code (IP packets) would have to peel and re-add for every segment. */
	struct tun_opts o = { .mode = cfg->tap ? TUN_MODE_TAP : TUN_MODE_TUN, .nonblock = true,
			      .vnet_hdr = !cfg->tap && !cfg->no_offload };
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

int st_setup(struct st_ctx *x, const struct st_config *cfg)
{
	char why[256];
	bool vnet;
	sigset_t ss;
	int r;

	memset(x, 0, sizeof(*x));
	x->cfg = cfg;
	x->tun = x->ep = x->sig = x->timer = -1;
	if ((r = st_open_device(cfg, x->ifname, &x->tun, &x->existed, &vnet)) < 0)
		return r;
	plain_init(&x->pl, x->ifname, cfg->server, cfg->tap, cfg->udp);
	if (vnet) {
		x->off = calloc(1, sizeof(*x->off));
		if (x->off) {
			x->off->rbuf = malloc(ST_READ_BUF);
			x->off->slots = malloc(ST_SEG_BYTES);
			x->off->gbufs = malloc((size_t)GRO_MAX_BATCH * ST_GRO_STRIDE);
		}
		if (!x->off || !x->off->rbuf || !x->off->slots || !x->off->gbufs) {
			log_err("out of memory for the offload buffers");
			return -ENOMEM;
		}
		gro_init(&x->off->gro);
		x->vnet = true;
		x->tun_f = st_off_probe(x->tun);
	}
	log_debug("%s: offloads: %s", x->ifname,
		  st_off_str(x->vnet, x->tun_f, cfg->no_offload, cfg->tap, why, sizeof(why)));

	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	x->sig = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	x->ep = epoll_create1(EPOLL_CLOEXEC);
	x->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (x->sig < 0 || x->ep < 0 || x->timer < 0) {
		r = -errno;
		log_err("cannot set up the event loop: %s", strerror(-r));
		return r;
	}
	if ((r = st_epoll_add(x, x->tun, EPOLLIN, ST_TAG_TUN)) < 0 ||
	    (r = st_epoll_add(x, x->sig, EPOLLIN, ST_TAG_SIG)) < 0 ||
	    (r = st_epoll_add(x, x->timer, EPOLLIN, ST_TAG_TIMER)) < 0) {
		log_err("epoll: %s", strerror(-r));
		return r;
	}
	st_warn_plaintext();
	return 0;
}

void st_teardown(struct st_ctx *x)
{
	/* A device that outlives us must not keep TSO on for a reader without vnet headers. */
	if (x->tun >= 0 && x->existed && x->tun_f)
		tun_set_offload(x->tun, 0);
	if (x->off) {
		free(x->off->rbuf);
		free(x->off->slots);
		free(x->off->gbufs);
		free(x->off);
		x->off = NULL;
	}
	if (x->tun >= 0)
		close(x->tun);
	if (x->ep >= 0)
		close(x->ep);
	if (x->sig >= 0)
		close(x->sig);
	if (x->timer >= 0)
		close(x->timer);
	x->tun = x->ep = x->sig = x->timer = -1;
}

void st_on_signal(struct st_ctx *x)
{
	struct signalfd_siginfo si;

	while (read(x->sig, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		log_info("signal %u (%s), exiting", si.ssi_signo, strsignal((int)si.ssi_signo));
		x->stop = true;
	}
}

void st_print_counters(const struct st_ctx *x)
{
	const struct st_off *f = x->off;
	char off[128];
	struct plain_tun_stats ts = {
		.offloads = st_off_str(x->vnet, x->tun_f, x->cfg->no_offload, x->cfg->tap, off, sizeof(off)),
	};

	if (f) {
		ts.tso_pkts = f->tso_pkts;
		ts.tso_segs = f->tso_segs;
		ts.csum_done = f->csum_done;
		ts.gro_merged = f->gro.stats.merged;
		ts.gro_out = f->gro.stats.out_gso;
	}
	plain_print(&x->pl, &ts);
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

void st_sock_buffers(int fd)
{
	int sz = 4 << 20;

	/* FORCE needs CAP_NET_ADMIN, which the device already required; fall back quietly. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}
