/* The tutorial's first program, on libculvert: attach to a tun device, decode what arrives.
 *   cc tunread.c $(pkg-config --cflags --libs --static libculvert) -o tunread
 *   ./tunread tun0 [COUNT] */
#include <culvert.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct tun_opts o = { .mode = TUN_MODE_TUN };
	char name[IFNAMSIZ], why[256], line[256];
	uint8_t buf[65536];
	long count = argc > 2 ? atol(argv[2]) : -1;
	int fd, r;

	if (argc < 2) {
		fprintf(stderr, "usage: %s IFACE [COUNT]\n", argv[0]);
		return 2;
	}
	r = tun_open(argv[1], &o, name, &fd);
	if (r < 0) {
		fprintf(stderr, "%s\n", tun_explain(r, argv[1], &o, why, sizeof(why)));
		return 1;
	}
	while (count--) {
		struct pkt_info pi;
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			perror("read");
			return 1;
		}
		pkt_parse(buf, (size_t)n, false, &pi);
		pkt_summary(&pi, line, sizeof(line));
		printf("Read %zd bytes from %s: %s\n", n, name, line);
		fflush(stdout);
	}
	close(fd);
	return 0;
}
