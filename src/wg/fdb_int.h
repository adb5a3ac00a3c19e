/* What fdb_frame.c needs of the table in fdb.c; "locked": fdb->lock held, for reading or
 * writing unless the name says which. */
#ifndef CULVERT_WG_FDB_INT_H
#define CULVERT_WG_FDB_INT_H
#include "wg/fdb.h"

/* MAC << 16 | VLAN id: one word to hash and compare. */
uint64_t fdb_key(const uint8_t mac[6], uint16_t vid);
void fdb_count_drop(struct fdb *fdb, enum fdb_drop d, enum fdb_drop *why);
/* Either lock: true when key is learnt on from (and its timestamp refreshed). */
bool fdb_learn_fast(struct fdb *fdb, uint64_t key, struct wg_peer *from, uint64_t now);
/* Write lock: add, refresh or move; false with *d when it may not. */
bool fdb_learn_locked(struct fdb *fdb, uint64_t key, struct wg_peer *from, uint64_t now,
		      enum fdb_drop *d);
/* Either lock: the port of a live entry. */
bool fdb_lookup_locked(struct fdb *fdb, uint64_t key, uint64_t now, struct wg_peer **port);

#endif
