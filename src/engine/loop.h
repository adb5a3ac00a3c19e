/* The event loop of one WireGuard interface: epoll over the tun device, the UDP sockets
 * (IPv4 and IPv6 on the same port), the uapi control socket and its connections, a timerfd
 * for the peers' timers and a signalfd. One worker thread for now. */
#ifndef CULVERT_ENGINE_LOOP_H
#define CULVERT_ENGINE_LOOP_H
#include <stdint.h>

struct wg_device;
struct wg_loop;

/* Takes ownership of tun_fd and uapi_fd (the listening unix socket, or -1). Installs the
 * device's ops (udp_send, tun_write, rebind, clocks) to point at the loop. 0 or -errno. */
int wg_loop_new(struct wg_loop **out, struct wg_device *dev, int tun_fd, int uapi_fd);
/* Runs until SIGTERM/SIGINT (returns 0) or a fatal error (-errno, e.g. the tun device went away). */
int wg_loop_run(struct wg_loop *l);
void wg_loop_free(struct wg_loop *l);

/* Opens the UDP sockets on dev->listen_port (0: a random port, written back) with dev->fwmark.
 * Called by the device through ops.rebind; exposed for the CLI's first bind. */
int wg_loop_bind(struct wg_loop *l);

#endif
