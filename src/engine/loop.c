/* The daemon's epoll loops: one worker per tun queue, each with its own buffers and epoll (and,
 * with UDP, its own socket on the shared port); worker 0 is the main thread and also serves
 * the uapi connections, the timers and the signals. Per-flow order holds: the kernel hashes a
 * flow to one tun queue and a 4-tuple to one socket, and each worker keeps its order.
 *
 * This file sets the loop up, tears it down and runs the workers' epoll loops; the sources
 * themselves are served by loop_tun.c, loop_ctl.c and the transport (xport_*.c), each through
 * the handler its struct loop_src carries (see loop_int.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include "engine/loop_int.h"
#include "lib/log.h"
#include "lib/tun.h"

__thread struct loop_worker *loop_self;
__thread bool loop_hs_self;

static bool stopping(const struct wg_loop *l)
{
	return __atomic_load_n(&l->stop, __ATOMIC_ACQUIRE);
}

void loop_wake(struct loop_worker *w)
{
	uint64_t one = 1;

	if (w->wake.fd >= 0 && write(w->wake.fd, &one, sizeof(one)) < 0)
		log_debug("cannot wake worker %u: %s", w->id, strerror(errno));
}

/* Ends every worker's loop; fatal is kept if it is the first error. */
void loop_stop(struct wg_loop *l, int fatal)
{
	if (fatal && !__atomic_load_n(&l->fatal, __ATOMIC_RELAXED))
		__atomic_store_n(&l->fatal, fatal, __ATOMIC_RELAXED);
	__atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
	for (unsigned int i = 0; i < l->n_workers; i++)
		loop_wake(&l->w[i]);
}

int loop_ep_add(int epfd, struct loop_src *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

void loop_src_close(int epfd, struct loop_src *s)
{
	if (s->fd < 0)
		return;
	if (epfd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->fd = -1;
}

/* ---- the transports ---- */

static const struct loop_xport_ops *const xports[] = {
	[LOOP_XPORT_UDP] = &loop_xport_udp,
	[LOOP_XPORT_TCP] = &loop_xport_tcp,
	[LOOP_XPORT_ICMP] = &loop_xport_icmp,
};
static const char *const xport_names[] = {
	[LOOP_XPORT_UDP] = "udp", [LOOP_XPORT_TCP] = "tcp", [LOOP_XPORT_ICMP] = "icmp",
};

const char *loop_transport_name(enum loop_transport t)
{
	return (unsigned int)t < sizeof(xport_names) / sizeof(xport_names[0]) ? xport_names[t] : "?";
}

bool loop_transport_parse(const char *s, enum loop_transport *t)
{
	for (unsigned int i = 0; i < sizeof(xports) / sizeof(xports[0]); i++)
		if (xports[i] && !strcmp(s, xport_names[i])) {
			*t = (enum loop_transport)i;
			return true;
		}
	return false;
}

bool loop_transport_one_worker(enum loop_transport t)
{
	return (unsigned int)t >= sizeof(xports) / sizeof(xports[0]) || !xports[t] || xports[t]->one_worker;
}

unsigned int loop_transport_mtu_extra(enum loop_transport t)
{
	return (unsigned int)t < sizeof(xports) / sizeof(xports[0]) && xports[t] ? xports[t]->mtu_extra : 0;
}

/* ---- what the processor calls ---- */

int loop_net_send(void *ctx, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	struct wg_loop *l = ctx;

	return l->xp->send(l, ep, pkts, n);
}

void loop_authenticated(void *ctx, const struct endpoint *ep, uint64_t peer)
{
	struct wg_loop *l = ctx;

	if (l->xp->authenticated)
		l->xp->authenticated(l, ep, peer);
}

int loop_rebind(void *ctx)
{
	return wg_loop_bind(ctx);
}

int wg_loop_bind(struct wg_loop *l)
{
	uint16_t port = 0;
	char desc[256];	/* as struct wg_device.offload */
	int r;

	l->proc.ops->net_config(l->proc.ctx, &port, &l->fwmark);
	desc[0] = 0;
	r = l->xp->bind(l, port, desc, sizeof(desc));
	/* also after a failure that went back to the old port */
	if (desc[0])
		l->proc.ops->bound(l->proc.ctx, l->bound_port, desc);
	return r;
}

/* ---- setup ---- */

static void wake_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	uint64_t v;

	while (read(s->fd, &v, sizeof(v)) == sizeof(v))
		;
	/* A wake-up read here may be one the check after epoll_wait came too early for: the
	 * transport looks again now, or its swap would wait for the next event, maybe forever. */
	if (w->l->xp->wake)
		w->l->xp->wake(w);
}

static int worker_init(struct wg_loop *l, struct loop_worker *w, unsigned int id, int tun_fd)
{
	w->l = l;
	w->id = id;
	w->epfd = -1;
	w->tun = (struct loop_src){ loop_tun_event, tun_fd, true };
	w->wake = (struct loop_src){ wake_event, -1, false };
	w->tx_bufs = malloc((size_t)LOOP_TUN_BUFS * LOOP_BUF_SIZE);
	w->rx_bufs = malloc((size_t)LOOP_RX_BUFS * LOOP_BUF_SIZE);
	w->slots = malloc(LOOP_SLOT_BYTES);
	if (!w->tx_bufs || !w->rx_bufs || !w->slots)
		return -ENOMEM;
	for (unsigned int i = 0; i < LOOP_RX_BUFS; i++)
		w->rx_ptrs[i] = w->rx_bufs + (size_t)i * LOOP_BUF_SIZE + WG_PKT_HEADROOM;
	if (l->tso) {
		/* without TSO on the device, merged packets could not be written */
		w->gro_bufs = malloc((size_t)LOOP_GRO_SCRATCH * GRO_SCRATCH_SIZE);
		if (!w->gro_bufs)
			return -ENOMEM;
		gro_init(&w->gro);
		w->gro.trust_l4_csum = !l->o.untrusted;
		w->gro.scratch = w->gro_bufs;
		w->gro.scratch_n = LOOP_GRO_SCRATCH;
	}
	if (id == 0) {
		w->epfd = l->epfd;
	} else {
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0)
			return -errno;
	}
	w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake.fd < 0)
		return -errno;
	fcntl(tun_fd, F_SETFL, fcntl(tun_fd, F_GETFL) | O_NONBLOCK);
	int r = loop_ep_add(w->epfd, &w->tun, EPOLLIN);
	if (!r)
		r = loop_ep_add(w->epfd, &w->wake, EPOLLIN);
	return r;
}

/* After the transport's sockets: once the link is gone the port is free (wg_loop_free). */
static void worker_free(struct loop_worker *w)
{
	if (!w->l)
		return;
	loop_src_close(w->epfd, &w->tun);
	loop_src_close(w->epfd, &w->wake);
	if (w->id != 0 && w->epfd >= 0)
		close(w->epfd);
	free(w->tx_bufs);
	free(w->slots);
	free(w->gro_bufs);
	free(w->rx_bufs);
}

/* The tun's name as the kernel has it (a launcher's fd may name another than asked for). */
static void tun_name(int fd, char *name, size_t len)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) == 0)
		snprintf(name, len, "%.*s", IFNAMSIZ - 1, ifr.ifr_name);
}

static void close_fds(const int *tun_fds, unsigned int n, int uapi_fd)
{
	for (unsigned int i = 0; i < n; i++)
		close(tun_fds[i]);
	if (uapi_fd >= 0)
		close(uapi_fd);
}

int loop_new(struct wg_loop **out, const struct loop_proc *proc, const int *tun_fds, unsigned int n_queues,
	     int uapi_fd, const struct wg_loop_opts *opts)
{
	enum loop_transport t = opts ? opts->transport : LOOP_XPORT_UDP;
	struct wg_loop *l;
	unsigned int i;
	int r = -ENOMEM;

	if (!n_queues || n_queues > TUN_MAX_QUEUES || (unsigned int)t >= sizeof(xports) / sizeof(xports[0]) ||
	    !xports[t] || (xports[t]->one_worker && n_queues != 1)) {
		close_fds(tun_fds, n_queues, uapi_fd);
		return -EINVAL;	/* TCP and ICMP run on worker 0 alone */
	}
	l = calloc(1, sizeof(*l));
	if (l)
		l->w = calloc(n_queues, sizeof(*l->w));
	if (!l || !l->w) {
		close_fds(tun_fds, n_queues, uapi_fd);
		if (l)
			free(l);
		return -ENOMEM;
	}
	l->proc = *proc;
	l->xp = xports[t];
	l->o.no_offload = opts && opts->no_offload;
	l->o.untrusted = opts && opts->untrusted;
	l->o.v6only = opts && opts->v6only;
	l->o.tcp_one = opts && opts->tcp_one;
	l->o.icmp_one = opts && opts->icmp_one;
	if (opts && opts->dial) {
		memcpy(&l->o.dial, opts->dial,
		       opts->dial->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		l->o.n_dial_more = opts->n_dial_more < LOOP_DIAL_MAX ? opts->n_dial_more : LOOP_DIAL_MAX - 1;
		for (i = 0; i < l->o.n_dial_more; i++)
			l->o.dial_more[i] = opts->dial_more[i];
		snprintf(l->o.dial_name, sizeof(l->o.dial_name), "%s", opts->dial_name ? opts->dial_name : "");
	}
	if (opts && opts->bind_addr)
		memcpy(&l->o.bind_addr, opts->bind_addr,
		       opts->bind_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	l->o.transport = t;
	l->o.on_hup = opts ? opts->on_hup : NULL;
	l->o.hup_arg = opts ? opts->hup_arg : NULL;
	busypoll_init(&l->busypoll, opts && opts->no_busy_poll);
	l->uapi = (struct loop_src){ NULL, uapi_fd, false };
	l->timer = (struct loop_src){ NULL, -1, false };
	l->sig = (struct loop_src){ NULL, -1, false };
	short tf = loop_tun_flags(tun_fds[0]);
	l->vnet = !l->o.no_offload && (tf & IFF_VNET_HDR);
	l->tap = tf & IFF_TAP;
	/* the device's offloads are shared by its queues: set once */
	l->tun_f = l->vnet ? loop_tun_offloads(tun_fds[0]) : 0;
	l->tso = l->tun_f != 0;
	l->seg_max = SIZE_MAX;
	l->frame_max = 65535;
	tun_name(tun_fds[0], l->ifname, sizeof(l->ifname));
	l->ioctl_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	/* From here on the workers own the fds, so wg_loop_free closes them. */
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->n_workers = n_queues;
	for (i = 0; i < n_queues; i++)
		l->w[i].tun.fd = -1;
	if (l->epfd < 0) {
		r = -errno;
		i = 0;
	} else {
		for (i = 0; i < n_queues; i++)
			if ((r = worker_init(l, &l->w[i], i, tun_fds[i])) < 0)
				break;
	}
	if (r < 0) {
		/* worker i took its fd (worker_init stores it first) */
		for (i = l->epfd < 0 ? 0 : i + 1; i < n_queues; i++)
			close(tun_fds[i]);
		goto fail;
	}
	if ((r = loop_ctl_init(l)) < 0 || (r = l->xp->open(l)) < 0)
		goto fail;
	const struct loop_attach a = {
		.loop = l,
		.threads = n_queues + 1,	/* the last for the handshake thread */
		.ipproto = l->xp->ipproto(l),
		.authenticated = l->xp->authenticated != NULL,
	};
	if ((r = l->proc.ops->attach(l->proc.ctx, &a)) < 0)
		goto fail;
	*out = l;
	return 0;

fail:
	wg_loop_free(l);
	return r;
}

void wg_loop_free(struct wg_loop *l)
{
	if (!l)
		return;
	loop_ctl_free(l);
	/* The port before the link: whoever waits for the link to go (a supervisor, wg-quick, a
	 * restart after kill -9 of the monitor) may bind the port at once. */
	if (l->xp_state) {
		l->xp->close(l);
		l->xp->free(l);
	}
	for (unsigned int i = 0; i < l->n_workers; i++)
		worker_free(&l->w[i]);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->ioctl_fd >= 0)
		close(l->ioctl_fd);
	if (l->proc.ops->detach)
		l->proc.ops->detach(l->proc.ctx);
	free(l->w);
	free(l);
}

/* ---- run ---- */

static int worker_run(struct loop_worker *w)
{
	struct wg_loop *l = w->l;
	struct epoll_event evs[32];
	struct busypoll bp = l->busypoll;

	loop_self = w;
	if (l->proc.ops->thread_init)
		l->proc.ops->thread_init(l->proc.ctx, w->id);
	while (!stopping(l)) {
		int n = busypoll_wait(&bp, w->epfd, evs, 32);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait failed: %s", strerror(errno));
			loop_stop(l, -errno);
			break;
		}
		if (l->xp->wake && l->xp->wake(w))
			continue;	/* the events may name the old socket */
		bool data = false;
		for (int i = 0; i < n && !stopping(l); i++) {
			struct loop_src *s = evs[i].data.ptr;

			data |= s->data;
			/* a uapi or TCP connection may be gone after its handler: later events
			 * of this batch cannot name it, as one fd appears once per epoll_wait */
			s->event(w, s, evs[i].events);
		}
		if (w->id == 0 && l->xp->after)
			l->xp->after(l);
		if (data)	/* the 100 ms tick does not start a spin */
			busypoll_kick(&bp);
	}
	return 0;
}

static void *worker_thread(void *arg)
{
	worker_run(arg);
	return NULL;
}

static void *hs_thread(void *arg)
{
	struct wg_loop *l = arg;

	loop_hs_self = true;
	/* When the cores are short, as under a handshake flood, data goes first: this thread
	 * yields to the workers (nice 10; for this thread only, which is what Linux does with
	 * PRIO_PROCESS and 0). Real handshakes still get through: the queue is bounded, a flood
	 * beyond it is dropped as queue_full by the workers, and idle cores run this thread. */
	if (setpriority(PRIO_PROCESS, 0, 10) < 0)
		log_debug("handshake thread: cannot lower its priority: %s", strerror(errno));
	if (l->proc.ops->thread_init)
		l->proc.ops->thread_init(l->proc.ctx, l->n_workers);
	l->proc.ops->hs_serve(l->proc.ctx);
	return NULL;
}

/* Handshake messages get a thread of their own, so data never waits for them. The TCP
 * transport's connections are worker 0's alone: there the worker serves the queue itself. */
static void hs_start(struct wg_loop *l)
{
	const struct loop_proc_ops *p = l->proc.ops;
	int r;

	if (!l->xp->hs_thread || !p->hs_serve)
		return;
	p->hs_external(l->proc.ctx, true);
	r = pthread_create(&l->hs_thread, NULL, hs_thread, l);
	if (r) {
		log_warn("cannot start the handshake thread (%s): workers serve handshakes", strerror(r));
		p->hs_external(l->proc.ctx, false);
		return;
	}
	l->hs_running = true;
}

static void hs_end(struct wg_loop *l)
{
	if (!l->hs_running)
		return;
	l->proc.ops->hs_stop(l->proc.ctx);
	pthread_join(l->hs_thread, NULL);
	l->hs_running = false;
	l->proc.ops->hs_external(l->proc.ctx, false);
}

int wg_loop_run(struct wg_loop *l)
{
	unsigned int i;
	int r;

	hs_start(l);
	for (i = 1; i < l->n_workers; i++) {
		r = pthread_create(&l->w[i].thread, NULL, worker_thread, &l->w[i]);
		if (r) {
			log_err("cannot start worker thread %u: %s", i, strerror(r));
			loop_stop(l, -r);
			break;
		}
		l->w[i].running = true;
	}
	if (!stopping(l))
		worker_run(&l->w[0]);
	loop_stop(l, 0);
	for (i = 1; i < l->n_workers; i++)
		if (l->w[i].running) {
			pthread_join(l->w[i].thread, NULL);
			l->w[i].running = false;
		}
	hs_end(l);
	return l->fatal;
}
