/* Arbitrary virtio_net_hdr + packet bytes through gso_split and gso_finish_csum, and the same
 * bytes cut into a batch through gro_coalesce, whose output is split again; with bit 7 of the
 * first byte (a virtio flag nobody sets) the batch is a tap's: each piece a frame whose first
 * 14 bytes are its link header, every third one raw. Nothing may read or write out of bounds;
 * every output must stay inside its slot. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine/gro.h"
#include "engine/gso.h"
#include "ip_len.h"

enum { NSLOT = 48, SLOT = 1600, MAXIN = 65600, NB = 16, ROOM = 16 };

static uint8_t slots[NSLOT][SLOT];
static uint8_t bufs[NB][ROOM + 4096];
static struct gro g;

static void split(const struct virtio_net_hdr *vh, const uint8_t *p, size_t len)
{
	struct iovec out[NSLOT];
	enum gso_reason why;
	for (int i = 0; i < NSLOT; i++) {
		out[i].iov_base = slots[i];
		out[i].iov_len = SLOT;
	}
	int n = gso_split(vh, p, len, out, NSLOT, &why);
	if (n > NSLOT)
		abort();
	for (int i = 0; i < n; i++)
		if (out[i].iov_len > SLOT)
			abort();
	if (n < 0 && (why == GSO_OK || !gso_reason_name(why)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_net_hdr vh;
	if (size < GSO_VNET_HDR_LEN + 1 || size > MAXIN)
		return 0;
	gso_hdr_get(data, size, &vh);
	/* an exact-size heap copy so ASan sees any read past the end */
	size_t len = size - GSO_VNET_HDR_LEN;
	uint8_t *p = malloc(len);
	if (!p)
		return 0;
	memcpy(p, data + GSO_VNET_HDR_LEN, len);
	fuzz_fix_ip_len(p, len, (unsigned int)size);
	split(&vh, p, len);
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	enum gso_reason why;
	gso_finish_csum(&vh, p, len, &why);
	free(p);

	/* GRO: the first byte picks the cut points; the batch keeps packets of similar shape */
	struct gro_pkt pk[NB];
	size_t n = 0, off = GSO_VNET_HDR_LEN + 1, step = 40 + data[GSO_VNET_HDR_LEN] % 200;
	bool eth = data[0] & 0x80;
	if (!g.gen)
		gro_init(&g);
	while (off < size && n < NB) {
		size_t l = size - off < step ? size - off : step;
		if (n % 3 == 2 && l > 1)
			l--;
		memcpy(bufs[n] + ROOM, data + off, l);
		pk[n] = (struct gro_pkt){ .data = bufs[n] + ROOM, .len = l, .cap = sizeof(bufs[n]) - ROOM };
		if (eth && n % 3 == 1)
			pk[n].raw = true;
		else if (eth && l > 14)
			pk[n] = (struct gro_pkt){ .data = bufs[n] + ROOM + 14, .len = l - 14,
						  .cap = sizeof(bufs[n]) - ROOM - 14, .l2 = 14 };
		off += l;
		n++;
	}
	struct iovec out[NB];
	int k = gro_coalesce(&g, pk, n, out, NB);
	if (k < 0 || (size_t)k > n)
		abort();
	for (int i = 0; i < k; i++) {
		struct virtio_net_hdr h;
		if (out[i].iov_len < GSO_VNET_HDR_LEN || out[i].iov_len > ROOM + 4096)
			abort();
		gso_hdr_get(out[i].iov_base, out[i].iov_len, &h);
		/* a merged frame's offsets count its link header: split the IP packet behind it */
		size_t l2 = eth && h.gso_type != VIRTIO_NET_HDR_GSO_NONE && h.csum_start >= 14 ? 14 : 0;
		if (out[i].iov_len < GSO_VNET_HDR_LEN + l2)
			abort();
		h.csum_start = (uint16_t)(h.csum_start - l2);
		split(&h, (const uint8_t *)out[i].iov_base + GSO_VNET_HDR_LEN + l2, out[i].iov_len - GSO_VNET_HDR_LEN - l2);
	}
	return 0;
}
