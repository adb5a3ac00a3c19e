/* libFuzzer: arbitrary bytes as a daemon's answer to get=1 / get=culvert, through the client's
 * parser (what `culvert show` and `culvert up` read from any socket named like a wg interface).
 * Nothing may crash or leak; on success every parsed field must be well formed, on failure the
 * state must be left empty. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "wg/uapi_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct uapi_device_state empty;
	struct uapi_device_state d;
	/* an exact-size copy, not NUL-terminated, so any read past the end is caught */
	char *text = malloc(size ? size : 1);
	int r;

	if (!text)
		return 0;
	memcpy(text, data, size);
	r = uapi_client_parse_get(&d, text, size);
	free(text);
	if (r < 0) {
		if (memcmp(&d, &empty, sizeof(d)))
			abort();
		return 0;
	}
	if (r > 0)
		abort();
	for (size_t i = 0; i < d.n_ext; i++)
		if (!d.ext[i].key || !d.ext[i].value || !*d.ext[i].key)
			abort();
	(void)uapi_ext_get(d.ext, d.n_ext, "drop_bad_mac1");
	for (size_t i = 0; i < d.n_peers; i++) {
		const struct uapi_peer_state *p = &d.peers[i];

		if (memchr(p->endpoint, '\0', sizeof(p->endpoint)) == NULL)
			abort();
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			const struct config_cidr *a = &p->allowed_ips[j];
			if (!(a->family == AF_INET && a->cidr <= 32) && !(a->family == AF_INET6 && a->cidr <= 128))
				abort();
		}
		for (size_t j = 0; j < p->n_ext; j++)
			if (!p->ext[j].key || !p->ext[j].value)
				abort();
	}
	uapi_device_state_free(&d);
	return 0;
}
