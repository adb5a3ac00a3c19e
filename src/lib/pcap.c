/* Classic pcap: a 24-byte file header, then a 16-byte header before each packet, all in the
 * writer's byte order (the reader accepts both), microsecond timestamps. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/pcap.h"

enum { PCAP_MAGIC_US = 0xa1b2c3d4, PCAP_MAGIC_NS = 0xa1b23c4d };

struct file_hdr {
	uint32_t magic;
	uint16_t major, minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

struct rec_hdr {
	uint32_t sec, usec, caplen, origlen;
};

/* Write all of iov, restarting after signals and short writes. */
static int write_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t n = writev(fd, iov, cnt);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int pcap_writer_open(struct pcap_writer *w, const char *path, uint32_t linktype, uint32_t snaplen)
{
	struct file_hdr h = {
		.magic = PCAP_MAGIC_US, .major = 2, .minor = 4,
		.snaplen = snaplen ? snaplen : PCAP_DEFAULT_SNAPLEN, .linktype = linktype,
	};
	struct iovec iov = { &h, sizeof(h) };
	int ret;

	w->snaplen = h.snaplen;
	if (!strcmp(path, "-")) {
		w->fd = STDOUT_FILENO;
		w->close_fd = 0;
	} else {
		w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (w->fd < 0)
			return -errno;
		w->close_fd = 1;
	}
	ret = write_all(w->fd, &iov, 1);
	if (ret < 0)
		pcap_writer_close(w);
	return ret;
}

int pcap_write(struct pcap_writer *w, const struct timeval *ts, const void *pkt, size_t len)
{
	struct timeval now;
	struct rec_hdr r;
	struct iovec iov[2];

	if (w->fd < 0)
		return -EBADF;
	if (!ts) {
		gettimeofday(&now, NULL);
		ts = &now;
	}
	r.sec = (uint32_t)ts->tv_sec;
	r.usec = (uint32_t)ts->tv_usec;
	r.origlen = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	r.caplen = r.origlen < w->snaplen ? r.origlen : w->snaplen;
	iov[0] = (struct iovec){ &r, sizeof(r) };
	iov[1] = (struct iovec){ (void *)pkt, r.caplen };
	return write_all(w->fd, iov, 2);
}

void pcap_writer_close(struct pcap_writer *w)
{
	if (w->fd >= 0 && w->close_fd)
		close(w->fd);
	w->fd = -1;
}

static uint32_t sw32(const struct pcap_reader *r, uint32_t v)
{
	return r->swapped ? __builtin_bswap32(v) : v;
}

int pcap_reader_open(struct pcap_reader *r, const char *path)
{
	struct file_hdr h;

	memset(r, 0, sizeof(*r));
	r->f = fopen(path, "rbe");
	if (!r->f)
		return -errno;
	if (fread(&h, sizeof(h), 1, r->f) != 1)
		goto bad;
	if (h.magic == PCAP_MAGIC_US || h.magic == PCAP_MAGIC_NS) {
		r->nsec = h.magic == PCAP_MAGIC_NS;
	} else if (h.magic == __builtin_bswap32(PCAP_MAGIC_US) || h.magic == __builtin_bswap32(PCAP_MAGIC_NS)) {
		r->swapped = 1;
		r->nsec = h.magic == __builtin_bswap32(PCAP_MAGIC_NS);
	} else {
		goto bad;
	}
	r->snaplen = sw32(r, h.snaplen);
	r->linktype = sw32(r, h.linktype);
	return 0;
bad:
	pcap_reader_close(r);
	return -EINVAL;
}

int pcap_read(struct pcap_reader *r, struct pcap_record *rec, uint8_t *buf, size_t cap)
{
	struct rec_hdr h;
	size_t n = fread(&h, 1, sizeof(h), r->f);

	if (n == 0 && feof(r->f))
		return 0;
	if (n != sizeof(h))
		return -EINVAL;
	rec->ts.tv_sec = sw32(r, h.sec);
	rec->ts.tv_usec = r->nsec ? sw32(r, h.usec) / 1000 : sw32(r, h.usec);
	rec->caplen = sw32(r, h.caplen);
	rec->origlen = sw32(r, h.origlen);
	if (rec->caplen > cap)
		return -EMSGSIZE;
	if (rec->caplen && fread(buf, rec->caplen, 1, r->f) != 1)
		return -EINVAL;
	return 1;
}

void pcap_reader_close(struct pcap_reader *r)
{
	if (r->f)
		fclose(r->f);
	r->f = NULL;
}
