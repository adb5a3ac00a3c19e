/* Sliding-window replay check. The bitmap is a ring of words; advancing the window clears
 * only the words the new top skips over, so a far jump costs at most one pass of the ring. */
#include "wg/replay.h"

#include <string.h>

#include "wg/messages.h"

_Static_assert((REPLAY_WORDS & (REPLAY_WORDS - 1)) == 0, "ring size must be a power of two");
_Static_assert(REPLAY_WINDOW >= 2048, "window must cover at least 2048 packets");

void replay_init(struct replay_window *w)
{
	memset(w, 0, sizeof(*w));
}

static inline unsigned long bit_of(uint64_t c)
{
	return 1UL << (c % REPLAY_BITS_PER_WORD);
}

static inline unsigned slot_of(uint64_t word)
{
	return (unsigned)(word & (REPLAY_WORDS - 1));
}

bool replay_check(const struct replay_window *w, uint64_t counter)
{
	if (counter >= REJECT_AFTER_MESSAGES)
		return false;
	if (counter >= w->top)
		return true;
	if (w->top - counter > REPLAY_WINDOW)
		return false;
	return !(w->bitmap[slot_of(counter / REPLAY_BITS_PER_WORD)] & bit_of(counter));
}

bool replay_update(struct replay_window *w, uint64_t counter)
{
	uint64_t word = counter / REPLAY_BITS_PER_WORD;

	if (!replay_check(w, counter))
		return false;
	if (counter >= w->top) {
		if (w->top) {
			uint64_t top_word = (w->top - 1) / REPLAY_BITS_PER_WORD;
			uint64_t skip = word - top_word;
			if (skip > REPLAY_WORDS)
				skip = REPLAY_WORDS;
			for (uint64_t i = 1; i <= skip; i++)
				w->bitmap[slot_of(top_word + i)] = 0;
		}
		w->top = counter + 1;
	}
	w->bitmap[slot_of(word)] |= bit_of(counter);
	return true;
}
