/* Length-prefixed stream framing (simpletun's wire format). */
#include "wire/framing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

const char *framing_err_name(enum framing_err e)
{
	switch (e) {
	case FRAMING_OK:          return "ok";
	case FRAMING_ZERO_LENGTH: return "zero_length";
	case FRAMING_TOO_LONG:    return "frame_too_long";
	}
	return "unknown";
}

static int rx_grow(struct framing_rx *rx, size_t cap)
{
	uint8_t *b;

	if (cap <= rx->cap)
		return 0;
	b = realloc(rx->buf, cap);
	if (!b)
		return -ENOMEM;
	rx->buf = b;
	rx->cap = cap;
	return 0;
}

int framing_rx_init(struct framing_rx *rx, size_t limit, size_t cap)
{
	memset(rx, 0, sizeof(*rx));
	return framing_rx_set_limit(rx, limit) ?: rx_grow(rx, cap);
}

void framing_rx_free(struct framing_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof(*rx));
}

void framing_rx_reset(struct framing_rx *rx)
{
	rx->start = rx->end = 0;
	rx->err = FRAMING_OK;
	rx->bad_len = 0;
}

int framing_rx_set_limit(struct framing_rx *rx, size_t limit)
{
	int r;

	if (limit < 1 || limit > FRAMING_MAX_LEN)
		return -EINVAL;
	/* A whole frame of the largest length must fit after compaction: the limit rises only
	 * with the room for it, or a frame between the two could never complete. */
	r = rx_grow(rx, limit + FRAMING_HDR_LEN);
	if (r == 0)
		rx->limit = limit;
	return r;
}

uint8_t *framing_rx_space(struct framing_rx *rx, size_t *room)
{
	/* Move the partial frame to the front only when the tail is short: most reads then land
	 * with no copy, and a frame never straddles the end of the buffer. */
	if (rx->start == rx->end) {
		rx->start = rx->end = 0;
	} else if (rx->cap - rx->end < rx->limit + FRAMING_HDR_LEN && rx->start > 0) {
		memmove(rx->buf, rx->buf + rx->start, rx->end - rx->start);
		rx->end -= rx->start;
		rx->start = 0;
	}
	*room = rx->err ? 0 : rx->cap - rx->end;
	return rx->buf + rx->end;
}

void framing_rx_commit(struct framing_rx *rx, size_t n)
{
	if (n > rx->cap - rx->end)
		n = rx->cap - rx->end;
	rx->end += n;
}

size_t framing_rx_push(struct framing_rx *rx, const void *data, size_t len)
{
	size_t room;
	uint8_t *p = framing_rx_space(rx, &room);

	if (len > room)
		len = room;
	if (len) {
		memcpy(p, data, len);
		framing_rx_commit(rx, len);
	}
	return len;
}

int framing_rx_next(struct framing_rx *rx, const uint8_t **frame, size_t *len)
{
	size_t have = rx->end - rx->start, n;
	const uint8_t *p = rx->buf + rx->start;

	if (rx->err)
		return -EPROTO;
	if (have < FRAMING_HDR_LEN)
		return 0;
	n = (size_t)p[0] << 8 | p[1];
	/* Judge the length as soon as it is known, before waiting for a body that may never come. */
	if (n == 0 || n > rx->limit) {
		rx->err = n ? FRAMING_TOO_LONG : FRAMING_ZERO_LENGTH;
		rx->bad_len = n;
		return -EPROTO;
	}
	if (have < FRAMING_HDR_LEN + n)
		return 0;
	*frame = p + FRAMING_HDR_LEN;
	*len = n;
	rx->start += FRAMING_HDR_LEN + n;
	return 1;
}

void framing_iov(struct iovec iov[2], uint8_t hdr[FRAMING_HDR_LEN], const void *pkt, size_t len)
{
	framing_put_hdr(hdr, len);
	iov[0].iov_base = hdr;
	iov[0].iov_len = FRAMING_HDR_LEN;
	iov[1].iov_base = (void *)pkt;
	iov[1].iov_len = len;
}

int framing_txq_init(struct framing_txq *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	if (cap < FRAMING_HDR_LEN + FRAMING_MAX_LEN)
		cap = FRAMING_HDR_LEN + FRAMING_MAX_LEN;
	q->buf = malloc(cap);
	if (!q->buf)
		return -ENOMEM;
	q->cap = cap;
	return 0;
}

void framing_txq_free(struct framing_txq *q)
{
	free(q->buf);
	memset(q, 0, sizeof(*q));
}

void framing_txq_reset(struct framing_txq *q)
{
	q->start = q->end = 0;
}

uint8_t *framing_txq_reserve(struct framing_txq *q, size_t max)
{
	size_t need = FRAMING_HDR_LEN + max;

	if (max < 1 || max > FRAMING_MAX_LEN)
		return NULL;
	if (q->start == q->end)
		q->start = q->end = 0;
	if (q->cap - q->end < need && q->start > 0 && q->end - q->start + need <= q->cap) {
		memmove(q->buf, q->buf + q->start, q->end - q->start);
		q->end -= q->start;
		q->start = 0;
	}
	if (q->cap - q->end < need)
		return NULL;
	return q->buf + q->end + FRAMING_HDR_LEN;
}

void framing_txq_commit(struct framing_txq *q, size_t len)
{
	if (len < 1 || len > FRAMING_MAX_LEN || q->cap - q->end < FRAMING_HDR_LEN + len)
		return;
	framing_put_hdr(q->buf + q->end, len);
	q->end += FRAMING_HDR_LEN + len;
}

int framing_txq_append(struct framing_txq *q, const void *pkt, size_t len)
{
	uint8_t *p = framing_txq_reserve(q, len);

	if (!p)
		return -ENOBUFS;
	memcpy(p, pkt, len);
	framing_txq_commit(q, len);
	return 0;
}

ssize_t framing_txq_flush(struct framing_txq *q, int fd)
{
	ssize_t n;

	if (q->start == q->end)
		return 0;
	do
		n = send(fd, q->buf + q->start, q->end - q->start, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	q->start += (size_t)n;
	if (q->start == q->end)
		q->start = q->end = 0;
	return n;
}
