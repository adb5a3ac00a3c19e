/* culvert simpletun: the tutorial's plaintext tunnel, over TCP (2-byte length framing), UDP
 * (one packet per datagram) or ICMP echoes (one packet per echo, culvert peers only), as a mode of the engine: its loop, tun side and transports with
 * the plaintext processor (proc_plain.h). */
#ifndef CULVERT_ST_H
#define CULVERT_ST_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <net/if.h>
#include <netdb.h>

enum { ST_DEFAULT_PORT = 55555 };

struct st_config {
	const char *ifname;
	bool server, tap, udp, debug;
	bool icmp;             /* --icmp: the server answers echo requests, the client sends them */
	const char *host;      /* client: server name or address */
	const char *port;
	const char *bind;      /* local address to bind, or NULL */
	int family;            /* AF_UNSPEC, AF_INET or AF_INET6 (-4 / -6) */
	bool no_offload;       /* --no-offload: plain device, no UDP GSO/GRO */
	bool no_busy_poll;     /* --no-busy-poll: sleep in epoll_wait right after each batch */
	bool drop;             /* --user: once the device and sockets are open, become uid/gid */
	uid_t uid;
	gid_t gid;
};

/* Run until SIGINT/SIGTERM: 0, or -errno (logged). The counters are printed at exit. */
int st_loop_run(const struct st_config *cfg);

/* Open (or create) cfg's device, with virtio headers unless tap or no_offload (*vnet says
 * whether the kernel took them). 0 or -errno (already logged). */
int st_open_device(const struct st_config *cfg, char ifname[IFNAMSIZ], int *fd, bool *existed, bool *vnet);
void st_warn_plaintext(void);
/* With cfg->drop: become cfg->uid/gid with no capabilities at all (a device we created goes
 * with our fd, and nothing is bound again), once the run has its sockets. 0 or -errno. */
int st_drop_privileges(const struct st_config *cfg);
/* Resolve the server (client) or the bind address (server). 0 or -errno (logged). */
int st_resolve(const struct st_config *cfg, int socktype, struct addrinfo **out);
/* "tun vnet_hdr csum tso4 tso6 uso gro" or "tun plain (...)" ("tap ..."); returns buf. */
const char *st_off_str(bool vnet, unsigned int tun_f, bool no_offload, bool tap, char *buf, size_t len);

#endif
