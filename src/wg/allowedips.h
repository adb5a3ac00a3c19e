/* Allowed IPs: longest-prefix match from an IPv4 or IPv6 address to the peer that owns it.
 *
 * Two path-compressed binary tries (one per family); a peer is an opaque pointer. Used both
 * ways on the data path: outbound, the destination picks the peer; inbound, the decrypted
 * packet's source must map back to the peer it came from (cryptokey routing).
 *
 * Not thread-safe: the caller serialises writers against readers (for example a rwlock, or
 * updates only from the control thread while workers are paused). Lookups do not allocate.
 * Addresses are in network byte order, 4 or 16 bytes. Host bits of inserted prefixes are
 * masked off, so 198.19.1.7/24 is stored and reported as 198.19.1.0/24. */
#ifndef CULVERT_ALLOWEDIPS_H
#define CULVERT_ALLOWEDIPS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aip_table;

struct aip_table *aip_new(void);
void aip_free(struct aip_table *t);			/* NULL is fine */

/* Adds family/addr/cidr for peer; an identical prefix owned by another peer moves to this
 * one (as `wg set ... allowed-ips` does). family is AF_INET or AF_INET6; cidr <= 32 or 128.
 * Returns 0, -EINVAL (bad family/cidr, NULL peer) or -ENOMEM. */
int aip_insert(struct aip_table *t, int family, const uint8_t *addr, uint8_t cidr, void *peer);

/* Removes one prefix if peer owns it: 0, or -ENOENT when absent or owned by someone else. */
int aip_remove(struct aip_table *t, int family, const uint8_t *addr, uint8_t cidr, void *peer);

/* Removes every prefix of peer (call before freeing the peer). */
void aip_remove_peer(struct aip_table *t, void *peer);

/* The peer owning the longest prefix containing addr, or NULL. */
void *aip_lookup(const struct aip_table *t, int family, const uint8_t *addr);
void *aip_lookup_v4(const struct aip_table *t, const uint8_t addr[4]);
void *aip_lookup_v6(const struct aip_table *t, const uint8_t addr[16]);

/* Calls fn for each prefix of peer, in insertion order (what `get=1` lists as allowed_ip).
 * addr is 4 or 16 bytes, host bits zero. fn returns false to stop. The table must not be
 * modified from inside fn. */
typedef bool (*aip_iter_fn)(void *arg, int family, const uint8_t *addr, uint8_t cidr);
void aip_for_each_of_peer(const struct aip_table *t, void *peer, aip_iter_fn fn, void *arg);

size_t aip_count(const struct aip_table *t);		/* prefixes held */
size_t aip_count_of_peer(const struct aip_table *t, void *peer);

#endif
