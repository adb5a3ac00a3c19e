/* WireGuard userspace control protocol: the lines of a set applied (a get's response is
 * uapi_emit.c, connections and their framing uapi_conn.c, the unix socket uapi_socket.c).
 * Behaviour (keys, values, errno numbers) follows wireguard-go, since that is what `wg` and
 * wg-quick are tested against. */
#include "uapi.h"
#include "config.h"
#include "key.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* ---- set=1 ---- */

static bool is_true(const char *v, size_t len)
{
	return len == 4 && !memcmp(v, "true", 4);
}

static bool parse_endpoint(const char *v, size_t len, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], *pct;
	uint16_t port;

	if (!config_parse_endpoint(v, len, host, sizeof(host), &port))
		return false;
	memset(ss, 0, sizeof(*ss));
	if (!strchr(host, ':')) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return false;		/* the socket takes numeric addresses only */
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*sl = sizeof(*s4);
		return true;
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	if ((pct = strchr(host, '%'))) {
		uint64_t id;

		*pct++ = '\0';
		if (config_parse_uint(pct, strlen(pct), UINT32_MAX, &id))
			s6->sin6_scope_id = (uint32_t)id;
		else if (!(s6->sin6_scope_id = if_nametoindex(pct)))
			return false;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
		return false;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	*sl = sizeof(*s6);
	return true;
}

/* The device section of a set (its lines before the first public_key=), each setting with
 * its last value and the line that gave it. A set changes each setting once, as a netlink set
 * does (the kernel reads one attribute of a kind); the device ends as applying every line in
 * turn (wireguard-go) leaves it, except that a peer whose public key is that of an overridden
 * private_key= stays. Applying each line as it came let a set of private_key= lines
 * alternating between two keys redo every peer's DH per line under the write lock: 3.8 s for
 * 1000 lines and 100 peers, minutes for 8 MiB of them. */
enum { DEV_PRIVATE_KEY, DEV_LISTEN_PORT, DEV_FWMARK, DEV_REPLACE_PEERS, DEV__COUNT };

struct dev_set {
	unsigned int last[DEV__COUNT];	/* its last line, counted from 1; 0: not in the set */
	uint8_t private_key[32];
	uint16_t listen_port;
	uint32_t fwmark;
};

/* Where a set is on a peer (NULL: lines checked but ignored). */
struct set_state {
	bool in_peer;
	void *peer;
	bool created;
	void *prep;		/* from ops->prepare */
};

static void end_peer(struct set_state *s, const struct uapi_ops *ops, void *dev)
{
	if (s->in_peer && s->peer && ops->peer_end)
		ops->peer_end(dev, s->peer);
	s->in_peer = false;
	s->peer = NULL;
	s->created = false;
}

#define CALL(fn, ...) (ops->fn ? ops->fn(__VA_ARGS__) : 0)

/* Line n of the device section, checked and noted in d. */
static int device_line(struct dev_set *d, unsigned int n, const char *k, const char *v, size_t vl)
{
	uint8_t key[32];
	uint64_t x;
	int which;

	if (!strcmp(k, "private_key")) {
		if (!key_from_hexn(key, v, vl))
			return -EINVAL;
		memcpy(d->private_key, key, sizeof(key));
		key_wipe(key, sizeof(key));
		which = DEV_PRIVATE_KEY;
	} else if (!strcmp(k, "listen_port")) {
		if (!config_parse_uint(v, vl, 65535, &x))
			return -EINVAL;
		d->listen_port = (uint16_t)x;
		which = DEV_LISTEN_PORT;
	} else if (!strcmp(k, "fwmark")) {
		if (!config_parse_uint(v, vl, UINT32_MAX, &x))
			return -EINVAL;
		d->fwmark = (uint32_t)x;
		which = DEV_FWMARK;
	} else if (!strcmp(k, "replace_peers")) {
		if (!is_true(v, vl))
			return -EINVAL;
		which = DEV_REPLACE_PEERS;
	} else {
		return -EINVAL;
	}
	d->last[which] = n;
	return 0;
}

/* Each setting of d once, in the order of their last lines: a failing one stops the set with
 * those after it not applied, as in wireguard-go when each appears once (as `wg` sends them). */
static int apply_device(const struct uapi_ops *ops, void *dev, const struct dev_set *d, void *prep)
{
	unsigned int done = 0;

	for (;;) {
		int next = -1, ret = 0;

		for (int i = 0; i < DEV__COUNT; i++)
			if (d->last[i] > done && (next < 0 || d->last[i] < d->last[next]))
				next = i;
		if (next < 0)
			return 0;
		done = d->last[next];
		switch (next) {
		case DEV_PRIVATE_KEY:
			ret = CALL(set_private_key, dev, d->private_key, prep);
			break;
		case DEV_LISTEN_PORT:
			ret = CALL(set_listen_port, dev, d->listen_port);
			break;
		case DEV_FWMARK:
			ret = CALL(set_fwmark, dev, d->fwmark);
			break;
		case DEV_REPLACE_PEERS:
			ret = CALL(replace_peers, dev);
			break;
		}
		if (ret)
			return ret;
	}
}

static int set_peer_line(struct set_state *s, const struct uapi_ops *ops, void *dev,
			 const char *k, const char *v, size_t vl)
{
	void *peer = s->peer;
	uint8_t key[32];
	uint64_t n;
	int ret;

	if (!strcmp(k, "update_only")) {
		if (!is_true(v, vl))
			return -EINVAL;
		if (peer && s->created) {
			s->peer = NULL;		/* it must not have been created: undo */
			return CALL(peer_remove, dev, peer);
		}
		return 0;
	}
	if (!strcmp(k, "remove")) {
		if (!is_true(v, vl))
			return -EINVAL;
		s->peer = NULL;
		return peer ? CALL(peer_remove, dev, peer) : 0;
	}
	if (!strcmp(k, "preshared_key")) {
		if (!key_from_hexn(key, v, vl))
			return -EINVAL;
		ret = peer ? CALL(peer_set_preshared_key, dev, peer, key) : 0;
		key_wipe(key, sizeof(key));
		return ret;
	}
	if (!strcmp(k, "endpoint")) {
		struct sockaddr_storage ss;
		socklen_t sl;

		if (!parse_endpoint(v, vl, &ss, &sl))
			return -EINVAL;
		return peer ? CALL(peer_set_endpoint, dev, peer, (struct sockaddr *)&ss, sl) : 0;
	}
	if (!strcmp(k, "persistent_keepalive_interval")) {
		if (!config_parse_uint(v, vl, 65535, &n))
			return -EINVAL;
		return peer ? CALL(peer_set_persistent_keepalive, dev, peer, (uint16_t)n) : 0;
	}
	if (!strcmp(k, "replace_allowed_ips")) {
		if (!is_true(v, vl))
			return -EINVAL;
		return peer ? CALL(peer_replace_allowed_ips, dev, peer) : 0;
	}
	if (!strcmp(k, "allowed_ip")) {
		struct config_cidr a;

		if (!config_parse_cidr(&a, v, vl, false))
			return -EINVAL;
		return peer ? CALL(peer_add_allowed_ip, dev, peer, a.family, a.addr, a.cidr) : 0;
	}
	if (!strcmp(k, "protocol_version"))
		return vl == 1 && v[0] == '1' ? 0 : -EINVAL;
	return -EINVAL;
}

/* The line at *p, NUL-terminated in line[UAPI_LINE_MAX], *p moved past it: its length, 0 for
 * the blank line that ends the request (or its end), -EPROTO when too long. */
static int next_line(const char **p, const char *end, char *line)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t ll = (size_t)((nl ? nl : end) - *p);

	if (ll >= UAPI_LINE_MAX)
		return -EPROTO;
	memcpy(line, *p, ll);
	line[ll] = '\0';
	*p = nl ? nl + 1 : end;
	return (int)ll;
}

/* Cuts line at its '=': the name is line, the value *v of *vl bytes. */
static int split_line(char *line, size_t len, const char **v, size_t *vl)
{
	char *eq = memchr(line, '=', len);

	if (!eq)
		return -EPROTO;
	/* Names and values are compared and parsed as C strings: a NUL would cut them short. */
	if (memchr(line, '\0', len))
		return -EINVAL;
	*eq = '\0';
	*v = eq + 1;
	*vl = len - (size_t)(eq + 1 - line);
	return 0;
}

static bool is_public_key_line(const char *line, size_t len)
{
	return len >= 11 && !memcmp(line, "public_key=", 11);
}

/* The device section, checked line by line up to the first bad line (its error returned) and
 * gathered into d, without any lock. *p is left on the first public_key= line. */
static int scan_device(const char **p, const char *end, struct dev_set *d)
{
	char line[UAPI_LINE_MAX];
	unsigned int n = 0;
	int ret = 0;

	while (*p < end) {
		const char *at = *p;
		const char *v;
		size_t vl;
		int ll = next_line(p, end, line);

		if (ll <= 0) {
			ret = ll;
			*p = ll ? at : end;
			break;
		}
		if (is_public_key_line(line, (size_t)ll)) {
			*p = at;
			key_wipe(line, (size_t)ll);
			break;
		}
		ret = split_line(line, (size_t)ll, &v, &vl);
		if (!ret)
			ret = device_line(d, ++n, line, v, vl);
		key_wipe(line, (size_t)ll);
		if (ret)
			break;
	}
	return ret;
}

/* A line of the peer section. */
static int set_line(struct set_state *s, const struct uapi_ops *ops, void *dev, char *line, size_t len)
{
	const char *v;
	size_t vl;
	int ret = split_line(line, len, &v, &vl);

	if (ret)
		return ret;
	if (!strcmp(line, "public_key")) {
		uint8_t pub[32];
		bool created = false;
		void *peer = NULL;

		end_peer(s, ops, dev);
		if (!key_from_hexn(pub, v, vl))
			return -EINVAL;
		ret = ops->peer_begin ? ops->peer_begin(dev, pub, s->prep, &peer, &created) : 0;
		s->in_peer = true;
		s->peer = ret ? NULL : peer;
		s->created = created;
		return ret;
	}
	return set_peer_line(s, ops, dev, line, v, vl);
}

/* Counts the public_key= and allowed_ip= lines, so that a request over the limits is refused
 * before any of it is applied; with pubs, decodes the public keys into it instead. */
static size_t scan_lines(const char *p, size_t len, size_t *aips, uint8_t (*pubs)[32])
{
	const char *end = p + len;
	size_t peers = 0;

	*aips = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = (size_t)((nl ? nl : end) - p);

		if (ll > 11 && !memcmp(p, "public_key=", 11))
			peers += !pubs || key_from_hexn(pubs[peers], p + 11, ll - 11);
		else if (ll > 11 && !memcmp(p, "allowed_ip=", 11))
			(*aips)++;
		p += ll + 1;
	}
	return peers;
}

/* ops->prepare with the request's private key and public keys (a failure only means no work
 * done ahead). */
static void *prepare(const struct uapi_ops *ops, void *dev, const struct dev_set *d, const char *lines,
		     size_t len, size_t peers)
{
	const uint8_t *priv = d->last[DEV_PRIVATE_KEY] ? d->private_key : NULL;
	uint8_t (*pubs)[32] = NULL;
	size_t aips;
	void *prep;

	if (!ops->prepare || (!peers && !priv) || (peers && !(pubs = malloc(peers * sizeof(*pubs)))))
		return NULL;
	if (peers)
		peers = scan_lines(lines, len, &aips, pubs);
	prep = ops->prepare(dev, priv, (const uint8_t (*)[32])pubs, peers);
	free(pubs);
	return prep;
}

int uapi_apply_set(const struct uapi_ops *ops, void *dev, const char *lines, size_t len,
		   const struct uapi_limits *lim)
{
	static const struct uapi_limits defaults = {
		UAPI_REQUEST_MAX, UAPI_PEERS_MAX, UAPI_ALLOWED_IPS_MAX,
	};
	const char *p = lines, *end = lines + len;
	struct set_state s = { 0 };
	struct dev_set d = { 0 };
	char line[UAPI_LINE_MAX];
	size_t peers, aips;
	int err, bad;

	if (!lim)
		lim = &defaults;
	if (len > lim->request_bytes)
		return -EMSGSIZE;
	peers = scan_lines(lines, len, &aips, NULL);
	if (peers > lim->peers || aips > lim->allowed_ips) {
		log_ratelimited(LOG_LVL_WARN, "control: refused a set of %zu peers and %zu allowed IPs "
				"(at most %u and %u in one request; split it)", peers, aips,
				lim->peers, lim->allowed_ips);
		return -E2BIG;
	}
	bad = scan_device(&p, end, &d);
	s.prep = prepare(ops, dev, &d, lines, len, peers);
	if (ops->lock)
		ops->lock(dev, true);
	err = apply_device(ops, dev, &d, s.prep);
	if (!err)
		err = bad;
	while (p < end && !err) {
		int ll = next_line(&p, end, line);

		if (ll <= 0) {
			err = ll;	/* 0: the blank line, the request ends */
			break;
		}
		err = set_line(&s, ops, dev, line, (size_t)ll);
		key_wipe(line, (size_t)ll);
	}
	end_peer(&s, ops, dev);
	if (ops->unlock)
		ops->unlock(dev, true);
	if (s.prep && ops->unprepare)
		ops->unprepare(dev, s.prep);
	key_wipe(&d, sizeof(d));
	return err;
}
