/* simpletun's stream framing: a 2-byte big-endian length, then that many bytes of one packet.
 * framing_rx reassembles frames from arbitrary partial reads; framing_txq queues encoded frames
 * so that any number of them leave in one write(). */
#ifndef CULVERT_FRAMING_H
#define CULVERT_FRAMING_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

enum { FRAMING_HDR_LEN = 2, FRAMING_MAX_LEN = 65535 };

enum framing_err {
	FRAMING_OK,
	FRAMING_ZERO_LENGTH,   /* a length of 0: the original never sends it */
	FRAMING_TOO_LONG,      /* length above the limit (device MTU plus link headers) */
};
const char *framing_err_name(enum framing_err e);

struct framing_rx {
	uint8_t *buf;
	size_t cap, start, end;
	size_t limit;          /* largest accepted length */
	enum framing_err err;  /* sticky once set, until framing_rx_reset() */
	size_t bad_len;        /* the offending length when err is set */
};

/* limit in 1..FRAMING_MAX_LEN; cap is raised to at least limit + FRAMING_HDR_LEN. 0 or -errno. */
int framing_rx_init(struct framing_rx *rx, size_t limit, size_t cap);
void framing_rx_free(struct framing_rx *rx);
void framing_rx_reset(struct framing_rx *rx);
/* Changing the limit never makes the buffer too small: it only grows the buffer, and on
 * -ENOMEM the limit stays what it was. 0 or -errno. */
int framing_rx_set_limit(struct framing_rx *rx, size_t limit);
/* Where the next read goes and how much fits (never 0 while no error is set). Frames returned
 * by framing_rx_next() become invalid after this call. */
uint8_t *framing_rx_space(struct framing_rx *rx, size_t *room);
void framing_rx_commit(struct framing_rx *rx, size_t n);
/* Copy up to len bytes in (for tests and fuzzing); returns how many were taken. */
size_t framing_rx_push(struct framing_rx *rx, const void *data, size_t len);
/* 1: (*frame, *len) is one whole frame; 0: need more bytes; -EPROTO: rx->err says why. */
int framing_rx_next(struct framing_rx *rx, const uint8_t **frame, size_t *len);
/* Bytes held that do not yet form a whole frame. */
static inline size_t framing_rx_pending(const struct framing_rx *rx) { return rx->end - rx->start; }

static inline void framing_put_hdr(uint8_t hdr[FRAMING_HDR_LEN], size_t len)
{
	hdr[0] = (uint8_t)(len >> 8);
	hdr[1] = (uint8_t)len;
}

/* One frame as two iovecs (header, packet) for a single writev(). len must be 1..65535. */
void framing_iov(struct iovec iov[2], uint8_t hdr[FRAMING_HDR_LEN], const void *pkt, size_t len);

/* Bounded byte queue of encoded frames for a non-blocking stream socket. */
struct framing_txq {
	uint8_t *buf;
	size_t cap, start, end;
};
int framing_txq_init(struct framing_txq *q, size_t cap);
void framing_txq_free(struct framing_txq *q);
void framing_txq_reset(struct framing_txq *q);
/* Room for a payload of up to max bytes (header slot reserved in front), or NULL when the queue
 * is full. Read the packet straight into it, then commit its real length (1..max). */
uint8_t *framing_txq_reserve(struct framing_txq *q, size_t max);
void framing_txq_commit(struct framing_txq *q, size_t len);
/* Append a copy of one frame (len 1..65535): 0, or -ENOBUFS when it does not fit. */
int framing_txq_append(struct framing_txq *q, const void *pkt, size_t len);
static inline size_t framing_txq_pending(const struct framing_txq *q) { return q->end - q->start; }
/* One send() of everything queued (MSG_NOSIGNAL). Bytes sent, or -errno (-EAGAIN: try later). */
ssize_t framing_txq_flush(struct framing_txq *q, int fd);

#endif
