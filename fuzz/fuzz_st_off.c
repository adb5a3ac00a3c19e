/* libFuzzer: simpletun's offload glue with its own buffer geometry, which fuzz_gso does not see.
 *  - the wire side: frames from the peer (cut by 2-byte lengths, as on the TCP stream) through
 *    st_tun_queue's plausibility check into the GRO batch (64-byte lead, GRO_MAX_LEN room) and
 *    st_tun_flush's writes (to /dev/null);
 *  - the device side: a virtio_net_hdr + packet through the engine's tun_split with a fuzzed
 *    MTU, path limit (seg_max), which rewrites gso_size from the packet's own TCP header
 *    length, and slot geometry (room around each segment, part of the area already used).
 * Every segment must stay within its slot area, clear of the room around it, and within the
 * limit. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "engine/st.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct st_ctx x;
static struct st_config cfg = { .ifname = "fuzz0" };
static struct st_off off;

static void setup(void)
{
	x.cfg = &cfg;
	plain_init(&x.pl, cfg.ifname, false, false, false);
	x.vnet = true;
	x.tun_f = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
	x.tun = open("/dev/null", O_WRONLY | O_CLOEXEC);
	off.rbuf = malloc(ST_READ_BUF);
	off.slots = malloc(ST_SEG_BYTES);
	off.gbufs = malloc((size_t)GRO_MAX_BATCH * ST_GRO_STRIDE);
	if (x.tun < 0 || !off.rbuf || !off.slots || !off.gbufs)
		abort();
	gro_init(&off.gro);
	x.off = &off;
}

static void wire(const uint8_t *p, size_t size, bool tap)
{
	size_t o = 0;

	cfg.tap = tap;
	x.vnet = !tap;		/* as st_setup: vnet headers on tun only */
	x.pl.tap = tap;
	x.pl.limit = 65535;
	while (o + 2 <= size) {
		size_t n = (size_t)p[o] << 8 | p[o + 1];

		o += 2;
		if (n > size - o)
			n = size - o;
		/* an exact-size copy, so ASan sees a read past the frame */
		uint8_t *f = malloc(n ? n : 1);
		if (!f)
			abort();
		memcpy(f, p + o, n);
		st_tun_queue(&x, f, n);
		free(f);
		o += n;
	}
	st_tun_flush(&x);
	if (off.gn)
		abort();
}

static void device(const uint8_t *p, size_t size)
{
	struct iovec out[ST_MAX_SEGS];
	enum gso_reason why;
	size_t limit, seg_max, max_out;
	struct tun_split_area a = { .slots = off.slots, .bytes = ST_SEG_BYTES };
	int k;

	if (size < 7)
		return;
	limit = 68 + ((size_t)p[0] << 8 | p[1]) % (65535 - 68 + 1);
	seg_max = p[2] == 0xff ? SIZE_MAX : 40 + (size_t)p[2] * 8;
	max_out = 1 + p[3] % ST_MAX_SEGS;
	a.headroom = (size_t)(p[4] & 15) * 8;
	a.tailroom = (size_t)(p[4] >> 4) * 8;
	a.used = (size_t)p[5] * 1024;
	p += 6;
	size -= 6;
	if (size > ST_READ_BUF)
		size = ST_READ_BUF;
	memcpy(off.rbuf, p, size);
	size_t used = a.used;
	k = tun_split(off.rbuf, size, limit, seg_max, &a, out, max_out, &why);
	if (k < 0) {
		if (why == GSO_OK || !gso_reason_name(why))
			abort();
		return;
	}
	if ((size_t)k > max_out || a.used > ST_SEG_BYTES)
		abort();
	for (int i = 0; i < k; i++) {
		const uint8_t *b = out[i].iov_base;
		bool in_slots = b >= off.slots + used + a.headroom &&
				b + out[i].iov_len + a.tailroom <= off.slots + a.used;
		bool in_frame = b >= off.rbuf && b + out[i].iov_len <= off.rbuf + size;

		if (!in_slots && !in_frame)
			abort();
		/* a split segment never exceeds the MTU; a packet passed whole is as long as it came */
		if (k > 1 && out[i].iov_len > limit)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!x.cfg)
		setup();
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: wire(data + 1, size - 1, false); break;
	case 1: wire(data + 1, size - 1, true); break;
	default: device(data + 1, size - 1); break;
	}
	return 0;
}
