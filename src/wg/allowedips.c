/* Allowed IPs as two path-compressed binary tries.
 *
 * Every node holds a prefix (key masked to cidr). A node's children hold longer prefixes that
 * extend it, placed by the first bit after the parent's prefix. Nodes without a peer exist only
 * where two branches split, so a lookup visits at most one node per distinct prefix length on
 * its path and the tree has fewer than 2n nodes for n prefixes. Keys are two host-order 64-bit
 * words so comparing prefixes is an xor and a count of leading zeros; IPv4 uses the top 32 bits
 * of the first word.
 *
 * A peer's prefixes are also threaded on a per-peer list, found through a small pointer-keyed
 * hash, so listing or removing one peer's prefixes does not walk the whole tree. */
#include "allowedips.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct aip_node {
	struct aip_node *child[2];
	struct aip_node *parent;
	void *peer;				/* NULL: a branch point only */
	struct aip_node *pnext, *pprev;		/* the owning peer's list */
	uint64_t k[2];
	uint8_t cidr;
	uint8_t v6;
};

struct peer_slot {
	void *peer;				/* NULL: empty */
	struct aip_node *head, *tail;
	size_t count;
};

struct aip_table {
	struct aip_node *root[2];		/* [0] IPv4, [1] IPv6 */
	size_t count;
	struct peer_slot *slots;
	size_t nslots, npeers;			/* nslots is 0 or a power of two */
};

/* ---- keys ---- */

static void key_load(uint64_t k[2], bool v6, const uint8_t *addr)
{
	uint32_t w4;
	uint64_t w;

	if (!v6) {
		memcpy(&w4, addr, 4);
		k[0] = (uint64_t)be32toh(w4) << 32;
		k[1] = 0;
		return;
	}
	memcpy(&w, addr, 8);
	k[0] = be64toh(w);
	memcpy(&w, addr + 8, 8);
	k[1] = be64toh(w);
}

static void key_store(uint8_t *addr, bool v6, const uint64_t k[2])
{
	uint32_t w4;
	uint64_t w;

	if (!v6) {
		w4 = htobe32((uint32_t)(k[0] >> 32));
		memcpy(addr, &w4, 4);
		return;
	}
	w = htobe64(k[0]);
	memcpy(addr, &w, 8);
	w = htobe64(k[1]);
	memcpy(addr + 8, &w, 8);
}

static void key_mask(uint64_t k[2], unsigned int cidr)
{
	if (cidr == 0) {
		k[0] = k[1] = 0;
	} else if (cidr <= 64) {
		k[0] &= ~0ULL << (64 - cidr);
		k[1] = 0;
	} else {
		k[1] &= ~0ULL << (128 - cidr);
	}
}

static unsigned int key_bit(const uint64_t k[2], unsigned int i)
{
	return i < 64 ? (k[0] >> (63 - i)) & 1 : (k[1] >> (127 - i)) & 1;
}

/* Number of leading bits a and b share (128 when equal). */
static unsigned int key_common(const uint64_t a[2], const uint64_t b[2])
{
	uint64_t x = a[0] ^ b[0];

	if (x)
		return (unsigned int)__builtin_clzll(x);
	x = a[1] ^ b[1];
	return x ? 64 + (unsigned int)__builtin_clzll(x) : 128;
}

/* ---- peer index ---- */

static size_t peer_hash(const void *peer, size_t nslots)
{
	uint64_t h = (uint64_t)(uintptr_t)peer * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 32) & (nslots - 1);
}

static struct peer_slot *peer_find(const struct aip_table *t, const void *peer)
{
	if (!t->nslots)
		return NULL;
	for (size_t i = peer_hash(peer, t->nslots);; i = (i + 1) & (t->nslots - 1)) {
		if (t->slots[i].peer == peer)
			return &t->slots[i];
		if (!t->slots[i].peer)
			return NULL;
	}
}

static struct peer_slot *peer_place(struct peer_slot *slots, size_t nslots, void *peer)
{
	size_t i = peer_hash(peer, nslots);

	while (slots[i].peer && slots[i].peer != peer)
		i = (i + 1) & (nslots - 1);
	return &slots[i];
}

/* Makes room for one more peer so the insert path cannot fail half-way. */
static int peer_reserve(struct aip_table *t)
{
	size_t n;
	struct peer_slot *s;

	if ((t->npeers + 1) * 2 <= t->nslots)
		return 0;
	n = t->nslots ? t->nslots * 2 : 16;
	s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < t->nslots; i++)
		if (t->slots[i].peer)
			*peer_place(s, n, t->slots[i].peer) = t->slots[i];
	free(t->slots);
	t->slots = s;
	t->nslots = n;
	return 0;
}

/* Linear-probing delete: pull later entries of the same cluster back over the hole. */
static void peer_delete(struct aip_table *t, struct peer_slot *s)
{
	size_t mask = t->nslots - 1, hole = (size_t)(s - t->slots);

	for (size_t j = (hole + 1) & mask; t->slots[j].peer; j = (j + 1) & mask) {
		size_t home = peer_hash(t->slots[j].peer, t->nslots);

		/* j may move to hole unless its home lies cyclically in (hole, j]. */
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			t->slots[hole] = t->slots[j];
			hole = j;
		}
	}
	memset(&t->slots[hole], 0, sizeof(t->slots[hole]));
	t->npeers--;
}

static void peer_attach(struct aip_table *t, struct aip_node *n, void *peer)
{
	struct peer_slot *s = peer_place(t->slots, t->nslots, peer);

	if (!s->peer) {
		s->peer = peer;
		t->npeers++;
	}
	n->peer = peer;
	n->pnext = NULL;
	n->pprev = s->tail;
	if (s->tail)
		s->tail->pnext = n;
	else
		s->head = n;
	s->tail = n;
	s->count++;
}

static void peer_detach(struct aip_table *t, struct aip_node *n)
{
	struct peer_slot *s = peer_find(t, n->peer);

	if (n->pprev)
		n->pprev->pnext = n->pnext;
	else
		s->head = n->pnext;
	if (n->pnext)
		n->pnext->pprev = n->pprev;
	else
		s->tail = n->pprev;
	n->pnext = n->pprev = NULL;
	n->peer = NULL;
	if (--s->count == 0)
		peer_delete(t, s);
}

/* ---- trie ---- */

static bool family_ok(int family, unsigned int cidr, bool *v6)
{
	*v6 = family == AF_INET6;
	return (family == AF_INET && cidr <= 32) || (family == AF_INET6 && cidr <= 128);
}

static struct aip_node *node_new(const uint64_t k[2], unsigned int cidr, bool v6)
{
	struct aip_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->k[0] = k[0];
	n->k[1] = k[1];
	key_mask(n->k, cidr);
	n->cidr = (uint8_t)cidr;
	n->v6 = v6;
	return n;
}

static struct aip_node **slot_of(struct aip_table *t, struct aip_node *n)
{
	if (!n->parent)
		return &t->root[n->v6];
	return &n->parent->child[n->parent->child[1] == n];
}

struct aip_table *aip_new(void)
{
	return calloc(1, sizeof(struct aip_table));
}

static void free_subtree(struct aip_node *n)
{
	/* Iterative: a deep IPv6 tree must not recurse 128 levels per call chain needlessly. */
	while (n) {
		if (n->child[0]) {
			struct aip_node *c = n->child[0];

			n->child[0] = NULL;
			n = c;
		} else if (n->child[1]) {
			struct aip_node *c = n->child[1];

			n->child[1] = NULL;
			n = c;
		} else {
			struct aip_node *p = n->parent;

			free(n);
			n = p;
		}
	}
}

void aip_free(struct aip_table *t)
{
	if (!t)
		return;
	free_subtree(t->root[0]);
	free_subtree(t->root[1]);
	free(t->slots);
	free(t);
}

int aip_insert(struct aip_table *t, int family, const uint8_t *addr, uint8_t cidr, void *peer)
{
	struct aip_node **slot, *parent = NULL, *n, *leaf, *mid = NULL;
	uint64_t k[2];
	bool v6;

	if (!t || !addr || !peer || !family_ok(family, cidr, &v6))
		return -EINVAL;
	if (peer_reserve(t))
		return -ENOMEM;
	key_load(k, v6, addr);
	key_mask(k, cidr);

	slot = &t->root[v6];
	while ((n = *slot)) {
		unsigned int c = key_common(n->k, k);

		if (c > cidr)
			c = cidr;
		if (c >= n->cidr) {
			if (n->cidr == cidr) {			/* same prefix: (re)assign */
				if (n->peer == peer)
					return 0;
				if (n->peer)
					peer_detach(t, n);
				else
					t->count++;
				peer_attach(t, n, peer);
				return 0;
			}
			parent = n;
			slot = &n->child[key_bit(k, n->cidr)];
			continue;
		}
		/* k leaves n's prefix after c bits: k goes above n, or both hang off a new branch. */
		leaf = node_new(k, cidr, v6);
		if (c < cidr)
			mid = node_new(k, c, v6);
		if (!leaf || (c < cidr && !mid)) {
			free(leaf);
			free(mid);
			return -ENOMEM;
		}
		if (!mid) {
			leaf->child[key_bit(n->k, cidr)] = n;
			n->parent = leaf;
			leaf->parent = parent;
			*slot = leaf;
		} else {
			mid->child[key_bit(n->k, c)] = n;
			mid->child[key_bit(k, c)] = leaf;
			n->parent = leaf->parent = mid;
			mid->parent = parent;
			*slot = mid;
		}
		peer_attach(t, leaf, peer);
		t->count++;
		return 0;
	}
	leaf = node_new(k, cidr, v6);
	if (!leaf)
		return -ENOMEM;
	leaf->parent = parent;
	*slot = leaf;
	peer_attach(t, leaf, peer);
	t->count++;
	return 0;
}

/* n has just lost its peer: drop it and any branch point left with a single child. */
static void prune(struct aip_table *t, struct aip_node *n)
{
	t->count--;
	while (n && !n->peer && !(n->child[0] && n->child[1])) {
		struct aip_node *c = n->child[0] ? n->child[0] : n->child[1];
		struct aip_node *p = n->parent;

		*slot_of(t, n) = c;
		if (c)
			c->parent = p;
		free(n);
		if (c)
			break;		/* p keeps the same number of children */
		n = p;
	}
}

int aip_remove(struct aip_table *t, int family, const uint8_t *addr, uint8_t cidr, void *peer)
{
	struct aip_node *n;
	uint64_t k[2];
	bool v6;

	if (!t || !addr || !family_ok(family, cidr, &v6))
		return -EINVAL;
	key_load(k, v6, addr);
	key_mask(k, cidr);
	for (n = t->root[v6]; n && n->cidr < cidr; n = n->child[key_bit(k, n->cidr)])
		if (key_common(n->k, k) < n->cidr)
			return -ENOENT;
	if (!n || n->cidr != cidr || key_common(n->k, k) < cidr || !n->peer || n->peer != peer)
		return -ENOENT;
	peer_detach(t, n);
	prune(t, n);
	return 0;
}

void aip_remove_peer(struct aip_table *t, void *peer)
{
	struct peer_slot *s;

	if (!t || !peer)
		return;
	while ((s = peer_find(t, peer))) {
		struct aip_node *n = s->head;

		peer_detach(t, n);	/* may delete s */
		prune(t, n);
	}
}

static void *lookup(const struct aip_node *n, const uint64_t k[2], unsigned int maxbits)
{
	void *best = NULL;

	while (n && key_common(n->k, k) >= n->cidr) {
		if (n->peer)
			best = n->peer;
		if (n->cidr == maxbits)
			break;
		n = n->child[key_bit(k, n->cidr)];
	}
	return best;
}

void *aip_lookup_v4(const struct aip_table *t, const uint8_t addr[4])
{
	uint64_t k[2];

	key_load(k, false, addr);
	return lookup(t->root[0], k, 32);
}

void *aip_lookup_v6(const struct aip_table *t, const uint8_t addr[16])
{
	uint64_t k[2];

	key_load(k, true, addr);
	return lookup(t->root[1], k, 128);
}

void *aip_lookup(const struct aip_table *t, int family, const uint8_t *addr)
{
	if (family == AF_INET)
		return aip_lookup_v4(t, addr);
	if (family == AF_INET6)
		return aip_lookup_v6(t, addr);
	return NULL;
}

void aip_for_each_of_peer(const struct aip_table *t, void *peer, aip_iter_fn fn, void *arg)
{
	const struct peer_slot *s = peer ? peer_find(t, peer) : NULL;
	uint8_t addr[16];

	for (const struct aip_node *n = s ? s->head : NULL; n; n = n->pnext) {
		key_store(addr, n->v6, n->k);
		if (!fn(arg, n->v6 ? AF_INET6 : AF_INET, addr, n->cidr))
			break;
	}
}

size_t aip_count(const struct aip_table *t)
{
	return t ? t->count : 0;
}

size_t aip_count_of_peer(const struct aip_table *t, void *peer)
{
	const struct peer_slot *s = t && peer ? peer_find(t, peer) : NULL;

	return s ? s->count : 0;
}
