/* Per-source token buckets for handshake messages; see ratelimiter.h.
 *
 * Tokens are kept in nanoseconds of credit: a message costs PACKET_COST, credit accrues one
 * nanosecond per nanosecond and is capped at TOKEN_MAX (the burst). Entries sit in a chained
 * hash table and on a list ordered by when they were last seen, so collecting idle sources
 * and finding the one to reclaim when the table is full both start from the list head.
 * No fuzz target: nothing here reads bytes off the wire, only the sockaddr recvmmsg filled. */
#include "wg/ratelimiter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "lib/endpoint.h"
#include "wg/crypto.h"
#include "wg/messages.h"

enum { NIL = 0 };

static const uint64_t PACKET_COST = WG_NSEC_PER_SEC / RATELIMIT_PER_SEC;
static const uint64_t TOKEN_MAX = WG_NSEC_PER_SEC / RATELIMIT_PER_SEC * RATELIMIT_BURST;
static const uint64_t IDLE_NS = WG_NSEC_PER_SEC;

struct ratelimiter_entry {
	uint64_t prefix;	/* IPv4 address, or the first 64 bits of an IPv6 one */
	uint64_t last_ns;
	uint64_t tokens;
	uint32_t hnext;		/* bucket chain, or the free list */
	uint32_t prev, next;	/* the recency list */
	uint32_t bucket;
	uint8_t family;		/* 4 or 6 */
};

/* Links are entry index + 1 so that a zeroed table is empty. */
static inline struct ratelimiter_entry *ent(struct ratelimiter *rl, uint32_t link)
{
	return &rl->entries[link - 1];
}

/* A keyed hash (libcrypto's BLAKE2s, keyed per instance), so that an attacker who picks
 * source addresses cannot pile them into one chain. Only handshake messages under load come
 * here, so its cost does not matter next to the X25519 it guards. */
static uint32_t bucket_of(const struct ratelimiter *rl, uint64_t prefix, uint8_t family)
{
	uint8_t in[9], out[16];
	uint32_t h;

	memcpy(in, &prefix, 8);
	in[8] = family;
	crypto_blake2s(out, sizeof(out), in, sizeof(in), (const uint8_t *)rl->key, sizeof(rl->key));
	memcpy(&h, out, sizeof(h));
	return h & (RATELIMIT_BUCKETS - 1);
}

static void lru_unlink(struct ratelimiter *rl, uint32_t link)
{
	struct ratelimiter_entry *e = ent(rl, link);

	if (e->prev)
		ent(rl, e->prev)->next = e->next;
	else
		rl->lru_head = e->next;
	if (e->next)
		ent(rl, e->next)->prev = e->prev;
	else
		rl->lru_tail = e->prev;
	e->prev = e->next = NIL;
}

static void lru_append(struct ratelimiter *rl, uint32_t link)
{
	struct ratelimiter_entry *e = ent(rl, link);

	e->prev = rl->lru_tail;
	e->next = NIL;
	if (rl->lru_tail)
		ent(rl, rl->lru_tail)->next = link;
	else
		rl->lru_head = link;
	rl->lru_tail = link;
}

/* Out of its chain and the recency list; the caller reuses or frees it. */
static void entry_unlink(struct ratelimiter *rl, uint32_t link)
{
	struct ratelimiter_entry *e = ent(rl, link);
	uint32_t *p = &rl->buckets[e->bucket];

	while (*p != link)
		p = &ent(rl, *p)->hnext;
	*p = e->hnext;
	e->hnext = NIL;
	lru_unlink(rl, link);
	rl->n_entries--;
}

static void entry_free(struct ratelimiter *rl, uint32_t link)
{
	entry_unlink(rl, link);
	ent(rl, link)->hnext = rl->free_list;
	rl->free_list = link;
}

/* The recency list is ordered by last_ns up to the skew between callers' clocks, which only
 * delays a collection to a later call. */
static void gc_locked(struct ratelimiter *rl, uint64_t now_ns)
{
	while (rl->lru_head) {
		struct ratelimiter_entry *e = ent(rl, rl->lru_head);
		if (now_ns <= e->last_ns || now_ns - e->last_ns <= IDLE_NS)
			break;
		entry_free(rl, rl->lru_head);
	}
}

/* A fresh entry for a new source: from the free list, else the least recently seen source.
 * Reclaiming one idle for TOKEN_MAX or longer changes nothing (its bucket was full again);
 * a busier one gets a full burst when it comes back, which is the price of bounded memory
 * and of never locking new sources out. */
static uint32_t entry_take(struct ratelimiter *rl)
{
	uint32_t link = rl->free_list;

	if (link) {
		rl->free_list = ent(rl, link)->hnext;
		return link;
	}
	link = rl->lru_head;
	entry_unlink(rl, link);
	rl->evicted++;
	return link;
}

bool ratelimiter_has_token(struct ratelimiter *rl, const struct sockaddr *src, uint64_t now_ns)
{
	struct ratelimiter_entry *e = NULL;
	uint64_t prefix, tokens;
	uint8_t family;
	uint32_t b, link;

	if (!src || !endpoint_source_key(src, &family, &prefix))
		return false;
	b = bucket_of(rl, prefix, family);	/* the keyed hash outside the workers' lock */
	pthread_mutex_lock(&rl->lock);
	for (link = rl->buckets[b]; link; link = e->hnext) {
		e = ent(rl, link);
		if (e->prefix == prefix && e->family == family)
			break;
	}
	tokens = TOKEN_MAX;	/* a source not seen (or collected) has its whole burst */
	if (link)
		tokens = e->tokens + (now_ns > e->last_ns ? now_ns - e->last_ns : 0);
	pthread_mutex_unlock(&rl->lock);
	return tokens >= PACKET_COST;
}

bool ratelimiter_allow(struct ratelimiter *rl, const struct sockaddr *src, uint64_t now_ns)
{
	struct ratelimiter_entry *e;
	uint64_t prefix;
	uint8_t family;
	uint32_t b, link;
	bool ok;

	if (!src || !endpoint_source_key(src, &family, &prefix))
		return false;
	b = bucket_of(rl, prefix, family);

	pthread_mutex_lock(&rl->lock);
	gc_locked(rl, now_ns);
	for (link = rl->buckets[b]; link; link = e->hnext) {
		e = ent(rl, link);
		if (e->prefix == prefix && e->family == family)
			break;
	}
	if (link) {
		uint64_t elapsed = now_ns > e->last_ns ? now_ns - e->last_ns : 0;
		if (elapsed > TOKEN_MAX)
			elapsed = TOKEN_MAX;
		e->tokens += elapsed;
		if (e->tokens > TOKEN_MAX)
			e->tokens = TOKEN_MAX;
		if (now_ns > e->last_ns)
			e->last_ns = now_ns;
		ok = e->tokens >= PACKET_COST;
		if (ok)
			e->tokens -= PACKET_COST;
		lru_unlink(rl, link);
		lru_append(rl, link);
	} else {
		link = entry_take(rl);
		e = ent(rl, link);
		e->prefix = prefix;
		e->family = family;
		e->last_ns = now_ns;
		e->tokens = TOKEN_MAX - PACKET_COST;
		e->bucket = b;
		e->hnext = rl->buckets[b];
		rl->buckets[b] = link;
		lru_append(rl, link);
		rl->n_entries++;
		ok = true;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

void ratelimiter_gc(struct ratelimiter *rl, uint64_t now_ns)
{
	if (!rl->entries)
		return;
	pthread_mutex_lock(&rl->lock);
	gc_locked(rl, now_ns);
	pthread_mutex_unlock(&rl->lock);
}

unsigned int ratelimiter_count(struct ratelimiter *rl)
{
	unsigned int n;

	if (!rl->entries)
		return 0;
	pthread_mutex_lock(&rl->lock);
	n = rl->n_entries;
	pthread_mutex_unlock(&rl->lock);
	return n;
}

int ratelimiter_init(struct ratelimiter *rl)
{
	memset(rl, 0, sizeof(*rl));
	rl->entries = calloc(RATELIMIT_MAX_ENTRIES, sizeof(*rl->entries));
	rl->buckets = calloc(RATELIMIT_BUCKETS, sizeof(*rl->buckets));
	if (!rl->entries || !rl->buckets) {
		free(rl->entries);
		free(rl->buckets);
		memset(rl, 0, sizeof(*rl));
		return -ENOMEM;
	}
	for (uint32_t i = RATELIMIT_MAX_ENTRIES; i > 0; i--) {
		rl->entries[i - 1].hnext = rl->free_list;
		rl->free_list = i;
	}
	crypto_random(rl->key, sizeof(rl->key));
	pthread_mutex_init(&rl->lock, NULL);
	return 0;
}

void ratelimiter_uninit(struct ratelimiter *rl)
{
	if (!rl->entries)
		return;
	pthread_mutex_destroy(&rl->lock);
	/* source addresses are not secret, the hash key is */
	free(rl->entries);
	free(rl->buckets);
	crypto_wipe(rl, sizeof(*rl));
}
