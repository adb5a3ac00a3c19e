#include "cli/devio.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lib/tun.h"

int devio_attach(const char *cmd, const char *name, bool want_tap, bool pi, bool quiet, int *fd, bool *tap)
{
	struct tun_opts to = { .mode = want_tap ? TUN_MODE_TAP : TUN_MODE_TUN, .pi = pi };
	struct tun_info info;
	bool exists = tun_info_get(name, &info) == 0;
	char real[IFNAMSIZ], why[256];
	int ret;

	if (exists && !want_tap)
		to.mode = info.mode;
	if (exists && (info.flags & IFF_MULTI_QUEUE))
		to.multi_queue = true;
	ret = tun_open(name, &to, real, fd);
	if (ret < 0) {
		fprintf(stderr, "%s: %s\n", cmd, tun_explain(ret, name, &to, why, sizeof(why)));
		return ret;
	}
	*tap = to.mode == TUN_MODE_TAP;
	if (!exists && !quiet)
		fprintf(stderr, "%s: created %s device %s (removed on exit); configure it with ip(8)\n",
			cmd, *tap ? "tap" : "tun", real);
	return 0;
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
