/* culvert reresolve: endpoints given as names follow the name when handshakes to them stop, as
 * wireguard-tools' contrib reresolve-dns does. The daemon only ever holds addresses (the
 * control protocol has no names), so this runs beside it as a client of its control socket:
 * for each peer of FILE whose Endpoint is a name, read its latest handshake and received bytes;
 * when it has had no handshake for CULVERT_RERESOLVE_AFTER seconds (135) and sent us nothing
 * since the last look, resolve the name, and if it now gives another address than the
 * endpoint the daemon uses, set that one. `culvert up` starts `--watch`, which looks every
 * quarter of that time (at most 30 s) and ends when the interface goes. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/capability.h>

#include "cli/cli_util.h"
#include "cli/up.h"
#include "lib/addr.h"
#include "lib/log.h"
#include "lib/priv.h"
#include "lib/netlink.h"
#include "wg/key.h"
#include "wg/uapi_client.h"

enum { AFTER_DEFAULT_S = 135, PERIOD_MAX_S = 30 };

/* What one peer had received at the last look: traffic from it proves its endpoint. */
struct seen {
	uint8_t public_key[32];
	uint64_t rx_bytes;
};

struct watch {
	const char *name, *path;
	unsigned int after;
	struct seen *seen;
	size_t n_seen;
	char last_err[512];	/* the last problem logged, so a lasting one is logged once */
};

/* CULVERT_RERESOLVE_AFTER: seconds, or 0/off for none. false on bad text. */
static bool after_from_env(unsigned int *after)
{
	const char *s = getenv("CULVERT_RERESOLVE_AFTER");
	uint64_t v;

	*after = AFTER_DEFAULT_S;
	if (!s || !*s)
		return true;
	if (!strcmp(s, "off")) {
		*after = 0;
		return true;
	}
	if (!config_parse_uint(s, strlen(s), 86400, &v))
		return false;
	*after = (unsigned int)v;
	return true;
}

bool up_has_endpoint_names(const struct config *c)
{
	for (size_t i = 0; i < c->n_peers; i++)
		if (c->peers[i].has_endpoint && up_endpoint_is_name(c->peers[i].endpoint_host))
			return true;
	return false;
}

/* A problem that lasts (an unreadable file) is logged when it starts, not every round. */
static void note(struct watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct watch *w, const char *fmt, ...)
{
	char msg[sizeof(w->last_err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, w->last_err))
		log_warn("%s", msg);
	memcpy(w->last_err, msg, sizeof(msg));
}

/* The daemon's "ADDR:PORT" text as an address; IPv4-mapped IPv6 taken as IPv4. */
static bool parse_current(const char *text, struct sockaddr_storage *ss)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_DGRAM }, *res;
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	uint16_t port;

	if (!*text || !config_parse_endpoint(text, strlen(text), host, sizeof(host), &port) ||
	    getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen < sizeof(*ss) ? res->ai_addrlen : sizeof(*ss));
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	return true;
}

static void unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

static bool same_endpoint(struct sockaddr_storage a, struct sockaddr_storage b)
{
	unmap(&a);
	unmap(&b);
	if (a.ss_family != b.ss_family)
		return false;
	if (a.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a, *y = (const void *)&b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)&a, *y = (const void *)&b;

	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16) &&
	       x->sin6_scope_id == y->sin6_scope_id;
}

static const struct uapi_peer_state *find_peer(const struct uapi_device_state *d, const uint8_t key[32])
{
	for (size_t i = 0; i < d->n_peers; i++)
		if (!memcmp(d->peers[i].public_key, key, 32))
			return &d->peers[i];
	return NULL;
}

/* true when the peer sent anything since the last look (and remembers what it had). */
static bool heard_from(struct watch *w, const struct uapi_peer_state *p)
{
	for (size_t i = 0; i < w->n_seen; i++) {
		if (memcmp(w->seen[i].public_key, p->public_key, 32))
			continue;
		bool heard = p->rx_bytes != w->seen[i].rx_bytes;

		w->seen[i].rx_bytes = p->rx_bytes;
		return heard;
	}
	struct seen *n = realloc(w->seen, (w->n_seen + 1) * sizeof(*n));

	if (n) {
		w->seen = n;
		memcpy(n[w->n_seen].public_key, p->public_key, 32);
		n[w->n_seen++].rx_bytes = p->rx_bytes;
	}
	return false;
}

static int set_endpoint(const char *name, const uint8_t key[32], const char *endpoint)
{
	struct uapi_buf req = { 0 };
	char hex[KEY_HEX_LEN + 1];
	int r;

	key_to_hex(hex, key);
	uapi_buf_printf(&req, "set=1\npublic_key=%s\nendpoint=%s\n\n", hex, endpoint);
	r = req.oom ? -ENOMEM : uapi_client_set(NULL, name, req.data, req.len, UP_TIMEOUT_MS);
	uapi_buf_free(&req);
	return r;
}

/* One peer of the file whose endpoint is a name: 1 when its endpoint was set, 0 when left. */
static int check_peer(struct watch *w, const struct config_peer *cp, const struct uapi_peer_state *p, time_t now)
{
	struct sockaddr_storage want, cur;
	char text[ADDR_STRLEN], b64[KEY_B64_LEN + 1];
	bool heard = heard_from(w, p);
	uint64_t age = p->last_handshake_sec && (uint64_t)now > p->last_handshake_sec ?
		       (uint64_t)now - p->last_handshake_sec : 0;
	int r;

	if ((p->last_handshake_sec && age <= w->after) || heard)
		return 0;
	key_to_base64(b64, cp->public_key);
	r = up_resolve_once(cp->endpoint_host, cp->endpoint_port, &want);
	if (r != 0) {
		/* Next round tries again: that is the retry. */
		log_debug("peer %s: '%s' does not resolve: %s", b64, cp->endpoint_host, gai_strerror(r));
		return 0;
	}
	if (parse_current(p->endpoint, &cur) && same_endpoint(want, cur))
		return 0;
	addr_sockaddr_str((const struct sockaddr *)&want, true, text, sizeof(text));
	r = set_endpoint(w->name, cp->public_key, text);
	if (r < 0) {
		log_warn("peer %s: cannot set the endpoint %s: %s", b64, text, strerror(-r));
		return 0;
	}
	if (p->last_handshake_sec)
		log_info("peer %s: no handshake for %llu s and '%s' now resolves to %s (was %s): endpoint set",
			 b64, (unsigned long long)age, cp->endpoint_host, text, *p->endpoint ? p->endpoint : "none");
	else
		log_info("peer %s: no handshake yet and '%s' now resolves to %s (was %s): endpoint set",
			 b64, cp->endpoint_host, text, *p->endpoint ? p->endpoint : "none");
	return 1;
}

/* One look at every named endpoint; the number of endpoints set, or -errno. */
static int pass(struct watch *w)
{
	struct uapi_device_state d;
	struct config c;
	char err[512];
	int r, n = 0;

	r = config_load(&c, w->path, CONFIG_WG_QUICK, err, sizeof(err));
	if (r < 0) {
		note(w, "cannot read the configuration: %s", err);
		return r;
	}
	r = uapi_client_get(NULL, w->name, &d, UP_TIMEOUT_MS);
	if (r < 0) {
		note(w, "cannot read the peers of %s: %s; is it up (culvert up)?", w->name, strerror(-r));
		config_free(&c);
		return r;
	}
	w->last_err[0] = '\0';
	time_t now = time(NULL);

	for (size_t i = 0; i < c.n_peers; i++) {
		const struct config_peer *cp = &c.peers[i];
		const struct uapi_peer_state *p;

		if (!cp->has_endpoint || !up_endpoint_is_name(cp->endpoint_host))
			continue;
		if ((p = find_peer(&d, cp->public_key)))
			n += check_peer(w, cp, p, now);
	}
	uapi_device_state_free(&d);
	config_free(&c);
	return n;
}

static void sleep_s(unsigned int s)
{
	struct timespec ts = { s, 0 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int watch(struct watch *w)
{
	unsigned int period = w->after / 4;
	int ifindex = nl_link_index(w->name);

	if (ifindex < 0) {
		log_err("there is no interface %s: bring it up first (culvert up)", w->name);
		return CLI_EXIT_FAIL;
	}
	period = period < 1 ? 1 : period > PERIOD_MAX_S ? PERIOD_MAX_S : period;
	log_info("re-resolving the endpoint names of %s after %u s without a handshake, looking every %u s",
		 w->path, w->after, period);
	for (;;) {
		sleep_s(period);
		/* The same name may be brought up again meanwhile: that is another interface. */
		if (nl_link_index(w->name) != ifindex) {
			log_info("interface %s is gone", w->name);
			return CLI_EXIT_OK;
		}
		pass(w);
	}
}

/* It parses DNS answers all day as root: keep root's uid, which owns the file and the control
 * socket, and no capability but reading a file someone else owns (a config in a user's home),
 * where there was one. */
static int drop_caps(void)
{
	static const int keep[] = { CAP_DAC_READ_SEARCH };
	unsigned long long caps = 0;

	if (geteuid() != 0)
		return 0;
	priv_effective_caps(&caps);
	return priv_drop(0, 0, keep, caps & (1ull << CAP_DAC_READ_SEARCH) ? 1 : 0);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: culvert reresolve [--watch] FILE|IFACE\n"
		"\n"
		"For each peer of the wg-quick(8) configuration FILE whose Endpoint is a host name and\n"
		"that had no handshake for CULVERT_RERESOLVE_AFTER seconds (135) nor sent anything since\n"
		"the last look: resolves the name again and, when it gives another address than the\n"
		"interface uses, sets that one (as wireguard-tools' reresolve-dns). --watch repeats\n"
		"this every quarter of that time (at most 30 s) until the interface goes; culvert up\n"
		"starts it for a file with endpoint names, with --syslog (log to syslog, not stderr).\n"
		"See culvert-up(8).\n");
}

int cmd_reresolve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "watch", no_argument, NULL, 'w' },
		{ "syslog", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char path[4096], name[IFNAMSIZ], prefix[IFNAMSIZ + 24];
	struct watch w = { .name = name, .path = path };
	bool watching = false, syslog = false;
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'w': watching = true; break;
		case 's': syslog = true; break;
		case 'h': usage(stdout); return CLI_EXIT_OK;
		default: cli_option_error("reresolve", c, argv); return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!up_target("reresolve", argv[optind], path, sizeof(path), name))
		return CLI_EXIT_USAGE;
	if (!after_from_env(&w.after)) {
		fprintf(stderr, "culvert reresolve: CULVERT_RERESOLVE_AFTER='%s' is not a number of seconds (0-86400) "
			"nor off; fix or unset it\n", getenv("CULVERT_RERESOLVE_AFTER"));
		return CLI_EXIT_USAGE;
	}
	snprintf(prefix, sizeof(prefix), "culvert reresolve %s", name);
	log_set_prefix(prefix);
	if (syslog)
		log_use_syslog(true);
	if (!w.after) {
		log_info("CULVERT_RERESOLVE_AFTER is off: nothing to do");
		return CLI_EXIT_OK;
	}
	if ((r = drop_caps()) < 0) {
		log_err("cannot give up capabilities: %s", strerror(-r));
		return CLI_EXIT_FAIL;
	}
	if (watching)
		r = watch(&w);
	else
		r = pass(&w) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	free(w.seen);
	return r;
}

int up_reresolve_start(const char *path)
{
	char *args[] = { "culvert", "reresolve", "--watch", "--syslog", (char *)path, NULL };
	unsigned int after;

	if (!after_from_env(&after) || !after)
		return 0;	/* said by the watcher, were it started; off is off */
	/* No terminal and a session of its own: it logs to syslog, as the daemon does once
	 * detached. */
	return cli_spawn_self(args, true);
}
