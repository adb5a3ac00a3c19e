/* The event loop of one WireGuard interface: one worker per tun queue (worker 0 is the calling
 * thread), each with its own UDP socket on the shared port and its own epoll; worker 0 also
 * serves the uapi control socket and its connections, a timerfd for the peers' timers and a
 * signalfd. */
#ifndef CULVERT_ENGINE_LOOP_H
#define CULVERT_ENGINE_LOOP_H
#include <stdbool.h>
#include <stdint.h>

struct wg_device;
struct wg_loop;

struct wg_loop_opts {
	bool no_offload;	/* no vnet_hdr/TSO use on the tun, no UDP GSO/GRO */
	bool no_busy_poll;	/* sleep right after each batch (no polling after traffic) */
	bool tcp;		/* WireGuard messages framed over TCP, not UDP (culvert peers only;
				 * one queue) */
	void (*on_hup)(void *arg);	/* SIGHUP (culvert up's reload); NULL: ignored */
	void *hup_arg;
};

/* Takes ownership of tun_fds[0..n_queues) (one queue per worker, 1..TUN_MAX_QUEUES) and uapi_fd
 * (the listening unix socket, or -1), also on failure. Installs the device's ops (udp_send,
 * tun_write, rebind, clocks) to point at the loop and sets the noise slot count. 0 or -errno. */
int wg_loop_new(struct wg_loop **out, struct wg_device *dev, const int *tun_fds, unsigned int n_queues,
		int uapi_fd, const struct wg_loop_opts *opts);
/* Starts the other workers and runs worker 0 until SIGTERM/SIGINT (returns 0) or a fatal
 * error (-errno, e.g. the tun device went away); all workers have ended when it returns. */
int wg_loop_run(struct wg_loop *l);
void wg_loop_free(struct wg_loop *l);

/* Opens the UDP sockets (or the TCP listener) on dev->listen_port (0: a random port, written
 * back) with dev->fwmark.
 * Called by the device through ops.rebind; exposed for the CLI's first bind. */
int wg_loop_bind(struct wg_loop *l);

#endif
