/* Userspace GRO for writes into a tun opened with IFF_VNET_HDR and TUNSETOFFLOAD
 * TUN_F_CSUM|TSO4|TSO6: consecutive TCP segments of one flow in a batch become one packet with
 * a virtio_net_hdr (gso_type TCPV4/TCPV6), so the kernel stack sees one large skb.
 *
 * Buffer layout: every packet sits at data with GRO_HEADROOM writable bytes before it (room for
 * the virtio_net_hdr) and cap writable bytes from data on (room for the flow's later payloads
 * to be appended in place; 65535 is enough for the largest result). No allocation; not
 * thread-safe: one struct gro per worker.
 *
 * Frames of a tap: a frame's Ethernet header (l2 bytes, VLAN tags included) lies in front of
 * its IP packet at data, with the GRO_HEADROOM bytes in front of that; frames merge only when
 * their link headers are equal byte for byte, and the merged frame keeps the first one's. A
 * frame that carries no IP packet is given whole, marked raw, and written as it is.
 *
 * Rules (after the kernel's inet/ipv6/tcp GRO): same IP version, addresses, ports; IPv4 TOS,
 * TTL, DF equal, no options, not a fragment, ids consecutive unless DF; IPv6 version/traffic
 * class/flow label and hop limit equal, no extension headers; TCP ack, window and data offset
 * equal and options byte-for-byte identical (timestamps included: the merged packet carries one
 * option block, and the kernel does the same); flags ACK only, or ACK|PSH, which ends the
 * packet; seq contiguous; equal payload sizes with only the last one allowed to be shorter;
 * result at most 65535 bytes. A segment whose IPv4 header or TCP checksum is wrong is written
 * unmodified (the kernel then drops it) and never merged, as is anything else that does not
 * qualify; it also ends any merged packet of its flow, so order within a flow is kept. */
#ifndef CULVERT_GRO_H
#define CULVERT_GRO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>

#include "lib/packet.h"

enum {
	GRO_HEADROOM = sizeof(struct virtio_net_hdr),
	GRO_MAX_BATCH = 128,
	GRO_MAX_LEN = 65535,
	GRO_TABLE = 256,  /* flow slots, a power of two above GRO_MAX_BATCH */
	GRO_L2_MAX = PKT_ETH_MAX_HLEN,  /* Ethernet with two VLAN tags */
	GRO_SCRATCH_HEAD = 32,  /* >= GRO_HEADROOM + GRO_L2_MAX */
	GRO_SCRATCH_SIZE = GRO_SCRATCH_HEAD + GRO_MAX_LEN + 1,  /* header room + a merge */
};

struct gro_pkt {
	uint8_t *data;  /* the IP packet; the GRO_HEADROOM bytes before its link header are writable */
	size_t len;     /* of the IP packet (raw: of the frame) */
	size_t cap;     /* writable bytes from data */
	uint8_t l2;     /* link header bytes in front of data, written with it (a tap's frames) */
	bool raw;       /* a frame with no IP packet: data is the frame, written as it is */
};

struct gro_stats {
	uint64_t merged;        /* segments appended to an earlier one */
	uint64_t out_gso;       /* packets written with a GSO header */
	uint64_t out_partial;   /* lone segments written with the checksum left to the kernel */
	uint64_t passthrough;   /* written as they came: not TCP, flags, options, no payload... */
	uint64_t bad_csum;      /* passthrough because a checksum was wrong */
};

struct gro_item {
	uint32_t next_seq;
	uint16_t gso_size, nseg, ip_id;
	uint8_t l4off, thl;
	uint8_t state;         /* enum in gro.c */
};

struct gro {
	struct gro_stats stats;
	/* Skip the TCP checksum check: the packets were authenticated end to end (a WireGuard
	 * session), so a wrong checksum could only come from the peer itself, which the kernel's
	 * WireGuard trusts as well (CHECKSUM_UNNECESSARY). Merged packets then carry a checksum
	 * the kernel completes, and so do lone TCP segments (not read again on delivery). Off after
	 * gro_init. */
	bool trust_l4_csum;
	/* Optional scratch_n buffers of GRO_SCRATCH_SIZE: a packet whose cap is too small for
	 * what merges into it is first copied there, so packets may sit back to back (cap = len,
	 * as decrypted datagrams of one UDP GRO receive do) and only merge heads are copied. */
	uint8_t *scratch;
	unsigned int scratch_n, scratch_used;
	uint32_t gen;
	struct { uint32_t gen; uint16_t item; uint32_t hash; } table[GRO_TABLE];
	struct gro_item items[GRO_MAX_BATCH];
};

void gro_init(struct gro *g);

/* Coalesce pkts[0..n) (n <= GRO_MAX_BATCH, n_out >= n). Fills out[] with what to write to
 * the tun, one entry per resulting packet, each starting at its virtio_net_hdr (zero for
 * packets written unchanged), in batch order of each packet's first segment. Merged segments'
 * buffers are no longer referenced; a head moved to scratch has its pkts[].data changed. Returns
 * the count, or -EINVAL for bad arguments. */
int gro_coalesce(struct gro *g, struct gro_pkt *pkts, size_t n, struct iovec *out, size_t n_out);

#endif
