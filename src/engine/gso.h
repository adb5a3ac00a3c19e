/* Userspace GSO: split one super-packet read from a tun opened with IFF_VNET_HDR (and
 * TUNSETOFFLOAD TSO4/TSO6/USO) into wire-sized packets, or finish its checksum. No allocation:
 * segments go into caller-provided slots. The virtio_net_hdr fields are in host byte order
 * (the tun default on little-endian hosts; do not use TUNSETVNETBE). */
#ifndef CULVERT_GSO_H
#define CULVERT_GSO_H
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

enum { GSO_VNET_HDR_LEN = sizeof(struct virtio_net_hdr) };

/* Why a packet was refused; gso_reason_name() gives the drop counter's name. */
enum gso_reason {
	GSO_OK,
	GSO_BAD_GSO_TYPE,   /* unknown gso_type, or ECN on a non-TCP type */
	GSO_BAD_HDR_LEN,    /* hdr_len past the end of the packet */
	GSO_BAD_CSUM_START, /* csum_start/csum_offset outside the packet or not at the L4 header */
	GSO_BAD_IP_VERSION, /* not IPv4/IPv6, or not the version gso_type names */
	GSO_BAD_IP_HDR,     /* truncated IP header, IHL < 5, IPv4 fragment */
	GSO_BAD_PROTO,      /* IP protocol is not the one gso_type names, or IPv6 extension headers */
	GSO_BAD_L4_HDR,     /* truncated TCP/UDP header or bad TCP data offset */
	GSO_BAD_GSO_SIZE,   /* gso_size 0, or a segment would not fit a 16-bit IP length */
	GSO_TOO_MANY_SEGS,  /* more segments than output slots */
	GSO_SLOT_TOO_SMALL, /* an output slot cannot hold its segment */
	GSO_REASON_MAX
};
const char *gso_reason_name(enum gso_reason r);

/* Decode the 10-byte header at the front of a tun read; 0, or -EINVAL if len is shorter. */
int gso_hdr_get(const uint8_t *frame, size_t len, struct virtio_net_hdr *vh);

/* Split pkt[0..len) described by vh into out[0..n_out): on entry out[i].iov_len is the slot's
 * capacity, on return the segment's length. Returns the number of segments (>= 1; a packet
 * without GSO gives one, its checksum completed if NEEDS_CSUM) or -EINVAL with *why set.
 * TCP: sequence numbers advance, FIN/PSH only on the last segment, CWR only on the first;
 * IPv4 ids increment, lengths and every checksum are recomputed. hdr_len is only a hint
 * from the kernel (it may cover payload) and is not used to find the headers. */
int gso_split(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len,
	      struct iovec *out, size_t n_out, enum gso_reason *why);

/* For a packet without GSO: complete the NEEDS_CSUM checksum in place (no-op otherwise),
 * saving the copy gso_split would make. 0 or -EINVAL with *why set. */
int gso_finish_csum(const struct virtio_net_hdr *vh, uint8_t *pkt, size_t len, enum gso_reason *why);

#endif
