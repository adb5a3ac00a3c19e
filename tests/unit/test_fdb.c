/* The learning switch of tap mode (src/wg/fdb.c) with an injected clock: frame parsing,
 * learning and lookup, the forwarding decisions (unicast, flood, hairpin, split horizon),
 * aging, moves and the flap hold, the per-port and global caps (a flood from one peer leaves
 * the others' entries), peer removal, iteration, and workers learning and looking up at once
 * while a control thread removes peers and expires (for TSan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "wg/fdb.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC)

/* Peers are opaque to the fdb: any distinct addresses do. */
static char peer_mem[8];
#define PEER(i) ((struct wg_peer *)&peer_mem[i])
#define A PEER(1)
#define B PEER(2)
#define C PEER(3)

static struct fdb fdb;

static int setup(void **state)
{
	return fdb_init(&fdb, NULL);
}

static int teardown(void **state)
{
	fdb_uninit(&fdb);
	return 0;
}

static void mac(uint8_t m[6], unsigned int n)
{
	m[0] = 0x02; m[1] = 0; m[2] = (uint8_t)(n >> 24);
	m[3] = (uint8_t)(n >> 16); m[4] = (uint8_t)(n >> 8); m[5] = (uint8_t)n;
}

/* An untagged frame from host s to host d (d == 0: broadcast). */
static size_t frame(uint8_t *f, unsigned int d, unsigned int s)
{
	memset(f, 0, 60);
	if (d)
		mac(f, d);
	else
		memset(f, 0xff, 6);
	mac(f + 6, s);
	f[12] = 0x08;
	return 60;
}

static bool fwd(struct wg_peer *from, unsigned int d, unsigned int s, uint64_t now,
		struct fdb_out *out, enum fdb_drop *why)
{
	uint8_t f[60];
	size_t n = frame(f, d, s);

	return fdb_forward(&fdb, f, n, from, now, out, why);
}

static struct wg_peer *where(unsigned int h, uint64_t now)
{
	uint8_t m[6];
	struct wg_peer *p = PEER(7);

	mac(m, h);
	if (!fdb_lookup(&fdb, m, 0, now, &p))
		return PEER(7);	/* unknown */
	return p;
}

static void test_parse(void **state)
{
	uint8_t f[64] = { 0 };
	struct fdb_frame fr;
	enum fdb_drop why;

	frame(f, 1, 2);
	assert_false(fdb_frame_parse(&fdb, f, 13, &fr, &why));
	assert_int_equal(why, FDB_DROP_SHORT);
	assert_true(fdb_frame_parse(&fdb, f, 14, &fr, &why));
	assert_int_equal(fr.vid, 0);
	assert_int_equal(fr.hlen, 14);
	assert_ptr_equal(fr.src, f + 6);
	/* 802.1Q and 802.1ad: the outer id; a tag cut short */
	f[12] = 0x81; f[13] = 0x00; f[14] = 0xe0; f[15] = 0x2a;
	assert_false(fdb_frame_parse(&fdb, f, 17, &fr, &why));
	assert_int_equal(why, FDB_DROP_SHORT);
	assert_true(fdb_frame_parse(&fdb, f, 18, &fr, &why));
	assert_int_equal(fr.vid, 42);
	assert_int_equal(fr.hlen, 18);
	f[12] = 0x88; f[13] = 0xa8; f[14] = 0x0f; f[15] = 0xff;
	assert_true(fdb_frame_parse(&fdb, f, 18, &fr, &why));
	assert_int_equal(fr.vid, 4095);
	/* group and zero sources */
	f[6] = 0x01;
	assert_false(fdb_frame_parse(&fdb, f, 60, &fr, &why));
	assert_int_equal(why, FDB_DROP_BAD_SRC);
	memset(f + 6, 0, 6);
	assert_false(fdb_frame_parse(&fdb, f, 60, &fr, &why));
	assert_int_equal(why, FDB_DROP_BAD_SRC);
	assert_int_equal(fdb_drops(&fdb, FDB_DROP_SHORT), 2);
	assert_int_equal(fdb_drops(&fdb, FDB_DROP_BAD_SRC), 2);
	assert_false(fdb_frame_parse(NULL, f, 3, &fr, NULL));
	assert_int_equal(fdb_count(&fdb), 0);
}

static void test_learn_lookup(void **state)
{
	uint8_t m[6];
	struct wg_peer *p;

	mac(m, 1);
	assert_false(fdb_lookup(&fdb, m, 0, T0, &p));
	assert_true(fdb_learn(&fdb, m, 0, A, T0));
	assert_true(fdb_lookup(&fdb, m, 0, T0, &p));
	assert_ptr_equal(p, A);
	/* another VLAN is another table */
	assert_false(fdb_lookup(&fdb, m, 5, T0, &p));
	assert_true(fdb_learn(&fdb, m, 5, FDB_LOCAL, T0));
	assert_true(fdb_lookup(&fdb, m, 5, T0, &p));
	assert_ptr_equal(p, FDB_LOCAL);
	assert_ptr_equal(where(1, T0), A);
	assert_int_equal(fdb_count(&fdb), 2);
	assert_int_equal(fdb_count_of_port(&fdb, A), 1);
	assert_int_equal(fdb_count_of_port(&fdb, FDB_LOCAL), 1);
	assert_int_equal(fdb_count_of_port(&fdb, B), 0);
}

static void test_decisions(void **state)
{
	struct fdb_out o;
	enum fdb_drop why;

	/* from the tap, broadcast: every peer, not the tap */
	assert_true(fwd(FDB_LOCAL, 0, 10, T0, &o, &why));
	assert_true(o.flood && !o.local && !o.peer);
	/* from A, unknown unicast: the tap and every other peer */
	assert_true(fwd(A, 99, 1, T0, &o, &why));
	assert_true(o.flood && o.local && !o.peer);
	/* from B to host 1 (learnt on A): A alone */
	assert_true(fwd(B, 1, 2, T0, &o, &why));
	assert_true(!o.flood && !o.local);
	assert_ptr_equal(o.peer, A);
	/* from A to host 10 (the tap's) */
	assert_true(fwd(A, 10, 1, T0, &o, &why));
	assert_true(!o.flood && o.local && !o.peer);
	/* from the tap to host 2 (on B) */
	assert_true(fwd(FDB_LOCAL, 2, 10, T0, &o, &why));
	assert_ptr_equal(o.peer, B);
	assert_false(o.local || o.flood);
	/* multicast is flooded */
	uint8_t f[60];
	frame(f, 3, 1);
	f[0] = 0x01; f[1] = 0x00; f[2] = 0x5e;
	assert_true(fdb_forward(&fdb, f, 60, A, T0, &o, &why));
	assert_true(o.flood && o.local && !o.peer);
	/* hairpin: from A to host 1, which is on A; from the tap to the tap's host */
	assert_false(fwd(A, 1, 1, T0, &o, &why));
	assert_int_equal(why, FDB_DROP_HAIRPIN);
	assert_true(fwd(A, 3, 4, T0, &o, &why));
	assert_false(fwd(A, 4, 3, T0, &o, &why));
	assert_int_equal(why, FDB_DROP_HAIRPIN);
	assert_false(fwd(FDB_LOCAL, 10, 11, T0, &o, &why));
	assert_int_equal(why, FDB_DROP_HAIRPIN);
	assert_false(o.local || o.flood || o.peer);
	assert_int_equal(fdb_drops(&fdb, FDB_DROP_HAIRPIN), 3);
	/* STP and its kin stay on their link */
	frame(f, 1, 2);
	memcpy(f, (uint8_t[]){ 0x01, 0x80, 0xc2, 0, 0, 0 }, 6);
	assert_false(fdb_forward(&fdb, f, 60, B, T0, &o, &why));
	assert_int_equal(why, FDB_DROP_RESERVED);
	f[5] = 0x10;	/* not reserved */
	assert_true(fdb_forward(&fdb, f, 60, B, T0, &o, &why));
	assert_true(o.flood);
	/* a short frame learns nothing */
	assert_false(fdb_forward(&fdb, f, 10, C, T0, &o, &why));
	assert_int_equal(why, FDB_DROP_SHORT);
	assert_int_equal(fdb_count_of_port(&fdb, C), 0);
}

static void test_split_horizon(void **state)
{
	struct fdb_limits lim = { .split_horizon = true };
	struct fdb_out o;
	enum fdb_drop why;

	fdb_uninit(&fdb);
	assert_int_equal(fdb_init(&fdb, &lim), 0);
	assert_true(fwd(A, 0, 1, T0, &o, &why));
	assert_true(o.local && !o.flood);
	assert_true(fwd(FDB_LOCAL, 0, 10, T0, &o, &why));
	assert_true(!o.local && o.flood);
	assert_true(fwd(B, 99, 2, T0, &o, &why));
	assert_true(o.local && !o.flood);
	assert_false(fwd(B, 1, 2, T0, &o, &why));
	assert_int_equal(why, FDB_DROP_SPLIT_HORIZON);
	assert_true(fwd(B, 10, 2, T0, &o, &why));
	assert_true(o.local && !o.peer);
	assert_true(fwd(FDB_LOCAL, 1, 10, T0, &o, &why));
	assert_ptr_equal(o.peer, A);
}

static void test_aging(void **state)
{
	struct fdb_limits lim = { .age_ns = 10 * SEC };
	struct fdb_out o;

	fdb_uninit(&fdb);
	assert_int_equal(fdb_init(&fdb, &lim), 0);
	assert_true(fwd(A, 0, 1, T0, &o, NULL));
	assert_true(fwd(B, 0, 2, T0, &o, NULL));
	/* host 1 keeps talking, host 2 falls silent */
	for (uint64_t t = T0; t <= T0 + 20 * SEC; t += SEC / 2)
		assert_true(fwd(A, 0, 1, t, &o, NULL));
	assert_ptr_equal(where(1, T0 + 20 * SEC), A);
	assert_ptr_equal(where(2, T0 + 10 * SEC), B);
	assert_ptr_equal(where(2, T0 + 10 * SEC + 1), PEER(7));
	/* aged but not yet collected: unknown unicast is flooded, and it counts until expiry */
	assert_true(fwd(FDB_LOCAL, 2, 10, T0 + 11 * SEC, &o, NULL));
	assert_true(o.flood && !o.peer);
	assert_int_equal(fdb_count(&fdb), 3);
	fdb_expire(&fdb, T0 + 20 * SEC);
	assert_int_equal(fdb_count(&fdb), 2);
	assert_int_equal(fdb_count_of_port(&fdb, B), 0);
	/* an aged entry goes to whoever speaks next, without a flap hold */
	assert_true(fwd(C, 0, 10, T0 + 40 * SEC, &o, NULL));
	assert_ptr_equal(where(10, T0 + 40 * SEC), C);
	assert_int_equal(fdb_drops(&fdb, FDB_DROP_FLAP), 0);
}

static void test_move_and_flap(void **state)
{
	struct fdb_out o;
	enum fdb_drop why;

	assert_true(fwd(A, 0, 1, T0, &o, NULL));
	/* at once elsewhere: refused for move_hold, the frame dropped */
	assert_false(fwd(B, 0, 1, T0 + SEC / 2, &o, &why));
	assert_int_equal(why, FDB_DROP_FLAP);
	assert_false(o.flood || o.local || o.peer);
	assert_ptr_equal(where(1, T0 + SEC / 2), A);
	/* a host that really moved follows once the hold is over */
	assert_true(fwd(B, 0, 1, T0 + 2 * SEC, &o, NULL));
	assert_ptr_equal(where(1, T0 + 2 * SEC), B);
	assert_int_equal(fdb_count_of_port(&fdb, A), 0);
	assert_int_equal(fdb_count_of_port(&fdb, B), 1);
	/* and to the tap, then traffic to it from A goes there */
	assert_true(fwd(FDB_LOCAL, 0, 1, T0 + 4 * SEC, &o, NULL));
	assert_true(fwd(A, 1, 5, T0 + 4 * SEC, &o, NULL));
	assert_true(o.local && !o.peer && !o.flood);
	assert_int_equal(fdb_drops(&fdb, FDB_DROP_FLAP), 1);
	assert_int_equal(fdb_count(&fdb), 2);

	/* without the hold, every move is taken */
	struct fdb_limits lim = { .move_hold_ns = FDB_NO_HOLD };
	fdb_uninit(&fdb);
	assert_int_equal(fdb_init(&fdb, &lim), 0);
	for (int i = 0; i < 10; i++) {
		assert_true(fwd(i & 1 ? A : B, 0, 1, T0 + (uint64_t)i, &o, NULL));
		assert_ptr_equal(where(1, T0 + (uint64_t)i), i & 1 ? A : B);
	}
}

static void test_port_cap(void **state)
{
	struct fdb_limits lim = { .max_entries = 64, .max_per_port = 8 };
	struct fdb_out o;
	enum fdb_drop why;

	fdb_uninit(&fdb);
	assert_int_equal(fdb_init(&fdb, &lim), 0);
	for (unsigned int h = 1; h <= 4; h++) {
		assert_true(fwd(A, 0, 100 + h, T0, &o, NULL));
		assert_true(fwd(B, 0, 200 + h, T0, &o, NULL));
		assert_true(fwd(FDB_LOCAL, 0, 300 + h, T0, &o, NULL));
	}
	/* C floods 10000 source MACs, then claims A's hosts once the flap hold is over */
	for (unsigned int h = 1; h <= 10000; h++)
		fwd(C, 0, 1000 + h, T0 + h, &o, NULL);
	for (unsigned int h = 1; h <= 4; h++) {
		assert_false(fwd(C, 0, 100 + h, T0 + 2 * SEC, &o, &why));
		assert_int_equal(why, FDB_DROP_PORT_FULL);
	}
	assert_int_equal(fdb_count_of_port(&fdb, C), 8);
	assert_int_equal(fdb_drops(&fdb, FDB_DROP_PORT_FULL), 10000 - 8 + 4);
	/* a frame from a source it cannot learn goes nowhere */
	assert_false(fwd(C, 0, 99999, T0 + 3 * SEC, &o, &why));
	assert_int_equal(why, FDB_DROP_PORT_FULL);
	assert_false(o.flood || o.local || o.peer);
	/* everyone else's entries are there and they still learn */
	for (unsigned int h = 1; h <= 4; h++) {
		assert_ptr_equal(where(100 + h, T0 + 3 * SEC), A);
		assert_ptr_equal(where(200 + h, T0 + 3 * SEC), B);
		assert_ptr_equal(where(300 + h, T0 + 3 * SEC), FDB_LOCAL);
		assert_true(fwd(A, 0, 110 + h, T0 + 3 * SEC, &o, NULL));
	}
	/* C's known sources still pass */
	assert_true(fwd(C, 0, 1001, T0 + 3 * SEC, &o, NULL));
	assert_int_equal(fdb_count(&fdb), 8 + 4 + 4 + 8);
}

static void test_global_cap(void **state)
{
	struct fdb_limits lim = { .max_entries = 16, .max_per_port = 6, .age_ns = 100 * SEC };
	struct fdb_out o;
	enum fdb_drop why;

	fdb_uninit(&fdb);
	assert_int_equal(fdb_init(&fdb, &lim), 0);
	for (unsigned int p = 1; p <= 3; p++)
		for (unsigned int h = 1; h <= 6; h++)
			(void)fwd(PEER(p), 0, p * 100 + h, T0, &o, NULL);
	assert_int_equal(fdb_count(&fdb), 16);
	assert_int_equal(fdb_drops(&fdb, FDB_DROP_TABLE_FULL), 2);
	assert_false(fwd(PEER(4), 0, 400, T0 + 1, &o, &why));
	assert_int_equal(why, FDB_DROP_TABLE_FULL);
	/* port 1's entries age; a full table collects them when it needs room */
	for (unsigned int p = 2; p <= 3; p++)
		for (unsigned int h = 1; h <= 6; h++)
			(void)fwd(PEER(p), 0, p * 100 + h, T0 + 50 * SEC, &o, NULL);
	assert_true(fwd(PEER(4), 0, 400, T0 + 120 * SEC, &o, NULL));
	assert_int_equal(fdb_count_of_port(&fdb, PEER(1)), 0);
	assert_int_equal(fdb_count(&fdb), 11);
	fdb_uninit(&fdb);
	assert_int_equal(fdb_init(&fdb, &(struct fdb_limits){ .max_entries = 4, .max_per_port = 5 }),
			 -EINVAL);
	assert_int_equal(fdb_init(&fdb, &lim), 0);
}

static void test_remove_peer(void **state)
{
	struct fdb_out o;

	for (unsigned int h = 1; h <= 50; h++) {
		assert_true(fwd(A, 0, 100 + h, T0, &o, NULL));
		assert_true(fwd(B, 0, 200 + h, T0, &o, NULL));
	}
	fdb_remove_peer(&fdb, A);
	fdb_remove_peer(&fdb, C);	/* nothing of its own */
	assert_int_equal(fdb_count(&fdb), 50);
	assert_int_equal(fdb_count_of_port(&fdb, A), 0);
	for (unsigned int h = 1; h <= 50; h++) {
		assert_ptr_equal(where(100 + h, T0), PEER(7));
		assert_ptr_equal(where(200 + h, T0), B);
	}
	/* its hosts are unknown again: flooded, and learnt anew wherever they appear at once */
	assert_true(fwd(FDB_LOCAL, 101, 1, T0, &o, NULL));
	assert_true(o.flood);
	assert_true(fwd(C, 0, 101, T0, &o, NULL));
	assert_ptr_equal(where(101, T0), C);
}

struct listed { unsigned int n, local, on_a; uint64_t max_age; };

static bool list_one(void *arg, const struct fdb_entry_info *e)
{
	struct listed *l = arg;
	char buf[18];

	l->n++;
	l->local += e->port == FDB_LOCAL;
	l->on_a += e->port == A;
	if (e->age_ns > l->max_age)
		l->max_age = e->age_ns;
	assert_int_equal(strlen(fdb_mac_str(e->mac, buf)), 17);
	assert_int_equal(e->mac[0], 0x02);
	return l->n < 100;
}

static void test_for_each(void **state)
{
	struct listed l = { 0 };
	struct fdb_out o;
	char buf[18];

	for (unsigned int h = 1; h <= 5; h++)
		assert_true(fwd(A, 0, h, T0 + h * SEC, &o, NULL));
	assert_true(fwd(FDB_LOCAL, 0, 10, T0, &o, NULL));
	fdb_for_each(&fdb, T0 + 10 * SEC, list_one, &l);
	assert_int_equal(l.n, 6);
	assert_int_equal(l.local, 1);
	assert_int_equal(l.on_a, 5);
	assert_int_equal(l.max_age, 10 * SEC);
	assert_string_equal(fdb_mac_str((uint8_t[]){ 0x02, 0, 0x5e, 0xab, 0, 1 }, buf),
			    "02:00:5e:ab:00:01");
	assert_string_equal(fdb_drop_name(FDB_DROP_PORT_FULL), "tap_port_full");
	for (int d = 0; d < FDB_DROP__COUNT; d++)
		assert_non_null(fdb_drop_name(d));
}

/* A batch: the same decisions as one frame at a time, the write lock taken mid-batch for
 * new sources, drops in place. */
static void test_batch(void **state)
{
	uint8_t f[6][60];
	struct fdb_frame_ref in[6];
	struct fdb_out out[6];

	frame(f[0], 0, 1);		/* new source: broadcast */
	frame(f[1], 10, 1);		/* to an unknown host */
	frame(f[2], 0, 2);		/* another new source */
	frame(f[3], 1, 2);		/* hairpin on A */
	frame(f[4], 10, 3);
	memset(f[4] + 6, 0xff, 6);	/* bad source */
	frame(f[5], 20, 4);		/* to the tap's host 20 */
	for (int i = 0; i < 6; i++)
		in[i] = (struct fdb_frame_ref){ f[i], 60 };
	assert_true(fdb_learn(&fdb, (uint8_t[]){ 2, 0, 0, 0, 0, 20 }, 0, FDB_LOCAL, T0));
	assert_int_equal(fdb_forward_batch(&fdb, in, 6, A, T0, out), 4);
	assert_true(out[0].flood && out[0].local && out[0].why == FDB_DROP__COUNT);
	assert_true(out[1].flood && out[1].local);
	assert_true(out[2].flood && out[2].local);
	assert_false(out[3].flood || out[3].local || out[3].peer);
	assert_int_equal(out[3].why, FDB_DROP_HAIRPIN);
	assert_int_equal(out[4].why, FDB_DROP_BAD_SRC);
	assert_true(out[5].local && !out[5].flood && !out[5].peer);
	assert_int_equal(fdb_count_of_port(&fdb, A), 3);
	/* all known now: the same batch again from B moves nothing within the hold */
	assert_int_equal(fdb_forward_batch(&fdb, in, 6, B, T0 + 1, out), 0);
	assert_int_equal(out[0].why, FDB_DROP_FLAP);
	assert_int_equal(fdb_forward_batch(&fdb, in, 0, B, T0 + 1, out), 0);
}

/* Workers learning and forwarding at once, hosts moving between them, while a control
 * thread removes peers and expires: TSan reports any access outside the lock. */
enum { WORKERS = 4, ROUNDS = 20000 };
static uint64_t clock_ns = T0;

static void *worker(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;
	struct fdb_out o;
	enum fdb_drop why;

	for (unsigned int i = 0; i < ROUNDS; i++) {
		uint64_t now = __atomic_load_n(&clock_ns, __ATOMIC_RELAXED);
		struct wg_peer *from = i % 5 ? PEER(id) : FDB_LOCAL;
		if (fwd(from, (i * 7) % 300, 1 + (i % 200) + id * 1000, now, &o, &why))
			assert_true(o.peer != from || from == FDB_LOCAL);
		(void)fwd(PEER(1 + (id + i) % WORKERS), 0, 5000 + i % 50, now, &o, &why);
	}
	return NULL;
}

static void *control(void *arg)
{
	bool *stop = arg;

	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = __atomic_add_fetch(&clock_ns, SEC / 10, __ATOMIC_RELAXED);
		fdb_remove_peer(&fdb, PEER(1 + now % WORKERS));
		fdb_expire(&fdb, now);
		fdb_for_each(&fdb, now, list_one, &(struct listed){ 0 });
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fdb_limits lim = { .max_entries = 1024, .max_per_port = 200, .age_ns = 30 * SEC };
	pthread_t w[WORKERS], c;
	bool stop = false;

	fdb_uninit(&fdb);
	assert_int_equal(fdb_init(&fdb, &lim), 0);
	assert_int_equal(pthread_create(&c, NULL, control, &stop), 0);
	for (uintptr_t i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, worker, (void *)(i + 1)), 0);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	__atomic_store_n(&stop, true, __ATOMIC_RELEASE);
	pthread_join(c, NULL);
	assert_true(fdb_count(&fdb) <= 1024);
	for (int p = 0; p <= WORKERS; p++)
		assert_true(fdb_count_of_port(&fdb, PEER(p)) <= 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_learn_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_horizon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_and_flap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_global_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_for_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
