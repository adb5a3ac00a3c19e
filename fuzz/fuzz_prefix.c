/* nl_parse_prefix and config_parse_cidr/endpoint take text from users and config files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/netlink.h"
#include "wg/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint8_t addr[16];
	unsigned int plen;
	int family;
	struct config_cidr c;
	char host[256];
	uint16_t port;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (nl_parse_prefix(s, &family, addr, &plen) &&
	    (plen > (family == AF_INET ? 32u : 128u) || (family != AF_INET && family != AF_INET6)))
		abort();
	if (config_parse_cidr(&c, (const char *)data, size, true) && c.cidr > (c.family == AF_INET ? 32 : 128))
		abort();
	config_parse_endpoint((const char *)data, size, host, sizeof(host), &port);
	free(s);
	return 0;
}
