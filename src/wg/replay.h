/* Receive-side replay protection for transport counters: a sliding bitmap window (RFC 6479
 * shape) of REPLAY_BITS_TOTAL bits, of which REPLAY_WINDOW counters behind the highest one
 * seen are always tracked. Not locked: one receiver per keypair at a time. */
#ifndef CULVERT_WG_REPLAY_H
#define CULVERT_WG_REPLAY_H
#include <stdbool.h>
#include <stdint.h>

enum {
	REPLAY_BITS_PER_WORD = 8 * sizeof(unsigned long),
	REPLAY_BITS_TOTAL = 8192,
	REPLAY_WORDS = REPLAY_BITS_TOTAL / REPLAY_BITS_PER_WORD,
	/* One word of the ring is always partly ahead of the newest counter, so it is not
	 * history. */
	REPLAY_WINDOW = REPLAY_BITS_TOTAL - REPLAY_BITS_PER_WORD,
};

struct replay_window {
	uint64_t top;                          /* highest accepted counter + 1; 0 = none yet */
	unsigned long bitmap[REPLAY_WORDS];
};

void replay_init(struct replay_window *w);
/* Would this counter be accepted? No state change: use before spending work on decryption. */
bool replay_check(const struct replay_window *w, uint64_t counter);
/* Accept and record the counter (call only after it authenticated); false for a duplicate,
 * a counter that fell behind the window, or one >= REJECT_AFTER_MESSAGES. */
bool replay_update(struct replay_window *w, uint64_t counter);

#endif
