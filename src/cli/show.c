/* culvert show [IFACE] [--json | --format FMT]: what `wg show` prints, plus culvert's drop
 * counters and active offloads from the culvert_* keys of the get response (see
 * wg/uapi_client.h); Prometheus metrics in show_prom.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "cli/cli_util.h"
#include "cli/json.h"
#include "cli/show.h"
#include "lib/addr.h"
#include "lib/ifname.h"
#include "lib/netlink.h"
#include "wg/crypto.h"
#include "wg/key.h"
#include "wg/uapi_client.h"

enum { GET_TIMEOUT_MS = 3000 };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: culvert show [IFACE] [-j|--json] [--format text|json|prometheus]\n"
		"\n"
		"Shows a culvert (or wireguard-go) interface like `wg show`: public key, listening\n"
		"port, fwmark, and per peer the endpoint, allowed IPs, latest handshake, transfer and\n"
		"persistent keepalive; for culvert interfaces also drop counters by reason and the\n"
		"active offloads. Without IFACE, every interface of this network namespace that has\n"
		"a control socket in %s.\n"
		"\n"
		"  -j, --json   one JSON document: {\"interfaces\": [...]}\n"
		"  --format prometheus\n"
		"               Prometheus text exposition (for node_exporter's textfile\n"
		"               collector): per-peer bytes, latest handshake, endpoint, and\n"
		"               every drop counter with its reason as a label\n"
		"\n"
		"See culvert-up(8).\n", UAPI_SOCKET_DIR);
}

static void print_ago(uint64_t sec)
{
	time_t now = time(NULL);
	uint64_t left;
	static const struct { const char *unit; uint64_t len; } units[] = {
		{ "year", 365 * 24 * 3600ULL }, { "day", 24 * 3600 }, { "hour", 3600 },
		{ "minute", 60 }, { "second", 1 },
	};
	bool first = true;

	if ((uint64_t)now < sec) {
		printf("in the future (clock changed?)\n");
		return;
	}
	left = (uint64_t)now - sec;
	if (!left) {
		printf("Now\n");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t n = left / units[i].len;

		if (!n)
			continue;
		left %= units[i].len;
		printf("%s%llu %s%s", first ? "" : ", ", (unsigned long long)n, units[i].unit, n == 1 ? "" : "s");
		first = false;
	}
	printf(" ago\n");
}

static void print_bytes(uint64_t b)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	size_t i;

	if (b < 1024) {
		printf("%llu B", (unsigned long long)b);
		return;
	}
	for (i = 0, v /= 1024; v >= 1024 && i < 3; i++)
		v /= 1024;
	printf("%.2f %s", v, units[i]);
}

static bool is_drop(const struct uapi_ext *e)
{
	return !strncmp(e->key, "drop_", 5);
}

/* Tap mode's switch table: culvert_fdb=MAC VLAN PORT AGE lines (PORT "local": the tap). */
struct fdb_row {
	char mac[18], port[64];
	unsigned int vid;
	unsigned long long age;
};

static bool fdb_row(const struct uapi_ext *e, struct fdb_row *r)
{
	return !strcmp(e->key, "fdb") &&
	       sscanf(e->value, "%17s %u %63s %llu", r->mac, &r->vid, r->port, &r->age) == 4;
}

static void print_fdb(const struct uapi_ext *ext, size_t n)
{
	struct fdb_row r;
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		if (!fdb_row(&ext[i], &r))
			continue;
		if (!any)
			printf("  switch table:\n    %-17s  %4s  %-44s  %s\n", "MAC", "VLAN", "PORT", "AGE");
		any = true;
		printf("    %-17s  %4u  %-44s  %llus\n", r.mac, r.vid, r.port, r.age);
	}
}

/* "fdb": [...] on a tap-mode interface (even when empty), nothing in tun mode. */
static void json_fdb(const struct uapi_ext *ext, size_t n)
{
	struct fdb_row r;
	bool first = true, tap = false;

	for (size_t i = 0; i < n; i++)
		tap |= !strcmp(ext[i].key, "mode") && !strcmp(ext[i].value, "tap");
	if (!tap)
		return;
	printf(", \"fdb\": [");
	for (size_t i = 0; i < n; i++) {
		if (!fdb_row(&ext[i], &r))
			continue;
		printf("%s{\"mac\": ", first ? "" : ", ");
		json_str(r.mac);
		printf(", \"vlan\": %u, \"peer\": ", r.vid);
		if (strcmp(r.port, "local"))
			json_str(r.port);
		else
			printf("null");
		printf(", \"age\": %llu}", r.age);
		first = false;
	}
	printf("]");
}

/* drops (nonzero only), offloads and any other culvert_* lines, at the given indent. */
static void print_ext(const struct uapi_ext *ext, size_t n)
{
	bool any_off = false, any_drop = false;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(ext[i].key, "offload"))
			continue;
		printf("%s%s", any_off ? ", " : "  offload: ", ext[i].value);
		any_off = true;
	}
	if (any_off)
		printf("\n");
	for (size_t i = 0; i < n; i++) {
		if (!is_drop(&ext[i]))
			continue;
		if (!any_drop)
			printf("  drops:");
		any_drop = true;
		if (strcmp(ext[i].value, "0"))
			printf("\n    %s: %s", ext[i].key + 5, ext[i].value);
	}
	if (any_drop) {
		bool nonzero = false;

		for (size_t i = 0; i < n; i++)
			nonzero |= is_drop(&ext[i]) && strcmp(ext[i].value, "0");
		printf(nonzero ? "\n" : " none\n");
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(ext[i].key, "offload") && !is_drop(&ext[i]) && strcmp(ext[i].key, "fdb"))
			printf("  %s: %s\n", ext[i].key, ext[i].value);
	print_fdb(ext, n);
}

static void print_text(const char *name, const struct uapi_device_state *d, bool first)
{
	char b64[KEY_B64_LEN + 1], cidr[64];
	uint8_t pub[32];

	printf("%sinterface: %s\n", first ? "" : "\n", name);
	if (d->has_private_key && crypto_x25519_pub(pub, d->private_key)) {
		key_to_base64(b64, pub);
		printf("  public key: %s\n  private key: (hidden)\n", b64);
	}
	if (d->listen_port)
		printf("  listening port: %u\n", d->listen_port);
	if (d->fwmark)
		printf("  fwmark: 0x%x\n", d->fwmark);
	print_ext(d->ext, d->n_ext);
	for (size_t i = 0; i < d->n_peers; i++) {
		const struct uapi_peer_state *p = &d->peers[i];

		key_to_base64(b64, p->public_key);
		printf("\npeer: %s\n", b64);
		if (p->has_preshared_key)
			printf("  preshared key: (hidden)\n");
		if (p->endpoint[0])
			printf("  endpoint: %s\n", p->endpoint);
		printf("  allowed ips: ");
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			addr_cidr_str(p->allowed_ips[j].family, p->allowed_ips[j].addr, p->allowed_ips[j].cidr,
				      cidr, sizeof(cidr));
			printf("%s%s", j ? ", " : "", cidr);
		}
		printf("%s\n", p->n_allowed_ips ? "" : "(none)");
		if (p->last_handshake_sec) {
			printf("  latest handshake: ");
			print_ago(p->last_handshake_sec);
		}
		if (p->rx_bytes || p->tx_bytes) {
			printf("  transfer: ");
			print_bytes(p->rx_bytes);
			printf(" received, ");
			print_bytes(p->tx_bytes);
			printf(" sent\n");
		}
		if (p->persistent_keepalive)
			printf("  persistent keepalive: every %u second%s\n", p->persistent_keepalive,
			       p->persistent_keepalive == 1 ? "" : "s");
		print_ext(p->ext, p->n_ext);
	}
}

static bool is_uint(const char *s)
{
	if (!*s || strlen(s) > 19)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void json_ext(const struct uapi_ext *ext, size_t n)
{
	bool first = true;

	printf(", \"drops\": {");
	for (size_t i = 0; i < n; i++) {
		if (!is_drop(&ext[i]))
			continue;
		printf("%s", first ? "" : ", ");
		json_str(ext[i].key + 5);
		printf(": ");
		if (is_uint(ext[i].value))
			printf("%s", ext[i].value);
		else
			json_str(ext[i].value);
		first = false;
	}
	printf("}, \"offload\": [");
	first = true;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ext[i].key, "offload"))
			continue;
		printf("%s", first ? "" : ", ");
		json_str(ext[i].value);
		first = false;
	}
	printf("], \"culvert\": {");
	first = true;
	for (size_t i = 0; i < n; i++) {
		if (is_drop(&ext[i]) || !strcmp(ext[i].key, "offload") || !strcmp(ext[i].key, "fdb"))
			continue;
		printf("%s", first ? "" : ", ");
		json_str(ext[i].key);
		printf(": ");
		json_str(ext[i].value);
		first = false;
	}
	printf("}");
	json_fdb(ext, n);
}

static void print_json(const char *name, const struct uapi_device_state *d, bool first)
{
	char b64[KEY_B64_LEN + 1], cidr[64];
	uint8_t pub[32];

	printf("%s\n    {\"name\": ", first ? "" : ",");
	json_str(name);
	if (d->has_private_key && crypto_x25519_pub(pub, d->private_key)) {
		key_to_base64(b64, pub);
		printf(", \"public_key\": \"%s\"", b64);
	} else {
		printf(", \"public_key\": null");
	}
	printf(", \"listen_port\": %u, \"fwmark\": %u", d->listen_port, d->fwmark);
	json_ext(d->ext, d->n_ext);
	printf(", \"peers\": [");
	for (size_t i = 0; i < d->n_peers; i++) {
		const struct uapi_peer_state *p = &d->peers[i];
		time_t now = time(NULL);

		key_to_base64(b64, p->public_key);
		printf("%s\n      {\"public_key\": \"%s\", \"preshared_key\": %s, \"endpoint\": ",
		       i ? "," : "", b64, p->has_preshared_key ? "true" : "false");
		if (p->endpoint[0])
			json_str(p->endpoint);
		else
			printf("null");
		printf(", \"allowed_ips\": [");
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			addr_cidr_str(p->allowed_ips[j].family, p->allowed_ips[j].addr, p->allowed_ips[j].cidr,
				      cidr, sizeof(cidr));
			printf("%s\"%s\"", j ? ", " : "", cidr);
		}
		printf("], \"latest_handshake\": %llu, \"latest_handshake_ago\": ",
		       (unsigned long long)p->last_handshake_sec);
		if (p->last_handshake_sec && (uint64_t)now >= p->last_handshake_sec)
			printf("%llu", (unsigned long long)((uint64_t)now - p->last_handshake_sec));
		else
			printf("null");
		printf(", \"rx_bytes\": %llu, \"tx_bytes\": %llu, \"persistent_keepalive\": %u",
		       (unsigned long long)p->rx_bytes, (unsigned long long)p->tx_bytes,
		       p->persistent_keepalive);
		json_ext(p->ext, p->n_ext);
		printf("}");
	}
	printf("%s]}", d->n_peers ? "\n    " : "");
}

enum show_format { FMT_TEXT, FMT_JSON, FMT_PROM };

/* Prometheus wants each family once over all interfaces: states are kept until the end. */
static struct show_iface *prom;
static size_t n_prom, cap_prom;

static int show_one(const char *name, enum show_format fmt, bool first, bool quiet_missing)
{
	struct uapi_device_state d;
	int r;

	if (fmt == FMT_PROM && n_prom == cap_prom) {
		struct show_iface *p = realloc(prom, (cap_prom * 2 + 8) * sizeof(*p));

		if (!p) {
			fprintf(stderr, "culvert show: out of memory\n");
			return -1;
		}
		prom = p;
		cap_prom = cap_prom * 2 + 8;
	}
	r = uapi_client_get_ext(NULL, name, &d, GET_TIMEOUT_MS);

	if (r < 0) {
		if (quiet_missing && (r == -ENOENT || r == -ECONNREFUSED))
			return 1;	/* its daemon went away while we listed */
		if (r == -ENOENT || r == -ECONNREFUSED)
			fprintf(stderr, "culvert show: %s is not a running culvert interface (no one serves %s/%s.sock)\n",
				name, UAPI_SOCKET_DIR, name);
		else if (r == -EACCES || r == -EPERM)
			fprintf(stderr, "culvert show: %s: permission denied on %s/%s.sock (run as root)\n",
				name, UAPI_SOCKET_DIR, name);
		else
			fprintf(stderr, "culvert show: %s: cannot read its state: %s\n", name, strerror(-r));
		return -1;
	}
	if (fmt == FMT_PROM) {
		/* the name list is freed before the metrics are printed */
		char *copy = strdup(name);

		if (!copy) {
			uapi_device_state_free(&d);
			fprintf(stderr, "culvert show: out of memory\n");
			return -1;
		}
		prom[n_prom++] = (struct show_iface){ copy, d };
		return 0;
	}
	if (fmt == FMT_JSON)
		print_json(name, &d, first);
	else
		print_text(name, &d, first);
	uapi_device_state_free(&d);
	return 0;
}

int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	enum show_format fmt = FMT_TEXT;
	bool first = true;
	char **names = NULL;
	int c, r, failed = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': fmt = FMT_JSON; break;
		case 'F':
			if (!strcmp(optarg, "text")) {
				fmt = FMT_TEXT;
			} else if (!strcmp(optarg, "json")) {
				fmt = FMT_JSON;
			} else if (!strcmp(optarg, "prometheus")) {
				fmt = FMT_PROM;
			} else {
				fprintf(stderr, "culvert show: --format '%s' is not text, json or prometheus\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return CLI_EXIT_OK;
		default:
			cli_option_error("show", c, argv);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "culvert show: give at most one IFACE; run 'culvert show --help'\n");
		return CLI_EXIT_USAGE;
	}
	/* the name becomes a path under UAPI_SOCKET_DIR: no '/' may reach it */
	if (optind < argc && !ifname_valid(argv[optind])) {
		fprintf(stderr, "culvert show: '%s' is not a valid interface name: use " IFNAME_RULE "\n", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (fmt == FMT_JSON)
		printf("{\"interfaces\": [");
	if (optind < argc) {
		r = show_one(argv[optind], fmt, true, false);
		failed = r < 0;
		first = r != 0;
	} else {
		r = uapi_client_list(NULL, &names);
		if (r < 0) {
			fprintf(stderr, "culvert show: cannot list %s: %s\n", UAPI_SOCKET_DIR, strerror(-r));
			return CLI_EXIT_FAIL;
		}
		for (char **n = names; *n; n++) {
			/* The socket directory is shared by every network namespace: show only
			 * the interfaces that live in ours. */
			if (nl_link_index(*n) < 0)
				continue;
			r = show_one(*n, fmt, first, true);
			failed |= r < 0;
			if (r == 0)
				first = false;
		}
		uapi_client_free_list(names);
	}
	if (fmt == FMT_JSON)
		printf("%s]}\n", first ? "" : "\n  ");
	if (fmt == FMT_PROM && !failed)	/* a scraper takes a partial file for the whole */
		show_prom(prom, n_prom);
	for (size_t i = 0; i < n_prom; i++) {
		uapi_device_state_free(&prom[i].d);
		free(prom[i].name);
	}
	free(prom);
	return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
