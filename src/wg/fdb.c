/* The learning switch of tap mode; see fdb.h.
 *
 * Locking: one rwlock. The data path asks two things of every frame, "is its source already
 * here, on this port?" and "where is its destination?", and both are almost always yes-and-
 * read-only, so both run under the lock held for reading, once for a whole batch
 * (fdb_forward_batch), as the device takes its own lock once a batch; the timestamp of a hit
 * is a relaxed atomic store, and only when it is refresh_ns old, so a busy MAC's line is
 * written about once a second rather than once a frame. The write lock is taken only to add,
 * move or remove an entry: a new host, a host that moved, a peer removed, the expiry tick.
 * Per-bucket locks would take two locks a frame instead of one a batch, and the MACs every
 * flow shares (a gateway's) bounce their bucket's lock between workers just as they bounce
 * one rwlock; a lockless reader (a seqlock) would save the rwlock's shared write too, but
 * makes every field an atomic and every reader a retry loop, for what batches already make
 * small (bench/fdb_bench.c, thread CPU time: 38-48 ns a frame one at a time, 29-34 ns in
 * batches of 32, on one thread or two, against ~930 ns for the AEAD of a 1424-byte packet).
 *
 * Memory: entries and port records come from arrays allocated at init and chained by index
 * (+1, so that zero is the end of a chain), as in ratelimiter.c. A port record (the count of a
 * port's entries) exists while the port has an entry, so max_entries + 1 records always
 * suffice. Buckets are chosen by a hash salted with a random seed: a peer picks the source MACs
 * it sends and must not be able to pile them into one chain. */
#include "wg/fdb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wg/crypto.h"
#include "wg/fdb_int.h"

struct fdb_entry {
	uint64_t key;		/* MAC << 16 | VLAN id */
	struct wg_peer *port;
	uint64_t seen;		/* atomic: last frame from it (ns) */
	uint64_t moved;		/* learnt on this port at */
	uint32_t next;		/* chain, or the free list */
	uint32_t port_link;	/* its port record */
};

struct fdb_port {
	struct wg_peer *peer;
	uint32_t count;
	uint32_t next;
};

/* The bucket of a key: a multiply-xorshift mix salted with a random per-table seed, as the
 * kernel's bridge salts its (non-cryptographic) hash. A peer that picks the source MACs it
 * sends cannot aim them at one chain without the seed, and the per-port cap bounds what any
 * chain can hold whatever it does. No cryptographic primitive of our own: a keyed MAC from
 * libcrypto costs more per frame than the whole lookup. */
static uint32_t hash_key(const struct fdb *fdb, uint64_t m)
{
	uint64_t x = (m ^ fdb->key[0]) * 0xff51afd7ed558ccdull;

	x ^= x >> 33;
	x = (x ^ fdb->key[1]) * 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static uint32_t hash_port(const struct fdb *fdb, const struct wg_peer *p)
{
	uint64_t x = (uintptr_t)p * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(x >> 32) & (fdb->n_buckets - 1);
}

uint64_t fdb_key(const uint8_t mac[6], uint16_t vid)
{
	uint64_t k = 0;

	for (int i = 0; i < 6; i++)
		k = k << 8 | mac[i];
	return k << 16 | (vid & FDB_VID_MASK);
}

static inline struct fdb_entry *ent(struct fdb *fdb, uint32_t link)
{
	return &fdb->entries[link - 1];
}

static inline struct fdb_port *prt(struct fdb *fdb, uint32_t link)
{
	return &fdb->ports[link - 1];
}

static bool aged(const struct fdb *fdb, const struct fdb_entry *e, uint64_t now)
{
	uint64_t seen = __atomic_load_n(&e->seen, __ATOMIC_RELAXED);

	return now > seen && now - seen > fdb->lim.age_ns;
}

/* Either lock. */
static struct fdb_entry *find(struct fdb *fdb, uint64_t key, uint32_t *bucket)
{
	uint32_t b = hash_key(fdb, key) & (fdb->n_buckets - 1);

	if (bucket)
		*bucket = b;
	for (uint32_t l = fdb->buckets[b]; l; l = ent(fdb, l)->next)
		if (ent(fdb, l)->key == key)
			return ent(fdb, l);
	return NULL;
}

/* Either lock. */
static uint32_t port_find(struct fdb *fdb, const struct wg_peer *peer)
{
	uint32_t l = fdb->port_buckets[hash_port(fdb, peer)];

	while (l && prt(fdb, l)->peer != peer)
		l = prt(fdb, l)->next;
	return l;
}

/* Write lock: the record of peer, made when missing (there is always room, see above). */
static uint32_t port_get(struct fdb *fdb, struct wg_peer *peer)
{
	uint32_t l = port_find(fdb, peer), b;

	if (l)
		return l;
	l = fdb->port_free;
	fdb->port_free = prt(fdb, l)->next;
	b = hash_port(fdb, peer);
	*prt(fdb, l) = (struct fdb_port){ .peer = peer, .count = 0, .next = fdb->port_buckets[b] };
	fdb->port_buckets[b] = l;
	return l;
}

/* Write lock: one entry fewer on port l; the record goes with its last one. */
static void port_put(struct fdb *fdb, uint32_t l)
{
	struct fdb_port *p = prt(fdb, l);
	uint32_t *pp;

	if (--p->count)
		return;
	for (pp = &fdb->port_buckets[hash_port(fdb, p->peer)]; *pp != l; pp = &prt(fdb, *pp)->next)
		;
	*pp = p->next;
	p->peer = NULL;
	p->next = fdb->port_free;
	fdb->port_free = l;
}

/* Write lock. */
static void entry_free(struct fdb *fdb, uint32_t *pp)
{
	uint32_t l = *pp;
	struct fdb_entry *e = ent(fdb, l);

	*pp = e->next;
	port_put(fdb, e->port_link);
	e->port = NULL;
	e->next = fdb->free_list;
	fdb->free_list = l;
	fdb->n_entries--;
}

/* Write lock. */
static void expire_locked(struct fdb *fdb, uint64_t now)
{
	for (uint32_t b = 0; b < fdb->n_buckets; b++) {
		uint32_t *pp = &fdb->buckets[b];
		while (*pp) {
			if (aged(fdb, ent(fdb, *pp), now))
				entry_free(fdb, pp);
			else
				pp = &ent(fdb, *pp)->next;
		}
	}
}

/* Read lock: true when the source is already learnt on this port (and refreshed). */
bool fdb_learn_fast(struct fdb *fdb, uint64_t key, struct wg_peer *from, uint64_t now)
{
	struct fdb_entry *e = find(fdb, key, NULL);
	uint64_t seen;

	if (!e || e->port != from || aged(fdb, e, now))
		return false;
	seen = __atomic_load_n(&e->seen, __ATOMIC_RELAXED);
	if (now > seen && now - seen >= fdb->refresh_ns)
		__atomic_store_n(&e->seen, now, __ATOMIC_RELAXED);
	return true;
}

/* Room for one more entry on port pl: a full table or port first collects aged entries, at
 * most once per refresh_ns, so that a flood of new sources costs no scan per frame. */
static bool room(struct fdb *fdb, struct wg_peer *from, uint64_t now, enum fdb_drop *d)
{
	for (int pass = 0; pass < 2; pass++) {
		uint32_t pl = port_find(fdb, from);
		if (fdb->n_entries >= fdb->lim.max_entries)
			*d = FDB_DROP_TABLE_FULL;
		else if (pl && prt(fdb, pl)->count >= fdb->lim.max_per_port)
			*d = FDB_DROP_PORT_FULL;
		else
			return true;
		if (pass || (now >= fdb->last_reclaim && now - fdb->last_reclaim < fdb->refresh_ns))
			return false;
		fdb->last_reclaim = now;
		expire_locked(fdb, now);
	}
	return false;
}

/* Write lock: add, refresh or move. */
bool fdb_learn_locked(struct fdb *fdb, uint64_t key, struct wg_peer *from, uint64_t now,
			 enum fdb_drop *d)
{
	uint32_t b, l, pl;
	struct fdb_entry *e = find(fdb, key, &b);

	if (e && e->port == from) {
		__atomic_store_n(&e->seen, now, __ATOMIC_RELAXED);
		return true;
	}
	if (e) {
		bool was_aged = aged(fdb, e, now);
		if (!was_aged && fdb->lim.move_hold_ns != FDB_NO_HOLD && now >= e->moved &&
		    now - e->moved < fdb->lim.move_hold_ns) {
			*d = FDB_DROP_FLAP;
			return false;
		}
		pl = port_find(fdb, from);
		if (pl && prt(fdb, pl)->count >= fdb->lim.max_per_port) {
			*d = FDB_DROP_PORT_FULL;
			return false;
		}
		port_put(fdb, e->port_link);
		pl = port_get(fdb, from);
		prt(fdb, pl)->count++;
		e->port = from;
		e->port_link = pl;
		e->moved = now;
		__atomic_store_n(&e->seen, now, __ATOMIC_RELAXED);
		return true;
	}
	if (!room(fdb, from, now, d))
		return false;
	l = fdb->free_list;
	e = ent(fdb, l);
	fdb->free_list = e->next;
	pl = port_get(fdb, from);
	prt(fdb, pl)->count++;
	e->key = key;
	e->port = from;
	e->port_link = pl;
	e->moved = now;
	__atomic_store_n(&e->seen, now, __ATOMIC_RELAXED);
	e->next = fdb->buckets[b];
	fdb->buckets[b] = l;
	fdb->n_entries++;
	return true;
}

bool fdb_lookup_locked(struct fdb *fdb, uint64_t key, uint64_t now, struct wg_peer **port)
{
	struct fdb_entry *e = find(fdb, key, NULL);

	if (!e || aged(fdb, e, now))
		return false;
	*port = e->port;
	return true;
}

static bool learn_key(struct fdb *fdb, uint64_t key, struct wg_peer *from, uint64_t now)
{
	enum fdb_drop d;
	bool ok;

	pthread_rwlock_rdlock(&fdb->lock);
	ok = fdb_learn_fast(fdb, key, from, now);
	if (!ok) {
		pthread_rwlock_unlock(&fdb->lock);
		pthread_rwlock_wrlock(&fdb->lock);
		ok = fdb_learn_locked(fdb, key, from, now, &d);
	}
	pthread_rwlock_unlock(&fdb->lock);
	if (!ok)
		fdb_count_drop(fdb, d, NULL);
	return ok;
}

bool fdb_learn(struct fdb *fdb, const uint8_t src[6], uint16_t vid, struct wg_peer *from,
	       uint64_t now)
{
	return learn_key(fdb, fdb_key(src, vid), from, now);
}

bool fdb_lookup(struct fdb *fdb, const uint8_t dst[6], uint16_t vid, uint64_t now,
		struct wg_peer **port)
{
	bool ok;

	pthread_rwlock_rdlock(&fdb->lock);
	ok = fdb_lookup_locked(fdb, fdb_key(dst, vid), now, port);
	pthread_rwlock_unlock(&fdb->lock);
	return ok;
}

void fdb_remove_peer(struct fdb *fdb, struct wg_peer *peer)
{
	if (!fdb->entries)
		return;
	pthread_rwlock_wrlock(&fdb->lock);
	for (uint32_t b = 0; b < fdb->n_buckets && port_find(fdb, peer); b++) {
		uint32_t *pp = &fdb->buckets[b];
		while (*pp) {
			if (ent(fdb, *pp)->port == peer)
				entry_free(fdb, pp);
			else
				pp = &ent(fdb, *pp)->next;
		}
	}
	pthread_rwlock_unlock(&fdb->lock);
}

void fdb_expire(struct fdb *fdb, uint64_t now)
{
	if (!fdb->entries)
		return;
	pthread_rwlock_wrlock(&fdb->lock);
	expire_locked(fdb, now);
	pthread_rwlock_unlock(&fdb->lock);
}

void fdb_for_each(struct fdb *fdb, uint64_t now, fdb_iter_fn fn, void *arg)
{
	if (!fdb->entries)
		return;
	pthread_rwlock_rdlock(&fdb->lock);
	for (uint32_t b = 0; b < fdb->n_buckets; b++) {
		for (uint32_t l = fdb->buckets[b]; l; l = ent(fdb, l)->next) {
			struct fdb_entry *e = ent(fdb, l);
			struct fdb_entry_info i;
			uint64_t seen = __atomic_load_n(&e->seen, __ATOMIC_RELAXED);
			if (aged(fdb, e, now))
				continue;
			for (int k = 0; k < 6; k++)
				i.mac[k] = (uint8_t)(e->key >> (56 - 8 * k));
			i.vid = (uint16_t)(e->key & FDB_VID_MASK);
			i.port = e->port;
			i.age_ns = now > seen ? now - seen : 0;
			if (!fn(arg, &i))
				goto out;
		}
	}
out:
	pthread_rwlock_unlock(&fdb->lock);
}

unsigned int fdb_count(struct fdb *fdb)
{
	unsigned int n;

	if (!fdb->entries)
		return 0;
	pthread_rwlock_rdlock(&fdb->lock);
	n = fdb->n_entries;
	pthread_rwlock_unlock(&fdb->lock);
	return n;
}

unsigned int fdb_count_of_port(struct fdb *fdb, struct wg_peer *port)
{
	unsigned int n = 0;
	uint32_t l;

	if (!fdb->entries)
		return 0;
	pthread_rwlock_rdlock(&fdb->lock);
	l = port_find(fdb, port);
	if (l)
		n = prt(fdb, l)->count;
	pthread_rwlock_unlock(&fdb->lock);
	return n;
}

int fdb_init(struct fdb *fdb, const struct fdb_limits *lim)
{
	struct fdb_limits l = lim ? *lim : (struct fdb_limits){ 0 };
	uint32_t nb = 16;

	memset(fdb, 0, sizeof(*fdb));
	if (!l.max_entries)
		l.max_entries = FDB_DEFAULT_MAX_ENTRIES;
	if (!l.max_per_port)
		l.max_per_port = FDB_DEFAULT_MAX_PER_PORT;
	if (!l.age_ns)
		l.age_ns = FDB_DEFAULT_AGE_NS;
	if (!l.move_hold_ns)
		l.move_hold_ns = FDB_DEFAULT_MOVE_HOLD_NS;
	if (l.max_per_port > l.max_entries || l.max_entries > (1u << 24))
		return -EINVAL;
	while (nb < l.max_entries)
		nb <<= 1;
	fdb->lim = l;
	fdb->n_buckets = nb;
	/* Timestamps as fine as 1/16 of the age, and never coarser than a second. */
	fdb->refresh_ns = l.age_ns / 16 < 1000000000ull ? l.age_ns / 16 : 1000000000ull;
	fdb->entries = calloc(l.max_entries, sizeof(*fdb->entries));
	fdb->buckets = calloc(nb, sizeof(*fdb->buckets));
	fdb->ports = calloc(l.max_entries + 1, sizeof(*fdb->ports));
	fdb->port_buckets = calloc(nb, sizeof(*fdb->port_buckets));
	if (!fdb->entries || !fdb->buckets || !fdb->ports || !fdb->port_buckets) {
		fdb_uninit(fdb);
		return -ENOMEM;
	}
	for (uint32_t i = l.max_entries; i > 0; i--) {
		fdb->entries[i - 1].next = fdb->free_list;
		fdb->free_list = i;
	}
	for (uint32_t i = l.max_entries + 1; i > 0; i--) {
		fdb->ports[i - 1].next = fdb->port_free;
		fdb->port_free = i;
	}
	crypto_random(fdb->key, sizeof(fdb->key));
	pthread_rwlock_init(&fdb->lock, NULL);
	return 0;
}

void fdb_uninit(struct fdb *fdb)
{
	bool had_lock = fdb->entries && fdb->buckets && fdb->ports && fdb->port_buckets;

	if (had_lock)
		pthread_rwlock_destroy(&fdb->lock);
	free(fdb->entries);
	free(fdb->buckets);
	free(fdb->ports);
	free(fdb->port_buckets);
	crypto_wipe(fdb, sizeof(*fdb));
}
