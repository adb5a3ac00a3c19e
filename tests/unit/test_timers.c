/* Timer policy against a fake clock and a scripted jitter source. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "wg/timers.h"

#define S  TIMERS_NS_PER_SEC
#define MS (S / 1000)
#define T0 (1000 * S)		/* the clock does not start at zero */

static uint64_t fixed_jitter(void *arg)
{
	return *(uint64_t *)arg;
}

static uint64_t lcg_jitter(void *arg)
{
	uint64_t *x = arg;

	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return (*x >> 33) % (REKEY_TIMEOUT_JITTER_MAX + 1);
}

static uint64_t zero = 0;

static void init(struct timers *t)
{
	timers_init(t, fixed_jitter, &zero);
}

static void test_idle(void **state)
{
	struct timers t;

	init(&t);
	assert_true(timers_next_deadline(&t) == UINT64_MAX);
	assert_int_equal(timers_tick(&t, T0), 0);
	/* a packet to send with no session asks for a handshake */
	assert_int_equal(timers_keep_fresh_send(&t, T0, 0), TIMERS_SEND_HANDSHAKE_INITIATION);
}

static void test_rekey_after_time(void **state)
{
	struct timers t;

	init(&t);
	timers_session_derived(&t, T0, true);
	assert_int_equal(timers_keep_fresh_send(&t, T0 + 119 * S, 5), 0);
	assert_int_equal(timers_keep_fresh_send(&t, T0 + 120 * S, 6), TIMERS_SEND_HANDSHAKE_INITIATION);

	/* the responder does not rekey on age when sending */
	init(&t);
	timers_session_derived(&t, T0, false);
	assert_int_equal(timers_keep_fresh_send(&t, T0 + 150 * S, 6), 0);
}

static void test_rekey_after_messages(void **state)
{
	struct timers t;

	init(&t);
	timers_session_derived(&t, T0, false);
	assert_int_equal(timers_keep_fresh_send(&t, T0 + S, REKEY_AFTER_MESSAGES), 0);
	assert_int_equal(timers_keep_fresh_send(&t, T0 + S, REKEY_AFTER_MESSAGES + 1),
			 TIMERS_SEND_HANDSHAKE_INITIATION);
	assert_true(timers_session_usable(T0, T0 + S, REJECT_AFTER_MESSAGES - 1));
	assert_false(timers_session_usable(T0, T0 + S, REJECT_AFTER_MESSAGES));
}

static void test_rekey_on_receive_near_expiry(void **state)
{
	struct timers t;

	init(&t);
	timers_session_derived(&t, T0, true);
	assert_int_equal(timers_keep_fresh_receive(&t, T0 + 164 * S), 0);
	assert_int_equal(timers_keep_fresh_receive(&t, T0 + 165 * S), TIMERS_SEND_HANDSHAKE_INITIATION);
	/* acted on once per session */
	assert_int_equal(timers_keep_fresh_receive(&t, T0 + 171 * S), 0);
	timers_session_derived(&t, T0 + 172 * S, true);
	assert_int_equal(timers_keep_fresh_receive(&t, T0 + 200 * S), 0);
	assert_int_equal(timers_keep_fresh_receive(&t, T0 + 337 * S), TIMERS_SEND_HANDSHAKE_INITIATION);

	init(&t);
	timers_session_derived(&t, T0, false);	/* responder: never */
	assert_int_equal(timers_keep_fresh_receive(&t, T0 + 170 * S), 0);
}

static void test_reject_after_time_and_zero_keys(void **state)
{
	struct timers t;

	init(&t);
	timers_session_derived(&t, T0, true);
	assert_true(timers_session_usable(T0, T0 + 179 * S, 0));
	assert_false(timers_session_usable(T0, T0 + 180 * S, 0));
	assert_true(timers_next_deadline(&t) == T0 + TIMERS_REJECT_AFTER_TIME);
	assert_int_equal(timers_tick(&t, T0 + 180 * S - 1), 0);
	assert_int_equal(timers_tick(&t, T0 + 180 * S), TIMERS_EXPIRE_SESSION);
	assert_int_equal(timers_tick(&t, T0 + 181 * S), 0);	/* fires once */
	assert_true(timers_next_deadline(&t) == T0 + 3 * TIMERS_REJECT_AFTER_TIME);
	assert_int_equal(timers_tick(&t, T0 + 540 * S - 1), 0);
	assert_int_equal(timers_tick(&t, T0 + 540 * S), TIMERS_ZERO_KEYS);
	assert_true(timers_next_deadline(&t) == UINT64_MAX);

	/* a new session pushes both back */
	init(&t);
	timers_session_derived(&t, T0, true);
	timers_session_derived(&t, T0 + 100 * S, false);
	assert_int_equal(timers_tick(&t, T0 + 180 * S), 0);
	assert_int_equal(timers_tick(&t, T0 + 280 * S), TIMERS_EXPIRE_SESSION);
	assert_int_equal(timers_tick(&t, T0 + 540 * S), 0);
	assert_int_equal(timers_tick(&t, T0 + 640 * S), TIMERS_ZERO_KEYS);
}

static void test_keepalive_after_receive(void **state)
{
	struct timers t;

	init(&t);
	timers_data_received(&t, T0);
	assert_int_equal(timers_tick(&t, T0 + 10 * S - 1), 0);
	assert_int_equal(timers_tick(&t, T0 + 10 * S), TIMERS_SEND_KEEPALIVE);
	assert_int_equal(timers_tick(&t, T0 + 30 * S), 0);

	/* anything sent in between makes the keepalive unnecessary */
	timers_data_received(&t, T0 + 40 * S);
	timers_auth_packet_sent(&t, T0 + 45 * S);
	assert_int_equal(timers_tick(&t, T0 + 60 * S), 0);

	/* more data while armed: one more keepalive after the first */
	timers_data_received(&t, T0 + 100 * S);
	timers_data_received(&t, T0 + 103 * S);
	assert_int_equal(timers_tick(&t, T0 + 110 * S), TIMERS_SEND_KEEPALIVE);
	assert_int_equal(timers_tick(&t, T0 + 119 * S), 0);
	assert_int_equal(timers_tick(&t, T0 + 120 * S), TIMERS_SEND_KEEPALIVE);
	assert_int_equal(timers_tick(&t, T0 + 200 * S), 0);
}

static void test_persistent_keepalive(void **state)
{
	struct timers t;

	init(&t);
	timers_set_persistent_keepalive(&t, T0, 25);
	/* turning it on sends one at once */
	assert_int_equal(timers_tick(&t, T0), TIMERS_SEND_PERSISTENT_KEEPALIVE);
	timers_auth_packet_sent(&t, T0);
	timers_auth_packet_traversal(&t, T0);
	assert_int_equal(timers_tick(&t, T0 + 25 * S - 1), 0);
	assert_int_equal(timers_tick(&t, T0 + 25 * S), TIMERS_SEND_PERSISTENT_KEEPALIVE);
	/* traffic either way postpones it */
	timers_auth_packet_traversal(&t, T0 + 30 * S);
	timers_auth_packet_traversal(&t, T0 + 50 * S);
	assert_int_equal(timers_tick(&t, T0 + 74 * S), 0);
	assert_int_equal(timers_tick(&t, T0 + 75 * S), TIMERS_SEND_PERSISTENT_KEEPALIVE);
	/* shortening takes effect without waiting for the old interval */
	timers_auth_packet_traversal(&t, T0 + 80 * S);
	timers_set_persistent_keepalive(&t, T0 + 81 * S, 5);
	assert_int_equal(timers_tick(&t, T0 + 86 * S), TIMERS_SEND_PERSISTENT_KEEPALIVE);
	/* off */
	timers_auth_packet_traversal(&t, T0 + 90 * S);
	timers_set_persistent_keepalive(&t, T0 + 91 * S, 0);
	assert_int_equal(timers_tick(&t, T0 + 200 * S), 0);
	timers_auth_packet_traversal(&t, T0 + 201 * S);
	assert_true(timers_next_deadline(&t) == UINT64_MAX);
}

static void test_retry_with_jitter_then_give_up(void **state)
{
	struct timers t;
	uint64_t j = 200 * MS, now = T0;
	unsigned int act, sent = 0;

	timers_init(&t, fixed_jitter, &j);
	timers_data_received(&t, now);	/* a keepalive pending must be cancelled on give-up */
	assert_int_equal(timers_want_handshake(&t, now), TIMERS_SEND_HANDSHAKE_INITIATION);
	timers_handshake_initiated(&t, now);
	sent++;
	for (;;) {
		uint64_t next = timers_next_deadline(&t);

		assert_true(next != UINT64_MAX);
		if (next == t.keepalive_at) {	/* the passive keepalive, not under test here */
			assert_int_equal(timers_tick(&t, next), TIMERS_SEND_KEEPALIVE);
			continue;
		}
		assert_true(next - now == 5 * S + 200 * MS);	/* TIMERS_REKEY_TIMEOUT + jitter */
		now = next;
		act = timers_tick(&t, now);
		if (act & TIMERS_CLEAR_QUEUE)
			break;
		assert_int_equal(act, TIMERS_SEND_HANDSHAKE_INITIATION);
		timers_handshake_initiated(&t, now);
		sent++;
	}
	printf("timers: %u initiations, gave up %.1f s after the first\n", sent, (double)(now - T0) / S);
	assert_int_equal(sent, 1 + TIMERS_MAX_HANDSHAKE_RETRIES);
	assert_true(now - T0 >= TIMERS_REKEY_ATTEMPT_TIME);
	assert_true(now - T0 <= TIMERS_REKEY_ATTEMPT_TIME + TIMERS_REKEY_TIMEOUT + (sent + 1) * REKEY_TIMEOUT_JITTER_MAX);
	/* after giving up: no more retries, and keys will be erased */
	assert_true(t.retransmit_at == 0);
	assert_true(timers_next_deadline(&t) == now + 3 * TIMERS_REJECT_AFTER_TIME);

	/* random jitter stays within bounds and differs between tries */
	uint64_t seed = 99, last = 0, prev_gap = 0;
	bool varied = false;

	timers_init(&t, lcg_jitter, &seed);
	now = T0;
	timers_handshake_initiated(&t, now);
	for (int i = 0; i < 10; i++) {
		uint64_t next = timers_next_deadline(&t), gap = next - now;

		assert_true(gap >= TIMERS_REKEY_TIMEOUT && gap <= TIMERS_REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
		varied |= i && gap != prev_gap;
		prev_gap = gap;
		now = next;
		assert_int_equal(timers_tick(&t, now), TIMERS_SEND_HANDSHAKE_INITIATION);
		timers_handshake_initiated(&t, now);
		last = now;
	}
	assert_true(varied);
	(void)last;
}

static void test_handshake_complete_stops_retries(void **state)
{
	struct timers t;

	init(&t);
	timers_handshake_initiated(&t, T0);
	timers_handshake_complete(&t, T0 + S);
	timers_session_derived(&t, T0 + S, true);
	assert_int_equal(timers_tick(&t, T0 + 10 * S), 0);
	assert_int_equal(t.handshake_attempts, 0);
}

static void test_rate_limit(void **state)
{
	struct timers t;

	init(&t);
	assert_int_equal(timers_want_handshake(&t, T0), TIMERS_SEND_HANDSHAKE_INITIATION);
	timers_handshake_initiated(&t, T0);
	assert_int_equal(timers_want_handshake(&t, T0 + 1 * S), 0);
	assert_int_equal(timers_keep_fresh_send(&t, T0 + 2 * S, 0), 0);
	assert_int_equal(timers_want_handshake(&t, T0 + 5 * S - 1), 0);
	assert_int_equal(timers_want_handshake(&t, T0 + 5 * S), TIMERS_SEND_HANDSHAKE_INITIATION);
}

static void test_new_handshake_when_no_reply(void **state)
{
	struct timers t;
	uint64_t j = 100 * MS;

	timers_init(&t, fixed_jitter, &j);
	timers_session_derived(&t, T0, true);
	timers_data_sent(&t, T0);
	timers_data_sent(&t, T0 + 3 * S);	/* does not push the deadline */
	assert_int_equal(timers_tick(&t, T0 + 15 * S + 99 * MS), 0);
	assert_int_equal(timers_tick(&t, T0 + 15 * S + 100 * MS), TIMERS_SEND_HANDSHAKE_INITIATION);

	/* any authenticated reply cancels it */
	timers_data_sent(&t, T0 + 20 * S);
	timers_auth_packet_received(&t, T0 + 21 * S);
	assert_int_equal(timers_tick(&t, T0 + 40 * S), 0);

	/* and it obeys the rate limit: an initiation went out 2.1 s before it fires */
	timers_data_sent(&t, T0 + 50 * S);
	timers_handshake_initiated(&t, T0 + 63 * S);
	timers_handshake_complete(&t, T0 + 63 * S);
	assert_int_equal(timers_tick(&t, T0 + 65 * S + 100 * MS), 0);
}

static void test_default_jitter(void **state)
{
	struct timers t;

	timers_init(&t, NULL, NULL);
	for (int i = 0; i < 200; i++) {
		timers_handshake_initiated(&t, T0);
		uint64_t gap = timers_next_deadline(&t) - T0;
		assert_true(gap >= TIMERS_REKEY_TIMEOUT && gap <= TIMERS_REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
	}
	/* timers_stop disarms everything */
	timers_data_received(&t, T0);
	timers_session_derived(&t, T0, true);
	timers_stop(&t);
	assert_true(timers_next_deadline(&t) == UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_rekey_after_time),
		cmocka_unit_test(test_rekey_after_messages),
		cmocka_unit_test(test_rekey_on_receive_near_expiry),
		cmocka_unit_test(test_reject_after_time_and_zero_keys),
		cmocka_unit_test(test_keepalive_after_receive),
		cmocka_unit_test(test_persistent_keepalive),
		cmocka_unit_test(test_retry_with_jitter_then_give_up),
		cmocka_unit_test(test_handshake_complete_stops_retries),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_new_handshake_when_no_reply),
		cmocka_unit_test(test_default_jitter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
