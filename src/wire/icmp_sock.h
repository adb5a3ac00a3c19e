/* ICMP transport sockets: raw ICMP/ICMPv6 sockets filtered to the one echo type a side takes,
 * batched receive and send, and the guard that stops the kernel answering echoes in the
 * listener's network namespace for as long as the listener lives (see docs/design.md). */
#ifndef CULVERT_ICMP_SOCK_H
#define CULVERT_ICMP_SOCK_H
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "wire/icmp.h"

struct icmpw_sock {
	int fd;
	bool v6;
	enum icmpw_role role;
	bool filtered;            /* icmpw_sock_dial was called */
};

/* Raw socket (CAP_NET_RAW), non-blocking, close-on-exec, filtered to echo requests (listener)
 * or echo replies (dialler), reporting each datagram's local address. 0 or -errno. */
int icmpw_sock_open(struct icmpw_sock *s, bool v6, enum icmpw_role role);
void icmpw_sock_close(struct icmpw_sock *s);

struct icmpw_dgram {
	uint8_t *buf;             /* receive: caller's buffer of cap bytes */
	size_t cap;
	const uint8_t *icmp;      /* receive: the ICMP message inside buf (IPv4 header skipped) */
	size_t len;               /* receive: its length; send: bytes at buf */
	struct sockaddr_storage peer;
	struct endpoint_local local; /* receive: the address it was sent to; send: the source */
	bool unicast;             /* receive: sent to a unicast address of ours (not broadcast or
	                           * multicast): only those may be answered */
};

/* recvmmsg into up to n datagrams: how many, 0 when none waits, or -errno. Datagrams whose
 * IPv4 header is malformed come back with len 0. */
int icmpw_sock_recv(struct icmpw_sock *s, struct icmpw_dgram *d, unsigned int n);
/* sendmmsg of d[0..n) (buf/len/peer): how many left, or -errno for the first. */
int icmpw_sock_send(struct icmpw_sock *s, struct icmpw_dgram *d, unsigned int n);
/* The session key of a received message with identifier id; and back, where to answer. */
void icmpw_sock_key(const struct icmpw_sock *s, const struct icmpw_dgram *d, uint16_t id,
		    struct icmpw_key *key);
void icmpw_sock_addr(const struct icmpw_key *key, struct icmpw_dgram *d);
/* Dialler: have the kernel queue on this socket only echo replies from d[i].addr carrying
 * identifier d[i].id, for the n (at most ICMPW_DIAL_MAX) diallers it serves; the list replaces
 * the last one, n == 0 takes nothing. Every raw socket gets a copy of every echo reply to the
 * host, so without this a burst to another dialler (or a flood ping) fills this socket's
 * receive buffer and the kernel drops this one's own replies. The first call, made before
 * anything is sent, discards what was queued before it. 0 or -errno. */
enum { ICMPW_DIAL_MAX = 64 };
struct icmpw_dialled {
	struct sockaddr_storage addr;
	uint16_t id;
};
int icmpw_sock_dial(struct icmpw_sock *s, const struct icmpw_dialled *d, unsigned int n);
/* Dialler: whether a reply came from the address dialled. Every raw socket sees every echo
 * reply to the host, so the identifier alone would mix two diallers on one host that happen
 * to share it toward different listeners (the listener answers from the address dialled). */
bool icmpw_sock_from(const struct icmpw_sock *s, const struct icmpw_dgram *d,
		     const struct sockaddr_storage *dialled);

/* The kernel answers echo requests itself unless net.ipv4.icmp_echo_ignore_all /
 * net.ipv6.icmp.echo_ignore_all is set; both are per network namespace. icmpw_guard_start sets
 * it to 1 and forks a small guardian (in the same namespace) that puts the old value back when
 * this process ends, however it ends (the guardian sees its pipe close), unless someone
 * changed it meanwhile. icmpw_guard_stop restores it at once and reaps the guardian. */
struct icmpw_guard {
	int pipe_w;
	pid_t pid;
	bool v6;
	char old;                 /* '0'.. the value found */
};
int icmpw_guard_start(struct icmpw_guard *g, bool v6);
int icmpw_guard_stop(struct icmpw_guard *g);
const char *icmpw_guard_path(bool v6);

#endif
