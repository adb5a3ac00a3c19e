/* One formatter for every address the project prints: logs, `culvert show`, the uapi's
 * endpoint= lines and the files `culvert up` writes all read the same. */
#include <stdio.h>
#include <arpa/inet.h>

#include "lib/addr.h"

const char *addr_str(int family, const void *addr, char *buf, size_t len)
{
	if ((family != AF_INET && family != AF_INET6) || !inet_ntop(family, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *addr_cidr_str(int family, const void *addr, unsigned int cidr, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s/%u", addr_str(family, addr, a, sizeof(a)), cidr);
	return buf;
}

const char *addr_sockaddr_str(const struct sockaddr *sa, bool port, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], scope[12] = "";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		addr_str(AF_INET, &s4->sin_addr, a, sizeof(a));
		if (port)
			snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
		else
			snprintf(buf, len, "%s", a);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		addr_str(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		if (s6->sin6_scope_id)
			snprintf(scope, sizeof(scope), "%%%u", s6->sin6_scope_id);
		if (port)
			snprintf(buf, len, "[%s%s]:%u", a, scope, ntohs(s6->sin6_port));
		else
			snprintf(buf, len, "%s%s", a, scope);
	} else if (sa->sa_family == AF_UNSPEC) {
		snprintf(buf, len, "(none)");
	} else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
	}
	return buf;
}
