/* The engine's split of a device read with offloads: a super-packet leaves as packets no longer
 * than the limit (the MTU: what the original simpletun peer can take), cut smaller for the UDP
 * underlay's path only where TCP allows it, payload intact and every checksum right. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <linux/if_tun.h>

#include "engine/st.h"
#include "engine/tun_split.h"
#include "offload_craft.h"

enum { BIG = 70000, SLOTS = 320 << 10, MAX_SEGS = 128 };
static uint8_t frame[GSO_VNET_HDR_LEN + BIG], payload[BIG], joined[BIG];
static uint8_t slots[SLOTS];
static struct iovec out[MAX_SEGS];

static int split(size_t n, size_t limit, size_t seg_max, size_t max_out, enum gso_reason *why)
{
	struct tun_split_area a = { .slots = slots, .bytes = sizeof(slots) };

	return tun_split(frame, n, limit, seg_max, &a, out, max_out, why);
}

/* vnet header + a super-packet as the kernel hands it over (checksum field: pseudo seed). */
static size_t super(const struct craft *c, size_t plen, uint16_t mss)
{
	uint8_t *pkt = frame + GSO_VNET_HDR_LEN;
	size_t h = craft_hdrs(pkt, c, plen), len = h + plen, l4 = t_l4off(pkt);
	int udp = c->proto == 17;
	struct virtio_net_hdr vh = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = udp ? VIRTIO_NET_HDR_GSO_UDP_L4 : c->v == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
		.hdr_len = (uint16_t)h, .gso_size = mss, .csum_start = (uint16_t)l4, .csum_offset = udp ? 6 : 16,
	};

	memcpy(pkt + h, payload, plen);
	c_put16(pkt + l4 + (udp ? 6 : 16), t_fold(t_pseudo(pkt, udp ? 17 : 6, len - l4)));
	if (c->v == 4)
		c_put16(pkt + 10, (uint16_t)~t_fold(t_sum(0, pkt, l4)));
	memcpy(frame, &vh, sizeof(vh));
	return GSO_VNET_HDR_LEN + len;
}

/* Every packet verifies, none exceeds max, all but the last carry want bytes of payload, and
 * the payloads join up to the original. Returns the number of packets. */
static int check_out(int n, size_t plen, size_t max, size_t want)
{
	size_t at = 0;

	assert_true(n > 1);
	for (int i = 0; i < n; i++) {
		const uint8_t *s = out[i].iov_base;
		size_t len = out[i].iov_len, l4 = t_l4off(s);
		size_t h = l4 + (t_proto(s) == 17 ? 8 : (size_t)(s[l4 + 12] >> 4) * 4);

		assert_true(len <= max);
		assert_true(t_verify(s, len));
		if (i + 1 < n)
			assert_int_equal(len - h, want);
		memcpy(joined + at, s + h, len - h);
		at += len - h;
	}
	assert_int_equal(at, plen);
	assert_memory_equal(joined, payload, plen);
	return n;
}

static void test_tso_to_mtu(void **state)
{
	enum gso_reason why;

	for (int v = 4; v <= 6; v += 2) {
		struct craft c = { .v = v, .seq = 1000, .opt = OPT_TS, .optlen = sizeof(OPT_TS) };
		size_t hl = (v == 4 ? 20 : 40) + 32, mss = 1500 - hl, plen = 60000;
		size_t n = super(&c, plen, (uint16_t)mss);
		int k = split(n, 1500, SIZE_MAX, MAX_SEGS, &why);

		assert_int_equal(k, (int)((plen + mss - 1) / mss));
		check_out(k, plen, 1500, mss);
		/* the largest are exactly the MTU: what the original reads into its buffer */
		assert_int_equal(out[0].iov_len, 1500);
	}
}

/* The underlay's path (UDP mode) is smaller than the device MTU: TCP is cut to fit it. */
static void test_tcp_cut_to_path(void **state)
{
	enum gso_reason why;

	for (int v = 4; v <= 6; v += 2) {
		struct craft c = { .v = v, .seq = 7, .opt = OPT_TS, .optlen = sizeof(OPT_TS) };
		size_t hl = (v == 4 ? 20 : 40) + 32, plen = 30000, seg_max = v == 4 ? 1472 : 1452;
		size_t n = super(&c, plen, (uint16_t)(1500 - hl));
		int k = split(n, 1500, seg_max, MAX_SEGS, &why);

		assert_true(k > 0);
		check_out(k, plen, seg_max, seg_max - hl);
	}
}

/* A UDP application's datagram sizes are its own: never re-cut. */
static void test_uso_not_recut(void **state)
{
	struct craft c = { .v = 4, .proto = 17 };
	enum gso_reason why;
	size_t n = super(&c, 10000, 1000);
	int k = split(n, 1500, 600, MAX_SEGS, &why);

	assert_int_equal(k, 10);
	check_out(k, 10000, 1500, 1000);
}

/* A segment that would not fit the MTU is refused, never sent oversize. */
static void test_segment_above_mtu_refused(void **state)
{
	struct craft c = { .v = 4 };
	enum gso_reason why = GSO_OK;
	size_t n = super(&c, 20000, 1460);

	assert_int_equal(split(n, 1400, SIZE_MAX, MAX_SEGS, &why), -EINVAL);
	assert_int_equal(why, GSO_SLOT_TOO_SMALL);
	/* more segments than slots */
	n = super(&c, 60000, 200);
	assert_int_equal(split(n, 1500, SIZE_MAX, 16, &why), -EINVAL);
	assert_int_equal(why, GSO_TOO_MANY_SEGS);
}

/* A plain packet stays where it is, its checksum completed when the kernel left it partial. */
static void test_plain_in_place(void **state)
{
	struct craft c = { .v = 6 };
	enum gso_reason why;
	struct virtio_net_hdr vh;
	size_t n = super(&c, 500, 0);

	memcpy(&vh, frame, sizeof(vh));
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	memcpy(frame, &vh, sizeof(vh));
	assert_false(t_verify(frame + GSO_VNET_HDR_LEN, n - GSO_VNET_HDR_LEN));
	assert_int_equal(split(n, 1500, SIZE_MAX, MAX_SEGS, &why), 1);
	assert_ptr_equal(out[0].iov_base, frame + GSO_VNET_HDR_LEN);
	assert_int_equal(out[0].iov_len, n - GSO_VNET_HDR_LEN);
	assert_true(t_verify(out[0].iov_base, out[0].iov_len));
}

/* super() with an Ethernet header (and VLAN tags) in front of the IP packet, the offsets
 * in the vnet header counted from the frame's first byte as a tap gives them. Returns the
 * read's length; the header is left in eth[0..*l2). */
static uint8_t eth[TUN_SPLIT_L2_MAX];
static size_t super_frame(const struct craft *c, size_t plen, uint16_t mss, int tags, size_t *l2)
{
	size_t n = super(c, plen, mss), i = 0;
	struct virtio_net_hdr vh;

	memset(eth, 0x02, 6);		/* dst */
	memset(eth + 6, 0x04, 6);	/* src */
	i = 12;
	for (int t = 0; t < tags; t++, i += 4) {
		c_put16(eth + i, t == 0 && tags == 2 ? 0x88a8 : 0x8100);
		c_put16(eth + i + 2, (uint16_t)(100 + t));
	}
	c_put16(eth + i, c->v == 4 ? 0x0800 : 0x86dd);
	*l2 = i + 2;
	memmove(frame + GSO_VNET_HDR_LEN + *l2, frame + GSO_VNET_HDR_LEN, n - GSO_VNET_HDR_LEN);
	memcpy(frame + GSO_VNET_HDR_LEN, eth, *l2);
	memcpy(&vh, frame, sizeof(vh));
	vh.csum_start = (uint16_t)(vh.csum_start + *l2);
	vh.hdr_len = (uint16_t)(vh.hdr_len + *l2);
	memcpy(frame, &vh, sizeof(vh));
	return n + *l2;
}

/* A tap's TCP super-frame: every frame carries the Ethernet header (tags too) in front of a
 * segment no longer than the MTU less that header, with the room asked for around it, and the
 * segments are what a tun's split of the same packet gives. */
static void test_tap_super_frame(void **state)
{
	enum gso_reason why;

	for (int v = 4; v <= 6; v += 2) {
		for (int tags = 0; tags <= 2; tags++) {
			struct craft c = { .v = v, .seq = 99, .opt = OPT_TS, .optlen = sizeof(OPT_TS) };
			size_t hl = (v == 4 ? 20 : 40) + 32, l2, plen = 50000, mtu = 1394;
			size_t mss = mtu - hl;
			size_t n = super_frame(&c, plen, (uint16_t)mss, tags, &l2);
			struct tun_split_area a = { .slots = slots, .bytes = sizeof(slots), .headroom = 32,
						    .tailroom = 32, .eth = true };
			const uint8_t *end = slots;
			int k = tun_split(frame, n, mtu + l2, SIZE_MAX, &a, out, MAX_SEGS, &why);

			assert_int_equal(l2, 14 + 4 * (size_t)tags);
			assert_int_equal(k, (int)((plen + mss - 1) / mss));
			for (int i = 0; i < k; i++) {
				uint8_t *f = out[i].iov_base;

				assert_memory_equal(f, eth, l2);
				assert_true(f - 32 >= end);	/* clear of the one before and its tailroom */
				end = f + out[i].iov_len + 32;
				assert_true(end <= slots + a.used);
				out[i].iov_base = f + l2;
				out[i].iov_len -= l2;
			}
			check_out(k, plen, mtu, mss);
		}
	}
}

/* What a tap cannot cut: a super-frame whose ethertype is no IP, or whose checksum would
 * start inside the link header; a plain frame of any ethertype passes as it is. */
static void test_tap_refused(void **state)
{
	struct craft c = { .v = 4 };
	enum gso_reason why = GSO_OK;
	struct tun_split_area a = { .slots = slots, .bytes = sizeof(slots), .eth = true };
	struct virtio_net_hdr vh;
	size_t l2, n = super_frame(&c, 5000, 1000, 0, &l2);

	c_put16(frame + GSO_VNET_HDR_LEN + 12, 0x0806);
	assert_int_equal(tun_split(frame, n, 1500, SIZE_MAX, &a, out, MAX_SEGS, &why), -EINVAL);
	assert_int_equal(why, GSO_BAD_IP_VERSION);
	n = super_frame(&c, 5000, 1000, 0, &l2);
	memcpy(&vh, frame, sizeof(vh));
	vh.csum_start = 10;
	memcpy(frame, &vh, sizeof(vh));
	assert_int_equal(tun_split(frame, n, 1500, SIZE_MAX, &a, out, MAX_SEGS, &why), -EINVAL);
	assert_int_equal(why, GSO_BAD_CSUM_START);
	assert_int_equal(a.used, 0);
	/* a read the kernel cut short (a frame longer than the buffer): the IP length says so,
	 * where the cut packet would split into a shorter last segment with a good checksum */
	n = super_frame(&c, 5000, 1000, 0, &l2);
	assert_int_equal(tun_split(frame, n - 100, 1500, SIZE_MAX, &a, out, MAX_SEGS, &why), -EINVAL);
	assert_int_equal(why, GSO_BAD_IP_HDR);
	assert_int_equal(a.used, 0);

	memset(frame, 0, GSO_VNET_HDR_LEN);
	c_put16(frame + GSO_VNET_HDR_LEN + 12, 0x0806);
	assert_int_equal(tun_split(frame, GSO_VNET_HDR_LEN + 60, 1500, SIZE_MAX, &a, out, MAX_SEGS, &why), 1);
	assert_ptr_equal(out[0].iov_base, frame + GSO_VNET_HDR_LEN);
	assert_int_equal(out[0].iov_len, 60);
}

static void test_short_reads(void **state)
{
	enum gso_reason why;

	memset(frame, 0, sizeof(frame));
	for (size_t n = 0; n <= GSO_VNET_HDR_LEN; n++)
		assert_int_equal(split(n, 1500, SIZE_MAX, MAX_SEGS, &why), -EINVAL);
}

static void test_offload_str(void **state)
{
	char b[128];

	assert_string_equal(st_off_str(true, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, false, false, b, sizeof(b)),
			    "tun vnet_hdr csum tso4 tso6 gro");
	assert_string_equal(st_off_str(true, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | 0x20 | 0x40, false, false, b, sizeof(b)),
			    "tun vnet_hdr csum tso4 tso6 uso gro");
	assert_string_equal(st_off_str(true, 0, false, false, b, sizeof(b)), "tun vnet_hdr");
	assert_string_equal(st_off_str(false, 0, true, false, b, sizeof(b)), "tun plain (--no-offload)");
	assert_string_equal(st_off_str(false, 0, true, true, b, sizeof(b)), "tap plain (--no-offload)");
	assert_string_equal(st_off_str(true, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, false, true, b, sizeof(b)),
			    "tap vnet_hdr csum tso4 tso6 gro");
}

int main(void)
{
	fill_pattern(payload, sizeof(payload), 42);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tso_to_mtu),
		cmocka_unit_test(test_tcp_cut_to_path),
		cmocka_unit_test(test_uso_not_recut),
		cmocka_unit_test(test_segment_above_mtu_refused),
		cmocka_unit_test(test_plain_in_place),
		cmocka_unit_test(test_tap_super_frame),
		cmocka_unit_test(test_tap_refused),
		cmocka_unit_test(test_short_reads),
		cmocka_unit_test(test_offload_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
