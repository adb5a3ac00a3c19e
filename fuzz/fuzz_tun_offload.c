/* libFuzzer: the engine's two ends of untrusted bytes around the tun in plaintext mode.
 *  - the wire side: frames from a simpletun peer (cut by 2-byte lengths, as on the TCP stream)
 *    through the plaintext processor's checks, as datagrams (plain_dgram_in: empty, too long,
 *    not IP, the server learning its client) and as stream frames (plain_check_write), tun and
 *    tap;
 *  - the device side: a virtio_net_hdr + packet through the engine's tun_split with a fuzzed
 *    MTU, path limit (seg_max), which rewrites gso_size from the packet's own TCP header
 *    length, and slot geometry (room around each segment, part of the area already used);
 *    as a tun's IP packets and as a tap's Ethernet frames.
 * Every segment must stay within its slot area, clear of the room around it, and within the
 * limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "engine/proc_plain.h"
#include "engine/tun_split.h"
#include "lib/log.h"
#include "lib/packet.h"
#include "ip_len.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { READ_BUF = GSO_VNET_HDR_LEN + 65536, SEG_BYTES = 320 << 10, MAX_SEGS = 128 };

static struct plain pl;
static uint8_t *rbuf, *slots;

static void setup(void)
{
	log_set_level(LOG_LVL_ERR);	/* every new sender is logged as the server's client */
	plain_init(&pl, "fuzz0", true, false, true);
	rbuf = malloc(READ_BUF);
	slots = malloc(SEG_BYTES);
	if (!rbuf || !slots)
		abort();
}

static void wire(const uint8_t *p, size_t size, bool tap)
{
	union endpoint_addr from;
	size_t o = 0;
	unsigned int i = 0;

	pl.tap = tap;
	pl.limit = 65535;	/* never above it: no MTU look-up for a device that is not there */
	memset(&from, 0, sizeof(from));
	from.in.sin_family = AF_INET;
	while (o + 2 <= size) {
		size_t n = (size_t)p[o] << 8 | p[o + 1];
		bool learned, ok;

		o += 2;
		if (n > size - o)
			n = size - o;
		/* an exact-size copy, so ASan sees a read past the frame */
		uint8_t *f = malloc(n ? n : 1);
		if (!f)
			abort();
		memcpy(f, p + o, n);
		from.in.sin_port = htons((uint16_t)(i++ & 3));
		ok = plain_dgram_in(&pl, f, n, &from, &learned);
		/* what passes as a datagram passes as a frame, and made its sender the peer */
		if (ok != (n > 0 && plain_check_write(&pl, f, n)) || (ok && !endpoint_addr_equal(&pl.peer, &from)))
			abort();
		free(f);
		o += n;
	}
}

static void device(const uint8_t *p, size_t size, bool eth)
{
	struct iovec out[MAX_SEGS];
	enum gso_reason why;
	size_t limit, seg_max, max_out;
	struct tun_split_area a = { .slots = slots, .bytes = SEG_BYTES, .eth = eth };
	int k;

	if (size < 7)
		return;
	limit = 68 + ((size_t)p[0] << 8 | p[1]) % (65535 - 68 + 1);
	seg_max = p[2] == 0xff ? SIZE_MAX : 40 + (size_t)p[2] * 8;
	max_out = 1 + p[3] % MAX_SEGS;
	a.headroom = (size_t)(p[4] & 15) * 8;
	a.tailroom = (size_t)(p[4] >> 4) * 8;
	a.used = (size_t)p[5] * 1024;
	p += 6;
	size -= 6;
	if (size > READ_BUF)
		size = READ_BUF;
	memcpy(rbuf, p, size);
	if (size > GSO_VNET_HDR_LEN) {
		size_t l2 = eth ? pkt_eth_ip_offset(rbuf + GSO_VNET_HDR_LEN, size - GSO_VNET_HDR_LEN) : 0;

		if (!eth || l2)
			fuzz_fix_ip_len(rbuf + GSO_VNET_HDR_LEN + l2, size - GSO_VNET_HDR_LEN - l2, (unsigned int)size);
	}
	size_t used = a.used;
	k = tun_split(rbuf, size, limit, seg_max, &a, out, max_out, &why);
	if (k < 0) {
		if (why == GSO_OK || !gso_reason_name(why))
			abort();
		return;
	}
	if ((size_t)k > max_out || a.used > SEG_BYTES)
		abort();
	for (int i = 0; i < k; i++) {
		const uint8_t *b = out[i].iov_base;
		bool in_slots = b >= slots + used + a.headroom && b + out[i].iov_len + a.tailroom <= slots + a.used;
		bool in_frame = b >= rbuf && b + out[i].iov_len <= rbuf + size;

		if (!in_slots && !in_frame)
			abort();
		/* a split segment never exceeds the MTU; a packet passed whole is as long as it came */
		if (k > 1 && out[i].iov_len > limit)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!rbuf)
		setup();
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0: wire(data + 1, size - 1, false); break;
	case 1: wire(data + 1, size - 1, true); break;
	case 2: device(data + 1, size - 1, false); break;
	default: device(data + 1, size - 1, true); break;	/* a tap's frames */
	}
	return 0;
}
