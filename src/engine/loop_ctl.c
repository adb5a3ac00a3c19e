/* Worker 0's control sources: the uapi socket and its connections (wg set / wg show), the
 * 100 ms tick that drives the peers' timers, the MTU refresh and the connections' deadlines,
 * and SIGTERM/SIGINT through a signalfd. They share worker 0's epoll with its data path, so
 * none of them may block. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <net/if.h>

#include "engine/loop_int.h"
#include "lib/log.h"
#include "lib/notify.h"

static void conn_free(struct wg_loop *l, struct loop_conn *c)
{
	struct loop_conn **pp;

	for (pp = &l->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
	uapi_conn_free(&c->uc);	/* closes the fd */
	free(c);
	l->n_conns--;
}

static void conn_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	struct wg_loop *l = w->l;
	struct loop_conn *c = (struct loop_conn *)s;
	struct epoll_event ev = { .data.ptr = &c->src };
	int want;

	/* Reads and writes happen unlocked; each whole request takes the processor's lock itself
	 * (see wg_uapi_dev_ops), for writing only while a set is applied. */
	want = uapi_conn_io(&c->uc, l->proc.ops->uapi, l->proc.ctx);
	/* a client gone whole (HUP: not just its side shut) cannot be sent what it waits for, and
	 * epoll would report it on every wait */
	if (!want || (want == UAPI_WANT_ROOM && (events & (EPOLLHUP | EPOLLERR)))) {
		conn_free(l, c);
		return;
	}
	if (c->uc.answered != c->answered) {
		c->answered = c->uc.answered;
		c->deadline = l->ticks + l->conn_idle_ticks;
	}
	/* UAPI_WANT_ROOM: no events; the tick calls again */
	ev.events = (want & UAPI_WANT_READ ? EPOLLIN : 0) | (want & UAPI_WANT_WRITE ? EPOLLOUT : 0);
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->src.fd, &ev);
}

static void uapi_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	struct wg_loop *l = w->l;

	for (;;) {
		int fd = uapi_accept(l->uapi.fd);
		if (fd < 0)
			return;
		if (l->n_conns >= LOOP_MAX_CONNS) {
			log_ratelimited(LOG_LVL_WARN, "too many control connections; refusing one");
			close(fd);
			continue;
		}
		struct loop_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->src = (struct loop_src){ conn_event, fd, false };
		uapi_conn_init(&c->uc, fd);
		c->uc.pool = &l->ctl_pool;
		c->deadline = l->ticks + l->conn_idle_ticks;
		if (loop_ep_add(l->epfd, &c->src, EPOLLIN) < 0) {
			uapi_conn_free(&c->uc);
			free(c);
			continue;
		}
		c->next = l->conns;
		l->conns = c;
		l->n_conns++;
	}
}

/* Connections past their deadline are closed: without, clients that connect and stall hold
 * every place (LOOP_MAX_CONNS) for good. The deadline counts ticks the loop handled, so time
 * the loop itself spent elsewhere (a long set) is not held against a client. A get waiting
 * for room in the pool is tried again: others' responses are let go as they are written. */
static void conns_tick(struct loop_worker *w)
{
	struct wg_loop *l = w->l;
	struct loop_conn *c, *next;

	for (c = l->conns; c; c = next) {
		next = c->next;
		if ((int)(l->ticks - c->deadline) < 0) {
			if (c->uc.waiting)
				conn_event(w, &c->src, 0);	/* may free c */
			continue;
		}
		l->conns_idle_closed++;
		log_ratelimited(LOG_LVL_WARN, "control: closed a connection that completed no request "
				"in %.1f s (%llu so far)", l->conn_idle_ticks * LOOP_TICK_MS / 1000.0,
				l->conns_idle_closed);
		conn_free(l, c);
	}
}

/* Padding must not push a packet past the device MTU, which `ip link` may change. */
static void refresh_mtu(struct wg_loop *l)
{
	struct ifreq ifr;

	if (l->ioctl_fd < 0 || !l->ifname[0] || !l->proc.ops->mtu)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", l->ifname);
	if (ioctl(l->ioctl_fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		l->proc.ops->mtu(l->proc.ctx, (unsigned int)ifr.ifr_mtu);
}

static void timer_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	struct wg_loop *l = w->l;
	uint64_t v;

	while (read(l->timer.fd, &v, sizeof(v)) == sizeof(v))
		;
	if (++l->ticks % 10 == 1)
		refresh_mtu(l);
	conns_tick(w);
	if (l->proc.ops->tick)
		l->proc.ops->tick(l->proc.ctx);
	if (l->xp->tick)
		l->xp->tick(l);
	notify_watchdog();	/* on the tick, so a stuck worker 0 starves the watchdog */
}

static void signal_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	struct wg_loop *l = w->l;
	struct signalfd_siginfo si;

	while (read(l->sig.fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("received %s, shutting down", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			loop_stop(l, 0);
		} else if (si.ssi_signo == SIGHUP && l->o.on_hup) {
			log_info("received SIGHUP, re-reading the configuration");
			l->o.on_hup(l->o.hup_arg);
		}
	}
}

/* The uapi listener (if any), the tick timer and the signalfd, all on worker 0's epoll. */
int loop_ctl_init(struct wg_loop *l)
{
	sigset_t mask;
	int r;

	l->uapi.event = uapi_event;
	l->ctl_pool.max = UAPI_POOL_MAX;
	l->conn_idle_ticks = LOOP_CONN_IDLE_MS / LOOP_TICK_MS;
	l->timer.event = timer_event;
	l->sig.event = signal_event;
	if (l->uapi.fd >= 0 && !l->proc.ops->uapi) {
		close(l->uapi.fd);	/* nothing to serve it with */
		l->uapi.fd = -1;
	}
	if (l->uapi.fd >= 0) {
		fcntl(l->uapi.fd, F_SETFL, fcntl(l->uapi.fd, F_GETFL) | O_NONBLOCK);
		if ((r = loop_ep_add(l->epfd, &l->uapi, EPOLLIN)) < 0)
			return r;
	}

	l->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->timer.fd < 0)
		return -errno;
	struct itimerspec its = {
		.it_interval = { 0, LOOP_TICK_MS * 1000000L },
		.it_value = { 0, LOOP_TICK_MS * 1000000L },
	};
	timerfd_settime(l->timer.fd, 0, &its, NULL);
	if ((r = loop_ep_add(l->epfd, &l->timer, EPOLLIN)) < 0)
		return r;

	/* Blocked here, before any worker thread exists, so that all of them inherit it and
	 * only the signalfd sees these signals. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	l->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sig.fd < 0)
		return -errno;
	return loop_ep_add(l->epfd, &l->sig, EPOLLIN);
}

void loop_ctl_free(struct wg_loop *l)
{
	while (l->conns)
		conn_free(l, l->conns);
	loop_src_close(l->epfd, &l->uapi);
	loop_src_close(l->epfd, &l->timer);
	loop_src_close(l->epfd, &l->sig);
}
