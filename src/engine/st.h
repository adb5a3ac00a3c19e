/* culvert simpletun: the tutorial's plaintext tunnel, over TCP (2-byte length framing) or UDP
 * (one packet per datagram). Shared state and helpers of st_tcp.c and st_udp.c. */
#ifndef CULVERT_ST_H
#define CULVERT_ST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <net/if.h>
#include <netdb.h>

enum { ST_DEFAULT_PORT = 55555, ST_BATCH = 64, ST_BACKOFF_MIN_MS = 100, ST_BACKOFF_MAX_MS = 5000 };

struct st_config {
	const char *ifname;
	bool server, tap, udp, debug;
	const char *host;      /* client: server name or address */
	const char *port;
	const char *bind;      /* local address to bind, or NULL */
	int family;            /* AF_UNSPEC, AF_INET or AF_INET6 (-4 / -6) */
};

/* Drop and close reasons, each with its own counter. */
enum st_drop {
	ST_DROP_NO_PEER,        /* tun packet while no peer is connected or known */
	ST_DROP_QUEUE_FULL,     /* tun packet while the socket is backed up */
	ST_DROP_BAD_PACKET,     /* frame/datagram that is not an IP packet (tun) or Ethernet frame (tap) */
	ST_DROP_TUN_WRITE,      /* the kernel refused the packet */
	ST_DROP_DGRAM_EMPTY,
	ST_DROP_DGRAM_TOO_LONG,
	ST_DROP_SEND_ERROR,
	ST_DROP_MAX
};
enum st_close {
	ST_CLOSE_PEER,          /* orderly close or reset by the peer */
	ST_CLOSE_ZERO_LENGTH,
	ST_CLOSE_TOO_LONG,
	ST_CLOSE_ERROR,         /* socket error */
	ST_CLOSE_REPLACED,      /* a newer client took over */
	ST_CLOSE_MAX
};

struct st_counters {
	unsigned long long tx_frames, tx_bytes, rx_frames, rx_bytes, connects;
	unsigned long long drop[ST_DROP_MAX], close[ST_CLOSE_MAX];
};

enum st_tag { ST_TAG_TUN = 1, ST_TAG_SIG, ST_TAG_TIMER, ST_TAG_LISTEN, ST_TAG_SOCK };

struct st_ctx {
	const struct st_config *cfg;
	char ifname[IFNAMSIZ];
	int tun, ep, sig, timer;
	size_t limit;           /* largest packet accepted from the peer: MTU (+18 on tap) */
	struct st_counters c;
	bool stop;
};

/* Open (or create) the device, epoll, signalfd and timerfd. 0 or -errno (already logged). */
int st_setup(struct st_ctx *x, const struct st_config *cfg);
void st_teardown(struct st_ctx *x);
/* Re-read the MTU; true when the limit grew (the device MTU was raised). */
bool st_refresh_limit(struct st_ctx *x);
/* Sanity check of a packet about to be written to the device. */
bool st_plausible(const struct st_ctx *x, const uint8_t *p, size_t n);
/* Write one packet to the device, counting it or its drop. */
void st_tun_write(struct st_ctx *x, const uint8_t *p, size_t n);
/* Handle the signalfd; sets x->stop. */
void st_on_signal(struct st_ctx *x);
void st_print_counters(const struct st_ctx *x);
int st_epoll_add(struct st_ctx *x, int fd, uint32_t events, enum st_tag tag);
int st_epoll_mod(struct st_ctx *x, int fd, uint32_t events, enum st_tag tag);
void st_timer_arm(struct st_ctx *x, unsigned int ms);
/* Resolve the server (client) or the bind address (server). 0 or -errno (logged). */
int st_resolve(const struct st_config *cfg, int socktype, struct addrinfo **out);
const char *st_addr_str(const struct sockaddr *sa, char *buf, size_t len);
/* Large socket buffers, so bursts from the device are not dropped. */
void st_sock_buffers(int fd);

int st_tcp_run(struct st_ctx *x);
int st_udp_run(struct st_ctx *x);

#endif
