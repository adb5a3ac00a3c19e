/* ICMP transport: framing round trips, every bad input counted by name, sessions by
 * (address, identifier), the listener's held requests and queue bounds, and the dialler's
 * poll policy against an injected clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/packet.h"
#include "wire/icmp.h"

#define MS 1000000ull

static void test_round_trip(void **state)
{
	uint8_t out[2048], msg[1400];
	struct icmpw_msg m;
	enum icmpw_drop why;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13);
	for (int v6 = 0; v6 < 2; v6++) {
		size_t lens[] = { 0, 1, 148, 1400 };

		for (size_t k = 0; k < 4; k++) {
			size_t n = icmpw_build(out, sizeof(out), v6, ICMPW_DIALLER, 0x1234, 7, 9, msg, lens[k]);

			assert_int_equal(n, ICMPW_OVERHEAD + lens[k]);
			assert_int_equal(out[0], v6 ? 128 : 8);
			if (!v6)
				assert_int_equal(pkt_csum(out, n), 0);
			assert_true(icmpw_parse(out, n, v6, ICMPW_LISTENER, 1400, &m, &why));
			assert_int_equal(m.id, 0x1234);
			assert_int_equal(m.seq, 7);
			assert_int_equal(m.backlog, 0);   /* requests carry none */
			assert_int_equal(m.len, lens[k]);
			assert_memory_equal(m.data, msg, lens[k]);

			n = icmpw_build(out, sizeof(out), v6, ICMPW_LISTENER, 0x1234, 8, 9, msg, lens[k]);
			assert_int_equal(out[0], v6 ? 129 : 0);
			assert_true(icmpw_parse(out, n, v6, ICMPW_DIALLER, 1400, &m, &why));
			assert_int_equal(m.backlog, 9);
			assert_int_equal(m.seq, 8);
			assert_memory_equal(m.data, msg, lens[k]);
		}
	}
	assert_int_equal(icmpw_build(out, ICMPW_OVERHEAD + 9, false, ICMPW_DIALLER, 1, 1, 0, msg, 10), 0);
}

static enum icmpw_drop parse_fail(const uint8_t *p, size_t n, bool v6, enum icmpw_role role)
{
	struct icmpw_msg m;
	enum icmpw_drop why = ICMPW_DROP_MAX;

	assert_false(icmpw_parse(p, n, v6, role, 1000, &m, &why));
	return why;
}

static void refix(uint8_t *p, size_t n)
{
	p[2] = p[3] = 0;
	uint16_t c = pkt_csum(p, n);
	p[2] = (uint8_t)(c >> 8);
	p[3] = (uint8_t)c;
}

/* What the routing-loop check asks: requests and replies the transport built, either way, are
 * ours; an ordinary ping, another type or a cut message is not, and the checksum is not read. */
static void test_is_ours(void **state)
{
	uint8_t out[128], msg[10] = { 1, 2, 3 };

	(void)state;
	for (int v6 = 0; v6 < 2; v6++) {
		size_t n = icmpw_build(out, sizeof(out), v6, ICMPW_DIALLER, 7, 1, 0, msg, sizeof(msg));
		assert_true(icmpw_is_ours(out, n, v6));
		assert_false(icmpw_is_ours(out, n, !v6));	/* the other family's type */
		out[2] ^= 0xff;					/* a checksum still owed */
		assert_true(icmpw_is_ours(out, n, v6));
		assert_false(icmpw_is_ours(out, ICMPW_ECHO_HLEN + 1, v6));
		n = icmpw_build(out, sizeof(out), v6, ICMPW_LISTENER, 7, 1, 0, NULL, 0);
		assert_true(icmpw_is_ours(out, n, v6));
		out[ICMPW_ECHO_HLEN] ^= 1;			/* an ordinary ping's payload */
		assert_false(icmpw_is_ours(out, n, v6));
		out[ICMPW_ECHO_HLEN] ^= 1;
		out[1] = 1;					/* a code other than 0 */
		assert_false(icmpw_is_ours(out, n, v6));
	}
}

static void test_bad_inputs(void **state)
{
	uint8_t p[2048], msg[1200] = { 1, 2, 3 };
	size_t n = icmpw_build(p, sizeof(p), false, ICMPW_DIALLER, 5, 6, 0, msg, 100);

	assert_int_equal(parse_fail(p, 7, false, ICMPW_LISTENER), ICMPW_DROP_SHORT);
	/* A request at the dialler, a reply at the listener, a code, another type. */
	assert_int_equal(parse_fail(p, n, false, ICMPW_DIALLER), ICMPW_DROP_TYPE);
	p[1] = 1;
	assert_int_equal(parse_fail(p, n, false, ICMPW_LISTENER), ICMPW_DROP_TYPE);
	p[1] = 0;
	p[20] ^= 1;
	assert_int_equal(parse_fail(p, n, false, ICMPW_LISTENER), ICMPW_DROP_CSUM);
	p[20] ^= 1;
	/* Lying lengths, both ways, then a truthful one above the limit. */
	p[13]++;
	refix(p, n);
	assert_int_equal(parse_fail(p, n, false, ICMPW_LISTENER), ICMPW_DROP_LENGTH);
	p[13] -= 2;
	refix(p, n);
	assert_int_equal(parse_fail(p, n, false, ICMPW_LISTENER), ICMPW_DROP_LENGTH);
	n = icmpw_build(p, sizeof(p), true, ICMPW_DIALLER, 5, 6, 0, msg, 100);
	assert_int_equal(parse_fail(p, n - 1, true, ICMPW_LISTENER), ICMPW_DROP_LENGTH);
	n = icmpw_build(p, sizeof(p), true, ICMPW_DIALLER, 5, 6, 0, msg, 1001);
	assert_int_equal(parse_fail(p, n, true, ICMPW_LISTENER), ICMPW_DROP_TOO_LONG);
	/* Bad magic is an ordinary ping, short of our header too; a bad version is ours. */
	n = icmpw_build(p, sizeof(p), true, ICMPW_DIALLER, 5, 6, 0, msg, 10);
	p[10] = 2;
	assert_int_equal(parse_fail(p, n, true, ICMPW_LISTENER), ICMPW_DROP_VERSION);
	p[8] = 'x';
	assert_int_equal(parse_fail(p, n, true, ICMPW_LISTENER), ICMPW_DROP_FOREIGN);
	assert_int_equal(parse_fail(p, 10, true, ICMPW_LISTENER), ICMPW_DROP_FOREIGN);
	/* Every reason has its own name. */
	for (int i = 0; i < ICMPW_DROP_MAX; i++) {
		assert_non_null(icmpw_drop_name(i));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(icmpw_drop_name(i), icmpw_drop_name(j));
	}
}

static void test_two_diallers_one_nat(void **state)
{
	struct icmpw_table t;
	struct icmpw_key a = { .ep.in4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc6120302) },
			       .id = 100 }, b = a, c = a;   /* 198.18.3.2 */
	struct icmpw_session *sa, *sb;
	uint16_t seq;
	const uint8_t *msg;
	size_t len;
	uint8_t bl;
	uint64_t now = 1000 * MS;

	b.id = 101;   /* the NAT gave the second dialler another identifier */
	c.ep.in4.sin_addr.s_addr = htonl(0xc6120309);
	/* Same address and identifier toward another of our addresses: another session. */
	{
		struct icmpw_table t2;
		struct icmpw_key a2 = a;

		a2.ep.local.in.s_addr = htonl(0xc6120301);
		assert_int_equal(icmpw_table_init(&t2, 2, 1, 10), 0);
		assert_ptr_not_equal(icmpw_table_get(&t2, &a, 0, true), icmpw_table_get(&t2, &a2, 0, true));
		icmpw_table_free(&t2);
	}
	assert_int_equal(icmpw_table_init(&t, 2, 4, 100), 0);
	sa = icmpw_table_get(&t, &a, now, true);
	sb = icmpw_table_get(&t, &b, now, true);
	assert_non_null(sa);
	assert_non_null(sb);
	assert_ptr_not_equal(sa, sb);
	assert_ptr_equal(icmpw_table_get(&t, &a, now, false), sa);
	assert_null(icmpw_table_get(&t, &c, now, true));   /* full */
	/* Each answered with its own identifier's requests, in order. */
	icmpw_session_hold(sa, 50, now);
	icmpw_session_hold(sa, 51, now);
	icmpw_session_hold(sb, 50, now);
	assert_int_equal(icmpw_session_enqueue(&t, sb, "to-b", 4), 0);
	assert_true(icmpw_session_take(&t, sb, now, &seq, &msg, &len, &bl));
	assert_int_equal(seq, 50);
	assert_memory_equal(msg, "to-b", 4);
	assert_false(icmpw_session_take(&t, sb, now, &seq, &msg, &len, &bl));
	assert_int_equal(icmpw_session_enqueue(&t, sa, "a1", 2), 0);
	assert_int_equal(icmpw_session_enqueue(&t, sa, "a2", 2), 0);
	assert_int_equal(icmpw_session_enqueue(&t, sa, "a3", 2), 0);
	assert_true(icmpw_session_take(&t, sa, now, &seq, &msg, &len, &bl));
	assert_int_equal(seq, 50);
	assert_int_equal(bl, 2);
	assert_true(icmpw_session_take(&t, sa, now, &seq, &msg, &len, &bl));
	assert_int_equal(seq, 51);
	assert_memory_equal(msg, "a2", 2);
	assert_int_equal(bl, 1);
	assert_false(icmpw_session_take(&t, sa, now, &seq, &msg, &len, &bl));   /* no slot left */
	/* A held request lapses after ICMPW_HOLD_NS. */
	icmpw_session_hold(sa, 52, now);
	assert_int_equal(icmpw_session_held(sa, now + ICMPW_HOLD_NS - 1), 1);
	assert_false(icmpw_session_take(&t, sa, now + ICMPW_HOLD_NS, &seq, &msg, &len, &bl));
	/* An idle session makes room for a newcomer. */
	assert_non_null(icmpw_table_get(&t, &c, now + ICMPW_SESSION_TTL_NS + 1, true));
	icmpw_table_free(&t);
}

/* Proof asked (the WireGuard listener): echo requests are anyone's, spoofed or not, so an
 * unproven session may be evicted for a newcomer and one source holds at most
 * ICMPW_UNPROVEN_PER_SOURCE; proven sessions keep their slots. Without it (plaintext), one
 * address may take every slot and a full table refuses. */
static struct icmpw_key src_key(uint32_t addr, uint16_t id)
{
	struct icmpw_key k;

	memset(&k, 0, sizeof(k));
	k.ep.in4.sin_family = AF_INET;
	k.ep.in4.sin_addr.s_addr = htonl(addr);
	k.id = id;
	return k;
}

static void test_unproven_sessions(void **state)
{
	enum { N = 8, ATTACKER = 0xc6120666, PEER = 0xc6120302 };
	struct icmpw_table t;
	struct icmpw_key k, peer = src_key(PEER, 7);
	struct icmpw_session *s, *first;
	uint64_t now = 1000 * MS;

	(void)state;
	assert_int_equal(icmpw_table_init(&t, N, 4, 100), 0);
	t.prove = true;
	/* one address, 32 identifiers (the empty polls of the attack): four sessions */
	for (uint16_t id = 0; id < 32; id++) {
		k = src_key(ATTACKER, id);
		s = icmpw_table_get(&t, &k, now + id, true);
		if (id < ICMPW_UNPROVEN_PER_SOURCE)
			assert_non_null(s);
		else
			assert_null(s);
	}
	assert_int_equal(t.unproven, ICMPW_UNPROVEN_PER_SOURCE);
	/* the real dialler gets one, and keeps it once its message authenticated */
	assert_non_null(icmpw_table_get(&t, &peer, now + 100, true));
	assert_true(icmpw_table_prove(&t, &peer, 1));
	assert_false(icmpw_table_prove(&t, &peer, 1));	/* once */
	assert_int_equal(t.unproven, ICMPW_UNPROVEN_PER_SOURCE);
	/* spoofed sources fill the rest, then each newcomer evicts the unproven one silent
	 * longest, with what was queued for it counted as lost */
	for (uint32_t a = 1; a <= N - ICMPW_UNPROVEN_PER_SOURCE - 1; a++) {
		k = src_key(ATTACKER + a, 1);
		assert_non_null(icmpw_table_get(&t, &k, now + 200 + a, true));
	}
	k = src_key(ATTACKER, 0);
	first = icmpw_table_get(&t, &k, now, false);
	assert_non_null(first);
	assert_int_equal(icmpw_session_enqueue(&t, first, "c", 1), 0);
	k = src_key(ATTACKER + 100, 1);
	assert_ptr_equal(icmpw_table_get(&t, &k, now + 300, true), first);
	assert_int_equal(t.lost, 1);
	k = src_key(ATTACKER, 0);
	assert_null(icmpw_table_get(&t, &k, now + 300, false));
	/* however many come, the proven session stays */
	for (uint32_t a = 200; a < 200 + 4 * N; a++) {
		k = src_key(ATTACKER + a, 1);
		assert_non_null(icmpw_table_get(&t, &k, now + 400 + a, true));
		assert_non_null(icmpw_table_get(&t, &peer, now + 400 + a, false));
	}
	assert_int_equal(t.unproven, N - 1);
	icmpw_table_free(&t);

	/* every slot proven: a newcomer is refused, nothing is evicted */
	assert_int_equal(icmpw_table_init(&t, 2, 4, 100), 0);
	t.prove = true;
	for (uint16_t id = 0; id < 2; id++) {
		k = src_key(PEER, id);
		assert_non_null(icmpw_table_get(&t, &k, now, true));
		assert_true(icmpw_table_prove(&t, &k, 10 + id));	/* two peers */
	}
	k = src_key(ATTACKER, 0);
	assert_null(icmpw_table_get(&t, &k, now + 1, true));
	assert_int_equal(t.unproven, 0);
	icmpw_table_free(&t);

	/* one peer proving session after session (many identifiers, or whoever relays its
	 * messages first) holds one proven slot: its older ones are unproven again, evictable */
	assert_int_equal(icmpw_table_init(&t, 4, 4, 100), 0);
	t.prove = true;
	for (uint16_t id = 0; id < 4; id++) {
		k = src_key(PEER + id, id);
		assert_non_null(icmpw_table_get(&t, &k, now + id, true));
		assert_true(icmpw_table_prove(&t, &k, 5));
		assert_int_equal(t.unproven, id);
	}
	k = src_key(ATTACKER, 0);
	s = icmpw_table_get(&t, &k, now + 10, true);
	assert_non_null(s);
	assert_int_equal(s->key.ep.in4.sin_addr.s_addr, htonl(ATTACKER));
	k = src_key(PEER, 0);
	assert_null(icmpw_table_get(&t, &k, now + 10, false));	/* the oldest went */
	k = src_key(PEER + 3, 3);
	assert_true(icmpw_table_get(&t, &k, now + 10, false)->proven);	/* the latest stays */
	icmpw_table_free(&t);

	/* no proof asked: one address may hold every slot, and a full table refuses */
	assert_int_equal(icmpw_table_init(&t, N, 4, 100), 0);
	for (uint16_t id = 0; id < N; id++) {
		k = src_key(ATTACKER, id);
		assert_non_null(icmpw_table_get(&t, &k, now, true));
	}
	assert_null(icmpw_table_get(&t, &peer, now, true));
	assert_int_equal(t.unproven, 0);
	icmpw_table_free(&t);
}

static void test_queue_bounds(void **state)
{
	struct icmpw_table t;
	struct icmpw_key k = { .ep.in6.sin6_family = AF_INET6, .id = 7 };
	struct icmpw_session *s;
	uint8_t big[65] = { 0 };
	uint16_t seq;
	const uint8_t *msg;
	size_t len;
	uint8_t bl;

	assert_int_equal(icmpw_table_init(&t, 1, 3, 64), 0);
	s = icmpw_table_get(&t, &k, 0, true);
	assert_int_equal(icmpw_session_enqueue(&t, s, big, 65), -EMSGSIZE);
	for (int i = 0; i < 3; i++)
		assert_int_equal(icmpw_session_enqueue(&t, s, big, 64), 0);
	assert_int_equal(icmpw_session_enqueue(&t, s, big, 1), -ENOBUFS);
	/* More requests than slots: the oldest is let go. */
	for (uint16_t i = 0; i < ICMPW_SLOTS + 2; i++)
		icmpw_session_hold(s, i, 0);
	assert_int_equal(icmpw_session_held(s, 0), ICMPW_SLOTS);
	assert_true(icmpw_session_take(&t, s, 0, &seq, &msg, &len, &bl));
	assert_int_equal(seq, 2);
	assert_int_equal(icmpw_session_enqueue(&t, s, big, 1), 0);
	icmpw_table_free(&t);
	assert_int_equal(icmpw_table_init(&t, 1, 1, ICMPW_MAX_MSG + 1), -EINVAL);
}

static void test_poll_policy(void **state)
{
	struct icmpw_poll p;
	uint64_t t = 5000 * MS, next;

	icmpw_poll_init(&p, t);
	assert_int_equal(icmpw_poll_due(&p, t, &next), 1);   /* at start: one poll */
	icmpw_poll_sent(&p, t, false);
	assert_int_equal(icmpw_poll_due(&p, t, &next), 0);
	assert_int_equal(next, t + ICMPW_REFRESH_NS);
	assert_int_equal(icmpw_poll_due(&p, t + ICMPW_REFRESH_NS, &next), 1);   /* refresh */
	/* A reply says 5 more are queued: poll for all of them at once, capped at the slots. */
	icmpw_poll_reply(&p, t + 10 * MS, 5, true);
	assert_int_equal(icmpw_poll_due(&p, t + 10 * MS, &next), 6);
	icmpw_poll_reply(&p, t + 10 * MS, 200, true);
	assert_int_equal(icmpw_poll_due(&p, t + 10 * MS, &next), ICMPW_SLOTS);
	for (int i = 0; i < 3; i++)
		icmpw_poll_sent(&p, t + 11 * MS, false);
	assert_int_equal(icmpw_poll_due(&p, t + 11 * MS, &next), ICMPW_SLOTS - 3);
	/* The backlog stops counting once traffic is old: back to keeping one held. */
	assert_int_equal(icmpw_poll_due(&p, t + 10 * MS + ICMPW_ACTIVE_NS, &next), 1);
	/* Long idle: nothing held, polls thin out to ICMPW_IDLE_MAX_NS apart. */
	icmpw_poll_init(&p, t);
	icmpw_poll_sent(&p, t, false);
	{
		uint64_t u = t + 60000 * MS, last = t;
		unsigned int polls = 0;

		icmpw_poll_sent(&p, u - ICMPW_IDLE_MAX_NS + MS, false);
		last = u - ICMPW_IDLE_MAX_NS + MS;
		for (uint64_t now = u; now < u + 40000 * MS; now += 10 * MS) {
			if (icmpw_poll_due(&p, now, &next)) {
				assert_true(now - last >= ICMPW_IDLE_MAX_NS);
				icmpw_poll_sent(&p, now, false);
				last = now;
				polls++;
			}
		}
		assert_in_range(polls, 9, 11);   /* 40 s at one per 4 s */
	}
	/* Active (recent data, quiet now): one held all the time, i.e. one per refresh. */
	icmpw_poll_init(&p, t);
	{
		unsigned int polls = 0;

		for (uint64_t now = t; now < t + 8000 * MS; now += 10 * MS) {
			if (now == t + 4000 * MS)
				icmpw_poll_sent(&p, now, true);
			for (unsigned int d = icmpw_poll_due(&p, now, &next); d; d--, polls++)
				icmpw_poll_sent(&p, now, false);
		}
		assert_in_range(polls, 9, 11);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_is_ours),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_two_diallers_one_nat),
		cmocka_unit_test(test_unproven_sessions),
		cmocka_unit_test(test_queue_bounds),
		cmocka_unit_test(test_poll_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
