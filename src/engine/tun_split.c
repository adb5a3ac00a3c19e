/* The split of one vnet device read (see tun_split.h). */
#include "engine/tun_split.h"

#include <errno.h>
#include <string.h>

#include "lib/packet.h"

/* IP + TCP header bytes of a TCP packet, 0 if it is not one that can be measured. */
static size_t tcp_hdrs(const uint8_t *p, size_t len)
{
	size_t l4;

	if (len < 40)
		return 0;
	if (p[0] >> 4 == 4) {
		l4 = (size_t)(p[0] & 15) * 4;
		if (p[9] != 6)
			return 0;
	} else if (p[0] >> 4 == 6) {
		l4 = 40;
		if (p[6] != 6)
			return 0;
	} else {
		return 0;
	}
	if (l4 < 20 || l4 + 20 > len)
		return 0;
	return l4 + (size_t)(p[l4 + 12] >> 4) * 4;
}

int tun_split(uint8_t *frame, size_t n, size_t limit, size_t seg_max, struct tun_split_area *a,
	      struct iovec *out, size_t max_out, enum gso_reason *why)
{
	struct virtio_net_hdr vh;
	uint8_t *pkt = frame + GSO_VNET_HDR_LEN;
	size_t len, seg, stride, nslots, l2 = 0;
	int k;

	if (gso_hdr_get(frame, n, &vh) < 0 || n == GSO_VNET_HDR_LEN || max_out == 0 || limit == 0) {
		*why = GSO_BAD_IP_HDR;
		return -EINVAL;
	}
	len = n - GSO_VNET_HDR_LEN;
	/* csum_start counts from the first byte read, a tap's Ethernet header included */
	if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		if (gso_finish_csum(&vh, pkt, len, why) < 0)
			return -EINVAL;
		out[0].iov_base = pkt;
		out[0].iov_len = len;
		return 1;
	}
	/* A tap's super-frame: the IP packet behind the link header is what gets cut. */
	if (a->eth) {
		bool csum = vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;

		l2 = pkt_eth_ip_offset(pkt, len);
		if (!l2 || (csum && vh.csum_start < l2) || limit <= l2) {
			*why = !l2 ? GSO_BAD_IP_VERSION : limit <= l2 ? GSO_SLOT_TOO_SMALL : GSO_BAD_CSUM_START;
			return -EINVAL;
		}
		if (csum)
			vh.csum_start = (uint16_t)(vh.csum_start - l2);
		vh.hdr_len = vh.hdr_len > l2 ? (uint16_t)(vh.hdr_len - l2) : 0;
		pkt += l2;
		len -= l2;
		limit -= l2;
		seg_max = seg_max > l2 ? seg_max - l2 : 0;
	}
	/* Smaller TCP segments than the sender's MSS are still valid TCP, and keep each packet
	 * within seg_max (the underlay path, for datagrams). */
	if (vh.gso_type != VIRTIO_NET_HDR_GSO_UDP_L4 && seg_max < limit) {
		size_t h = tcp_hdrs(pkt, len);

		if (h && seg_max > h + 64 && vh.gso_size > seg_max - h)
			vh.gso_size = (uint16_t)(seg_max - h);
	}
	/* A segment is at most its headers and gso_size (the last one may be shorter), and never
	 * more than limit: a larger one is refused by gso_split rather than sent. The 64-byte
	 * stride keeps each slot aligned. */
	seg = (size_t)vh.gso_size + TUN_SPLIT_HDR_MAX;
	if (seg > limit)
		seg = limit;
	stride = (a->headroom + l2 + seg + a->tailroom + 63) & ~(size_t)63;
	nslots = a->used < a->bytes ? (a->bytes - a->used) / stride : 0;
	if (nslots > max_out)
		nslots = max_out;
	if (nslots == 0) {
		*why = GSO_TOO_MANY_SEGS;
		return -EINVAL;
	}
	for (size_t i = 0; i < nslots; i++) {
		out[i].iov_base = a->slots + a->used + i * stride + a->headroom + l2;
		out[i].iov_len = seg;
	}
	k = gso_split(&vh, pkt, len, out, nslots, why);
	if (k <= 0)
		return k;
	a->used += (size_t)k * stride;
	for (int i = 0; l2 && i < k; i++) {
		out[i].iov_base = (uint8_t *)out[i].iov_base - l2;
		out[i].iov_len += l2;
		memcpy(out[i].iov_base, pkt - l2, l2);
	}
	return k;
}
