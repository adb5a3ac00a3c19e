/* The TCP transport's rule for what a frame may be, apart from its sockets so that it can be
 * fuzzed (fuzz/fuzz_tcp.c). */
#ifndef CULVERT_ENGINE_XPORT_TCP_H
#define CULVERT_ENGINE_XPORT_TCP_H
#include <stddef.h>
#include <stdint.h>

#include "wire/framing.h"

enum { XPORT_TCP_MIN_MSG = 32 };	/* the smallest WireGuard message: a keepalive */

/* The next frame of a connection's stream. 1: (*f, *len) is a frame whose length a WireGuard
 * message can have (XPORT_TCP_MIN_MSG to max); 0: more bytes are needed; -EPROTO: a length no
 * message has, or a framing error (rx->err says which): the connection must close. */
int xport_tcp_frame_next(struct framing_rx *rx, size_t max, const uint8_t **f, size_t *len);

#endif
