/* The engine's one split of a device read from a tun opened with IFF_VNET_HDR: a packet
 * without GSO is completed in place, a super-packet is cut into segments laid out in a slot
 * region, each slot sized for its own segment (not a fixed MTU), with room before and after
 * it for what the caller adds (a WireGuard header and tag, or nothing). */
#ifndef CULVERT_ENGINE_TUN_SPLIT_H
#define CULVERT_ENGINE_TUN_SPLIT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "engine/gso.h"
#include "lib/packet.h"

enum {
	TUN_SPLIT_HDR_MAX = 128,	/* IPv4 with options or IPv6, and TCP with options */
	TUN_SPLIT_L2_MAX = PKT_ETH_MAX_HLEN,	/* Ethernet with two VLAN tags */
};

struct tun_split_area {
	uint8_t *slots;		/* where segments go */
	size_t bytes;		/* size of slots */
	size_t used;		/* taken by earlier splits; advanced by this one */
	size_t headroom, tailroom;	/* kept free around each segment */
	bool eth;		/* frames of a tap: a super-frame's IP packet is cut and every
				 * segment gets a copy of its Ethernet header (VLAN tags too) */
};

/* Split frame[0..n) (virtio_net_hdr + packet) into out[0..max_out): a packet without GSO is
 * completed in place (its NEEDS_CSUM checksum filled in) and out[0] points into frame; a
 * super-packet's segments go into the area, none longer than limit (GSO_SLOT_TOO_SMALL
 * otherwise, as a peer with that MTU could not take them). TCP segments are cut smaller where
 * needed to stay within seg_max too (SIZE_MAX: no such cap; UDP datagram sizes are the
 * application's and never re-cut). Returns the count or -EINVAL (*why). */
int tun_split(uint8_t *frame, size_t n, size_t limit, size_t seg_max, struct tun_split_area *a,
	      struct iovec *out, size_t max_out, enum gso_reason *why);

#endif
