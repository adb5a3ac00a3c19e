/* Batched UDP I/O for the underlay socket: sendmmsg/recvmmsg, UDP GSO (UDP_SEGMENT: a run of
 * same-size datagrams to one peer leaves as one super-datagram) and UDP GRO (received
 * super-datagrams are split back by their gso_size), big socket buffers, IPv4 and IPv6 on one
 * dual-stack socket. Plus the tun side, which has no batching syscall: a read()/write() loop.
 * No allocation; one struct udpio per worker (it holds the per-call scratch). */
#ifndef CULVERT_UDPIO_H
#define CULVERT_UDPIO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

enum {
	UDPIO_MAX_BATCH = 256,      /* datagrams per udpio_send call; messages per recv */
	UDPIO_MAX_SEGS = 64,        /* kernel limit on segments in one GSO/GRO datagram */
	UDPIO_MAX_GSO_BYTES = 65507,/* payload of one super-datagram (65535 - IPv4 - UDP) */
	UDPIO_DEFAULT_BUF = 4 << 20,
};

union udpio_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* What is active, for `culvert show`. */
struct udpio_caps {
	int family;            /* AF_INET, or AF_INET6 (dual-stack unless v6only) */
	bool dual_stack;
	bool gso;              /* sends use UDP_SEGMENT */
	bool gro;              /* UDP_GRO is on: one receive may carry up to 64 datagrams */
	bool sndbuf_forced, rcvbuf_forced;  /* SO_*BUFFORCE took (CAP_NET_ADMIN) */
	int sndbuf, rcvbuf;    /* sizes the kernel reports */
};

struct udpio_opts {
	int bufsize;           /* SO_SNDBUF/SO_RCVBUF wish; 0: UDPIO_DEFAULT_BUF */
	bool no_gso, no_gro;   /* do not use (also: tests force the fallback) */
	bool v6only;           /* AF_INET6 socket without IPv4 */
};

struct udpio_stats {
	uint64_t tx_gso_msgs;      /* super-datagrams sent */
	uint64_t tx_gso_fallback;  /* super-datagrams the kernel refused, sent one by one */
	uint64_t tx_dropped;       /* datagrams dropped on a send error other than EAGAIN */
	uint64_t rx_gro_msgs;      /* received super-datagrams (more than one segment) */
	uint64_t rx_trunc;         /* truncated receives dropped */
	uint64_t rx_overflow;      /* segments dropped for want of out[] slots */
};

struct udpio_pkt {
	uint8_t *buf;
	size_t len;
	union udpio_addr addr;     /* destination (send) or source (recv); IPv4 never v4-mapped */
};

struct udpio {
	int fd;
	struct udpio_caps caps;
	struct udpio_stats stats;
	int last_err;              /* errno of the last dropped send */
	struct mmsghdr msgs[UDPIO_MAX_BATCH];
	struct iovec iov[UDPIO_MAX_BATCH];
	union udpio_addr addrs[UDPIO_MAX_BATCH];
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl[UDPIO_MAX_BATCH];
};

/* Socket of bind's family bound to it, non-blocking, set up as udpio_attach does. */
/* Same family, address, port (and IPv6 scope). */
bool udpio_addr_equal(const union udpio_addr *a, const union udpio_addr *b);
int udpio_open(struct udpio *u, const union udpio_addr *bind, const struct udpio_opts *o);
/* Take over a UDP socket: buffers, GSO probe (getsockopt UDP_SEGMENT), UDP_GRO. 0 or -errno;
 * a missing offload is not an error, caps says what is on. */
int udpio_attach(struct udpio *u, int fd, const struct udpio_opts *o);
void udpio_close(struct udpio *u);

/* Send pkts[0..n) (n <= UDPIO_MAX_BATCH) in order. Returns how many were handled (sent, or
 * dropped on a per-datagram error, counted): fewer than n only when the socket is full; then
 * the caller retries from there. -EAGAIN (or -errno) when none was handled. A super-datagram
 * refused with EIO (no checksum offload on the route) turns GSO off; EINVAL or EMSGSIZE (e.g.
 * segments above the path MTU) fall back to one datagram at a time for that run only. */
int udpio_send(struct udpio *u, const struct udpio_pkt *pkts, size_t n);

/* Receive up to nbufs messages into bufs[i][0..cap) and split them into out[0..n_out): each
 * out[] points into a buffer. With GRO on, at most n_out/64 messages are taken per call (at
 * least one) and cap should be 65535. Returns the count, or -EAGAIN/-errno. */
int udpio_recv(struct udpio *u, uint8_t *const *bufs, size_t cap, size_t nbufs,
	       struct udpio_pkt *out, size_t n_out);

/* "gso on, gro on, dual-stack, sndbuf 8388608 (forced), rcvbuf 8388608 (forced)" */
const char *udpio_caps_str(const struct udpio_caps *c, char *buf, size_t len);

/* tun side: one packet per read(); reads until EAGAIN or n packets into bufs[i][0..cap),
 * lengths to lens[]. Returns the count, or -errno if the first read fails. */
int udpio_tun_read(int fd, uint8_t *const *bufs, size_t cap, size_t *lens, size_t n);
/* write() each packet; returns how many were handled (a packet the kernel rejects, e.g. with
 * EINVAL, is dropped and counted in *dropped), fewer than n only on EAGAIN; -errno if none. */
int udpio_tun_write(int fd, const struct iovec *pkts, size_t n, uint64_t *dropped);

#endif
