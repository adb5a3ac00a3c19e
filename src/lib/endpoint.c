#include <string.h>

#include "lib/addr.h"
#include "lib/endpoint.h"

socklen_t endpoint_len(const struct endpoint *ep)
{
	return ep->sa.sa_family == AF_INET6 ? sizeof(ep->in6) : sizeof(ep->in4);
}

bool endpoint_addr_equal(const union endpoint_addr *a, const union endpoint_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port && a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id;
	return true;
}

bool endpoint_equal(const struct endpoint *a, const struct endpoint *b)
{
	return endpoint_addr_equal(&a->addr, &b->addr);
}

/* Whole-struct compares are sound: the union's in6 covers in, and every writer starts from
 * zero (endpoint_clear_local, or a zeroed struct). */
bool endpoint_local_equal(const struct endpoint_local *a, const struct endpoint_local *b)
{
	return !memcmp(&a->in6, &b->in6, sizeof(a->in6)) && a->ifindex == b->ifindex;
}

bool endpoint_local_isset(const struct endpoint_local *l)
{
	static const struct endpoint_local none;

	return !endpoint_local_equal(l, &none);
}

void endpoint_clear_local(struct endpoint *ep)
{
	memset(&ep->local, 0, sizeof(ep->local));
}

const char *endpoint_str(const struct endpoint *ep, char *buf, size_t len)
{
	return addr_sockaddr_str(&ep->sa, true, buf, len);
}

/* The IPv4 address (v4-mapped IPv6 too, or every IPv4 peer on a dual-stack socket would share
 * one /64), else the IPv6 /64, as one host usually owns a whole /64. */
bool endpoint_source_key(const struct sockaddr *sa, uint8_t *family, uint64_t *prefix)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		*family = 4;
		*prefix = in4->sin_addr.s_addr;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			uint32_t a;
			memcpy(&a, &in6->sin6_addr.s6_addr[12], 4);
			*family = 4;
			*prefix = a;
		} else {
			*family = 6;
			memcpy(prefix, in6->sin6_addr.s6_addr, 8);
		}
		return true;
	}
	return false;
}

bool endpoint_same_source(const struct sockaddr *a, const struct sockaddr *b)
{
	uint8_t fa, fb;
	uint64_t pa, pb;

	return a && b && endpoint_source_key(a, &fa, &pa) && endpoint_source_key(b, &fb, &pb) && fa == fb &&
	       pa == pb;
}
