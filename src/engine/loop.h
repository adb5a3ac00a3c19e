/* The event loop of one interface: one worker per tun queue (worker 0 is the calling thread),
 * each with its own epoll; worker 0 also serves the uapi control socket and its connections, a
 * timerfd for the timers and a signalfd. What the tun's packets and the network's datagrams
 * are handed to is a packet processor (proc.h: the WireGuard device, proc_wg.c); how datagrams
 * travel is a transport (xport.h: UDP, TCP), chosen once at setup. */
#ifndef CULVERT_ENGINE_LOOP_H
#define CULVERT_ENGINE_LOOP_H
#include <stdbool.h>
#include <stdint.h>

struct sockaddr;
union endpoint_addr;

struct wg_device;
struct wg_loop;
struct loop_proc;

/* A TCP client's server name: the addresses dialled (the rest are ignored) and the time each
 * gets to connect when it is not the only one (SYNs at 0, 1 and 3 s: three of them). */
enum { LOOP_DIAL_MAX = 8, LOOP_DIAL_TRY_MS = 4000 };

enum loop_transport {
	LOOP_XPORT_UDP,		/* one socket per worker (SO_REUSEPORT) */
	LOOP_XPORT_TCP,		/* 2-byte length frames over TCP (culvert peers only; one worker) */
	LOOP_XPORT_ICMP,	/* echo payloads (culvert peers only; one worker) */
};

struct wg_loop_opts {
	bool no_offload;	/* no vnet_hdr/TSO use on the tun, no UDP GSO/GRO */
	bool no_busy_poll;	/* sleep right after each batch (no polling after traffic) */
	enum loop_transport transport;
	void (*on_hup)(void *arg);	/* SIGHUP (culvert up's reload); NULL: ignored */
	void *hup_arg;
	/* The UDP sockets and the TCP listener bind this address (the port is the processor's)
	 * instead of [::] or 0.0.0.0; AF_INET6 with v6only takes no IPv4. NULL: any. */
	const struct sockaddr *bind_addr;
	bool v6only;
	/* The TCP transport with one peer (a plaintext tunnel): one connection at a time, frames
	 * of 1 to the processor's frame_max bytes (a bad length closes it), the tun read only while
	 * the queue has room. With dial, no listener: dial is connected to and redialled with
	 * backoff; without, the newest accepted connection replaces the current one. */
	bool tcp_one;
	const struct sockaddr *dial;
	/* tcp_one's client: the server name's further addresses (at most LOOP_DIAL_MAX - 1), each
	 * dialled in turn when the one before has failed or not connected in LOOP_DIAL_TRY_MS,
	 * and the name, for the message when all have failed. */
	const union endpoint_addr *dial_more;
	unsigned int n_dial_more;
	const char *dial_name;
	/* The ICMP transport with one peer (a plaintext tunnel). With dial: it dials that address
	 * alone, polling from setup on for as long as it runs, and does not listen (the kernel's
	 * echo replies stay on). Without: it listens and never dials (a send to no live session
	 * fails with -ENOTCONN), in bind_addr's family alone when one is given (its address is
	 * not used: raw sockets take the whole namespace's echoes). */
	bool icmp_one;
	/* What is written to the tun was not authenticated: GRO checks TCP checksums rather than
	 * leaving them to the kernel unverified. */
	bool untrusted;
};

/* What the tun side did, for a processor's exit lines. */
struct loop_tun_stats {
	bool vnet;		/* virtio_net_hdr on the device */
	unsigned int tun_f;	/* the TUN_F_* offloads it took */
	unsigned long long tso_pkts, tso_segs, csum_done, gro_merged, gro_out;
};
void loop_tun_stats(const struct wg_loop *l, struct loop_tun_stats *st);

/* "udp", "tcp", "icmp"; and back (false for an unknown name). */
const char *loop_transport_name(enum loop_transport t);
bool loop_transport_parse(const char *s, enum loop_transport *t);
/* Whether the transport runs on worker 0 alone (more queues are refused). */
bool loop_transport_one_worker(enum loop_transport t);
/* The bytes a transport's header takes beyond UDP's: the tunnel's MTU should be that much
 * smaller than over UDP (ICMP: 6). */
unsigned int loop_transport_mtu_extra(enum loop_transport t);

/* Takes ownership of tun_fds[0..n_queues) (one queue per worker, 1..TUN_MAX_QUEUES) and uapi_fd
 * (the listening unix socket, or -1), also on failure. The processor's attach installs its
 * callbacks into the loop (see proc.h). 0 or -errno. */
int loop_new(struct wg_loop **out, const struct loop_proc *proc, const int *tun_fds, unsigned int n_queues,
	     int uapi_fd, const struct wg_loop_opts *opts);
/* loop_new with the WireGuard device as the processor (proc_wg.c): installs the device's ops
 * (udp_send, tun_write, rebind, clocks) to point at the loop and sets the noise slot count. */
int wg_loop_new(struct wg_loop **out, struct wg_device *dev, const int *tun_fds, unsigned int n_queues,
		int uapi_fd, const struct wg_loop_opts *opts);
/* Starts the other workers and runs worker 0 until SIGTERM/SIGINT (returns 0) or a fatal
 * error (-errno, e.g. the tun device went away); all workers have ended when it returns. */
int wg_loop_run(struct wg_loop *l);
void wg_loop_free(struct wg_loop *l);

/* Opens the transport's sockets (UDP sockets, the TCP listener) on the processor's listen port
 * (0: a random port, reported back through its bound op) with its fwmark. Called again on a
 * change (the processor's rebind); exposed for the CLI's first bind. */
int wg_loop_bind(struct wg_loop *l);

#endif
