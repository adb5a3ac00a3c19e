/* gro_coalesce: TCP segments merged for a tun write, and split back by gso_split. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <time.h>
#include <errno.h>
#include <cmocka.h>
#include "lib/clock.h"
#include "engine/gro.h"
#include "engine/gso.h"
#include "offload_craft.h"

enum { N = 64, ROOM = 16, CAP = 65535, MSS = 1448 };
static uint8_t bufs[N][ROOM + CAP];
static uint8_t orig[N][2048];
static size_t origlen[N];
static struct gro_pkt pk[N];
static struct iovec out[N];
static uint8_t payload[200000];
static struct gro g;
static uint8_t seg[N][2048];

/* Packet i is c with payload[off..off+plen); keeps a copy to compare against. */
static void put(int i, const struct craft *c, size_t off, size_t plen)
{
	pk[i] = (struct gro_pkt){ .data = bufs[i] + ROOM, .cap = CAP };
	pk[i].len = craft(pk[i].data, c, payload + off, plen);
	memcpy(orig[i], pk[i].data, pk[i].len);
	origlen[i] = pk[i].len;
}

/* Segments k of a flow: seq/id advance by MSS and 1. */
static void put_seg(int i, struct craft c, int k, size_t plen)
{
	c.seq += (uint32_t)(k * MSS);
	c.id = (uint16_t)(c.id + k);
	put(i, &c, (size_t)k * MSS, plen);
}

static int run(size_t n)
{
	int r = gro_coalesce(&g, pk, n, out, N);
	assert_true(r > 0);
	return r;
}

static struct virtio_net_hdr hdr_of(int k)
{
	struct virtio_net_hdr vh;
	memcpy(&vh, out[k].iov_base, sizeof(vh));
	return vh;
}

static const uint8_t *pkt_of(int k) { return (const uint8_t *)out[k].iov_base + GRO_HEADROOM; }
static size_t len_of(int k) { return out[k].iov_len - GRO_HEADROOM; }

/* Written unchanged: zero header and the original bytes of packet i. */
static void assert_plain(int k, int i)
{
	struct virtio_net_hdr vh = hdr_of(k), zero = { 0 };
	assert_memory_equal(&vh, &zero, sizeof(vh));
	assert_int_equal(len_of(k), origlen[i]);
	assert_memory_equal(pkt_of(k), orig[i], origlen[i]);
}

/* Output k is packets first..first+cnt-1 merged: check the header, complete the partial
 * checksum independently, then split it back and compare with the originals. */
static void assert_merged(int k, int first, int cnt, const int *idx)
{
	struct virtio_net_hdr vh = hdr_of(k);
	const uint8_t *p = pkt_of(k);
	size_t len = len_of(k), l4 = t_l4off(p);
	static uint8_t tmp[CAP];

	assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vh.gso_type, (p[0] >> 4) == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6);
	assert_int_equal(vh.csum_start, l4);
	assert_int_equal(vh.csum_offset, 16);
	assert_int_equal(vh.hdr_len, l4 + (p[l4 + 12] >> 4) * 4);
	assert_int_equal(vh.gso_size, origlen[idx ? idx[0] : first] - vh.hdr_len);
	if ((p[0] >> 4) == 4)
		assert_int_equal(c_get16(p + 2), len);
	else
		assert_int_equal(c_get16(p + 4), len - 40);
	/* the seed is the pseudo-header sum over the whole TCP length */
	assert_int_equal(c_get16(p + l4 + 16), t_fold(t_pseudo(p, 6, len - l4)));
	memcpy(tmp, p, len);
	uint16_t c = (uint16_t)~t_fold(t_sum(0, tmp + l4, len - l4));
	c_put16(tmp + l4 + 16, c);
	assert_true(t_verify(tmp, len));

	struct iovec so[N];
	for (int i = 0; i < N; i++) {
		so[i].iov_base = seg[i];
		so[i].iov_len = sizeof(seg[i]);
	}
	enum gso_reason why;
	int n = gso_split(&vh, p, len, so, N, &why);
	assert_int_equal(n, cnt);
	for (int i = 0; i < n; i++) {
		int j = idx ? idx[i] : first + i;
		assert_int_equal(so[i].iov_len, origlen[j]);
		assert_memory_equal(seg[i], orig[j], origlen[j]);
	}
}

static void setup_payload(void)
{
	fill_pattern(payload, sizeof(payload), 42);
	gro_init(&g);
}

static void test_consecutive_roundtrip(void **st)
{
	setup_payload();
	struct craft c = { .v = 4, .id = 100, .seq = 0xffffff00u, .ack = 5, .opt = OPT_TS, .optlen = 12 };
	for (int k = 0; k < 9; k++)
		put_seg(k, c, k, MSS);
	c.flags = 0x18; /* the last one pushes and is short */
	put_seg(9, c, 9, 700);
	assert_int_equal(run(10), 1);
	assert_merged(0, 0, 10, NULL);
	assert_int_equal(g.stats.merged, 9);
	assert_int_equal(g.stats.out_gso, 1);
}

static void test_ipv6(void **st)
{
	setup_payload();
	struct craft c = { .v = 6, .seq = 1000, .flow = 0x12345, .opt = OPT_TS_SACK, .optlen = 24 };
	for (int k = 0; k < 5; k++)
		put_seg(k, c, k, MSS);
	struct craft d = c;
	d.flow = 0x54321; /* another flow label: not merged with the rest */
	put_seg(5, d, 5, MSS);
	assert_int_equal(run(6), 2);
	assert_merged(0, 0, 5, NULL);
	assert_plain(1, 5);
}

static void test_interleaved(void **st)
{
	setup_payload();
	struct craft a = { .v = 4, .seq = 1, .opt = OPT_TS, .optlen = 12 };
	struct craft b = { .v = 4, .seq = 77777, .sport = 40001 };
	struct craft c6 = { .v = 6, .seq = 9 };
	for (int k = 0; k < 4; k++) {
		put_seg(3 * k, a, k, MSS);
		put_seg(3 * k + 1, b, k, MSS);
		put_seg(3 * k + 2, c6, k, MSS);
	}
	assert_int_equal(run(12), 3);
	int ia[] = { 0, 3, 6, 9 }, ib[] = { 1, 4, 7, 10 }, ic[] = { 2, 5, 8, 11 };
	assert_merged(0, 0, 4, ia);
	assert_merged(1, 1, 4, ib);
	assert_merged(2, 2, 4, ic);
}

static void test_psh_ends(void **st)
{
	setup_payload();
	struct craft c = { .v = 4, .seq = 1 }, p = c;
	p.flags = 0x18;
	put_seg(0, c, 0, MSS);
	put_seg(1, p, 1, MSS);
	put_seg(2, c, 2, MSS);
	put_seg(3, c, 3, MSS);
	assert_int_equal(run(4), 2);
	assert_merged(0, 0, 2, NULL);
	assert_merged(1, 2, 2, NULL);
}

/* Four in-order IPv4 segments, the second with a payload byte flipped after its checksum was
 * made. */
static struct craft put_four_second_corrupt(void)
{
	struct craft c = { .v = 4, .seq = 1 };

	setup_payload();
	for (int i = 0; i < 4; i++)
		put_seg(i, c, i, MSS);
	pk[1].data[100] ^= 0x01;
	orig[1][100] ^= 0x01;
	return c;
}

static void test_bad_csum_passes(void **st)
{
	struct craft c = put_four_second_corrupt();
	assert_int_equal(run(4), 3);
	assert_plain(0, 0);      /* alone: nothing merged before the bad one */
	assert_plain(1, 1);
	assert_merged(2, 2, 2, NULL);
	assert_int_equal(g.stats.bad_csum, 1);
	/* a bad IPv4 header checksum too */
	put_seg(0, c, 0, MSS);
	put_seg(1, c, 1, MSS);
	pk[1].data[10] ^= 0x40; orig[1][10] ^= 0x40;
	assert_int_equal(run(2), 2);
	assert_plain(1, 1);
}

/* Authenticated input (trust_l4_csum): the TCP checksum is not checked, so all four merge and
 * none counts as bad; the IPv4 header checksum still is. */
static void test_trusted_csum_merges(void **st)
{
	struct craft c = put_four_second_corrupt();
	g.trust_l4_csum = true;
	int n = run(4);
	g.trust_l4_csum = false;
	assert_int_equal(n, 1);
	assert_int_equal(g.stats.bad_csum, 0);
	put_seg(0, c, 0, MSS);
	put_seg(1, c, 1, MSS);
	pk[1].data[10] ^= 0x40; orig[1][10] ^= 0x40;
	g.trust_l4_csum = true;
	n = run(2);
	g.trust_l4_csum = false;
	assert_int_equal(n, 2);
	assert_plain(1, 1);
}

/* A lone segment of authenticated input goes out with its checksum left to the kernel
 * (NEEDS_CSUM, no GSO): completing it gives the packet as it came, and without trust it is
 * written unchanged. A segment that never merges (PSH, two flows) is lone too. */
static void lone_partial(int v)
{
	struct craft c = { .v = v, .seq = 7 }, d = { .v = v, .seq = 9, .sport = 4000 };
	static uint8_t tmp[CAP];

	setup_payload();
	put_seg(0, c, 0, MSS);
	put_seg(1, d, 0, 300);
	g.trust_l4_csum = true;
	assert_int_equal(run(2), 2);
	g.trust_l4_csum = false;
	assert_int_equal(g.stats.out_partial, 2);
	for (int k = 0; k < 2; k++) {
		struct virtio_net_hdr vh = hdr_of(k);
		const uint8_t *p = pkt_of(k);
		size_t len = len_of(k), l4 = t_l4off(p);

		assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
		assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		assert_int_equal(vh.gso_size, 0);
		assert_int_equal(vh.csum_start, l4);
		assert_int_equal(vh.csum_offset, 16);
		assert_int_equal(len, origlen[k]);
		assert_int_equal(c_get16(p + l4 + 16), t_fold(t_pseudo(p, 6, len - l4)));
		memcpy(tmp, p, len);
		c_put16(tmp + l4 + 16, (uint16_t)~t_fold(t_sum(0, tmp + l4, len - l4)));
		assert_memory_equal(tmp, orig[k], len);
	}
	put_seg(0, c, 0, MSS);
	put_seg(1, d, 0, 300);
	assert_int_equal(run(2), 2);
	assert_plain(0, 0);
	assert_plain(1, 1);
	assert_int_equal(g.stats.out_partial, 2);
}

static void test_trusted_lone_partial4(void **st) { lone_partial(4); }
static void test_trusted_lone_partial6(void **st) { lone_partial(6); }

/* Packets with no room after them (cap = len): the head moves to scratch and the result is
 * the same; without scratch nothing merges. */
static void test_scratch_heads(void **st)
{
	static uint8_t scratch[2 * GRO_SCRATCH_SIZE];
	setup_payload();
	struct craft c = { .v = 4, .seq = 1 };
	for (int i = 0; i < 3; i++) {
		put_seg(i, c, i, MSS);
		pk[i].cap = pk[i].len;
	}
	assert_int_equal(run(3), 3);
	for (int i = 0; i < 3; i++) {
		put_seg(i, c, i, MSS);
		pk[i].cap = pk[i].len;
	}
	g.scratch = scratch;
	g.scratch_n = 2;
	int n = run(3);
	bool moved = pk[0].data == scratch + GRO_SCRATCH_HEAD;
	g.scratch = NULL;
	g.scratch_n = 0;
	assert_int_equal(n, 1);
	assert_true(moved);
	assert_merged(0, 0, 3, NULL);
}

/* Packet i as a tap's frame: the IP packet of put_seg behind the link header e[0..l2), with no
 * room after it (as decrypted frames lie in a datagram buffer). */
static void put_frame(int i, struct craft c, int k, size_t plen, const uint8_t *e, uint8_t l2)
{
	put_seg(i, c, k, plen);
	memmove(bufs[i] + 48, pk[i].data, pk[i].len);
	pk[i].data = bufs[i] + 48;
	pk[i].cap = pk[i].len;
	pk[i].l2 = l2;
	memcpy(pk[i].data - l2, e, l2);
}

/* Output k as a tun write would be: the link header e[0..l2) checked and cut off, the vnet
 * header's offsets (which count it) made the IP packet's. */
static void strip_l2(int k, const uint8_t *e, uint8_t l2)
{
	struct virtio_net_hdr vh = hdr_of(k);
	uint8_t *b = out[k].iov_base;

	assert_memory_equal(b + GRO_HEADROOM, e, l2);
	if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		assert_true(vh.csum_start >= l2 + 20);
		vh.csum_start = (uint16_t)(vh.csum_start - l2);
		vh.hdr_len = (uint16_t)(vh.hdr_len - l2);
	}
	memcpy(b + l2, &vh, sizeof(vh));
	out[k].iov_base = b + l2;
	out[k].iov_len -= l2;
}

/* Frames of a tap: one flow's frames merge behind their common link header (VLAN-tagged here,
 * the head moved to scratch with it); the same flow to another MAC is another flow; a frame
 * carrying no IP packet goes out whole and untouched. */
static void test_tap_frames(void **st)
{
	static uint8_t scratch[2 * GRO_SCRATCH_SIZE];
	static const uint8_t e1[18] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0, 0, 7, 0x08, 0 };
	uint8_t e2[18], arp[60];
	setup_payload();
	struct craft c = { .v = 4, .id = 9, .seq = 77, .opt = OPT_TS, .optlen = 12 };

	memcpy(e2, e1, sizeof(e2));
	e2[5] = 3;	/* another destination */
	for (int k = 0; k < 4; k++)
		put_frame(k, c, k, MSS, e1, sizeof(e1));
	put_frame(4, c, 4, MSS, e2, sizeof(e2));
	memset(arp, 0x45, sizeof(arp));	/* looks like IPv4 where an IP packet would start */
	arp[12] = 0x08, arp[13] = 0x06;
	memcpy(bufs[5] + 48, arp, sizeof(arp));
	pk[5] = (struct gro_pkt){ .data = bufs[5] + 48, .len = sizeof(arp), .cap = sizeof(arp), .raw = true };
	g.scratch = scratch;
	g.scratch_n = 2;
	int n = run(6);
	g.scratch = NULL;
	g.scratch_n = 0;

	assert_int_equal(n, 3);
	assert_int_equal(out[0].iov_len, GRO_HEADROOM + sizeof(e1) + 20 + 32 + 4 * MSS);
	strip_l2(0, e1, sizeof(e1));
	assert_merged(0, 0, 4, NULL);
	strip_l2(1, e2, sizeof(e2));
	assert_plain(1, 4);
	assert_int_equal(out[2].iov_len, GRO_HEADROOM + sizeof(arp));
	assert_memory_equal((uint8_t *)out[2].iov_base + GRO_HEADROOM, arp, sizeof(arp));
	for (int i = 0; i < GRO_HEADROOM; i++)
		assert_int_equal(((uint8_t *)out[2].iov_base)[i], 0);
	assert_int_equal(g.stats.merged, 3);
}

/* The longest link header (QinQ, 22 bytes: the vnet header then lands on a scratch slot's
 * first byte), frames with no room after them (heads move to scratch with their header), input
 * trusted as authenticated: the flow merges, and a lone segment of another flow goes out
 * NEEDS_CSUM with csum_start counting the link header. */
static void test_tap_qinq_trusted(void **st)
{
	static uint8_t scratch[2 * GRO_SCRATCH_SIZE];
	static const uint8_t e[22] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2,
				       0x88, 0xa8, 0, 5, 0x81, 0, 0, 7, 0x08, 0 };
	setup_payload();
	struct craft c = { .v = 4, .id = 9, .seq = 77, .opt = OPT_TS, .optlen = 12 };
	struct craft d = { .v = 4, .seq = 5, .sport = 4000 };

	for (int k = 0; k < 4; k++)
		put_frame(k, c, k, MSS, e, sizeof(e));
	put_frame(4, d, 4, 300, e, sizeof(e));
	g.scratch = scratch;
	g.scratch_n = 2;
	g.trust_l4_csum = true;
	int n = run(5);
	g.trust_l4_csum = false;
	g.scratch = NULL;
	g.scratch_n = 0;

	assert_int_equal(n, 2);
	assert_true((uint8_t *)out[0].iov_base >= scratch && (uint8_t *)out[0].iov_base < scratch + sizeof(scratch));
	struct virtio_net_hdr lone = hdr_of(1);
	assert_int_equal(lone.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(lone.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(lone.csum_start, sizeof(e) + 20);
	strip_l2(0, e, sizeof(e));
	assert_merged(0, 0, 4, NULL);
	strip_l2(1, e, sizeof(e));
	assert_int_equal(len_of(1), origlen[4]);
}

/* Packet 1 differs from a mergeable follower of packet 0 in one way: two outputs. */
static void expect_apart(const struct craft *c0, const struct craft *c1, size_t plen1)
{
	put_seg(0, *c0, 0, MSS);
	put_seg(1, *c1, 1, plen1);
	assert_int_equal(run(2), 2);
	assert_plain(0, 0);
	assert_plain(1, 1);
}

static void test_not_coalesced(void **st)
{
	static const uint8_t ipopt[4] = { 1, 1, 1, 0 };
	static const uint8_t ts2[12] = { 1, 1, 8, 10, 0, 0, 0x12, 0x35, 0, 0, 0x56, 0x78 };
	setup_payload();
	struct craft c = { .v = 4, .seq = 1, .opt = OPT_TS, .optlen = 12 }, d;
	d = c; d.flags = 0x11; expect_apart(&c, &d, MSS);          /* FIN */
	d = c; d.flags = 0x12; expect_apart(&c, &d, MSS);          /* SYN */
	d = c; d.flags = 0x50; expect_apart(&c, &d, MSS);          /* ECE */
	d = c; d.flags = 0x90; expect_apart(&c, &d, MSS);          /* CWR */
	d = c; d.flags = 0x30; expect_apart(&c, &d, MSS);          /* URG */
	d = c; d.seq += 1; expect_apart(&c, &d, MSS);              /* not contiguous */
	d = c; d.ttl = 63; expect_apart(&c, &d, MSS);
	d = c; d.tos = 4; expect_apart(&c, &d, MSS);
	d = c; d.ack = 9; expect_apart(&c, &d, MSS);
	d = c; d.win = 1000; expect_apart(&c, &d, MSS);
	d = c; d.opt = ts2; expect_apart(&c, &d, MSS);             /* timestamps differ */
	d = c; d.optlen = 0; expect_apart(&c, &d, MSS);
	d = c; d.ipopt = ipopt; d.ipoptlen = 4; expect_apart(&c, &d, MSS);
	d = c; d.ipopt = ipopt; d.ipoptlen = 4; expect_apart(&d, &c, MSS);
	d = c; d.no_df = true; expect_apart(&c, &d, MSS);
	d = c; d.src_last = 9; expect_apart(&c, &d, MSS);          /* another flow */
	d = c; expect_apart(&c, &d, MSS + 1);                      /* larger than the first */
	d = c; d.proto = 17; expect_apart(&c, &d, MSS);
	d = c; expect_apart(&c, &d, 0);                            /* pure ACK */
	/* ids must follow without DF */
	c.no_df = true; d = c; d.id = 50; expect_apart(&c, &d, MSS);
	put_seg(0, c, 0, MSS); put_seg(1, c, 1, MSS);
	assert_int_equal(run(2), 1);
	/* a fragment */
	d = c; put_seg(0, c, 0, MSS); put_seg(1, d, 1, MSS);
	pk[1].data[6] |= 0x20; t_fix(pk[1].data, pk[1].len); memcpy(orig[1], pk[1].data, pk[1].len);
	assert_int_equal(run(2), 2);
	assert_plain(1, 1);
}

static void test_short_closes(void **st)
{
	setup_payload();
	struct craft c = { .v = 6, .seq = 1 };
	put_seg(0, c, 0, MSS);
	put_seg(1, c, 1, 500);
	struct craft d = c;
	d.seq += 500 - MSS;       /* contiguous after the short one */
	put_seg(2, d, 2, MSS);
	put_seg(3, d, 3, MSS);
	assert_int_equal(run(4), 2);
	assert_merged(0, 0, 2, NULL);
	assert_merged(1, 2, 2, NULL);
}

static void test_limits(void **st)
{
	setup_payload();
	struct craft c = { .v = 4, .seq = 1, .opt = OPT_TS, .optlen = 12 };
	for (int k = 0; k < 50; k++)
		put_seg(k, c, k, MSS);
	/* 52 + 45 * 1448 = 65212 fits in 64 KB, a 46th would not */
	assert_int_equal(run(50), 2);
	assert_int_equal(len_of(0), 52 + 45 * MSS);
	assert_merged(0, 0, 45, NULL);
	assert_merged(1, 45, 5, NULL);
	/* no tailroom in the head */
	put_seg(0, c, 0, MSS); put_seg(1, c, 1, MSS);
	pk[0].cap = pk[0].len + 100;
	assert_int_equal(run(2), 2);
	assert_int_equal(gro_coalesce(&g, pk, GRO_MAX_BATCH + 1, out, GRO_MAX_BATCH + 1), -EINVAL);
	assert_int_equal(gro_coalesce(&g, pk, 4, out, 3), -EINVAL);
	/* junk: too short, not IP */
	pk[0].len = 3; pk[0].data[0] = 0x45; origlen[0] = 3; memcpy(orig[0], pk[0].data, 3);
	pk[1].data[0] = 0x10; memcpy(orig[1], pk[1].data, origlen[1]);
	assert_int_equal(run(2), 2);
	assert_plain(0, 0);
	assert_plain(1, 1);
}

static void test_bench(void **st)
{
	setup_payload();
	struct craft c = { .v = 4, .seq = 1, .opt = OPT_TS, .optlen = 12 };
	enum { SEGS = 44 };
	for (int k = 0; k < SEGS; k++)
		put_seg(k, c, k, MSS);
	long iters = 3000;
	size_t bytes = 0;
	uint64_t a, b;
	a = clock_mono_ns();
	for (long i = 0; i < iters; i++) {
		memcpy(pk[0].data, orig[0], origlen[0]);
		pk[0].len = origlen[0];
		assert_int_equal(gro_coalesce(&g, pk, SEGS, out, N), 1);
		bytes += out[0].iov_len;
	}
	b = clock_mono_ns();
	double s = (double)(b - a) / 1e9;
	printf("gro_coalesce: %.2f Gbit/s (%ld x %d segments in %.3f s)\n", (double)bytes * 8 / s / 1e9, iters, SEGS, s);
	assert_true(bytes > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_consecutive_roundtrip),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_psh_ends),
		cmocka_unit_test(test_bad_csum_passes),
		cmocka_unit_test(test_trusted_csum_merges),
		cmocka_unit_test(test_trusted_lone_partial4),
		cmocka_unit_test(test_trusted_lone_partial6),
		cmocka_unit_test(test_scratch_heads),
		cmocka_unit_test(test_not_coalesced),
		cmocka_unit_test(test_short_closes),
		cmocka_unit_test(test_tap_frames),
		cmocka_unit_test(test_tap_qinq_trusted),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
