/* tunattach NAME tun|tap [TIMEOUT_SECONDS]: attach to an existing tun/tap device the plain
 * tutorial way (open /dev/net/tun, TUNSETIFF), say "attached NAME", then wait for one frame
 * and print "read N bytes". Exit 0 after a frame, 1 if attaching fails (the errno name and
 * text on stderr), 3 on timeout. A test peer independent of libculvert. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>

int main(int argc, char **argv)
{
	struct ifreq ifr;
	struct pollfd p;
	unsigned char buf[65536];
	int fd, timeout = argc > 3 ? atoi(argv[3]) : 10;
	ssize_t n;

	if (argc < 3 || strlen(argv[1]) >= IFNAMSIZ || (strcmp(argv[2], "tun") && strcmp(argv[2], "tap"))) {
		fprintf(stderr, "usage: tunattach NAME tun|tap [TIMEOUT_SECONDS]\n");
		return 2;
	}
	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "open /dev/net/tun: %s\n", strerror(errno));
		return 1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = (strcmp(argv[2], "tap") ? IFF_TUN : IFF_TAP) | IFF_NO_PI;
	strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		fprintf(stderr, "TUNSETIFF %s: %s%s\n", argv[1],
			e == EPERM ? "EPERM " : e == EBUSY ? "EBUSY " : e == EINVAL ? "EINVAL " : "", strerror(e));
		return 1;
	}
	printf("attached %s\n", ifr.ifr_name);
	fflush(stdout);
	p.fd = fd;
	p.events = POLLIN;
	if (poll(&p, 1, timeout * 1000) != 1) {
		fprintf(stderr, "no frame within %d s\n", timeout);
		return 3;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		fprintf(stderr, "read: %s\n", strerror(errno));
		return 1;
	}
	printf("read %zd bytes\n", n);
	return 0;
}
