/* The learning switch of tap mode takes frames from the tap and from peers: whatever a peer
 * sends arrives here once decrypted. Drives a small table (caps reached quickly) with frames
 * from random ports, peer removals and expiry on a moving clock, and checks after each step:
 * nothing goes back where it came from, a dropped frame goes nowhere, a unicast decision is
 * the port the table holds, a forwarded frame's source is learnt on its port, split horizon
 * keeps peers' frames off other peers, and the caps hold (counts agree with the entries).
 *
 * Input: the first byte picks split horizon (bit 0); then records of
 *   op (bits 0-2 the port, 0 the tap; bits 3-4: 0 a frame, 1 the frame twice in one batch,
 *   2 remove the peer, 3 expire),
 *   clock step (x 50 ms), frame length, frame bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wg/fdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { PORTS = 8, MAX_ENTRIES = 32, MAX_PER_PORT = 8 };
static char peer_mem[PORTS];

static struct wg_peer *port_of(unsigned int i)
{
	return i ? (struct wg_peer *)&peer_mem[i] : FDB_LOCAL;
}

struct tally { unsigned int n, per[PORTS]; };

static bool tally_one(void *arg, const struct fdb_entry_info *e)
{
	struct tally *t = arg;

	t->n++;
	for (unsigned int i = 0; i < PORTS; i++)
		if (e->port == port_of(i))
			t->per[i]++;
	if ((e->mac[0] & 1) || e->vid > FDB_VID_MASK)
		abort();
	return true;
}

static void check_caps(struct fdb *fdb, uint64_t now)
{
	struct tally t = { 0 };
	unsigned int sum = 0;

	fdb_for_each(fdb, now, tally_one, &t);
	if (fdb_count(fdb) > MAX_ENTRIES || t.n > fdb_count(fdb))
		abort();
	for (unsigned int i = 0; i < PORTS; i++) {
		unsigned int c = fdb_count_of_port(fdb, port_of(i));
		if (c > MAX_PER_PORT || t.per[i] > c)
			abort();
		sum += c;
	}
	if (sum != fdb_count(fdb))
		abort();
}

/* The invariants of one decision. */
static void check_out(struct fdb *fdb, const struct fdb_limits *lim, const uint8_t *f,
		      size_t len, struct wg_peer *from, uint64_t now, const struct fdb_out *out,
		      bool ok)
{
	struct fdb_frame fr;
	struct wg_peer *at;

	if (!ok) {
		if (out->peer || out->local || out->flood || out->why >= FDB_DROP__COUNT)
			abort();
		return;
	}
	if (out->why != FDB_DROP__COUNT)
		abort();
	if (out->peer == from && from != FDB_LOCAL)
		abort();
	if (from == FDB_LOCAL && out->local)
		abort();
	if (from != FDB_LOCAL && lim->split_horizon && (out->peer || out->flood))
		abort();
	if (out->peer && (out->local || out->flood))
		abort();
	if (!out->peer && !out->local && !out->flood)
		abort();
	if (!fdb_frame_parse(NULL, f, len, &fr, NULL))
		abort();
	if (!fdb_lookup(fdb, fr.src, fr.vid, now, &at) || at != from)
		abort();
	if (out->peer && (!fdb_lookup(fdb, fr.dst, fr.vid, now, &at) || at != out->peer))
		abort();
	if ((fr.dst[0] & 1) && !out->flood && !out->local)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fdb_limits lim = {
		.max_entries = MAX_ENTRIES, .max_per_port = MAX_PER_PORT,
		.age_ns = 10000000000ull, .move_hold_ns = 1000000000ull,
	};
	struct fdb fdb;
	uint64_t now = 1000000000000ull;
	size_t i = 1;

	if (size < 1)
		return 0;
	lim.split_horizon = data[0] & 1;
	if (fdb_init(&fdb, &lim))
		abort();
	while (i + 3 <= size) {
		unsigned int op = data[i], p = op & 7, len = data[i + 2];
		struct wg_peer *from = port_of(p);
		struct fdb_out out;
		enum fdb_drop why = FDB_DROP__COUNT;

		now += data[i + 1] * 50000000ull;
		i += 3;
		if (len > size - i)
			len = (unsigned int)(size - i);
		switch ((op >> 3) & 3) {
		case 2:
			fdb_remove_peer(&fdb, from);
			if (fdb_count_of_port(&fdb, from))
				abort();
			break;
		case 3:
			fdb_expire(&fdb, now);
			break;
		case 1: {
			/* the frame twice in one batch: the second finds what the first learnt */
			struct fdb_frame_ref in[2] = { { data + i, len }, { data + i, len } };
			struct fdb_out outs[2];
			unsigned int n = fdb_forward_batch(&fdb, in, 2, from, now, outs);
			if (n != (outs[0].why == FDB_DROP__COUNT) + (outs[1].why == FDB_DROP__COUNT))
				abort();
			for (int k = 0; k < 2; k++)
				check_out(&fdb, &lim, data + i, len, from, now, &outs[k],
					  outs[k].why == FDB_DROP__COUNT);
			break;
		}
		default: {
			bool ok = fdb_forward(&fdb, data + i, len, from, now, &out, &why);
			if (!ok && why != out.why)
				abort();
			check_out(&fdb, &lim, data + i, len, from, now, &out, ok);
			break;
		}
		}
		i += len;
		check_caps(&fdb, now);
	}
	fdb_uninit(&fdb);
	return 0;
}
