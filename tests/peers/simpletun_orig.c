/* A re-creation of the tutorial's simpletun, written from the tutorial's description, used as
 * the "original" interop peer and benchmark baseline. It keeps the original's behaviour on
 * purpose: blocking I/O, select(), a 2000-byte buffer, the length and the packet sent with two
 * write() calls, read_n() for the length then the packet, no TCP_NODELAY, one client, exit when
 * the peer goes away. The only change: a frame longer than the buffer ends the program instead
 * of overflowing it. Flags: -i IFACE [-s|-c SERVERIP] [-p PORT] [-u|-a] [-d] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSIZE 2000
#define PORT 55555

static int debug;
static const char *progname;

static void do_debug(const char *fmt, ...)
{
	va_list ap;

	if (!debug)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static void my_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static int tun_alloc(char *dev, int flags)
{
	struct ifreq ifr;
	int fd, err;

	if ((fd = open("/dev/net/tun", O_RDWR)) < 0) {
		perror("Opening /dev/net/tun");
		return fd;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = flags;
	if (*dev)
		strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
	if ((err = ioctl(fd, TUNSETIFF, (void *)&ifr)) < 0) {
		perror("ioctl(TUNSETIFF)");
		close(fd);
		return err;
	}
	strcpy(dev, ifr.ifr_name);
	return fd;
}

static int cread(int fd, char *buf, int n)
{
	int nread;

	if ((nread = read(fd, buf, n)) < 0) {
		perror("Reading data");
		exit(1);
	}
	return nread;
}

static int cwrite(int fd, char *buf, int n)
{
	int nwrite;

	if ((nwrite = write(fd, buf, n)) < 0) {
		perror("Writing data");
		exit(1);
	}
	return nwrite;
}

/* Read exactly n bytes unless the peer closes (0) first. */
static int read_n(int fd, char *buf, int n)
{
	int nread, left = n;

	while (left > 0) {
		if ((nread = cread(fd, buf, left)) == 0)
			return 0;
		left -= nread;
		buf += nread;
	}
	return n;
}

static void usage(void)
{
	fprintf(stderr, "Usage:\n");
	fprintf(stderr, "%s -i <ifacename> [-s|-c <serverIP>] [-p <port>] [-u|-a] [-d]\n", progname);
	fprintf(stderr, "%s -h\n", progname);
	fprintf(stderr, "\n");
	fprintf(stderr, "-i <ifacename>: Name of interface to use (mandatory)\n");
	fprintf(stderr, "-s|-c <serverIP>: run in server mode (-s), or specify server address (-c <serverIP>) (mandatory)\n");
	fprintf(stderr, "-p <port>: port to listen on (if run in server mode) or to connect to (in client mode), default 55555\n");
	fprintf(stderr, "-u|-a: use TUN (-u, default) or TAP (-a)\n");
	fprintf(stderr, "-d: outputs debug information while running\n");
	fprintf(stderr, "-h: prints this help text\n");
	exit(1);
}

int main(int argc, char *argv[])
{
	int tap_fd, option, flags = IFF_TUN, maxfd, sock_fd, net_fd, optval = 1, cliserv = -1;
	char if_name[IFNAMSIZ] = "", remote_ip[16] = "";
	char buffer[BUFSIZE];
	unsigned short port = PORT;
	unsigned long tap2net = 0, net2tap = 0;
	struct sockaddr_in local, remote;
	socklen_t remotelen;
	uint16_t nread, nwrite, plength;

	progname = argv[0];
	while ((option = getopt(argc, argv, "i:sc:p:uahd")) > 0) {
		switch (option) {
		case 'd': debug = 1; break;
		case 'h': usage(); break;
		case 'i': strncpy(if_name, optarg, IFNAMSIZ - 1); break;
		case 's': cliserv = 1; break;
		case 'c': cliserv = 0; strncpy(remote_ip, optarg, 15); break;
		case 'p': port = atoi(optarg); break;
		case 'u': flags = IFF_TUN; break;
		case 'a': flags = IFF_TAP; break;
		default: my_err("Unknown option %c\n", option); usage();
		}
	}
	argv += optind;
	argc -= optind;
	if (argc > 0) {
		my_err("Too many options!\n");
		usage();
	}
	if (*if_name == '\0') {
		my_err("Must specify interface name!\n");
		usage();
	} else if (cliserv < 0) {
		my_err("Must specify client or server mode!\n");
		usage();
	} else if (cliserv == 0 && *remote_ip == '\0') {
		my_err("Must specify server address!\n");
		usage();
	}

	if ((tap_fd = tun_alloc(if_name, flags | IFF_NO_PI)) < 0) {
		my_err("Error connecting to tun/tap interface %s!\n", if_name);
		exit(1);
	}
	do_debug("Successfully connected to interface %s\n", if_name);

	if ((sock_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
		perror("socket()");
		exit(1);
	}
	if (cliserv == 0) {
		memset(&remote, 0, sizeof(remote));
		remote.sin_family = AF_INET;
		remote.sin_addr.s_addr = inet_addr(remote_ip);
		remote.sin_port = htons(port);
		if (connect(sock_fd, (struct sockaddr *)&remote, sizeof(remote)) < 0) {
			perror("connect()");
			exit(1);
		}
		net_fd = sock_fd;
		do_debug("CLIENT: Connected to server %s\n", inet_ntoa(remote.sin_addr));
	} else {
		if (setsockopt(sock_fd, SOL_SOCKET, SO_REUSEADDR, &optval, sizeof(optval)) < 0) {
			perror("setsockopt()");
			exit(1);
		}
		memset(&local, 0, sizeof(local));
		local.sin_family = AF_INET;
		local.sin_addr.s_addr = htonl(INADDR_ANY);
		local.sin_port = htons(port);
		if (bind(sock_fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
			perror("bind()");
			exit(1);
		}
		if (listen(sock_fd, 5) < 0) {
			perror("listen()");
			exit(1);
		}
		remotelen = sizeof(remote);
		memset(&remote, 0, remotelen);
		if ((net_fd = accept(sock_fd, (struct sockaddr *)&remote, &remotelen)) < 0) {
			perror("accept()");
			exit(1);
		}
		do_debug("SERVER: Client connected from %s\n", inet_ntoa(remote.sin_addr));
	}

	maxfd = tap_fd > net_fd ? tap_fd : net_fd;
	for (;;) {
		fd_set rd_set;
		int ret;

		FD_ZERO(&rd_set);
		FD_SET(tap_fd, &rd_set);
		FD_SET(net_fd, &rd_set);
		ret = select(maxfd + 1, &rd_set, NULL, NULL, NULL);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0) {
			perror("select()");
			exit(1);
		}

		if (FD_ISSET(tap_fd, &rd_set)) {
			nread = cread(tap_fd, buffer, BUFSIZE);
			tap2net++;
			do_debug("TAP2NET %lu: Read %d bytes from the tap interface\n", tap2net, nread);
			plength = htons(nread);
			nwrite = cwrite(net_fd, (char *)&plength, sizeof(plength));
			nwrite = cwrite(net_fd, buffer, nread);
			do_debug("TAP2NET %lu: Written %d bytes to the network\n", tap2net, nwrite);
		}

		if (FD_ISSET(net_fd, &rd_set)) {
			nread = read_n(net_fd, (char *)&plength, sizeof(plength));
			if (nread == 0)
				break;   /* the other side went away */
			net2tap++;
			if (ntohs(plength) > BUFSIZE) {
				/* The bounds check the tutorial's program lacks. */
				my_err("NET2TAP %lu: frame of %u bytes is larger than the buffer, exiting\n",
				       net2tap, ntohs(plength));
				exit(1);
			}
			nread = read_n(net_fd, buffer, ntohs(plength));
			do_debug("NET2TAP %lu: Read %d bytes from the network\n", net2tap, nread);
			nwrite = cwrite(tap_fd, buffer, nread);
			do_debug("NET2TAP %lu: Written %d bytes to the tap interface\n", net2tap, nwrite);
		}
	}
	return 0;
}
