/* culvert dump: the tutorial's "Read 84 bytes from device" loop, decoded. Attaches to (or
 * creates, non-persistent) a tun/tap device and prints one line per packet, optionally a hex
 * dump and a pcap file that tcpdump and tshark read. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_net.h>

#include "cli/cli_util.h"
#include "cli/devio.h"
#include "lib/ifname.h"
#include "lib/packet.h"
#include "lib/pcap.h"
#include "lib/tun.h"

enum { BUF_LEN = 65536 + 256 };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: culvert dump NAME [--tap] [--hex] [--pcap FILE] [-c COUNT] [--pi] [-q]\n"
		"Attach to tun/tap device NAME (created, not persistent, if missing) and print each\n"
		"packet as \"LEN bytes: SUMMARY\". An existing device keeps its mode and flags.\n"
		"  --tap              the device is tap (default: tun, or the existing device's mode)\n"
		"  --hex              add a hex and ASCII dump of every packet\n"
		"  -w, --pcap FILE    write packets to FILE in pcap format (- for stdout; lines go to stderr)\n"
		"  -c, --count COUNT  stop after COUNT packets\n"
		"  --pi               open with the 4-byte packet information header (stripped from output)\n"
		"  -q, --quiet        no per-packet lines, only the final count\n"
		"See culvert-dump(8).\n");
}

static void hexdump(FILE *f, const uint8_t *p, size_t len)
{
	for (size_t off = 0; off < len; off += 16) {
		char asc[17];
		size_t i;

		fprintf(f, "  %04zx ", off);
		for (i = 0; i < 16; i++) {
			if (off + i < len) {
				fprintf(f, "%s%02x", i == 8 ? "  " : " ", p[off + i]);
				asc[i] = p[off + i] >= 0x20 && p[off + i] < 0x7f ? (char)p[off + i] : '.';
			} else {
				fprintf(f, "%s  ", i == 8 ? "  " : " ");
				asc[i] = 0;
			}
		}
		asc[len - off < 16 ? len - off : 16] = 0;
		fprintf(f, "  %s\n", asc);
	}
}

struct dump_opts {
	const char *name, *pcap;
	bool tap, hex, pi, quiet;
	unsigned long count;
};

static int parse_args(int argc, char **argv, struct dump_opts *o)
{
	static const struct option longopts[] = {
		{ "tap", no_argument, NULL, 't' }, { "hex", no_argument, NULL, 'x' },
		{ "pcap", required_argument, NULL, 'w' }, { "count", required_argument, NULL, 'c' },
		{ "pi", no_argument, NULL, 'p' }, { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	uint64_t v;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:qw:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': o->tap = true; break;
		case 'x': o->hex = true; break;
		case 'w': o->pcap = optarg; break;
		case 'p': o->pi = true; break;
		case 'q': o->quiet = true; break;
		case 'c':
			if (!cli_uint(optarg, 1, ULONG_MAX, &v)) {
				fprintf(stderr, "culvert dump: bad count '%s': give a positive number\n", optarg);
				return -1;
			}
			o->count = (unsigned long)v;
			break;
		case 'h': usage(stdout); return 1;
		default:	/* ':' or '?' */
			cli_option_error("dump", c, argv);
			return -1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "culvert dump: give exactly one device NAME (%s); run 'culvert dump --help'\n",
			optind == argc ? "none given" : "more than one given");
		return -1;
	}
	o->name = argv[optind];
	if (!ifname_valid(o->name)) {
		fprintf(stderr, "culvert dump: bad device name '%s': use " IFNAME_RULE "\n", o->name);
		return -1;
	}
	if (o->pcap && !strcmp(o->pcap, "-") && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "culvert dump: not writing pcap to a terminal; redirect it to a file or pipe it into 'tshark -r -'\n");
		return -1;
	}
	return 0;
}

int cmd_dump(int argc, char **argv)
{
	static uint8_t buf[BUF_LEN];
	struct dump_opts o = { 0 };
	struct pcap_writer pw = { .fd = -1 };
	unsigned long seen = 0, bad = 0;
	FILE *out = stdout;
	struct devio d;
	size_t hdr;
	bool tap;
	int fd, sfd, ret, rc = CLI_EXIT_OK;

	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (o.pcap && !strcmp(o.pcap, "-"))
		out = stderr;
	if (devio_attach("culvert dump", o.name, o.tap, o.pi, &d) < 0)
		return CLI_EXIT_FAIL;
	fd = d.fd;
	tap = d.tap;
	hdr = devio_hdr_len(&d);
	if (o.pcap) {
		ret = pcap_writer_open(&pw, o.pcap, tap ? PCAP_LINKTYPE_ETHERNET : PCAP_LINKTYPE_RAW, 0);
		if (ret < 0) {
			fprintf(stderr, "culvert dump: cannot write %s: %s; check the path and its directory\n",
				o.pcap, strerror(-ret));
			close(fd);
			return CLI_EXIT_FAIL;
		}
	}
	sfd = devio_signal_fd();
	if (sfd < 0) {
		fprintf(stderr, "culvert dump: signalfd: %s\n", strerror(-sfd));
		close(fd);
		pcap_writer_close(&pw);
		return CLI_EXIT_FAIL;
	}
	if (!o.quiet)
		devio_note_created("culvert dump", &d);
	setvbuf(out, NULL, _IOLBF, 0);

	while (!o.count || seen < o.count) {
		struct pkt_info pi;
		char line[512];
		const uint8_t *p = buf;
		bool partial_csum = false;
		ssize_t n;
		size_t len;

		n = devio_read("culvert dump", o.name, fd, sfd, buf, sizeof(buf));
		if (n == -EINTR)
			break;
		if (n < 0) {
			rc = CLI_EXIT_FAIL;
			break;
		}
		len = (size_t)n;
		seen++;
		if (hdr) {
			if (len < hdr) {
				bad++;
				if (!o.quiet)
					fprintf(out, "%zu bytes: shorter than the device's %zu-byte header (malformed: hdr_trunc)\n",
						len, hdr);
				continue;
			}
			/* The kernel completes such a checksum later: not an error. */
			if (d.vnet_len)
				partial_csum = p[d.pi ? 4 : 0] & VIRTIO_NET_HDR_F_NEEDS_CSUM;
			p += hdr;
			len -= hdr;
		}
		if (pw.fd >= 0 && (ret = pcap_write(&pw, NULL, p, len)) < 0) {
			fprintf(stderr, "culvert dump: writing %s: %s\n", o.pcap, strerror(-ret));
			rc = CLI_EXIT_FAIL;
			break;
		}
		if (!pkt_parse(p, len, tap, &pi))
			bad++;
		if (o.quiet)
			continue;
		pkt_summary(&pi, line, sizeof(line));
		fprintf(out, "%zu bytes: %s", len, line);
		if (pi.err != PKT_OK) {
			fprintf(out, " (malformed: %s)", pkt_err_name(pi.err));
		} else {
			unsigned int c = partial_csum ? 0 : pkt_verify_checksums(p, &pi);

			if (c)
				fprintf(out, " [bad %s checksum]", c & PKT_BAD_IP_CSUM ? "IP" : "upper-layer");
		}
		fputc('\n', out);
		if (o.hex)
			hexdump(out, p, len);
	}
	fflush(out);
	fprintf(stderr, "%lu packet%s captured, %lu malformed\n", seen, seen == 1 ? "" : "s", bad);
	pcap_writer_close(&pw);
	close(sfd);
	close(fd);
	return rc;
}
