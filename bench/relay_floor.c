/* The least a userspace tunnel can do: one thread waits in poll() on the tun device and a UDP
 * socket and copies each packet across with one system call (no crypto, no batching).
 * make bench runs it as "relay-floor" beside raw veth, so the idle RTT a userspace design cannot
 * go below on this machine is measured in the same run as culvert's.
 * Usage: relay_floor IFNAME LOCAL_PORT PEER_IPV4 PEER_PORT   (runs until killed) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int tun_fd, udp_fd;

static int die(const char *what)
{
	fprintf(stderr, "relay_floor: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	static unsigned char buf[65536];
	struct sockaddr_in local = { .sin_family = AF_INET }, peer = { .sin_family = AF_INET };
	struct ifreq ifr;
	struct pollfd pfd[2];

	if (argc != 5 || inet_pton(AF_INET, argv[3], &peer.sin_addr) != 1) {
		fprintf(stderr, "usage: relay_floor IFNAME LOCAL_PORT PEER_IPV4 PEER_PORT\n");
		return 2;
	}
	local.sin_port = htons((uint16_t)atoi(argv[2]));
	peer.sin_port = htons((uint16_t)atoi(argv[4]));

	tun_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tun_fd < 0)
		return die("/dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(tun_fd, TUNSETIFF, &ifr) < 0)
		return die(argv[1]);

	udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (udp_fd < 0 || bind(udp_fd, (struct sockaddr *)&local, sizeof(local)) < 0)
		return die("udp socket");

	pfd[0] = (struct pollfd){ .fd = tun_fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = udp_fd, .events = POLLIN };
	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return die("poll");
		if (pfd[0].revents & POLLIN) {
			ssize_t n = read(tun_fd, buf, sizeof(buf));
			if (n > 0)
				sendto(udp_fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, sizeof(peer));
		}
		if (pfd[1].revents & POLLIN) {
			ssize_t n = recv(udp_fd, buf, sizeof(buf), 0);
			if (n > 0)	/* a device not up yet refuses it: dropped */
				(void)!write(tun_fd, buf, (size_t)n);
		}
	}
}
