/* Fuzz the simpletun reassembler: byte 0 picks the limit, byte 1 the read size; the rest is
 * the stream. Every frame returned must lie inside the buffer and respect the limit, and the
 * frames re-encoded must equal the stream prefix that was consumed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct framing_rx rx;
	size_t limit, chunk, off = 0, consumed = 0;
	const uint8_t *f;
	size_t len;
	int r = 0;

	if (size < 2)
		return 0;
	limit = 1 + (size_t)data[0] * 8;
	chunk = 1 + data[1] % 64;
	data += 2;
	size -= 2;
	if (framing_rx_init(&rx, limit, limit + 2 + (size ? data[0] % 32 : 0)) < 0)
		return 0;
	while (off < size && r >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;

		n = framing_rx_push(&rx, data + off, n);
		if (!n)
			abort();   /* no error is set, so there must be room */
		off += n;
		while ((r = framing_rx_next(&rx, &f, &len)) == 1) {
			if (len < 1 || len > limit || f < rx.buf || f + len > rx.buf + rx.cap)
				abort();
			if (consumed + 2 + len > size || (size_t)(data[consumed] << 8 | data[consumed + 1]) != len ||
			    memcmp(data + consumed + 2, f, len))
				abort();
			consumed += 2 + len;
		}
	}
	if (r < 0 && rx.err == FRAMING_OK)
		abort();
	framing_rx_free(&rx);
	return 0;
}
