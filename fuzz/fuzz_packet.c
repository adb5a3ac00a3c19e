/* Parse, summarize, verify checksums and try every reply builder on arbitrary bytes, both as a
 * tap frame and as a tun packet. Nothing may read outside the input or the output buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *data, size_t size, bool eth)
{
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	static uint8_t out[70000];
	struct pkt_info pi, rp;
	char line[512];
	size_t n, s;

	pkt_parse(data, size, eth, &pi);
	s = pkt_summary(&pi, line, sizeof(line));
	if (strlen(line) >= sizeof(line) || (s < sizeof(line) && strlen(line) != s))
		abort();
	pkt_summary(&pi, line, 8); /* truncating output is safe too */
	pkt_verify_checksums(data, &pi);
	n = pkt_build_echo_reply(data, &pi, eth ? mac : NULL, out, sizeof(out));
	/* whatever we build must parse back cleanly with valid checksums */
	if (n && (!pkt_parse(out, n, eth, &rp) || pkt_verify_checksums(out, &rp)))
		abort();
	if (eth) {
		n = pkt_build_arp_reply(data, &pi, mac, out, sizeof(out));
		if (n && !pkt_parse(out, n, eth, &rp))
			abort();
		n = pkt_build_neigh_adv(data, &pi, mac, out, sizeof(out));
		if (n && (!pkt_parse(out, n, eth, &rp) || pkt_verify_checksums(out, &rp)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy so the sanitizer sees the end of the input */
	uint8_t *p = malloc(size ? size : 1);

	memcpy(p, data, size);
	one(p, size, false);
	one(p, size, true);
	free(p);
	return 0;
}
