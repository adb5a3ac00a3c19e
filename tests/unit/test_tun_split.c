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
	assert_string_equal(st_off_str(false, 0, false, true, b, sizeof(b)), "tun plain (tap: one frame per read)");
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
		cmocka_unit_test(test_short_reads),
		cmocka_unit_test(test_offload_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
