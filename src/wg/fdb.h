/* The forwarding database of tap mode: a learning switch whose ports are the local tap and the
 * peers. It is to Ethernet what allowedips.h is to IP (which peer a frame goes to), and lives
 * beside it because send.c and receive.c are its callers; peers are opaque pointers.
 *
 * A frame's source MAC is learnt for the port it came from; unicast to a known MAC goes to that
 * port alone; broadcast, multicast and unknown unicast are flooded to every port but the one it
 * came from; a frame for a MAC learnt on its own port is dropped (hairpin). Entries age out, a
 * MAC that shows up on another port moves there (unless it moved less than move_hold ago: that
 * frame is dropped as flap, which also damps a loop's storm). Learning is keyed by MAC and the
 * outer VLAN id (802.1Q or 802.1ad tag; 0 untagged), so one MAC may live on two VLANs.
 *
 * Memory is fixed at fdb_init: max_entries entries in all, max_per_port on any one port (the
 * local tap included). A frame whose source cannot be learnt (its port or the table is full)
 * is dropped and counted, as a switch port's "port security" does, so a MAC flood from one
 * peer neither evicts nor floods anyone else.
 *
 * Threads: any number of workers may call fdb_forward, fdb_learn and fdb_lookup at once; the
 * rest too, each taking what it needs (see fdb.c). A peer pointer returned by fdb_lookup or in
 * struct fdb_out stays valid only while the caller keeps the peer from being removed (the
 * device's lock held for reading); the integrator calls fdb_remove_peer under its lock held
 * for writing, before freeing the peer. */
#ifndef CULVERT_WG_FDB_H
#define CULVERT_WG_FDB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

struct wg_peer;
struct fdb_entry;
struct fdb_port;

/* The local tap as a port. */
#define FDB_LOCAL ((struct wg_peer *)0)

enum {
	FDB_ETH_ALEN = 6,
	FDB_ETH_HLEN = 14,
	FDB_VLAN_HLEN = 4,
	FDB_ETH_P_8021Q = 0x8100,
	FDB_ETH_P_8021AD = 0x88a8,
	FDB_VID_MASK = 0x0fff,
};

enum fdb_drop {
	FDB_DROP_SHORT,		/* under 14 bytes, or a tag cut short */
	FDB_DROP_BAD_SRC,	/* source MAC zero or multicast */
	FDB_DROP_RESERVED,	/* to 01:80:c2:00:00:0X, which a bridge never forwards */
	FDB_DROP_HAIRPIN,	/* destination learnt on the port it came from */
	FDB_DROP_PORT_FULL,	/* a new source over its port's max_per_port */
	FDB_DROP_TABLE_FULL,	/* a new source with max_entries taken */
	FDB_DROP_FLAP,		/* a source that moved less than move_hold ago moved again */
	FDB_DROP_SPLIT_HORIZON,	/* split_horizon: from a peer to a MAC learnt on another peer */
	FDB_DROP__COUNT
};
const char *fdb_drop_name(enum fdb_drop d);

struct fdb_limits {
	unsigned int max_entries;	/* 0: FDB_DEFAULT_MAX_ENTRIES */
	unsigned int max_per_port;	/* 0: FDB_DEFAULT_MAX_PER_PORT */
	uint64_t age_ns;		/* 0: FDB_DEFAULT_AGE_NS */
	uint64_t move_hold_ns;		/* 0: FDB_DEFAULT_MOVE_HOLD_NS; FDB_NO_HOLD: none */
	/* Frames from a peer go to the tap only, never on to other peers: for a full mesh,
	 * where every site floods to every other itself and relaying would loop. Off for a
	 * hub that joins its spokes. */
	bool split_horizon;
};

#define FDB_DEFAULT_MAX_ENTRIES 16384u
#define FDB_DEFAULT_MAX_PER_PORT 1024u
#define FDB_DEFAULT_AGE_NS (300ull * 1000000000ull)
#define FDB_DEFAULT_MOVE_HOLD_NS (1000000000ull)
#define FDB_NO_HOLD UINT64_MAX

struct fdb {
	pthread_rwlock_t lock;
	struct fdb_limits lim;
	uint64_t key[2];		/* hash key, random per instance */
	uint64_t refresh_ns;		/* a hit older than this rewrites its timestamp */
	struct fdb_entry *entries;	/* lim.max_entries; NULL before init */
	uint32_t *buckets;		/* chain heads, entry index + 1 (0: empty) */
	uint32_t n_buckets, free_list, n_entries;
	struct fdb_port *ports;		/* lim.max_entries + 1: a port exists while it has entries */
	uint32_t *port_buckets;
	uint32_t port_free;
	uint64_t last_reclaim;		/* when a full table or port last looked for aged entries */
	uint64_t drops[FDB_DROP__COUNT];	/* atomic */
};

/* A parsed frame header. */
struct fdb_frame {
	const uint8_t *dst, *src;	/* into the frame */
	uint16_t vid;			/* outer tag's VLAN id, 0 when untagged or priority-tagged */
	size_t hlen;			/* 14, or 18 with a tag */
};

/* Where a frame goes: any of the three; none means dropped, for the reason why. */
struct fdb_out {
	struct wg_peer *peer;	/* unicast to this peer alone */
	bool local;		/* to the tap */
	bool flood;		/* to every peer except the one it came from */
	enum fdb_drop why;	/* FDB_DROP__COUNT when not dropped */
};

struct fdb_frame_ref {
	const uint8_t *data;
	size_t len;
};

/* 0, -EINVAL (max_per_port over max_entries, or max_entries over 2^24) or -ENOMEM. lim NULL:
 * defaults; zero fields take theirs. */
int fdb_init(struct fdb *fdb, const struct fdb_limits *lim);
/* Safe on a zeroed struct and twice. */
void fdb_uninit(struct fdb *fdb);

/* The Ethernet header of f[0..len): false for a short frame or a bad source (counted in fdb
 * when it is not NULL, *why set). */
bool fdb_frame_parse(struct fdb *fdb, const uint8_t *f, size_t len, struct fdb_frame *out,
		     enum fdb_drop *why);

/* Learn src on vid for port `from` (FDB_LOCAL: the tap). False (counted) when the source may
 * not be learnt: port or table full, or a move within move_hold. */
bool fdb_learn(struct fdb *fdb, const uint8_t src[6], uint16_t vid, struct wg_peer *from,
	       uint64_t now);
/* The port a MAC was learnt on: false when unknown or aged; *port is FDB_LOCAL or a peer. */
bool fdb_lookup(struct fdb *fdb, const uint8_t dst[6], uint16_t vid, uint64_t now,
		struct wg_peer **port);

/* The switch: parse, learn the source, decide the destinations. False when the frame is to be
 * dropped (counted, *why set when why is not NULL); else *out says where it goes, never back
 * to `from`. */
bool fdb_forward(struct fdb *fdb, const uint8_t *f, size_t len, struct wg_peer *from,
		 uint64_t now, struct fdb_out *out, enum fdb_drop *why);

/* The same for n frames from one port (a batch of one peer's decrypted packets, or of tap
 * reads) under one hold of the lock: out[i] for in[i]. Returns how many go somewhere. */
unsigned int fdb_forward_batch(struct fdb *fdb, const struct fdb_frame_ref *in, unsigned int n,
			       struct wg_peer *from, uint64_t now, struct fdb_out *out);

/* Forget every MAC of a peer (call before freeing it). */
void fdb_remove_peer(struct fdb *fdb, struct wg_peer *peer);
/* Forget aged entries (the tick, every second or so); lookups ignore them meanwhile. */
void fdb_expire(struct fdb *fdb, uint64_t now);

/* For culvert show: fn is called for each live entry under the lock held for reading, so it
 * must not call into this fdb; it returns false to stop. age_ns: since last seen. */
struct fdb_entry_info {
	uint8_t mac[6];
	uint16_t vid;
	struct wg_peer *port;	/* FDB_LOCAL or a peer */
	uint64_t age_ns;
};
typedef bool (*fdb_iter_fn)(void *arg, const struct fdb_entry_info *e);
void fdb_for_each(struct fdb *fdb, uint64_t now, fdb_iter_fn fn, void *arg);

unsigned int fdb_count(struct fdb *fdb);
unsigned int fdb_count_of_port(struct fdb *fdb, struct wg_peer *port);
uint64_t fdb_drops(const struct fdb *fdb, enum fdb_drop d);
/* "02:00:5e:10:00:01" into buf (at least 18 bytes); returns buf. */
char *fdb_mac_str(const uint8_t mac[6], char *buf);

#endif
