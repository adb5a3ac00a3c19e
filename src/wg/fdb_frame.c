/* The frame side of the tap-mode switch (see fdb.h): the Ethernet header, the reserved
 * groups, where a frame goes once its source is learnt, batches under one hold of the lock,
 * and the drop counters' names. The table itself is fdb.c. */
#include "wg/fdb.h"

#include <stdio.h>
#include <string.h>

#include "wg/fdb_int.h"

static const char *const drop_names[FDB_DROP__COUNT] = {
	[FDB_DROP_SHORT] = "tap_short_frame",
	[FDB_DROP_BAD_SRC] = "tap_bad_src",
	[FDB_DROP_RESERVED] = "tap_reserved_dst",
	[FDB_DROP_HAIRPIN] = "tap_hairpin",
	[FDB_DROP_PORT_FULL] = "tap_port_full",
	[FDB_DROP_TABLE_FULL] = "tap_table_full",
	[FDB_DROP_FLAP] = "tap_flap",
	[FDB_DROP_SPLIT_HORIZON] = "tap_split_horizon",
};

const char *fdb_drop_name(enum fdb_drop d)
{
	return (unsigned int)d < FDB_DROP__COUNT ? drop_names[d] : "?";
}

void fdb_count_drop(struct fdb *fdb, enum fdb_drop d, enum fdb_drop *why)
{
	if (fdb)
		__atomic_fetch_add(&fdb->drops[d], 1, __ATOMIC_RELAXED);
	if (why)
		*why = d;
}

uint64_t fdb_drops(const struct fdb *fdb, enum fdb_drop d)
{
	return __atomic_load_n(&fdb->drops[d], __ATOMIC_RELAXED);
}

bool fdb_frame_parse(struct fdb *fdb, const uint8_t *f, size_t len, struct fdb_frame *out,
		     enum fdb_drop *why)
{
	static const uint8_t zero[6];
	uint16_t type;

	if (len < FDB_ETH_HLEN) {
		fdb_count_drop(fdb, FDB_DROP_SHORT, why);
		return false;
	}
	out->dst = f;
	out->src = f + FDB_ETH_ALEN;
	out->vid = 0;
	out->hlen = FDB_ETH_HLEN;
	type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == FDB_ETH_P_8021Q || type == FDB_ETH_P_8021AD) {
		if (len < FDB_ETH_HLEN + FDB_VLAN_HLEN) {
			fdb_count_drop(fdb, FDB_DROP_SHORT, why);
			return false;
		}
		out->vid = (uint16_t)((f[14] << 8 | f[15]) & FDB_VID_MASK);
		out->hlen += FDB_VLAN_HLEN;
	}
	/* A bridge learns no group address and no zero one (802.1D 7.8; Linux's br_handle_frame). */
	if ((out->src[0] & 1) || !memcmp(out->src, zero, 6)) {
		fdb_count_drop(fdb, FDB_DROP_BAD_SRC, why);
		return false;
	}
	return true;
}

/* 01:80:c2:00:00:00..0f: STP, pause, LACP, 802.1X, LLDP; 802.1D reserves them to the link. */
static bool reserved(const uint8_t *d)
{
	return d[0] == 0x01 && d[1] == 0x80 && d[2] == 0xc2 && !d[3] && !d[4] && !(d[5] & 0xf0);
}

/* Either lock: where a frame whose source is learnt goes. */
static bool decide(struct fdb *fdb, const struct fdb_frame *fr, struct wg_peer *from,
		   uint64_t now, struct fdb_out *out)
{
	bool from_peer = from != FDB_LOCAL;
	struct wg_peer *to;

	/* group destinations are never looked up: flooded */
	if ((fr->dst[0] & 1) || !fdb_lookup_locked(fdb, fdb_key(fr->dst, fr->vid), now, &to)) {
		out->local = from_peer;
		out->flood = !from_peer || !fdb->lim.split_horizon;
		return true;
	}
	if (to == from) {
		fdb_count_drop(fdb, FDB_DROP_HAIRPIN, &out->why);
		return false;
	}
	if (to == FDB_LOCAL) {
		out->local = true;
		return true;
	}
	if (from_peer && fdb->lim.split_horizon) {
		fdb_count_drop(fdb, FDB_DROP_SPLIT_HORIZON, &out->why);
		return false;
	}
	out->peer = to;
	return true;
}

/* The read lock is held for the whole batch; the first source that needs writing trades it
 * for the write lock, kept to the end of the batch (new sources come in bursts, ARP first). */
unsigned int fdb_forward_batch(struct fdb *fdb, const struct fdb_frame_ref *in, unsigned int n,
			       struct wg_peer *from, uint64_t now, struct fdb_out *out)
{
	unsigned int passed = 0;
	bool writing = false;

	pthread_rwlock_rdlock(&fdb->lock);
	for (unsigned int i = 0; i < n; i++) {
		struct fdb_out *o = &out[i];
		struct fdb_frame fr;
		enum fdb_drop d;
		uint64_t src;

		*o = (struct fdb_out){ .why = FDB_DROP__COUNT };
		if (!fdb_frame_parse(fdb, in[i].data, in[i].len, &fr, &o->why))
			continue;
		if (reserved(fr.dst)) {
			fdb_count_drop(fdb, FDB_DROP_RESERVED, &o->why);
			continue;
		}
		src = fdb_key(fr.src, fr.vid);
		if (!fdb_learn_fast(fdb, src, from, now)) {
			if (!writing) {
				pthread_rwlock_unlock(&fdb->lock);
				pthread_rwlock_wrlock(&fdb->lock);
				writing = true;
			}
			if (!fdb_learn_locked(fdb, src, from, now, &d)) {
				fdb_count_drop(fdb, d, &o->why);
				continue;
			}
		}
		passed += decide(fdb, &fr, from, now, o);
	}
	pthread_rwlock_unlock(&fdb->lock);
	return passed;
}

bool fdb_forward(struct fdb *fdb, const uint8_t *f, size_t len, struct wg_peer *from,
		 uint64_t now, struct fdb_out *out, enum fdb_drop *why)
{
	struct fdb_frame_ref in = { f, len };
	bool ok = fdb_forward_batch(fdb, &in, 1, from, now, out);

	if (!ok && why)
		*why = out->why;
	return ok;
}

char *fdb_mac_str(const uint8_t mac[6], char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}
