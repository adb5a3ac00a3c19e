/* The daemon's epoll loops: one worker per tun queue, each with its own UDP socket (same
 * port, SO_REUSEPORT), buffers and epoll; worker 0 is the main thread and also serves the uapi
 * connections, the timers and the signals. Per-flow order holds: the kernel hashes a flow to
 * one tun queue and a 4-tuple to one socket, and each worker keeps its order.
 *
 * This file sets the loop up, tears it down and runs the workers' epoll loops; the sources
 * themselves are served by loop_tun.c, loop_udp.c and loop_ctl.c (see loop_int.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "engine/loop_int.h"
#include "lib/log.h"
#include "lib/tun.h"
#include "wg/noise.h"

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

/* ---- the device's clocks ---- */

static uint64_t op_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * WG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void op_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = ts.tv_sec;
	*nsec = ts.tv_nsec;
}

/* ---- setup ---- */

static int worker_init(struct wg_loop *l, struct loop_worker *w, unsigned int id, int tun_fd)
{
	w->l = l;
	w->id = id;
	w->epfd = -1;
	w->tun = (struct loop_src){ SRC_TUN, tun_fd };
	w->udp = (struct loop_src){ SRC_UDP, -1 };
	w->wake = (struct loop_src){ SRC_WAKE, -1 };
	pthread_mutex_init(&w->swap_lock, NULL);
	w->uio = calloc(1, sizeof(*w->uio));
	w->uio_next = calloc(1, sizeof(*w->uio_next));
	w->tx_bufs = malloc((size_t)LOOP_TUN_BUFS * LOOP_BUF_SIZE);
	w->rx_bufs = malloc((size_t)LOOP_RX_BUFS * LOOP_BUF_SIZE);
	w->slots = malloc(LOOP_SLOT_BYTES);
	if (!w->uio || !w->uio_next || !w->tx_bufs || !w->rx_bufs || !w->slots)
		return -ENOMEM;
	w->uio->fd = w->uio_next->fd = -1;
	for (unsigned int i = 0; i < LOOP_RX_BUFS; i++)
		w->rx_ptrs[i] = w->rx_bufs + (size_t)i * LOOP_BUF_SIZE + WG_PKT_HEADROOM;
	if (l->tso) {
		/* without TSO on the device, merged packets could not be written */
		w->gro_bufs = malloc((size_t)LOOP_GRO_SCRATCH * GRO_SCRATCH_SIZE);
		if (!w->gro_bufs)
			return -ENOMEM;
		gro_init(&w->gro);
		w->gro.trust_l4_csum = true;
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

static void worker_close_sockets(struct loop_worker *w)
{
	if (!w->l)
		return;
	if (w->uio) {
		if (w->uio->fd >= 0 && w->epfd >= 0)
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->uio->fd, NULL);
		udpio_close(w->uio);
	}
	if (w->uio_next)
		udpio_close(w->uio_next);
}

/* Sockets before the tun queue: once the link is gone the port is free (wg_loop_free). */
static void worker_free(struct loop_worker *w)
{
	if (!w->l)
		return;
	worker_close_sockets(w);
	loop_src_close(w->epfd, &w->tun);
	loop_src_close(w->epfd, &w->wake);
	if (w->id != 0 && w->epfd >= 0)
		close(w->epfd);
	pthread_mutex_destroy(&w->swap_lock);
	free(w->uio);
	free(w->uio_next);
	free(w->tx_bufs);
	free(w->slots);
	free(w->gro_bufs);
	free(w->rx_bufs);
}

int wg_loop_new(struct wg_loop **out, struct wg_device *dev, const int *tun_fds, unsigned int n_queues,
		int uapi_fd, const struct wg_loop_opts *opts)
{
	struct wg_loop *l = calloc(1, sizeof(*l));
	unsigned int i;
	int r = -ENOMEM;

	if (!l || !n_queues || n_queues > TUN_MAX_QUEUES)
		goto fail_fds;
	l->w = calloc(n_queues, sizeof(*l->w));
	if (!l->w)
		goto fail_fds;
	l->dev = dev;
	l->o.no_offload = opts && opts->no_offload;
	l->o.tcp = opts && opts->tcp;
	l->o.on_hup = opts ? opts->on_hup : NULL;
	l->o.hup_arg = opts ? opts->hup_arg : NULL;
	l->tcp_listen = (struct loop_src){ SRC_TCP_LISTEN, -1 };
	if (l->o.tcp && n_queues != 1) {
		r = -EINVAL;	/* the TCP transport runs on worker 0 alone */
		goto fail_fds;
	}
	busypoll_init(&l->busypoll, opts && opts->no_busy_poll);
	pthread_mutex_init(&l->hs_lock, NULL);
	l->hs_uio = calloc(1, sizeof(*l->hs_uio));
	l->hs_sendq = calloc(UDPIO_MAX_BATCH, sizeof(*l->hs_sendq));
	if (!l->hs_uio || !l->hs_sendq) {
		free(l->hs_uio);
		free(l->hs_sendq);
		pthread_mutex_destroy(&l->hs_lock);
		goto fail_fds;
	}
	l->hs_uio->fd = -1;
	l->uapi = (struct loop_src){ SRC_UAPI, uapi_fd };
	l->timer = (struct loop_src){ SRC_TIMER, -1 };
	l->sig = (struct loop_src){ SRC_SIGNAL, -1 };
	l->vnet = !l->o.no_offload && loop_tun_has_vnet_hdr(tun_fds[0]);
	/* the device's offloads are shared by its queues: set once */
	l->tso = l->vnet && loop_tun_offloads(tun_fds[0]);
	noise_set_slots(n_queues + 1);	/* the last for the handshake thread */

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		r = -errno;
		l->epfd = -1;
		for (i = 0; i < n_queues; i++)
			close(tun_fds[i]);
		if (uapi_fd >= 0)
			close(uapi_fd);
		free(l->hs_uio);
		free(l->hs_sendq);
		pthread_mutex_destroy(&l->hs_lock);
		free(l->w);
		free(l);
		return r;
	}
	/* From here on the workers own the fds, so wg_loop_free closes them. */
	l->n_workers = n_queues;
	for (i = 0; i < n_queues; i++)
		l->w[i].tun.fd = -1;
	for (i = 0; i < n_queues; i++)
		if ((r = worker_init(l, &l->w[i], i, tun_fds[i])) < 0)
			break;
	if (r < 0) {
		for (i++; i < n_queues; i++)
			close(tun_fds[i]);
		goto fail;
	}
	if ((r = loop_ctl_init(l)) < 0)
		goto fail;

	dev->ops.udp_send = l->o.tcp ? loop_op_tcp_send : loop_op_udp_send;
	dev->ops.authenticated = l->o.tcp ? loop_op_tcp_authenticated : NULL;
	dev->transport = l->o.tcp ? IPPROTO_TCP : IPPROTO_UDP;
	dev->ops.tun_write = loop_op_tun_write;
	dev->ops.rebind = loop_op_rebind;
	dev->ops.now = op_now;
	dev->ops.wall = op_wall;
	dev->ops.ctx = l;
	*out = l;
	return 0;

fail:
	wg_loop_free(l);
	return r;
fail_fds:
	for (i = 0; i < n_queues; i++)
		close(tun_fds[i]);
	if (uapi_fd >= 0)
		close(uapi_fd);
	if (l)
		free(l->w);
	free(l);
	return r;
}

void wg_loop_free(struct wg_loop *l)
{
	if (!l)
		return;
	loop_ctl_free(l);
	loop_tcp_free(l);
	/* The port before the link: whoever waits for the link to go (a supervisor, wg-quick, a
	 * restart after kill -9 of the monitor) may bind the port at once. */
	for (unsigned int i = 0; i < l->n_workers; i++)
		worker_close_sockets(&l->w[i]);
	if (l->hs_uio)
		udpio_close(l->hs_uio);
	for (unsigned int i = 0; i < l->n_workers; i++)
		worker_free(&l->w[i]);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l->hs_uio);
	free(l->hs_sendq);
	pthread_mutex_destroy(&l->hs_lock);
	if (l->dev && l->dev->ops.ctx == l)
		memset(&l->dev->ops, 0, sizeof(l->dev->ops));
	free(l->w);
	free(l);
}

/* ---- run ---- */

/* One event of worker w; the control sources come only to worker 0. */
static void worker_event(struct loop_worker *w, struct epoll_event *ev)
{
	struct wg_loop *l = w->l;
	struct loop_src *s = ev->data.ptr;
	uint64_t v;

	switch (s->kind) {
	case SRC_TUN:
		if (ev->events & (EPOLLHUP | EPOLLERR) && !(ev->events & EPOLLIN)) {
			log_err("the tun device went away");
			loop_stop(l, -ENODEV);
			break;
		}
		loop_tun_readable(w);
		break;
	case SRC_UDP:
		loop_udp_readable(w);
		break;
	case SRC_WAKE:
		while (read(s->fd, &v, sizeof(v)) == sizeof(v))
			;
		break;
	case SRC_UAPI:
		loop_uapi_accept(l);
		break;
	case SRC_CONN:
		loop_conn_event(l, (struct loop_conn *)s);
		/* the connection may be gone: later events of this batch cannot name it, as
		 * one fd appears once per epoll_wait */
		break;
	case SRC_TIMER:
		loop_timer_event(l);
		if (l->o.tcp)
			loop_tcp_tick(l);
		break;
	case SRC_SIGNAL:
		loop_signal_event(l);
		break;
	case SRC_TCP_LISTEN:
		loop_tcp_accept(l);
		break;
	case SRC_TCP_CONN:
		loop_tcp_event(l, s, ev->events);
		break;
	}
}

static int worker_run(struct loop_worker *w)
{
	struct epoll_event evs[32];
	struct busypoll bp = w->l->busypoll;

	loop_self = w;
	noise_set_thread_slot(w->id);
	while (!stopping(w->l)) {
		int n = busypoll_wait(&bp, w->epfd, evs, 32);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait failed: %s", strerror(errno));
			loop_stop(w->l, -errno);
			break;
		}
		if (__atomic_load_n(&w->swap, __ATOMIC_ACQUIRE)) {
			loop_worker_take_socket(w);
			continue;	/* the events may name the old socket */
		}
		bool data = false;
		for (int i = 0; i < n && !stopping(w->l); i++) {
			enum src_kind k = ((struct loop_src *)evs[i].data.ptr)->kind;

			data |= k == SRC_TUN || k == SRC_UDP || k == SRC_TCP_CONN;
			worker_event(w, &evs[i]);
		}
		if (w->l->tcp_dead)
			loop_tcp_sweep(w->l);
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
	noise_set_thread_slot(l->n_workers);
	wg_device_handshake_serve(l->dev);
	return NULL;
}

/* Handshake messages get a thread of their own, so data never waits for them. The TCP
 * transport's connections are worker 0's alone: there the worker serves the queue itself. */
static void hs_start(struct wg_loop *l)
{
	int r;

	if (l->o.tcp)
		return;
	wg_device_handshake_external(l->dev, true);
	r = pthread_create(&l->hs_thread, NULL, hs_thread, l);
	if (r) {
		log_warn("cannot start the handshake thread (%s): workers serve handshakes", strerror(r));
		wg_device_handshake_external(l->dev, false);
		return;
	}
	l->hs_running = true;
}

static void hs_end(struct wg_loop *l)
{
	if (!l->hs_running)
		return;
	wg_device_handshake_stop(l->dev);
	pthread_join(l->hs_thread, NULL);
	l->hs_running = false;
	wg_device_handshake_external(l->dev, false);
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
