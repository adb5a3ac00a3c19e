/* pcap writer/reader round trip, file layout as tcpdump expects it, snaplen, readable mid-write. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/pcap.h"

static char path[64];

static int setup(void **state)
{
	int fd;

	strcpy(path, "/tmp/culvert-test-pcap.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static size_t count_records(void)
{
	struct pcap_reader r;
	struct pcap_record rec;
	uint8_t buf[2048];
	size_t n = 0;
	int ret;

	assert_int_equal(pcap_reader_open(&r, path), 0);
	while ((ret = pcap_read(&r, &rec, buf, sizeof(buf))) == 1)
		n++;
	assert_int_equal(ret, 0);
	pcap_reader_close(&r);
	return n;
}

static void test_round_trip(void **state)
{
	struct pcap_writer w;
	struct pcap_reader r;
	struct pcap_record rec;
	uint8_t pkt[3][100], buf[2048];
	struct timeval ts = { .tv_sec = 1700000000, .tv_usec = 123456 };

	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 100; j++)
			pkt[i][j] = (uint8_t)(i * 31 + j);
	assert_int_equal(pcap_writer_open(&w, path, PCAP_LINKTYPE_RAW, 0), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pcap_write(&w, &ts, pkt[i], 40 + (size_t)i * 30), 0);
		/* written through at once: a killed writer leaves every packet so far */
		assert_int_equal(count_records(), (size_t)i + 1);
	}
	assert_int_equal(pcap_write(&w, NULL, pkt[0], 0), 0);
	pcap_writer_close(&w);

	assert_int_equal(pcap_reader_open(&r, path), 0);
	assert_int_equal(r.linktype, PCAP_LINKTYPE_RAW);
	assert_int_equal(r.snaplen, PCAP_DEFAULT_SNAPLEN);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pcap_read(&r, &rec, buf, sizeof(buf)), 1);
		assert_int_equal(rec.caplen, 40 + i * 30);
		assert_int_equal(rec.origlen, 40 + i * 30);
		assert_int_equal(rec.ts.tv_sec, 1700000000);
		assert_int_equal(rec.ts.tv_usec, 123456);
		assert_memory_equal(buf, pkt[i], rec.caplen);
	}
	assert_int_equal(pcap_read(&r, &rec, buf, sizeof(buf)), 1);
	assert_int_equal(rec.caplen, 0);
	assert_true(rec.ts.tv_sec > 1700000000);
	assert_int_equal(pcap_read(&r, &rec, buf, sizeof(buf)), 0);
	pcap_reader_close(&r);
}

static void test_layout_and_snaplen(void **state)
{
	struct pcap_writer w;
	struct pcap_reader r;
	struct pcap_record rec;
	uint8_t pkt[64] = { 1, 2, 3 }, raw[128];
	static const uint8_t hdr_le[] = { 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					  32, 0, 0, 0, 1, 0, 0, 0 };
	FILE *f;

	assert_int_equal(pcap_writer_open(&w, path, PCAP_LINKTYPE_ETHERNET, 32), 0);
	assert_int_equal(pcap_write(&w, NULL, pkt, sizeof(pkt)), 0);
	pcap_writer_close(&w);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(raw, 1, sizeof(raw), f), 24 + 16 + 32);
	fclose(f);
	if (*(const uint16_t *)"\1\0" == 1) /* the header is in host order; check it on little endian */
		assert_memory_equal(raw, hdr_le, sizeof(hdr_le));

	assert_int_equal(pcap_reader_open(&r, path), 0);
	assert_int_equal(r.linktype, PCAP_LINKTYPE_ETHERNET);
	assert_int_equal(pcap_read(&r, &rec, raw, sizeof(raw)), 1);
	assert_int_equal(rec.caplen, 32);
	assert_int_equal(rec.origlen, 64);
	assert_int_equal(raw[2], 3);
	pcap_reader_close(&r);
	assert_int_equal(pcap_reader_open(&r, path), 0);
	assert_int_equal(pcap_read(&r, &rec, raw, 16), -EMSGSIZE);
	pcap_reader_close(&r);
}

static void test_bad_files(void **state)
{
	struct pcap_reader r;
	struct pcap_record rec;
	uint8_t buf[64];
	FILE *f = fopen(path, "wb");

	fputs("not a pcap file at all, really", f);
	fclose(f);
	assert_int_equal(pcap_reader_open(&r, path), -EINVAL);
	assert_int_equal(pcap_reader_open(&r, "/nonexistent/x.pcap"), -ENOENT);

	/* a record header cut short */
	struct pcap_writer w;
	assert_int_equal(pcap_writer_open(&w, path, PCAP_LINKTYPE_RAW, 0), 0);
	assert_int_equal(pcap_write(&w, NULL, buf, 20), 0);
	pcap_writer_close(&w);
	assert_int_equal(truncate(path, 24 + 16 + 10), 0);
	assert_int_equal(pcap_reader_open(&r, path), 0);
	assert_int_equal(pcap_read(&r, &rec, buf, sizeof(buf)), -EINVAL);
	pcap_reader_close(&r);
	assert_int_equal(pcap_writer_open(&w, "/nonexistent/dir/x.pcap", PCAP_LINKTYPE_RAW, 0), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout_and_snaplen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
