/* simpletun framing: reassembly across every split, limits, and the transmit queue. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire/framing.h"

/* Encode frames of the given lengths (payload byte i of frame k is k*31+i) into out. */
static size_t encode(uint8_t *out, const size_t *lens, size_t n)
{
	size_t off = 0;

	for (size_t k = 0; k < n; k++) {
		framing_put_hdr(out + off, lens[k]);
		off += 2;
		for (size_t i = 0; i < lens[k]; i++)
			out[off++] = (uint8_t)(k * 31 + i);
	}
	return off;
}

static void check_frame(const uint8_t *f, size_t len, size_t k, size_t want_len)
{
	assert_int_equal(len, want_len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(f[i], (uint8_t)(k * 31 + i));
}

/* Push all of data, taking frames out whenever the buffer fills; returns the last next() result. */
static int feed(struct framing_rx *rx, const uint8_t *data, size_t n, const size_t *lens, size_t *got)
{
	const uint8_t *f;
	size_t len, off = 0;
	int r;

	for (;;) {
		while ((r = framing_rx_next(rx, &f, &len)) == 1) {
			check_frame(f, len, *got, lens[*got]);
			(*got)++;
		}
		if (r < 0 || off == n)
			return r;
		size_t took = framing_rx_push(rx, data + off, n - off);
		assert_true(took > 0);
		off += took;
	}
}

/* Every split point of a 3-frame stream, in two reads, yields the same three frames. */
static void test_split_every_byte(void **state)
{
	static const size_t lens[] = { 1, 60, 1500 };
	uint8_t wire[2 + 1 + 2 + 60 + 2 + 1500];
	size_t total = encode(wire, lens, 3);

	for (size_t cut = 0; cut <= total; cut++) {
		struct framing_rx rx;
		size_t got = 0;

		assert_int_equal(framing_rx_init(&rx, 1500, 0), 0);
		assert_int_equal(feed(&rx, wire, cut, lens, &got), 0);
		assert_int_equal(feed(&rx, wire + cut, total - cut, lens, &got), 0);
		assert_int_equal(got, 3);
		assert_int_equal(framing_rx_pending(&rx), 0);
		framing_rx_free(&rx);
	}
}

/* One byte per read, through a buffer just big enough for one frame: compaction must work. */
static void test_byte_at_a_time_small_buffer(void **state)
{
	static const size_t lens[] = { 100, 7, 100, 3, 100 };
	uint8_t wire[600];
	size_t total = encode(wire, lens, 5), got = 0;
	struct framing_rx rx;
	const uint8_t *f;
	size_t len;

	assert_int_equal(framing_rx_init(&rx, 100, 0), 0);
	assert_int_equal(rx.cap, 102);
	for (size_t i = 0; i < total; i++) {
		assert_int_equal(framing_rx_push(&rx, wire + i, 1), 1);
		while (framing_rx_next(&rx, &f, &len) == 1) {
			check_frame(f, len, got, lens[got]);
			got++;
		}
	}
	assert_int_equal(got, 5);
	framing_rx_free(&rx);
}

static void test_many_frames_one_read(void **state)
{
	size_t lens[200];
	uint8_t *wire = malloc(200 * (2 + 64));
	struct framing_rx rx;
	const uint8_t *f;
	size_t len, got = 0, total;

	for (size_t k = 0; k < 200; k++)
		lens[k] = 1 + k % 64;
	total = encode(wire, lens, 200);
	assert_int_equal(framing_rx_init(&rx, 64, 1 << 16), 0);
	assert_int_equal(framing_rx_push(&rx, wire, total), total);
	while (framing_rx_next(&rx, &f, &len) == 1) {
		check_frame(f, len, got, lens[got]);
		got++;
	}
	assert_int_equal(got, 200);
	framing_rx_free(&rx);
	free(wire);
}

static void test_zero_length(void **state)
{
	static const uint8_t wire[] = { 0, 3, 'a', 'b', 'c', 0, 0, 0, 1, 'x' };
	struct framing_rx rx;
	const uint8_t *f;
	size_t len, room;

	assert_int_equal(framing_rx_init(&rx, 1500, 0), 0);
	framing_rx_push(&rx, wire, sizeof(wire));
	assert_int_equal(framing_rx_next(&rx, &f, &len), 1);
	assert_int_equal(len, 3);
	assert_memory_equal(f, "abc", 3);
	assert_int_equal(framing_rx_next(&rx, &f, &len), -EPROTO);
	assert_int_equal(rx.err, FRAMING_ZERO_LENGTH);
	assert_string_equal(framing_err_name(rx.err), "zero_length");
	/* The error is sticky: nothing after it is trusted, and no more reads are wanted. */
	assert_int_equal(framing_rx_next(&rx, &f, &len), -EPROTO);
	framing_rx_space(&rx, &room);
	assert_int_equal(room, 0);
	framing_rx_reset(&rx);
	assert_int_equal(rx.err, FRAMING_OK);
	assert_int_equal(framing_rx_next(&rx, &f, &len), 0);
	framing_rx_free(&rx);
}

/* An oversized length is rejected from the header alone, before its body arrives. */
static void test_too_long(void **state)
{
	static const uint8_t w1[] = { 0x05, 0xdd };   /* 1501 */
	static const uint8_t w2[] = { 0xff, 0xff };   /* 65535 */
	struct framing_rx rx;
	const uint8_t *f;
	size_t len;

	assert_int_equal(framing_rx_init(&rx, 1500, 0), 0);
	framing_rx_push(&rx, w1, 1);
	assert_int_equal(framing_rx_next(&rx, &f, &len), 0);
	framing_rx_push(&rx, w1 + 1, 1);
	assert_int_equal(framing_rx_next(&rx, &f, &len), -EPROTO);
	assert_int_equal(rx.err, FRAMING_TOO_LONG);
	assert_int_equal(rx.bad_len, 1501);
	assert_string_equal(framing_err_name(rx.err), "frame_too_long");
	framing_rx_reset(&rx);
	framing_rx_push(&rx, w2, 2);
	assert_int_equal(framing_rx_next(&rx, &f, &len), -EPROTO);
	assert_int_equal(rx.bad_len, 65535);
	framing_rx_free(&rx);
}

static void test_exact_limit(void **state)
{
	uint8_t wire[2 + 1518];
	size_t l = 1518;
	struct framing_rx rx;
	const uint8_t *f;
	size_t len;

	encode(wire, &l, 1);
	assert_int_equal(framing_rx_init(&rx, 1518, 0), 0);
	assert_int_equal(framing_rx_push(&rx, wire, sizeof(wire)), sizeof(wire));
	assert_int_equal(framing_rx_next(&rx, &f, &len), 1);
	check_frame(f, len, 0, 1518);
	/* The largest legal length, 65535, with a limit of 65535. */
	assert_int_equal(framing_rx_set_limit(&rx, 65535), 0);
	assert_true(rx.cap >= 65537);
	assert_int_equal(framing_rx_set_limit(&rx, 0), -EINVAL);
	assert_int_equal(framing_rx_set_limit(&rx, 65536), -EINVAL);
	framing_rx_free(&rx);
}

/* Frames queued by the transmit side come out as the same bytes the reassembler accepts, and a
 * full queue refuses instead of growing. */
static void test_txq_roundtrip(void **state)
{
	struct framing_txq q;
	struct framing_rx rx;
	int sv[2];
	uint8_t pkt[1500], buf[8192];
	const uint8_t *f;
	size_t len, got = 0;
	ssize_t n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(framing_txq_init(&q, 1), 0);
	assert_int_equal(q.cap, 65537);
	assert_int_equal(framing_rx_init(&rx, 1500, 0), 0);
	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)i;
	for (size_t k = 0; k < 10; k++) {
		uint8_t *p = framing_txq_reserve(&q, 1500);

		assert_non_null(p);
		memcpy(p, pkt, 100 + k);
		framing_txq_commit(&q, 100 + k);
	}
	assert_int_equal(framing_txq_pending(&q), 10 * 2 + 10 * 100 + 45);
	n = framing_txq_flush(&q, sv[0]);
	assert_int_equal(n, 1065);
	assert_int_equal(framing_txq_pending(&q), 0);
	n = read(sv[1], buf, sizeof(buf));
	assert_int_equal(n, 1065);
	framing_rx_push(&rx, buf, (size_t)n);
	while (framing_rx_next(&rx, &f, &len) == 1) {
		assert_int_equal(len, 100 + got);
		assert_memory_equal(f, pkt, len);
		got++;
	}
	assert_int_equal(got, 10);

	/* Fill: 65537 bytes hold 43 frames of 1502. */
	for (got = 0; framing_txq_append(&q, pkt, 1500) == 0; got++)
		;
	assert_int_equal(got, 43);
	assert_int_equal(framing_txq_append(&q, pkt, 1500), -ENOBUFS);
	assert_null(framing_txq_reserve(&q, 0));
	assert_null(framing_txq_reserve(&q, 65536));
	framing_txq_free(&q);
	framing_rx_free(&rx);
	close(sv[0]);
	close(sv[1]);
}

/* A partial send keeps the unsent tail; compaction then makes room again. */
static void test_txq_partial(void **state)
{
	struct framing_txq q;
	int sv[2], sz = 4096;
	uint8_t pkt[1000] = { 1 }, sink[1 << 16];
	ssize_t n, total = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	assert_int_equal(framing_txq_init(&q, 1 << 16), 0);
	while (framing_txq_append(&q, pkt, sizeof(pkt)) == 0)
		;
	size_t queued = framing_txq_pending(&q);
	n = framing_txq_flush(&q, sv[0]);
	assert_true(n > 0 && (size_t)n < queued);
	assert_int_equal(framing_txq_pending(&q), queued - (size_t)n);
	assert_int_equal(framing_txq_flush(&q, sv[0]), -EAGAIN);
	total += n;
	while (framing_txq_pending(&q)) {
		ssize_t r = read(sv[1], sink, sizeof(sink));
		n = framing_txq_flush(&q, sv[0]);
		assert_true(r > 0 || n > 0);
		if (n > 0)
			total += n;
	}
	assert_int_equal((size_t)total, queued);
	assert_int_equal(framing_txq_append(&q, pkt, sizeof(pkt)), 0);
	framing_txq_free(&q);
	close(sv[0]);
	close(sv[1]);
}

static void test_iov(void **state)
{
	struct iovec iov[2];
	uint8_t hdr[2];
	static const uint8_t pkt[258] = { 9 };

	framing_iov(iov, hdr, pkt, sizeof(pkt));
	assert_int_equal(hdr[0], 1);
	assert_int_equal(hdr[1], 2);
	assert_ptr_equal(iov[0].iov_base, hdr);
	assert_int_equal(iov[0].iov_len, 2);
	assert_ptr_equal(iov[1].iov_base, pkt);
	assert_int_equal(iov[1].iov_len, 258);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_every_byte),
		cmocka_unit_test(test_byte_at_a_time_small_buffer),
		cmocka_unit_test(test_many_frames_one_read),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_exact_limit),
		cmocka_unit_test(test_txq_roundtrip),
		cmocka_unit_test(test_txq_partial),
		cmocka_unit_test(test_iov),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
