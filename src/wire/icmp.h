/* ICMP transport: datagrams (WireGuard messages or simpletun packets) carried in ICMP echo
 * request payloads from the side that dials and echo reply payloads from the side that listens,
 * IPv4 and IPv6. Pure parts only (framing, listener sessions, the dialler's poll policy); the
 * sockets and the kernel's own echo replies are icmp_sock.h. Clocks are passed in (ns). */
#ifndef CULVERT_ICMP_H
#define CULVERT_ICMP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/endpoint.h"

/* Echo payload: magic "cv" | version | backlog | 2-byte big-endian length | message.
 * The magic tells tunnel traffic from ordinary pings; length 0 is an empty poll. backlog is
 * meaningful in replies only: how many more messages the listener holds for this session
 * (saturating), so the dialler sends that many polls at once. */
enum {
	ICMPW_ECHO_HLEN = 8, ICMPW_HDR_LEN = 6, ICMPW_OVERHEAD = ICMPW_ECHO_HLEN + ICMPW_HDR_LEN,
	ICMPW_MAGIC = 0x6376, ICMPW_VERSION = 1,
	ICMPW_MAX_MSG = 65535 - 40 - ICMPW_OVERHEAD,   /* what an IPv6 payload length allows */
	ICMPW_SLOTS = 16,               /* unanswered requests a listener holds per session */
};
/* Listener keeps a request unanswered this long; the dialler counts one as held for less. */
#define ICMPW_HOLD_NS      1000000000ull
#define ICMPW_REFRESH_NS    800000000ull
#define ICMPW_ACTIVE_NS    2000000000ull   /* data this recent: poll for the whole backlog */
#define ICMPW_IDLE_AFTER_NS 10000000000ull /* idle this long: polls thin out ... */
#define ICMPW_IDLE_MAX_NS   4000000000ull  /* ... to one per this interval */
#define ICMPW_SESSION_TTL_NS 180000000000ull
/* With proof required (icmpw_table.prove), unproven sessions a source (an address, an IPv6
 * /64) may hold at once: enough for a few diallers behind one NAT starting together. */
#define ICMPW_UNPROVEN_PER_SOURCE 4

enum icmpw_role { ICMPW_LISTENER, ICMPW_DIALLER };

enum icmpw_drop {
	ICMPW_DROP_SHORT,       /* shorter than the echo header plus ours */
	ICMPW_DROP_TYPE,        /* not the echo type this side takes, or code not 0 */
	ICMPW_DROP_CSUM,        /* IPv4 ICMP checksum wrong (the kernel checks ICMPv6) */
	ICMPW_DROP_FOREIGN,     /* no magic: an ordinary ping, not tunnel traffic */
	ICMPW_DROP_VERSION,
	ICMPW_DROP_LENGTH,      /* the length field disagrees with the payload */
	ICMPW_DROP_TOO_LONG,    /* above the configured message limit */
	ICMPW_DROP_WRONG_ID,    /* dialler: a reply to someone else's echo */
	ICMPW_DROP_QUEUE_FULL,  /* listener: the session's downstream queue is full */
	ICMPW_DROP_NO_SESSION,  /* listener: send to a session that is gone */
	ICMPW_DROP_TABLE_FULL,  /* listener: no room for a new session */
	ICMPW_DROP_SEND,        /* the socket refused it */
	ICMPW_DROP_MAX
};
const char *icmpw_drop_name(enum icmpw_drop d);

struct icmpw_stats {
	uint64_t drop[ICMPW_DROP_MAX];
	uint64_t rx_msgs, tx_msgs, polls_rx, polls_tx, foreign_answered;
};

struct icmpw_msg {
	uint8_t type;
	uint16_t id, seq;        /* host order, as on the wire */
	uint8_t backlog;
	const uint8_t *data;     /* inside the buffer given */
	size_t len;              /* 0: an empty poll or reply */
};

/* icmp[0..len): an echo request or reply whose payload starts with the magic, i.e. one the
 * transport made, whichever way it goes; nothing else is checked (not the checksum, which a
 * packet read back from the tun may still owe). */
bool icmpw_is_ours(const uint8_t *icmp, size_t len, bool v6);
/* icmp[0..len): one ICMP/ICMPv6 message (no IP header). A listener takes echo requests, a
 * dialler echo replies; IPv4 checksums are verified. limit: largest message accepted. On false
 * *why names the reason; ICMPW_DROP_FOREIGN leaves m->type/id/seq filled. */
bool icmpw_parse(const uint8_t *icmp, size_t len, bool v6, enum icmpw_role role, size_t limit,
		 struct icmpw_msg *m, enum icmpw_drop *why);
/* Write one echo request (dialler) or reply (listener) carrying data[0..len) into out. The
 * IPv4 checksum is filled, the ICMPv6 one left 0 for the kernel. Bytes written, 0 if it does
 * not fit in cap or len > ICMPW_MAX_MSG. */
size_t icmpw_build(uint8_t *out, size_t cap, bool v6, enum icmpw_role role, uint16_t id,
		   uint16_t seq, uint8_t backlog, const void *data, size_t len);
/* The kernel's answer to an ordinary echo request icmp[0..len) (type and checksum changed,
 * the rest kept), for a listener that has turned the kernel's own answers off: bytes written,
 * 0 when it is not a plain echo request or does not fit. */
size_t icmpw_echo_answer(const uint8_t *icmp, size_t len, bool v6, uint8_t *out, size_t cap);

/* Listener: one session per (address, echo identifier, local address), so dialling peers
 * behind one NAT, which gives each its own identifier toward one of our addresses, stay
 * apart (toward two of our addresses it need not rewrite them). Each holds the requests it has not
 * answered (oldest first, up to ICMPW_SLOTS, each for ICMPW_HOLD_NS) and a bounded queue of
 * downstream messages waiting for one. */
/* The dialling peer's address (port 0) and the local address its request was sent to, so
 * that replies leave from it: a stateful firewall or NAT on the way passes only a reply from
 * the address the request went to. The echo identifier stays apart from the port. Keys are
 * compared field by field and their local end whole: build them from a zeroed struct. */
struct icmpw_key {
	struct endpoint ep;
	uint16_t id;
};

struct icmpw_session {
	struct icmpw_key key;
	bool used;
	bool proven;            /* a message from it authenticated (or proof is not asked) */
	uint64_t prover;        /* ... the peer's (the caller's name for it) */
	uint64_t last_seen;
	uint16_t slot_seq[ICMPW_SLOTS];
	uint64_t slot_t[ICMPW_SLOTS];
	unsigned int slot_head, slot_n;
	uint8_t *q;             /* qcap messages of msgmax bytes */
	uint16_t *qlen;
	unsigned int q_head, q_n;
};

struct icmpw_table {
	struct icmpw_session *s;
	unsigned int n, qcap;
	size_t msgmax;
	/* Sessions must prove themselves (icmpw_table_prove) to keep their slot: anyone can send
	 * an echo request, spoofed, so until then a session may be evicted for a newcomer and a
	 * source may hold only ICMPW_UNPROVEN_PER_SOURCE of them. Off (plaintext, nothing to
	 * prove), a session keeps its slot until ICMPW_SESSION_TTL_NS of silence. */
	bool prove;
	unsigned int unproven;  /* sessions in use and not proven */
	unsigned int lost;      /* messages queued for evicted sessions, for the caller to count */
};

/* sessions, qcap (messages per session) and msgmax (1..ICMPW_MAX_MSG) bound the memory, all
 * allocated here. 0 or -errno. */
int icmpw_table_init(struct icmpw_table *t, unsigned int sessions, unsigned int qcap, size_t msgmax);
void icmpw_table_free(struct icmpw_table *t);
/* The session for key, or with create a new one (reusing one idle for ICMPW_SESSION_TTL_NS,
 * else, with prove, evicting the unproven one silent longest); NULL when absent, the table is
 * full, or (with prove) key's source holds ICMPW_UNPROVEN_PER_SOURCE unproven sessions. */
struct icmpw_session *icmpw_table_get(struct icmpw_table *t, const struct icmpw_key *key,
				      uint64_t now, bool create);
/* A message of peer (the caller's name for it) on key's session authenticated: the session
 * keeps its slot, and the peer's other proven session, if any, is unproven again (one peer
 * may not hold the table). true when that proved it. */
bool icmpw_table_prove(struct icmpw_table *t, const struct icmpw_key *key, uint64_t peer);
/* A request arrived with sequence seq: hold it (the oldest is let go when all are held). */
void icmpw_session_hold(struct icmpw_session *s, uint16_t seq, uint64_t now);
/* Downstream message: 0, or -ENOBUFS when the queue is full, -EMSGSIZE above msgmax. */
int icmpw_session_enqueue(struct icmpw_table *t, struct icmpw_session *s, const void *msg, size_t len);
/* When a held request and a queued message meet: the reply to send now (seq to answer with,
 * message, backlog after it), and true; the message stays valid until the next call on s. */
bool icmpw_session_take(struct icmpw_table *t, struct icmpw_session *s, uint64_t now,
			uint16_t *seq, const uint8_t **msg, size_t *len, uint8_t *backlog);
unsigned int icmpw_session_held(const struct icmpw_session *s, uint64_t now);

/* Dialler: when to send empty polls. A poll is held by the listener for ICMPW_HOLD_NS and
 * lets one downstream message through. The dialler keeps one held all the time, plus as many
 * as the listener says it has queued while traffic flows; after ICMPW_IDLE_AFTER_NS without
 * data the polls thin out to one per ICMPW_IDLE_MAX_NS. */
struct icmpw_poll {
	uint64_t sent[ICMPW_SLOTS];  /* unanswered requests, oldest first */
	unsigned int head, n;
	uint64_t last_send, last_data;
	uint8_t backlog;
};
void icmpw_poll_init(struct icmpw_poll *p, uint64_t now);
/* A request left (data: it carried a message). */
void icmpw_poll_sent(struct icmpw_poll *p, uint64_t now, bool data);
/* A reply arrived (data: it carried a message) saying backlog more are queued. */
void icmpw_poll_reply(struct icmpw_poll *p, uint64_t now, uint8_t backlog, bool data);
/* How many empty polls to send now; *next: when to ask again if nothing happens. */
unsigned int icmpw_poll_due(const struct icmpw_poll *p, uint64_t now, uint64_t *next);

#endif
