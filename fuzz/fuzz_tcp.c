/* Fuzz the TCP transport's stream rule (xport_tcp_frame_next): byte 0 picks the largest
 * message, byte 1 the read size; the rest is what a connection receives. Every frame returned
 * must be a copy of the stream at that point with a length a WireGuard message can have; the
 * first length outside that range, or a framing error, must end the stream. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/xport_tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct framing_rx rx;
	size_t max, chunk, off = 0, consumed = 0;
	const uint8_t *f;
	size_t len;
	int r = 0;

	if (size < 2)
		return 0;
	max = XPORT_TCP_MIN_MSG + (size_t)data[0] * 16;
	chunk = 1 + data[1] % 128;
	data += 2;
	size -= 2;
	if (framing_rx_init(&rx, FRAMING_MAX_LEN, 0) < 0)
		return 0;
	while (off < size && r >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;

		n = framing_rx_push(&rx, data + off, n);
		if (!n)
			abort();	/* no error is set, so there must be room */
		off += n;
		while ((r = xport_tcp_frame_next(&rx, max, &f, &len)) == 1) {
			if (len < XPORT_TCP_MIN_MSG || len > max || f < rx.buf || f + len > rx.buf + rx.cap)
				abort();
			if (consumed + 2 + len > size || (size_t)(data[consumed] << 8 | data[consumed + 1]) != len ||
			    memcmp(data + consumed + 2, f, len))
				abort();
			consumed += 2 + len;
		}
	}
	if (r < 0) {
		/* the stream ended on the frame after the last one returned: its length was bad */
		size_t bad;

		if (r != -EPROTO || consumed + 2 > off)
			abort();
		bad = (size_t)(data[consumed] << 8 | data[consumed + 1]);
		if (bad >= XPORT_TCP_MIN_MSG && bad <= max)
			abort();
	}
	framing_rx_free(&rx);
	return 0;
}
