/* Fuzz the ICMP transport parser: byte 0 picks family and role, the rest is one ICMP message.
 * What parses must lie inside the input, respect the limit, and build back to the same bytes
 * (the ICMPv6 checksum, the kernel's, aside); a parsed request must feed a listener session. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/icmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 0x0000 and 0xffff are the two zeros of the ones' complement sum: a sender may put either
 * where the checksum comes to zero, and both verify (RFC 1624), so a rebuilt message may
 * differ there. */
static bool same_csum(const uint8_t *a, const uint8_t *b)
{
	unsigned int x = (unsigned int)a[0] << 8 | a[1], y = (unsigned int)b[0] << 8 | b[1];

	return x == y || ((x == 0 || x == 0xffff) && (y == 0 || y == 0xffff));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[65536];
	struct icmpw_msg m;
	enum icmpw_drop why;
	bool v6;
	enum icmpw_role role;
	size_t limit, n;

	if (size < 1)
		return 0;
	v6 = data[0] & 1;
	role = data[0] & 2 ? ICMPW_DIALLER : ICMPW_LISTENER;
	limit = data[0] & 4 ? 1400 : ICMPW_MAX_MSG;
	data++;
	size--;
	/* what the parser takes, the routing-loop check must call ours */
	bool ours = icmpw_is_ours(data, size, v6);
	if (!icmpw_parse(data, size, v6, role, limit, &m, &why)) {
		if ((unsigned int)why >= ICMPW_DROP_MAX || !icmpw_drop_name(why))
			abort();
		return 0;
	}
	if (m.len > limit || m.data < data || m.data + m.len > data + size || !ours)
		abort();
	n = icmpw_build(out, sizeof(out), v6, role == ICMPW_LISTENER ? ICMPW_DIALLER : ICMPW_LISTENER,
			m.id, m.seq, m.backlog, m.data, m.len);
	/* Requests' backlog byte is ignored (and with it the IPv4 checksum may differ). */
	if (n != size || memcmp(out, data, 2) || memcmp(out + 4, data + 4, 7) || memcmp(out + 12, data + 12, n - 12) ||
	    (role == ICMPW_DIALLER && out[11] != data[11]) ||
	    (!v6 && (role == ICMPW_DIALLER || out[11] == data[11]) && !same_csum(out + 2, data + 2)))
		abort();
	if (role == ICMPW_LISTENER) {
		struct icmpw_table t;
		struct icmpw_key k = { .ep.sa.sa_family = v6 ? AF_INET6 : AF_INET, .id = m.id };
		struct icmpw_session *s;
		const uint8_t *q;
		size_t qlen;
		uint16_t seq;
		uint8_t bl;

		if (icmpw_table_init(&t, 1, 2, limit < 2048 ? limit : 2048) < 0)
			return 0;
		s = icmpw_table_get(&t, &k, 0, true);
		icmpw_session_hold(s, m.seq, 0);
		if (m.len && icmpw_session_enqueue(&t, s, m.data, m.len) == 0) {
			if (!icmpw_session_take(&t, s, 0, &seq, &q, &qlen, &bl) || seq != m.seq || qlen != m.len ||
			    memcmp(q, m.data, qlen))
				abort();
		}
		icmpw_table_free(&t);
	}
	return 0;
}
