/* libFuzzer: wg-quick and wg setconf parsing; a success must hold consistent data, a failure
 * must say where. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "wg/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int fmt = CONFIG_WG_QUICK; fmt <= CONFIG_WG_SETCONF; fmt++) {
		struct config c;
		char err[256];

		if (!config_parse(&c, (const char *)data, size, "fuzz.conf", fmt, err, sizeof(err))) {
			if (strncmp(err, "fuzz.conf:", 10) || c.n_peers || c.peers)
				abort();
			continue;
		}
		for (size_t i = 0; i < c.n_addresses; i++)
			if (c.addresses[i].cidr > (c.addresses[i].family == AF_INET ? 32 : 128))
				abort();
		for (size_t p = 0; p < c.n_peers; p++) {
			for (size_t i = 0; i < c.peers[p].n_allowed_ips; i++)
				if (c.peers[p].allowed_ips[i].family != AF_INET &&
				    c.peers[p].allowed_ips[i].family != AF_INET6)
					abort();
			if (c.peers[p].has_endpoint && !c.peers[p].endpoint_host[0])
				abort();
		}
		if (fmt == CONFIG_WG_SETCONF && (c.n_addresses || c.n_dns || c.has_mtu || c.table))
			abort();
		config_free(&c);
	}
	return 0;
}
