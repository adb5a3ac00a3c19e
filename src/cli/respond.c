/* culvert respond: "emulate the target" from the tutorial. Answers ICMP and ICMPv6 echo
 * requests for any address routed into the device and, on tap, ARP requests and neighbour
 * solicitations with a MAC of its own, so the kernel believes a host sits behind the device. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <ifaddrs.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/devio.h"
#include "lib/ifname.h"
#include "lib/log.h"
#include "lib/packet.h"
#include "lib/tun.h"

enum { BUF_LEN = 65536 + 256, MAX_LOCAL = 64 };

struct respond {
	const char *name;
	struct devio dev;
	bool tap, tap_given, verbose;
	uint8_t mac[6];
	unsigned long count;
	unsigned long answered, ignored, malformed;
	/* The device's own addresses: the kernel answers for those, we must not. */
	struct { int version; uint8_t a[16]; } local[MAX_LOCAL];
	size_t nlocal;
	time_t local_at;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: culvert respond NAME [--tap] [--mac MAC] [-c COUNT] [-v]\n"
		"Answer ICMP and ICMPv6 echo requests for any address routed into tun/tap device NAME\n"
		"(created, not persistent, if missing); on tap also ARP and neighbour solicitations.\n"
		"An existing device keeps its mode and flags.\n"
		"  --tap              the device is tap (default: tun, or the existing device's mode)\n"
		"  --mac MAC          the emulated host's MAC on tap (default: derived from NAME, locally administered)\n"
		"  -c, --count COUNT  exit after answering COUNT requests\n"
		"  -v, --verbose      print every packet and what was done with it\n"
		"See culvert-respond(8).\n");
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return !(mac[0] & 1); /* a multicast address cannot own an IP address */
}

/* 02:63:76 ("cv", locally administered) plus 24 bits of FNV-1a over the device name. */
static void derive_mac(const char *name, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (const char *c = name; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	mac[0] = 0x02; mac[1] = 0x63; mac[2] = 0x76;
	mac[3] = (uint8_t)(h >> 16); mac[4] = (uint8_t)(h >> 8); mac[5] = (uint8_t)h;
}

static void load_local(struct respond *r)
{
	struct ifaddrs *ifa, *i;
	time_t now = time(NULL);

	if (r->local_at == now)
		return;
	r->local_at = now;
	r->nlocal = 0;
	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i && r->nlocal < MAX_LOCAL; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, r->name))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			r->local[r->nlocal].version = 4;
			memcpy(r->local[r->nlocal++].a, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			r->local[r->nlocal].version = 6;
			memcpy(r->local[r->nlocal++].a, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
		}
	}
	freeifaddrs(ifa);
}

static bool is_local(struct respond *r, int version, const uint8_t *a)
{
	load_local(r);
	for (size_t i = 0; i < r->nlocal; i++)
		if (r->local[i].version == version && !memcmp(r->local[i].a, a, version == 4 ? 4 : 16))
			return true;
	return false;
}

/* The reply to one packet, or 0 to ignore it. */
static size_t answer(struct respond *r, const uint8_t *p, const struct pkt_info *pi, uint8_t *out, size_t cap)
{
	if (pi->l3 == PKT_L3_IP4 || pi->l3 == PKT_L3_IP6) {
		if (pi->has_l4 && (pi->icmp_type == PKT_ICMP_ECHO_REQUEST || pi->icmp_type == PKT_ICMP6_ECHO_REQUEST))
			return pkt_build_echo_reply(p, pi, r->tap ? r->mac : NULL, out, cap);
		if (r->tap && pi->has_l4 && pi->proto == PKT_IPPROTO_ICMPV6 && pi->icmp_type == PKT_ICMP6_NS &&
		    !is_local(r, 6, pi->nd_target))
			return pkt_build_neigh_adv(p, pi, r->mac, out, cap);
		return 0;
	}
	if (pi->l3 == PKT_L3_ARP && r->tap && !is_local(r, 4, pi->arp_tpa))
		return pkt_build_arp_reply(p, pi, r->mac, out, cap);
	return 0;
}

static int parse_args(int argc, char **argv, struct respond *r)
{
	static const struct option longopts[] = {
		{ "tap", no_argument, NULL, 't' }, { "mac", required_argument, NULL, 'm' },
		{ "count", required_argument, NULL, 'c' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	bool mac_given = false;
	uint64_t v;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 't': r->tap_given = true; break;
		case 'v': r->verbose = true; break;
		case 'm':
			if (!parse_mac(optarg, r->mac)) {
				fprintf(stderr, "culvert respond: bad MAC '%s': give a unicast address like 02:00:00:00:00:01\n", optarg);
				return -1;
			}
			mac_given = true;
			break;
		case 'c':
			if (!cli_uint(optarg, 1, ULONG_MAX, &v)) {
				fprintf(stderr, "culvert respond: bad count '%s': give a positive number\n", optarg);
				return -1;
			}
			r->count = (unsigned long)v;
			break;
		case 'h': usage(stdout); return 1;
		default:	/* ':' or '?' */
			cli_option_error("respond", c, argv);
			return -1;
		}
	}
	if (optind != argc - 1 || !ifname_valid(argv[optind])) {
		fprintf(stderr, "culvert respond: give exactly one device NAME of " IFNAME_RULE "; run 'culvert respond --help'\n");
		return -1;
	}
	r->name = argv[optind];
	if (!mac_given)
		derive_mac(r->name, r->mac);
	return 0;
}

static int attach(struct respond *r)
{
	int ret = devio_attach("culvert respond", r->name, r->tap_given, false, &r->dev);

	if (ret < 0)
		return ret;
	r->tap = r->dev.tap;
	devio_note_created("culvert respond", &r->dev);
	return r->dev.fd;
}

static void note(const struct respond *r, const char *what, const struct pkt_info *pi)
{
	char line[512];

	if (!r->verbose)
		return;
	pkt_summary(pi, line, sizeof(line));
	printf("%s %zu bytes: %s\n", what, pi->len, line);
}

int cmd_respond(int argc, char **argv)
{
	static uint8_t buf[BUF_LEN], out[BUF_LEN];
	struct respond r = { 0 };
	int fd, sfd, ret, rc = CLI_EXIT_OK;
	size_t hdr;

	ret = parse_args(argc, argv, &r);
	if (ret)
		return ret > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	fd = attach(&r);
	if (fd < 0)
		return CLI_EXIT_FAIL;
	hdr = devio_hdr_len(&r.dev);
	sfd = devio_signal_fd();
	if (sfd < 0) {
		fprintf(stderr, "culvert respond: signalfd: %s\n", strerror(-sfd));
		close(fd);
		return CLI_EXIT_FAIL;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_set_prefix("culvert respond");

	while (!r.count || r.answered < r.count) {
		struct pkt_info pi;
		ssize_t n;
		size_t len;

		n = devio_read("culvert respond", r.name, fd, sfd, buf, sizeof(buf));
		if (n == -EINTR)
			break;
		if (n < 0) {
			rc = CLI_EXIT_FAIL;
			break;
		}
		/* Headers the device puts in front (pi, virtio_net_hdr) carry nothing to answer. */
		if ((size_t)n < hdr) {
			r.malformed++;
			continue;
		}
		if (!pkt_parse(buf + hdr, (size_t)n - hdr, r.tap, &pi)) {
			r.malformed++;
			note(&r, "malformed", &pi);
			continue;
		}
		len = answer(&r, buf + hdr, &pi, out, sizeof(out));
		if (!len) {
			r.ignored++;
			note(&r, "ignored", &pi);
			continue;
		}
		if (devio_write(&r.dev, out, len) != (ssize_t)len) {
			log_ratelimited(LOG_LVL_WARN, "writing a reply to %s: %s", r.name, strerror(errno));
			r.ignored++;
			continue;
		}
		r.answered++;
		note(&r, "answered", &pi);
	}
	fflush(stdout);
	fprintf(stderr, "answered %lu, ignored %lu, malformed %lu\n", r.answered, r.ignored, r.malformed);
	close(sfd);
	close(fd);
	return rc;
}
