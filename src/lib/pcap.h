/* Classic pcap files (the format of tcpdump -w): a writer that leaves a readable file after
 * every packet, and a small reader for tests. Calls return 0 or -errno. */
#ifndef CULVERT_PCAP_H
#define CULVERT_PCAP_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>

enum { PCAP_LINKTYPE_ETHERNET = 1, PCAP_LINKTYPE_RAW = 101, PCAP_DEFAULT_SNAPLEN = 262144 };

struct pcap_writer {
	int fd;
	uint32_t snaplen;
	int close_fd; /* 0 for stdout */
};

/* path "-" writes to stdout. snaplen 0 means PCAP_DEFAULT_SNAPLEN. The file header is written
 * at once. */
int pcap_writer_open(struct pcap_writer *w, const char *path, uint32_t linktype, uint32_t snaplen);
/* One record, cut to snaplen, written with a single writev so a killed writer never leaves
 * half a record behind it; ts NULL means now. */
int pcap_write(struct pcap_writer *w, const struct timeval *ts, const void *pkt, size_t len);
void pcap_writer_close(struct pcap_writer *w);

struct pcap_reader {
	FILE *f;
	uint32_t linktype, snaplen;
	int swapped, nsec;
};

struct pcap_record {
	struct timeval ts;
	uint32_t caplen, origlen;
};

int pcap_reader_open(struct pcap_reader *r, const char *path);
/* 1 and the record in buf (caplen bytes), 0 at end of file, -EINVAL on a bad or cut record,
 * -EMSGSIZE if caplen exceeds cap. */
int pcap_read(struct pcap_reader *r, struct pcap_record *rec, uint8_t *buf, size_t cap);
void pcap_reader_close(struct pcap_reader *r);

#endif
