/* WireGuard wire messages and protocol constants (whitepaper sections 5 and 6).
 * All multi-byte integers on the wire are little-endian; structs are packed and their sizes
 * are checked at compile time so a layout mistake cannot reach the network. */
#ifndef CULVERT_WG_MESSAGES_H
#define CULVERT_WG_MESSAGES_H
#include <stdbool.h>
#include <stdint.h>

#define WG_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define WG_IDENTIFIER   "WireGuard v1 zx2c4 Jason@zx2c4.com"
#define WG_LABEL_MAC1   "mac1----"
#define WG_LABEL_COOKIE "cookie--"

enum wg_message_type {
	WG_MSG_INVALID = 0,
	WG_MSG_INITIATION = 1,
	WG_MSG_RESPONSE = 2,
	WG_MSG_COOKIE_REPLY = 3,
	WG_MSG_DATA = 4,
};

/* The type is a 1-byte field followed by 3 reserved zero bytes: the whole 4 must match. */
static inline bool wg_msg_type_is(const void *msg, uint8_t type)
{
	const uint8_t *b = msg;
	return b[0] == type && !b[1] && !b[2] && !b[3];
}

enum {
	WG_KEY_LEN = 32,
	WG_HASH_LEN = 32,
	WG_TAG_LEN = 16,          /* Poly1305 tag, the "+16" of every AEAD field */
	WG_TIMESTAMP_LEN = 12,    /* TAI64N */
	WG_COOKIE_LEN = 16,
	WG_MAC_LEN = 16,
	WG_COOKIE_NONCE_LEN = 24,
	WG_PADDING_MULTIPLE = 16, /* data plaintext is zero-padded to a multiple of this */
	WG_INITIATIONS_PER_SECOND = 50, /* per peer; faster initiations are dropped as a flood */
	WG_MAX_PEERS = 1 << 20,
};

/* Timers, in seconds (whitepaper section 6.1). */
enum wg_timer_seconds {
	REKEY_AFTER_TIME = 120,
	REJECT_AFTER_TIME = 180,
	REKEY_ATTEMPT_TIME = 90,
	REKEY_TIMEOUT = 5,
	KEEPALIVE_TIMEOUT = 10,
	COOKIE_SECRET_MAX_AGE = 120,
	/* A received cookie is used this much shorter than the responder's secret lives, so it
	 * never goes out after the responder rotated. */
	COOKIE_SECRET_LATENCY = 5,
};

/* Message counters. 64-bit enumerators are a GNU C extension this tree relies on. */
enum wg_counter_limits {
	REKEY_AFTER_MESSAGES = 1ULL << 60,
	REJECT_AFTER_MESSAGES = 0xffffffffffffffffULL - (1ULL << 13), /* 2^64 - 2^13 - 1 */
};
_Static_assert(REJECT_AFTER_MESSAGES == 18446744073709543423ULL, "REJECT_AFTER_MESSAGES");

#define WG_NSEC_PER_SEC 1000000000ULL

/* The two MACs close every handshake message (initiation, response). */
struct wg_macs {
	uint8_t mac1[WG_MAC_LEN];
	uint8_t mac2[WG_MAC_LEN];
} __attribute__((packed));

struct wg_msg_initiation {
	uint8_t type;             /* WG_MSG_INITIATION */
	uint8_t reserved[3];
	uint32_t sender_index;    /* little-endian */
	uint8_t ephemeral[WG_KEY_LEN];
	uint8_t encrypted_static[WG_KEY_LEN + WG_TAG_LEN];
	uint8_t encrypted_timestamp[WG_TIMESTAMP_LEN + WG_TAG_LEN];
	struct wg_macs macs;
} __attribute__((packed));

struct wg_msg_response {
	uint8_t type;             /* WG_MSG_RESPONSE */
	uint8_t reserved[3];
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t ephemeral[WG_KEY_LEN];
	uint8_t encrypted_nothing[WG_TAG_LEN];
	struct wg_macs macs;
} __attribute__((packed));

struct wg_msg_cookie_reply {
	uint8_t type;             /* WG_MSG_COOKIE_REPLY */
	uint8_t reserved[3];
	uint32_t receiver_index;
	uint8_t nonce[WG_COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[WG_COOKIE_LEN + WG_TAG_LEN];
} __attribute__((packed));

struct wg_msg_data {
	uint8_t type;             /* WG_MSG_DATA */
	uint8_t reserved[3];
	uint32_t receiver_index;
	uint64_t counter;         /* little-endian; the AEAD nonce */
	uint8_t encrypted[];      /* padded plaintext + tag */
} __attribute__((packed));

enum wg_message_sizes {
	WG_MSG_INITIATION_LEN = 148,
	WG_MSG_RESPONSE_LEN = 92,
	WG_MSG_COOKIE_REPLY_LEN = 64,
	WG_MSG_DATA_HEADER_LEN = 16,
	WG_MSG_DATA_MIN_LEN = WG_MSG_DATA_HEADER_LEN + WG_TAG_LEN, /* a keepalive */
	/* Bytes a data message adds to its padded plaintext: the header and the tag. */
	WG_MSG_DATA_OVERHEAD = WG_MSG_DATA_HEADER_LEN + WG_TAG_LEN,
	/* The most one UDP datagram carries: 65535 less the UDP header, and the IPv4 header
	 * (IPv6's payload length leaves its own header out). */
	WG_UDP4_PAYLOAD_MAX = 65535 - 8 - 20,
	WG_UDP6_PAYLOAD_MAX = 65535 - 8,
};

/* Tap mode (culvert peers only): the plaintext of a data message is this header and one
 * Ethernet frame. Its first byte is not an IP version, so a tun-mode peer drops such data as
 * bad_inner_packet, and an IP packet is never taken for a frame; the length says where the
 * frame ends, which the padding hides and Ethernet does not say itself. */
enum wg_tap_header {
	WG_TAP_FRAME = 0x00,	/* byte 0 */
	WG_TAP_HEADER_LEN = 4,	/* type, zero, frame length (16 bits, big-endian) */
	/* Ethernet header and up to two VLAN tags: the tap's MTU is the device's less these */
	WG_TAP_MTU_OVERHEAD = WG_TAP_HEADER_LEN + 14 + 2 * 4,
};

_Static_assert(sizeof(struct wg_msg_initiation) == WG_MSG_INITIATION_LEN, "initiation size");
_Static_assert(sizeof(struct wg_msg_response) == WG_MSG_RESPONSE_LEN, "response size");
_Static_assert(sizeof(struct wg_msg_cookie_reply) == WG_MSG_COOKIE_REPLY_LEN, "cookie reply size");
_Static_assert(sizeof(struct wg_msg_data) == WG_MSG_DATA_HEADER_LEN, "data header size");
_Static_assert(sizeof(struct wg_macs) == 32, "macs size");

#endif
