/* The value tokens of a WireGuard configuration, shared by the file parser and the control
 * socket: unsigned numbers, CIDR prefixes, and endpoints (host:port, [v6]:port). */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

bool config_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!len || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

bool config_parse_cidr(struct config_cidr *out, const char *s, size_t len, bool allow_bare)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	uint64_t cidr;

	if (!alen || alen >= sizeof(buf) || (!slash && !allow_bare))
		return false;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (strchr(buf, ':')) {
		if (inet_pton(AF_INET6, buf, out->addr) != 1)
			return false;
		out->family = AF_INET6;
	} else {
		if (inet_pton(AF_INET, buf, out->addr) != 1)
			return false;
		out->family = AF_INET;
	}
	cidr = out->family == AF_INET ? 32 : 128;
	if (slash && !config_parse_uint(slash + 1, len - alen - 1, cidr, &cidr))
		return false;
	out->cidr = (uint8_t)cidr;
	return true;
}

bool config_parse_endpoint(const char *s, size_t len, char *host, size_t hostlen, uint16_t *port)
{
	const char *h, *colon;
	size_t hl;
	uint64_t pv;

	if (!len)
		return false;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (!rb || rb + 1 >= s + len || rb[1] != ':')
			return false;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
		if (!hl || !memchr(h, ':', hl))	/* brackets are for IPv6 literals */
			return false;
	} else {
		colon = memrchr(s, ':', len);
		if (!colon)
			return false;
		h = s;
		hl = (size_t)(colon - s);
		if (!hl || memchr(h, ':', hl))		/* bare IPv6: ambiguous with the port */
			return false;
	}
	for (size_t i = 0; i < hl; i++)
		if (isspace((unsigned char)h[i]) || h[i] == '/' || h[i] == '[' || h[i] == ']' || !h[i])
			return false;
	if (!config_parse_uint(colon + 1, (size_t)(s + len - colon - 1), 65535, &pv))
		return false;
	if (hl >= hostlen)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)pv;
	return true;
}
