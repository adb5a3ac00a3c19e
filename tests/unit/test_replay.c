/* The replay window: order, reordering, duplicates, stale counters, far jumps, ring wrap and
 * the REJECT_AFTER_MESSAGES limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "wg/messages.h"
#include "wg/replay.h"

static struct replay_window w;

static int setup(void **state)
{
	replay_init(&w);
	return 0;
}

static void test_in_order(void **state)
{
	for (uint64_t c = 0; c < 20000; c++) {
		assert_true(replay_check(&w, c));
		assert_true(replay_update(&w, c));
		assert_false(replay_update(&w, c));
	}
}

static void test_reorder_and_duplicates(void **state)
{
	assert_true(replay_update(&w, 0));
	assert_true(replay_update(&w, 100));
	for (uint64_t c = 99; c >= 1; c--)
		assert_true(replay_update(&w, c));
	for (uint64_t c = 0; c <= 100; c++) {
		assert_false(replay_check(&w, c));
		assert_false(replay_update(&w, c));
	}
	assert_true(replay_update(&w, 102));
	assert_true(replay_update(&w, 101));
	assert_false(replay_update(&w, 101));
}

static void test_window_edge(void **state)
{
	uint64_t top = 100000;

	assert_true(replay_update(&w, top));
	/* The oldest counter still inside the window, and the first one outside it. */
	assert_true(replay_check(&w, top + 1 - REPLAY_WINDOW));
	assert_false(replay_check(&w, top - REPLAY_WINDOW));
	assert_true(replay_update(&w, top + 1 - REPLAY_WINDOW));
	assert_false(replay_update(&w, top + 1 - REPLAY_WINDOW));
	assert_false(replay_update(&w, top - REPLAY_WINDOW));
	assert_false(replay_update(&w, 0));
	assert_true(REPLAY_WINDOW >= 2048);
}

static void test_far_jump(void **state)
{
	for (uint64_t c = 0; c < 300; c++)
		assert_true(replay_update(&w, c));
	/* Jumping more than the whole ring clears every stale bit. */
	uint64_t far = 1ULL << 40;
	assert_true(replay_update(&w, far));
	for (uint64_t c = far - REPLAY_WINDOW + 1; c < far; c += 61)
		assert_true(replay_check(&w, c));
	assert_false(replay_check(&w, 299));
	assert_false(replay_update(&w, far));
}

/* Moving the window by less than the ring, many times, reuses words: bits from the previous
 * lap must not mark new counters as seen. */
static void test_ring_wrap(void **state)
{
	uint64_t c = 0;
	for (int lap = 0; lap < 10; lap++) {
		for (uint64_t k = 0; k < REPLAY_BITS_TOTAL; k += 2, c += 2)
			assert_true(replay_update(&w, c));
		/* Fill the odd ones that are still in the window, newest first. */
		for (uint64_t k = 1; k < REPLAY_WINDOW - 2; k += 2)
			assert_true(replay_update(&w, c - 2 - k));
	}
	for (uint64_t k = 0; k < 1000; k++)
		assert_false(replay_check(&w, c - 2 - k));
}

static void test_reject_limit(void **state)
{
	assert_false(replay_update(&w, REJECT_AFTER_MESSAGES));
	assert_false(replay_update(&w, UINT64_MAX));
	assert_true(replay_update(&w, REJECT_AFTER_MESSAGES - 1));
	assert_false(replay_update(&w, REJECT_AFTER_MESSAGES - 1));
	assert_true(replay_update(&w, REJECT_AFTER_MESSAGES - 2));
	assert_false(replay_update(&w, REJECT_AFTER_MESSAGES));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_in_order, setup),
		cmocka_unit_test_setup(test_reorder_and_duplicates, setup),
		cmocka_unit_test_setup(test_window_edge, setup),
		cmocka_unit_test_setup(test_far_jump, setup),
		cmocka_unit_test_setup(test_ring_wrap, setup),
		cmocka_unit_test_setup(test_reject_limit, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
