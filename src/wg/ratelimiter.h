/* Per-source token buckets for handshake messages (the kernel driver's ratelimiter shape):
 * RATELIMIT_PER_SEC messages a second from one source, bursts of RATELIMIT_BURST. A source is
 * an IPv4 address (also when it arrives v4-mapped on an IPv6 socket) or the /64 of an IPv6
 * address; the port is ignored. Memory is fixed at init: a bucket table hashed with a random
 * key (so nobody can aim sources at one chain) and RATELIMIT_MAX_ENTRIES entries; when they
 * are all taken, the source seen least recently makes room. Entries idle for a second are
 * collected as ratelimiter_allow goes (ratelimiter_gc does the same on demand).
 * Thread-safe: one mutex, held only for a lookup. */
#ifndef CULVERT_WG_RATELIMITER_H
#define CULVERT_WG_RATELIMITER_H
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

struct sockaddr;
struct ratelimiter_entry;

enum {
	RATELIMIT_PER_SEC = 20,
	RATELIMIT_BURST = 5,
	RATELIMIT_MAX_ENTRIES = 8192,
	RATELIMIT_BUCKETS = 8192,	/* power of two */
};

struct ratelimiter {
	pthread_mutex_t lock;
	uint64_t key[2];			/* hash key, random per instance */
	struct ratelimiter_entry *entries;	/* RATELIMIT_MAX_ENTRIES; NULL before init */
	uint32_t *buckets;			/* chain heads, entry index + 1 (0: empty) */
	uint32_t free_list;			/* same encoding, linked through hnext */
	uint32_t lru_head, lru_tail;		/* least and most recently seen; same encoding */
	uint32_t n_entries;
	uint64_t evicted;			/* live entries reclaimed because the table was full */
};

/* 0 or -ENOMEM. */
int ratelimiter_init(struct ratelimiter *rl);
/* Frees and wipes; safe on a zeroed struct and twice. */
void ratelimiter_uninit(struct ratelimiter *rl);
/* May a handshake message from src (AF_INET or AF_INET6) be processed at now_ns (monotonic)?
 * Spends a token when it says yes. Other families are refused. */
bool ratelimiter_allow(struct ratelimiter *rl, const struct sockaddr *src, uint64_t now_ns);
/* Would ratelimiter_allow say yes now? Spends nothing and changes nothing, so asking on
 * behalf of a message not yet authenticated costs its claimed source nothing. */
bool ratelimiter_has_token(struct ratelimiter *rl, const struct sockaddr *src, uint64_t now_ns);
/* Forget sources idle for more than a second. */
void ratelimiter_gc(struct ratelimiter *rl, uint64_t now_ns);
/* Sources currently tracked (tests, culvert show). */
unsigned int ratelimiter_count(struct ratelimiter *rl);

#endif
