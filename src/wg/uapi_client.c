/* Client side of the `wg` control protocol: build set=1, parse get=1, exchange them over a
 * socket from uapi_socket.c. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <net/if.h>

#include "lib/clock.h"
#include "wg/key.h"
#include "wg/messages.h"
#include "wg/uapi_client.h"
#include "lib/addr.h"

/* What is read at once; only the last line not yet whole stays in it between reads. */
enum { RECV_BUF = 64 << 10 };

/* ---- get=1 ---- */

static void free_ext(struct uapi_ext *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].key);
		free(e[i].value);
	}
	free(e);
}

void uapi_device_state_free(struct uapi_device_state *d)
{
	for (size_t i = 0; i < d->n_peers; i++) {
		free(d->peers[i].allowed_ips);
		free_ext(d->peers[i].ext, d->peers[i].n_ext);
	}
	free(d->peers);
	free_ext(d->ext, d->n_ext);
	key_wipe(d, sizeof(*d));
}

const char *uapi_ext_get(const struct uapi_ext *ext, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ext[i].key, key))
			return ext[i].value;
	return NULL;
}

/* The array a of n elements with room for one more. Its room is the power of two from n up,
 * so a get of many peers (or allowed IPs) is not copied anew for every line it adds. NULL
 * when out of memory, a left as it was. */
static void *room_for(void *a, size_t n, size_t size)
{
	if (n & (n - 1))
		return a;	/* n is no power of two: there is room */
	if (n > SIZE_MAX / 2 / size)
		return NULL;
	return realloc(a, (n ? 2 * n : 1) * size);
}

static int add_ext(struct uapi_ext **e, size_t *n, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct uapi_ext *ne = room_for(*e, *n, sizeof(**e));

	if (!ne)
		return -ENOMEM;
	*e = ne;
	ne[*n].key = strndup(k, klen);
	ne[*n].value = strndup(v, vlen);
	if (!ne[*n].key || !ne[*n].value) {
		free(ne[*n].key);
		free(ne[*n].value);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

static bool key_is(const char *k, size_t klen, const char *name)
{
	return strlen(name) == klen && !memcmp(k, name, klen);
}

static bool num(const char *v, size_t vlen, uint64_t max, uint64_t *out)
{
	return config_parse_uint(v, vlen, max, out);
}

/* One line; peer is the current peer or NULL in the device section. Sets *done on errno=. */
static int parse_line(struct uapi_device_state *d, const char *k, size_t klen, const char *v,
		      size_t vlen, int *daemon_err, bool *done)
{
	struct uapi_peer_state *p = d->n_peers ? &d->peers[d->n_peers - 1] : NULL;
	uint64_t n;

	if (key_is(k, klen, "errno")) {
		bool neg = vlen > 0 && v[0] == '-';

		if (!num(v + neg, vlen - neg, 4095, &n))
			return -EPROTO;
		*daemon_err = -(int)n;
		*done = true;
		return 0;
	}
	if (klen > 8 && !memcmp(k, "culvert_", 8)) {
		if (p)
			return add_ext(&p->ext, &p->n_ext, k + 8, klen - 8, v, vlen);
		return add_ext(&d->ext, &d->n_ext, k + 8, klen - 8, v, vlen);
	}
	if (key_is(k, klen, "public_key")) {
		struct uapi_peer_state *np;

		if (d->n_peers >= WG_MAX_PEERS)
			return -EPROTO;		/* more than a daemon may have */
		np = room_for(d->peers, d->n_peers, sizeof(*np));
		if (!np)
			return -ENOMEM;
		d->peers = np;
		p = &np[d->n_peers++];
		memset(p, 0, sizeof(*p));
		return key_from_hexn(p->public_key, v, vlen) ? 0 : -EPROTO;
	}
	if (!p) {
		if (key_is(k, klen, "private_key")) {
			d->has_private_key = key_from_hexn(d->private_key, v, vlen);
			return d->has_private_key ? 0 : -EPROTO;
		}
		if (key_is(k, klen, "listen_port")) {
			if (!num(v, vlen, 65535, &n))
				return -EPROTO;
			d->listen_port = (uint16_t)n;
			return 0;
		}
		if (key_is(k, klen, "fwmark")) {
			if (!num(v, vlen, UINT32_MAX, &n))
				return -EPROTO;
			d->fwmark = (uint32_t)n;
			return 0;
		}
		return 0;	/* a key of a newer daemon */
	}
	if (key_is(k, klen, "preshared_key")) {
		uint8_t psk[32];

		if (!key_from_hexn(psk, v, vlen))
			return -EPROTO;
		p->has_preshared_key = !key_is_zero(psk);
		key_wipe(psk, sizeof(psk));
		return 0;
	}
	if (key_is(k, klen, "endpoint")) {
		if (vlen == 0 || vlen >= sizeof(p->endpoint))
			return -EPROTO;
		memcpy(p->endpoint, v, vlen);
		p->endpoint[vlen] = '\0';
		return 0;
	}
	if (key_is(k, klen, "allowed_ip")) {
		struct config_cidr *na = room_for(p->allowed_ips, p->n_allowed_ips, sizeof(*na));

		if (!na)
			return -ENOMEM;
		p->allowed_ips = na;
		if (!config_parse_cidr(&na[p->n_allowed_ips], v, vlen, false))
			return -EPROTO;
		p->n_allowed_ips++;
		return 0;
	}
	struct { const char *name; uint64_t max; uint64_t *dst; } nums[] = {
		{ "last_handshake_time_sec", UINT64_MAX, &p->last_handshake_sec },
		{ "last_handshake_time_nsec", UINT64_MAX, &p->last_handshake_nsec },
		{ "rx_bytes", UINT64_MAX, &p->rx_bytes },
		{ "tx_bytes", UINT64_MAX, &p->tx_bytes },
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (key_is(k, klen, nums[i].name))
			return num(v, vlen, nums[i].max, nums[i].dst) ? 0 : -EPROTO;
	if (key_is(k, klen, "persistent_keepalive_interval")) {
		if (!num(v, vlen, 65535, &n))
			return -EPROTO;
		p->persistent_keepalive = (uint16_t)n;
		return 0;
	}
	return 0;	/* protocol_version and keys of newer daemons */
}

/* One line of a get response, without its newline. */
static int parse_one(struct uapi_device_state *d, const char *s, size_t len, int *daemon_err, bool *done)
{
	const char *eq = memchr(s, '=', len);

	/* A NUL would cut keys and values short where they are copied as strings. */
	if (!eq || eq == s || memchr(s, '\0', len))
		return -EPROTO;
	return parse_line(d, s, (size_t)(eq - s), eq + 1, len - (size_t)(eq - s) - 1, daemon_err, done);
}

/* r: 0 or the first failure; *d freed on failure. */
static int parse_end(struct uapi_device_state *d, int r, bool done, int daemon_err)
{
	if (r == 0 && !done)
		r = -EPROTO;
	if (r == 0)
		r = daemon_err;
	if (r < 0)
		uapi_device_state_free(d);
	return r;
}

int uapi_client_parse_get(struct uapi_device_state *d, const char *text, size_t len)
{
	const char *s = text, *end = text + len;
	int daemon_err = 0, r = 0;
	bool done = false;

	memset(d, 0, sizeof(*d));
	while (s < end && !done) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));

		if (!nl)
			nl = end;
		r = parse_one(d, s, (size_t)(nl - s), &daemon_err, &done);
		if (r < 0)
			break;
		s = nl < end ? nl + 1 : end;
	}
	return parse_end(d, r, done, daemon_err);
}

/* Writes all of req, then reads the response up to its closing blank line into *d, each line
 * parsed as it arrives: only a line not yet whole is held, so a get of any size a daemon can
 * send (WG_MAX_PEERS peers, allowed IPs without a bound of their own) is read within the
 * deadline alone. Holding the whole text and refusing it past 16 MiB made `culvert show`
 * fail on a device of 60,000 peers ("Message too long") where `wg show` worked. */
static int exchange(int fd, const char *req, size_t len, struct uapi_device_state *d, int timeout_ms)
{
	long long deadline = (long long)clock_mono_ms() + timeout_ms;
	size_t off = 0, have = 0;
	int ret = 0, daemon_err = 0;
	bool done = false, ended = false;
	char *buf;

	memset(d, 0, sizeof(*d));
	/* The deadline covers the request too: a daemon that stopped reading must not hang us. */
	while (off < len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		long long left = deadline - (long long)clock_mono_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		n = send(fd, req + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	buf = malloc(RECV_BUF);
	if (!buf)
		return -ENOMEM;
	while (!ended && !ret) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - (long long)clock_mono_ms();
		char *line, *nl;
		ssize_t n;

		if (have == RECV_BUF) {
			ret = -EPROTO;	/* a line longer than any a daemon sends */
			break;
		}
		if (left <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -ETIMEDOUT;
			break;
		}
		n = read(fd, buf + have, RECV_BUF - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0) {
			ret = -ECONNRESET;	/* closed before the answer was complete */
			break;
		}
		have += (size_t)n;
		/* the whole lines: up to errno=, then the blank line that ends the response */
		for (line = buf; !ended && !ret && (nl = memchr(line, '\n', have - (size_t)(line - buf)));
		     line = nl + 1) {
			if (nl == line && done)
				ended = true;
			else if (nl == line)
				ret = -EPROTO;	/* a blank line before errno= */
			else if (!done)
				ret = parse_one(d, line, (size_t)(nl - line), &daemon_err, &done);
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
	}
	key_wipe(buf, RECV_BUF);	/* it held the private key line */
	free(buf);
	return parse_end(d, ret, done, daemon_err);
}

static int get_with(const char *dir, const char *iface, const char *req, struct uapi_device_state *d,
		    int timeout_ms)
{
	int fd, r;

	memset(d, 0, sizeof(*d));
	fd = uapi_client_connect(dir, iface);
	if (fd < 0)
		return fd;
	r = exchange(fd, req, strlen(req), d, timeout_ms);
	close(fd);
	return r;
}

int uapi_client_get(const char *dir, const char *iface, struct uapi_device_state *d, int timeout_ms)
{
	return get_with(dir, iface, "get=1\n\n", d, timeout_ms);
}

int uapi_client_get_ext(const char *dir, const char *iface, struct uapi_device_state *d, int timeout_ms)
{
	int r = get_with(dir, iface, "get=culvert\n\n", d, timeout_ms);

	/* wireguard-go closes the connection on an operation it does not know. */
	if (r == -ECONNRESET)
		r = get_with(dir, iface, "get=1\n\n", d, timeout_ms);
	return r;
}

/* ---- set=1 ---- */

static void put_key(struct uapi_buf *b, const char *name, const uint8_t key[32])
{
	char hex[KEY_HEX_LEN + 1];

	key_to_hex(hex, key);
	uapi_buf_printf(b, "%s=%s\n", name, hex);
	key_wipe(hex, sizeof(hex));
}

static int put_endpoint(struct uapi_buf *b, const struct config_peer *p, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM }, *res = NULL;
	char ip[ADDR_STRLEN];
	int r;

	r = getaddrinfo(p->endpoint_host, NULL, &hints, &res);
	if (r != 0) {
		snprintf(err, errlen, "cannot resolve the endpoint '%s' of the peer at line %u: %s",
			 p->endpoint_host, p->line, r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -EINVAL;
	}
	if (res->ai_family == AF_INET) {
		((struct sockaddr_in *)res->ai_addr)->sin_port = htons(p->endpoint_port);
		uapi_buf_printf(b, "endpoint=%s\n", addr_sockaddr_str(res->ai_addr, true, ip, sizeof(ip)));
	} else if (res->ai_family == AF_INET6) {
		((struct sockaddr_in6 *)res->ai_addr)->sin6_port = htons(p->endpoint_port);
		uapi_buf_printf(b, "endpoint=%s\n", addr_sockaddr_str(res->ai_addr, true, ip, sizeof(ip)));
	} else {
		snprintf(err, errlen, "the endpoint '%s' of the peer at line %u is neither IPv4 nor IPv6",
			 p->endpoint_host, p->line);
		freeaddrinfo(res);
		return -EINVAL;
	}
	freeaddrinfo(res);
	return 0;
}

int uapi_client_build_set(struct uapi_buf *b, const struct config *c, bool replace_peers,
			  char *err, size_t errlen)
{
	char ip[INET6_ADDRSTRLEN];
	int r;

	uapi_buf_printf(b, "set=1\n");
	if (c->has_private_key)
		put_key(b, "private_key", c->private_key);
	if (c->has_listen_port)
		uapi_buf_printf(b, "listen_port=%u\n", c->listen_port);
	if (c->has_fwmark)
		uapi_buf_printf(b, "fwmark=%u\n", c->fwmark);
	if (replace_peers)
		uapi_buf_printf(b, "replace_peers=true\n");
	for (size_t i = 0; i < c->n_peers; i++) {
		const struct config_peer *p = &c->peers[i];

		put_key(b, "public_key", p->public_key);
		if (p->has_preshared_key)
			put_key(b, "preshared_key", p->preshared_key);
		if (p->has_endpoint && (r = put_endpoint(b, p, err, errlen)) < 0)
			return r;
		if (p->has_persistent_keepalive)
			uapi_buf_printf(b, "persistent_keepalive_interval=%u\n", p->persistent_keepalive);
		uapi_buf_printf(b, "replace_allowed_ips=true\n");
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			const struct config_cidr *a = &p->allowed_ips[j];

			if (a->family != AF_INET && a->family != AF_INET6) {
				snprintf(err, errlen, "a bad allowed IP in the peer at line %u", p->line);
				return -EINVAL;
			}
			uapi_buf_printf(b, "allowed_ip=%s\n", addr_cidr_str(a->family, a->addr, a->cidr, ip, sizeof(ip)));
		}
	}
	uapi_buf_printf(b, "\n");
	if (b->oom) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int uapi_client_set(const char *dir, const char *iface, const char *req, size_t len, int timeout_ms)
{
	struct uapi_device_state d;
	int fd, r;

	fd = uapi_client_connect(dir, iface);
	if (fd < 0)
		return fd;
	/* The answer is only "errno=N"; the get parser reads it the same way. */
	r = exchange(fd, req, len, &d, timeout_ms);
	close(fd);
	if (r == 0)
		uapi_device_state_free(&d);
	return r;
}
