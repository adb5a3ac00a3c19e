/* tso_probe: proves the tun offload setup the data path relies on. Opens tun NAME_A (with
 * IFF_VNET_HDR and TUNSETOFFLOAD CSUM|TSO4|TSO6, plus USO4|USO6 when the kernel takes them) in
 * the current namespace and tun NAME_B the same way in the namespace at NETNS_PATH, then copies
 * every frame, virtio_net_hdr included, between the two until killed. Each kind of frame seen
 * coming from A is logged once ("seen tcpv4 len 28960 gso_size 1448"), so a test can assert
 * that the kernel handed over super-packets and took them back.
 * Usage: tso_probe NAME_A NETNS_PATH NAME_B */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

static int uso;

static int open_tun(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -1;
	unsigned int base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
	if (ioctl(fd, TUNSETOFFLOAD, base | TUN_F_USO4 | TUN_F_USO6) == 0)
		uso = 1;
	else if (ioctl(fd, TUNSETOFFLOAD, base) < 0)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	static unsigned char buf[65536 + 64];
	int seen[256] = { 0 };

	if (argc != 4) {
		fprintf(stderr, "usage: tso_probe NAME_A NETNS_PATH NAME_B\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int a = open_tun(argv[1]);
	int ns = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (a < 0 || ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
		perror("tso_probe: tun A or namespace");
		return 1;
	}
	int b = open_tun(argv[3]);
	if (b < 0) {
		perror("tso_probe: tun B");
		return 1;
	}
	printf("offloads csum tso4 tso6%s\nready\n", uso ? " uso4 uso6" : "");
	struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			ssize_t n = read(p[i].fd, buf, sizeof(buf));
			if (n < (ssize_t)sizeof(struct virtio_net_hdr))
				continue;
			struct virtio_net_hdr vh;
			memcpy(&vh, buf, sizeof(vh));
			if (i == 0 && !seen[vh.gso_type]++) {
				static const char *names[] = { "none", "tcpv4", "?", "udp", "tcpv6", "udp_l4" };
				printf("seen %s len %zd gso_size %u flags %u\n",
				       vh.gso_type < 6 ? names[vh.gso_type] : "?",
				       n - (ssize_t)sizeof(vh), vh.gso_size, vh.flags);
			}
			if (write(p[1 - i].fd, buf, (size_t)n) < 0 && i == 0 && vh.gso_type)
				printf("write of gso_type %u frame refused: %s\n", vh.gso_type, strerror(errno));
		}
	}
}
