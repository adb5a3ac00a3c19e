#include "cli/devio.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/tun.h"

enum { PI_LEN = 4, VNET_MAX = 64 };

int devio_attach(const char *cmd, const char *name, bool want_tap, bool want_pi, struct devio *d)
{
	struct tun_opts to = { .mode = want_tap ? TUN_MODE_TAP : TUN_MODE_TUN, .pi = want_pi };
	struct tun_info info;
	bool exists = tun_info_get(name, &info) == 0;
	char why[256];
	int ret, sz;

	memset(d, 0, sizeof(*d));
	if (exists) {
		if (!want_tap)
			to.mode = info.mode;
		to.multi_queue = info.flags & IFF_MULTI_QUEUE;
		to.pi = want_pi || !(info.flags & IFF_NO_PI);
		to.vnet_hdr = info.flags & IFF_VNET_HDR;
	}
	ret = tun_open(name, &to, d->name, &d->fd);
	if (ret < 0) {
		fprintf(stderr, "%s: %s\n", cmd, tun_explain(ret, name, &to, why, sizeof(why)));
		return ret;
	}
	d->tap = to.mode == TUN_MODE_TAP;
	d->created = !exists;
	d->pi = to.pi;
	d->vnet_len = to.vnet_hdr ? 10 : 0;
	/* A further queue of a multi-queue device in use gets the device's flags, not ours.
	 * (TUNGETIFF cannot tell: it reports IFF_NOFILTER in the bit of IFF_NO_PI.) */
	if (exists && to.multi_queue && info.attached)
		d->pi = !(info.flags & IFF_NO_PI);
	if (d->vnet_len && ioctl(d->fd, TUNGETVNETHDRSZ, &sz) == 0 && sz > 0 && sz <= VNET_MAX)
		d->vnet_len = (size_t)sz;
	return 0;
}

void devio_note_created(const char *cmd, const struct devio *d)
{
	if (d->created)
		fprintf(stderr, "%s: created %s device %s (removed on exit); configure it with ip(8)\n",
			cmd, d->tap ? "tap" : "tun", d->name);
}

size_t devio_hdr_len(const struct devio *d)
{
	return (d->pi ? PI_LEN : 0) + d->vnet_len;
}

ssize_t devio_write(const struct devio *d, const void *pkt, size_t len)
{
	/* A zeroed virtio_net_hdr says: no checksum to complete, not GSO. */
	uint8_t hdr[PI_LEN + VNET_MAX] = { 0 };
	const uint8_t *p = pkt;
	struct iovec iov[2] = { { hdr, devio_hdr_len(d) }, { (void *)pkt, len } };
	ssize_t n;

	if (d->pi) {
		/* tun needs the protocol to know what it got; tap reads the Ethernet header. */
		uint16_t proto = 0;

		if (d->tap && len >= 14)
			proto = (uint16_t)(p[12] << 8 | p[13]);
		else if (!d->tap && len >= 1)
			proto = (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
		hdr[2] = (uint8_t)(proto >> 8);
		hdr[3] = (uint8_t)proto;
	}
	if (!iov[0].iov_len)
		return write(d->fd, pkt, len);
	n = writev(d->fd, iov, 2);

	return n < 0 ? n : n - (ssize_t)iov[0].iov_len;
}

int devio_signal_fd(void)
{
	sigset_t s;
	int fd;

	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &s, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &s, SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

ssize_t devio_read(const char *cmd, const char *name, int fd, int sfd, void *buf, size_t cap)
{
	struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };

	for (;;) {
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: poll: %s\n", cmd, strerror(errno));
			return -errno;
		}
		if (pfd[1].revents)
			return -EINTR;
		n = read(fd, buf, cap);
		if (n >= 0)
			return n;
		if (errno == EINTR || errno == EAGAIN)
			continue;
		fprintf(stderr, "%s: read from %s: %s\n", cmd, name, strerror(errno));
		return -errno;
	}
}
