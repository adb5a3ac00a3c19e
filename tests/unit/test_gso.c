/* gso_split: TSO/USO super-packets as the kernel hands them over a tun with IFF_VNET_HDR. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <errno.h>
#include <cmocka.h>
#include "lib/clock.h"
#include "engine/gso.h"
#include "offload_craft.h"

enum { NSLOT = 64, SLOT = 2048, BIG = 70000 };
static uint8_t slots[NSLOT][SLOT];
static struct iovec out[NSLOT];
static uint8_t pkt[BIG], payload[BIG], joined[BIG];

static void reset_slots(void)
{
	for (int i = 0; i < NSLOT; i++) {
		out[i].iov_base = slots[i];
		out[i].iov_len = SLOT;
	}
}

/* A super-packet as the kernel writes it: one header block, the whole payload, lengths of the
 * whole, and in the L4 checksum field the pseudo-header seed (not the final checksum). */
static size_t super(const struct craft *c, size_t plen, struct virtio_net_hdr *vh, uint16_t mss)
{
	size_t h = craft_hdrs(pkt, c, plen), len = h + plen, l4 = t_l4off(pkt);
	int udp = c->proto == 17;
	memcpy(pkt + h, payload, plen);
	if (c->v == 4) /* like BIG TCP the total length may not be the real one: it is ignored */
		c_put16(pkt + 2, (uint16_t)(len > 65535 ? 0 : len));
	c_put16(pkt + l4 + (udp ? 6 : 16), t_fold(t_pseudo(pkt, udp ? 17 : 6, len - l4)));
	if (c->v == 4) /* the kernel always fills the IPv4 header checksum */
		c_put16(pkt + 10, (uint16_t)~t_fold(t_sum(0, pkt, l4)));
	memset(vh, 0, sizeof(*vh));
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->gso_type = udp ? VIRTIO_NET_HDR_GSO_UDP_L4 : c->v == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
	vh->hdr_len = (uint16_t)h;
	vh->gso_size = mss;
	vh->csum_start = (uint16_t)l4;
	vh->csum_offset = udp ? 6 : 16;
	return len;
}

/* Checks every segment and that their payloads join up to the original. */
static void check_segments(const struct craft *c, int n, size_t plen, uint16_t mss)
{
	size_t hl = t_l4off(slots[0]) + (c->proto == 17 ? 8 : 20 + c->optlen), at = 0;
	assert_int_equal(n, (int)((plen + mss - 1) / mss));
	for (int i = 0; i < n; i++) {
		const uint8_t *s = slots[i];
		size_t len = out[i].iov_len, l4 = t_l4off(s), want = i + 1 < n ? mss : plen - (size_t)i * mss;
		assert_int_equal(len, hl + want);
		assert_true(t_verify(s, len));
		if (c->v == 4) {
			assert_int_equal(c_get16(s + 2), len);
			assert_int_equal(c_get16(s + 4), (uint16_t)(c->id + i));
		} else {
			assert_int_equal(c_get16(s + 4), len - 40);
		}
		if (c->proto == 17) {
			assert_int_equal(c_get16(s + l4 + 4), len - l4);
		} else {
			assert_int_equal(c_get32(s + l4 + 4), c->seq + (uint32_t)(i * mss));
			assert_memory_equal(s + l4 + 20, c->opt, c->optlen);
			uint8_t f = s[l4 + 13], cf = c->flags ? c->flags : 0x10;
			uint8_t wf = cf;
			if (i + 1 < n)
				wf &= (uint8_t)~0x09;
			if (i > 0)
				wf &= (uint8_t)~0x80;
			assert_int_equal(f, wf);
			assert_int_equal(c_get32(s + l4 + 8), c->ack);
		}
		memcpy(joined + at, s + hl, want);
		at += want;
	}
	assert_int_equal(at, plen);
	assert_memory_equal(joined, payload, plen);
}

static void run_case(const struct craft *c, size_t plen, uint16_t mss)
{
	struct virtio_net_hdr vh;
	enum gso_reason why;
	size_t len = super(c, plen, &vh, mss);
	reset_slots();
	int n = gso_split(&vh, pkt, len, out, NSLOT, &why);
	if (n < 0)
		fail_msg("gso_split: %s", gso_reason_name(why));
	check_segments(c, n, plen, mss);
}

static void test_tcp4_ts_odd_last(void **st)
{
	struct craft c = { .v = 4, .id = 0xfffe, .seq = 0xfffff000u, .ack = 77, .opt = OPT_TS, .optlen = 12 };
	fill_pattern(payload, BIG, 1);
	run_case(&c, 10 * 1448 + 333, 1448);    /* id and seq wrap on the way */
	run_case(&c, 1000, 1448);                /* one short segment */
}

static void test_tcp4_64k(void **st)
{
	struct craft c = { .v = 4, .id = 9, .seq = 1, .opt = OPT_TS, .optlen = 12 };
	fill_pattern(payload, BIG, 2);
	size_t plen = 65535 - 20 - 32;
	run_case(&c, plen, 1448);
	c.optlen = 0; c.opt = NULL;
	run_case(&c, 45 * 1448, 1448);           /* no short last segment */
}

static void test_tcp6_sack(void **st)
{
	struct craft c = { .v = 6, .seq = 123456, .ack = 999, .opt = OPT_TS_SACK, .optlen = 24 };
	fill_pattern(payload, BIG, 3);
	run_case(&c, 20 * 1400 + 1, 1400);
	run_case(&c, 64000, 1428);
}

static void test_tcp_flags(void **st)
{
	struct craft c = { .v = 4, .seq = 5, .flags = 0x10 | 0x08 | 0x01 | 0x80 }; /* ACK PSH FIN CWR */
	fill_pattern(payload, BIG, 4);
	struct virtio_net_hdr vh;
	size_t len = super(&c, 3000, &vh, 1000);
	vh.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	reset_slots();
	int n = gso_split(&vh, pkt, len, out, NSLOT, NULL);
	check_segments(&c, n, 3000, 1000);
	assert_int_equal(slots[0][33], 0x90);  /* CWR|ACK */
	assert_int_equal(slots[1][33], 0x10);
	assert_int_equal(slots[2][33], 0x19);  /* ACK|PSH|FIN */
}

static void test_uso(void **st)
{
	struct craft c4 = { .v = 4, .proto = 17, .id = 40 }, c6 = { .v = 6, .proto = 17 };
	fill_pattern(payload, BIG, 5);
	run_case(&c4, 1200 * 7 + 5, 1200);
	run_case(&c6, 1200 * 40, 1200);
}

static void test_needs_csum_only(void **st)
{
	struct craft c = { .v = 6, .proto = 17 }, t = { .v = 4, .opt = OPT_TS, .optlen = 12 };
	struct virtio_net_hdr vh;
	enum gso_reason why;
	fill_pattern(payload, BIG, 6);
	size_t len = super(&c, 501, &vh, 0);
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	assert_false(t_verify(pkt, len));
	reset_slots();
	assert_int_equal(gso_split(&vh, pkt, len, out, 1, &why), 1);
	assert_int_equal(out[0].iov_len, len);
	assert_true(t_verify(slots[0], len));
	/* in place, TCP */
	len = super(&t, 777, &vh, 0);
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	assert_int_equal(gso_finish_csum(&vh, pkt, len, &why), 0);
	assert_true(t_verify(pkt, len));
	/* no flags: copied as is */
	memset(&vh, 0, sizeof(vh));
	reset_slots();
	assert_int_equal(gso_split(&vh, pkt, len, out, 1, &why), 1);
	assert_memory_equal(slots[0], pkt, len);
}

/* Sets the first two payload bytes of every segment so that its L4 checksum comes out as a
 * computed zero, using the test's own RFC 1071 sum on a first split: adding the word ~S to a
 * sum S gives 0xffff, whose complement is 0. */
static size_t super_zero_csum(const struct craft *c, size_t plen, struct virtio_net_hdr *vh, uint16_t mss)
{
	size_t len, n = mss ? (plen + mss - 1) / mss : 1;  /* mss 0: one packet, no split */
	int udp = c->proto == 17;

	for (size_t i = 0; i < n; i++)
		payload[i * mss] = payload[i * mss + 1] = 0;
	len = super(c, plen, vh, mss);
	reset_slots();
	if (!mss) {
		memcpy(slots[0], pkt, len);
		out[0].iov_len = len;
	} else {
		assert_int_equal(gso_split(vh, pkt, len, out, NSLOT, NULL), (int)n);
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t *s = slots[i];
		size_t l4 = t_l4off(s), sl = out[i].iov_len;
		c_put16(s + l4 + (udp ? 6 : 16), 0);
		uint16_t sum = t_fold(t_sum(t_pseudo(s, udp ? 17 : 6, sl - l4), s + l4, sl - l4));
		c_put16(payload + i * mss, (uint16_t)~sum);
	}
	return super(c, plen, vh, mss);
}

/* A computed zero is sent as 0x0000 by TCP, as the stack's own checksum and any NIC do
 * (RFC 1624 §3: a freshly computed checksum is never -0, and tshark flags 0xffff); only UDP
 * turns it into 0xffff, because its 0 means "no checksum". */
static void test_computed_zero(void **st)
{
	struct craft t4 = { .v = 4, .id = 7, .seq = 99, .opt = OPT_TS, .optlen = 12 };
	struct craft t6 = { .v = 6, .seq = 1 }, u4 = { .v = 4, .proto = 17 }, u6 = { .v = 6, .proto = 17 };
	const struct craft *cs[] = { &t4, &t6, &u4, &u6 };
	struct virtio_net_hdr vh;
	enum gso_reason why;

	for (unsigned int k = 0; k < 4; k++) {
		const struct craft *c = cs[k];
		uint16_t want = c->proto == 17 ? 0xffff : 0x0000, mss = 1200;
		size_t plen = 5 * mss + 301, off = c->proto == 17 ? 6 : 16;
		fill_pattern(payload, BIG, 40 + k);
		size_t len = super_zero_csum(c, plen, &vh, mss);
		reset_slots();
		int n = gso_split(&vh, pkt, len, out, NSLOT, &why);
		assert_int_equal(n, 6);
		for (int i = 0; i < n; i++) {
			assert_true(t_verify(slots[i], out[i].iov_len));
			assert_int_equal(c_get16(slots[i] + t_l4off(slots[i]) + off), want);
		}
		/* one packet with only NEEDS_CSUM, finished in place */
		len = super_zero_csum(c, 333, &vh, 0);
		vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
		assert_int_equal(gso_finish_csum(&vh, pkt, len, &why), 0);
		assert_true(t_verify(pkt, len));
		assert_int_equal(c_get16(pkt + t_l4off(pkt) + off), want);
	}
}

#define EXPECT_BAD(reason) do { reset_slots(); \
	assert_int_equal(gso_split(&vh, pkt, len, out, nout, &why), -EINVAL); \
	assert_int_equal(why, reason); } while (0)

static void test_invalid(void **st)
{
	struct craft c = { .v = 4, .opt = OPT_TS, .optlen = 12 };
	struct virtio_net_hdr vh, good;
	enum gso_reason why;
	size_t nout = NSLOT;
	fill_pattern(payload, BIG, 7);
	size_t len = super(&c, 4000, &good, 1000);

	vh = good; vh.gso_type = 2; EXPECT_BAD(GSO_BAD_GSO_TYPE);
	vh = good; vh.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4 | VIRTIO_NET_HDR_GSO_ECN; EXPECT_BAD(GSO_BAD_GSO_TYPE);
	vh = good; vh.hdr_len = (uint16_t)(len + 1); EXPECT_BAD(GSO_BAD_HDR_LEN);
	vh = good; vh.csum_start = 21; EXPECT_BAD(GSO_BAD_CSUM_START);
	vh = good; vh.csum_offset = 6; EXPECT_BAD(GSO_BAD_CSUM_START);
	vh = good; vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; EXPECT_BAD(GSO_BAD_IP_VERSION);
	vh = good; vh.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4; vh.csum_offset = 6; EXPECT_BAD(GSO_BAD_PROTO);
	vh = good; vh.gso_size = 0; EXPECT_BAD(GSO_BAD_GSO_SIZE);
	vh = good; vh.gso_size = 10; EXPECT_BAD(GSO_TOO_MANY_SEGS);
	vh = good; nout = 3; EXPECT_BAD(GSO_TOO_MANY_SEGS); nout = NSLOT;
	vh = good; vh.gso_size = 3000; EXPECT_BAD(GSO_SLOT_TOO_SMALL);
	vh = good; vh.gso_type = 0; vh.csum_start = (uint16_t)len; EXPECT_BAD(GSO_BAD_CSUM_START);
	vh = good; vh.hdr_len = 0; { size_t l = len; len = 30; EXPECT_BAD(GSO_BAD_L4_HDR); len = 19; EXPECT_BAD(GSO_BAD_IP_HDR); len = l; }
	pkt[32] = 0x40; vh = good; EXPECT_BAD(GSO_BAD_L4_HDR); pkt[32] = 0x80;      /* data offset 16 */
	pkt[0] = 0x44; vh = good; EXPECT_BAD(GSO_BAD_IP_HDR); pkt[0] = 0x45;
	pkt[0] = 0x55; vh = good; EXPECT_BAD(GSO_BAD_IP_VERSION); pkt[0] = 0x45;
	pkt[6] = 0x20; vh = good; EXPECT_BAD(GSO_BAD_IP_HDR); pkt[6] = 0x40;        /* MF */
	pkt[9] = 17; vh = good; EXPECT_BAD(GSO_BAD_PROTO); pkt[9] = 6;
	/* a read cut short (or one with bytes after the packet): the IP length disagrees */
	vh = good; len--; EXPECT_BAD(GSO_BAD_IP_HDR); len += 2; EXPECT_BAD(GSO_BAD_IP_HDR); len--;
	assert_string_equal(gso_reason_name(GSO_TOO_MANY_SEGS), "gso_too_many_segs");
	assert_string_equal(gso_reason_name((enum gso_reason)99), "gso_unknown");
	/* and the good one still splits */
	vh = good; reset_slots();
	assert_int_equal(gso_split(&vh, pkt, len, out, NSLOT, &why), 4);
}

/* Throughput of splitting 64 KB TSO packets (copy + checksums), printed for the report. */
static void test_bench(void **st)
{
	struct craft c = { .v = 4, .opt = OPT_TS, .optlen = 12 };
	struct virtio_net_hdr vh;
	size_t plen = 65535 - 52, len = super(&c, plen, &vh, 1448);
	uint64_t a, b;
	long iters = 2000;
	a = clock_mono_ns();
	for (long i = 0; i < iters; i++) {
		reset_slots();
		assert_int_equal(gso_split(&vh, pkt, len, out, NSLOT, NULL), (int)((plen + 1447) / 1448));
	}
	b = clock_mono_ns();
	double s = (double)(b - a) / 1e9;
	printf("gso_split: %.2f Gbit/s (%ld x 64 KB TCPv4 in %.3f s)\n", (double)len * 8 * iters / s / 1e9, iters, s);
	assert_true(s > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp4_ts_odd_last),
		cmocka_unit_test(test_tcp4_64k),
		cmocka_unit_test(test_tcp6_sack),
		cmocka_unit_test(test_tcp_flags),
		cmocka_unit_test(test_uso),
		cmocka_unit_test(test_needs_csum_only),
		cmocka_unit_test(test_computed_zero),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
