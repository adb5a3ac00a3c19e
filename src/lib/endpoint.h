/* The far end of a datagram and the local address it uses, one type for every transport:
 * the UDP socket's batches, the WireGuard device's peers and the ICMP listener's sessions. */
#ifndef CULVERT_ENDPOINT_H
#define CULVERT_ENDPOINT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* AF_INET or AF_INET6 (IPv4 never v4-mapped), or AF_UNSPEC: none. */
union endpoint_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* The local end, of the remote address's family: on receive the address the datagram was
 * sent to, on send the source to use, so that replies leave from the address the peer
 * contacted. All zero: none (the kernel picks). ifindex: the interface of an IPv6 link-local
 * address, else 0. */
struct endpoint_local {
	union {
		struct in_addr in;
		struct in6_addr in6;
	};
	uint32_t ifindex;
};

struct endpoint {
	union {
		union endpoint_addr addr;
		/* addr's members by the names the device code has always used */
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	};
	struct endpoint_local local;
};

socklen_t endpoint_len(const struct endpoint *ep);
/* Same family, address, port (and IPv6 scope); two AF_UNSPEC are equal. */
bool endpoint_addr_equal(const union endpoint_addr *a, const union endpoint_addr *b);
/* The remote address only (the local end is ours, not the peer's). */
bool endpoint_equal(const struct endpoint *a, const struct endpoint *b);
bool endpoint_local_equal(const struct endpoint_local *a, const struct endpoint_local *b);
bool endpoint_local_isset(const struct endpoint_local *l);
void endpoint_clear_local(struct endpoint *ep);
/* One source, as rate limits and per-source bounds count them: the IPv4 address (v4-mapped
 * or not) or the IPv6 /64, as (family 4 or 6, prefix); false for other families. */
bool endpoint_source_key(const struct sockaddr *sa, uint8_t *family, uint64_t *prefix);
/* Are a and b one source (ports aside)? False for other families or NULL. */
bool endpoint_same_source(const struct sockaddr *a, const struct sockaddr *b);
/* "198.18.0.1:51820" or "[2001:db8::1]:51820" (lib/addr.h); returns buf. */
const char *endpoint_str(const struct endpoint *ep, char *buf, size_t len);

#endif
