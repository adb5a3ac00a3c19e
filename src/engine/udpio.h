/* Batched UDP I/O for the underlay socket: sendmmsg/recvmmsg, UDP GSO (UDP_SEGMENT: a run of
 * same-size datagrams to one peer leaves as one super-datagram) and UDP GRO (received
 * super-datagrams are split back by their gso_size), big socket buffers, IPv4 and IPv6 on one
 * dual-stack socket, and the local address of each datagram (IP_PKTINFO / IPV6_PKTINFO) so
 * that replies leave from the address the peer contacted. Plus the tun side, which has no batching syscall: a read()/write() loop.
 * No allocation; one struct udpio per worker (it holds the per-call scratch). */
#ifndef CULVERT_UDPIO_H
#define CULVERT_UDPIO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "lib/endpoint.h"

enum {
	UDPIO_MAX_BATCH = 256,      /* datagrams per udpio_send call; messages per recv */
	UDPIO_MAX_SEGS = 64,        /* kernel limit on segments in one GSO/GRO datagram */
	UDPIO_MAX_GSO_BYTES = 65507,/* payload of one super-datagram (65535 - IPv4 - UDP) */
	UDPIO_DEFAULT_BUF = 4 << 20,
};

/* What is active, for `culvert show`. */
struct udpio_caps {
	int family;            /* AF_INET, or AF_INET6 (dual-stack unless v6only) */
	bool dual_stack;
	bool gso;              /* sends use UDP_SEGMENT */
	bool gro;              /* UDP_GRO is on: one receive may carry up to 64 datagrams */
	bool pktinfo;          /* receives report the local address (udpio_pkt.ep.local) */
	bool sndbuf_forced, rcvbuf_forced;  /* SO_*BUFFORCE took (CAP_NET_ADMIN) */
	int sndbuf, rcvbuf;    /* sizes the kernel reports */
};

/* SO_SNDBUF and SO_RCVBUF of want bytes each, past the sysctl limits where the caller may
 * (CAP_NET_ADMIN); caps' buffer fields say what the kernel gave. For any datagram socket (the
 * ICMP transport's raw ones too). */
void udpio_set_bufs(int fd, int want, struct udpio_caps *caps);

struct udpio_opts {
	int bufsize;           /* SO_SNDBUF/SO_RCVBUF wish; 0: UDPIO_DEFAULT_BUF */
	bool no_gso, no_gro;   /* do not use (also: tests force the fallback) */
	bool v6only;           /* AF_INET6 socket without IPv4 */
	bool pktinfo;          /* ask for the local address of each received datagram */
};

struct udpio_stats {
	uint64_t tx_gso_msgs;      /* super-datagrams sent */
	uint64_t tx_gso_fallback;  /* super-datagrams the kernel refused, sent one by one */
	uint64_t tx_dropped;       /* datagrams dropped on a send error other than EAGAIN */
	uint64_t rx_gro_msgs;      /* received super-datagrams (more than one segment) */
	uint64_t rx_trunc;         /* truncated receives dropped */
	uint64_t tx_src_gone;      /* sends whose source address had gone, retried without it */
};

struct udpio_pkt {
	uint8_t *buf;
	size_t len;
	struct endpoint ep;        /* remote: destination (send) or source (recv); local: the
				    * source to use (send) or the address it came to (recv) */
};

/* Room for the control messages of one datagram: GSO size or GRO size, and packet info. */
enum { UDPIO_CTL_SPACE = CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) +
			 CMSG_SPACE(sizeof(struct in_pktinfo)) };

struct udpio {
	int fd;
	struct udpio_caps caps;
	struct udpio_stats stats;
	int last_err;              /* errno of the last dropped send */
	struct mmsghdr msgs[UDPIO_MAX_BATCH];
	struct iovec iov[UDPIO_MAX_BATCH];
	union endpoint_addr addrs[UDPIO_MAX_BATCH];
	union { struct cmsghdr h; char b[UDPIO_CTL_SPACE]; } ctl[UDPIO_MAX_BATCH];
	/* receive: the last recvmmsg's messages not yet all returned (see udpio_recv) */
	size_t rx_nm, rx_msg, rx_off;   /* messages, the one being split, and where */
	bool rx_started;                /* rx_msg's control messages are read: */
	size_t rx_seg;                  /* ... its segment size */
	struct endpoint_local rx_src;   /* ... and local address */
	size_t rx_seg_min, rx_seg_hint; /* smallest segment of this receive, of the last one */
	bool rx_drained;                /* the last recvmmsg got fewer messages than asked */
};

/* Socket of bind's family bound to it, non-blocking, set up as udpio_attach does. */
int udpio_open(struct udpio *u, const union endpoint_addr *bind, const struct udpio_opts *o);
/* Take over a UDP socket: buffers, GSO probe (getsockopt UDP_SEGMENT), UDP_GRO. 0 or -errno;
 * a missing offload is not an error, caps says what is on. */
int udpio_attach(struct udpio *u, int fd, const struct udpio_opts *o);
void udpio_close(struct udpio *u);

/* Send pkts[0..n) (n <= UDPIO_MAX_BATCH) in order, each from its src when one is set.
 * Returns how many were handled (sent, or dropped on a per-datagram error, counted): fewer
 * than n only when the socket is full; the caller decides whether to retry from there (never
 * by waiting). -EAGAIN (or -errno) when none was handled. A super-datagram refused with EIO
 * (no checksum offload on the route) turns GSO off; EINVAL or EMSGSIZE (e.g. segments above
 * the path MTU) fall back to one datagram at a time for that run only. A source the host no
 * longer has (EINVAL, EADDRNOTAVAIL, ENETUNREACH, ENODEV) is given up: the datagrams go again
 * from whatever source the kernel picks and their src in pkts[] is cleared to say so. */
int udpio_send(struct udpio *u, struct udpio_pkt *pkts, size_t n);

/* Receive up to nbufs messages into bufs[i][0..cap) and split them into out[0..n_out): each
 * out[] points into a buffer. With GRO on, as many messages as out[] should hold by the last
 * receive's segment size are taken (at least one) and cap should be 65535. Segments that do
 * not fit in out[] are returned by the next calls, without a syscall, while udpio_rx_pending:
 * until then the caller passes the same bufs and leaves the unreturned bytes alone.
 * Returns the count (0 when all of the messages were truncated), or -EAGAIN/-errno.
 * u->rx_drained: the last recvmmsg had fewer messages than asked (the socket was empty). */
int udpio_recv(struct udpio *u, uint8_t *const *bufs, size_t cap, size_t nbufs,
	       struct udpio_pkt *out, size_t n_out);
bool udpio_rx_pending(const struct udpio *u);

/* The source control message for dst into ctl (space bytes at least UDPIO_CTL_SPACE's share):
 * IP_PKTINFO for an IPv4 dst (also on a dual-stack socket), IPV6_PKTINFO for IPv6. Returns
 * the bytes used, 0 when src is unset. */
size_t udpio_put_src(void *ctl, size_t space, const union endpoint_addr *dst, const struct endpoint_local *src);
/* What the kernel said about a received datagram: its GRO segment size (*seg, left alone
 * without one) and the local address it was sent to (*src, zeroed without one). */
void udpio_parse_ctl(const struct msghdr *mh, size_t *seg, struct endpoint_local *src);

/* "gso on, gro on, pktinfo, dual-stack, sndbuf 8388608 (forced), rcvbuf 8388608 (forced)" */
const char *udpio_caps_str(const struct udpio_caps *c, char *buf, size_t len);

/* tun side: one packet per read(); reads until EAGAIN or n packets into bufs[i][0..cap),
 * lengths to lens[]. Returns the count, or -errno if the first read fails. */
int udpio_tun_read(int fd, uint8_t *const *bufs, size_t cap, size_t *lens, size_t n);
/* write() each packet; returns how many were handled (a packet the kernel rejects, e.g. with
 * EINVAL, is dropped and counted in *dropped), fewer than n only on EAGAIN; -errno if none. */
int udpio_tun_write(int fd, const struct iovec *pkts, size_t n, uint64_t *dropped);

#endif
