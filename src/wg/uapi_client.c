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
#include "wg/uapi_client.h"
#include "lib/addr.h"

enum { RESPONSE_MAX = 16 << 20 };	/* far more than any real device's get response */

/* Writes all of buf, then reads until the response's closing blank line. */
static int exchange(int fd, const char *req, size_t len, char **resp, size_t *resp_len, int timeout_ms)
{
	long long deadline = (long long)clock_mono_ms() + timeout_ms;
	size_t off = 0, rlen = 0, cap = 0;
	char *r = NULL;
	int ret = 0;

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
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - (long long)clock_mono_ms();
		ssize_t n;

		if (rlen >= 2 && r[rlen - 1] == '\n' && r[rlen - 2] == '\n')
			break;
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
		if (cap - rlen < 4096) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *nr;

			if (cap >= RESPONSE_MAX) {
				ret = -EMSGSIZE;
				break;
			}
			/* Not realloc: the old block holds the private key line and must be wiped. */
			nr = malloc(ncap);
			if (!nr) {
				ret = -ENOMEM;
				break;
			}
			if (r) {
				memcpy(nr, r, rlen);
				key_wipe(r, cap);
				free(r);
			}
			r = nr;
			cap = ncap;
		}
		n = read(fd, r + rlen, cap - rlen - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0) {
			ret = -ECONNRESET;	/* closed before the answer was complete */
			break;
		}
		rlen += (size_t)n;
	}
	if (ret < 0) {
		if (r)
			key_wipe(r, cap);
		free(r);
		return ret;
	}
	*resp = r;
	*resp_len = rlen;
	return 0;
}

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

static int add_ext(struct uapi_ext **e, size_t *n, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct uapi_ext *ne = realloc(*e, (*n + 1) * sizeof(**e));

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
		struct uapi_peer_state *np = realloc(d->peers, (d->n_peers + 1) * sizeof(*np));

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
		struct config_cidr *na = realloc(p->allowed_ips, (p->n_allowed_ips + 1) * sizeof(*na));

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

int uapi_client_parse_get(struct uapi_device_state *d, const char *text, size_t len)
{
	const char *s = text, *end = text + len;
	int daemon_err = 0, r = 0;
	bool done = false;

	memset(d, 0, sizeof(*d));
	while (s < end && !done) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eq;

		if (!nl)
			nl = end;
		eq = memchr(s, '=', (size_t)(nl - s));
		/* A NUL would cut keys and values short where they are copied as strings. */
		if (!eq || eq == s || memchr(s, '\0', (size_t)(nl - s))) {
			r = -EPROTO;
			break;
		}
		r = parse_line(d, s, (size_t)(eq - s), eq + 1, (size_t)(nl - eq - 1), &daemon_err, &done);
		if (r < 0)
			break;
		s = nl + 1;
	}
	if (r == 0 && !done)
		r = -EPROTO;
	if (r == 0)
		r = daemon_err;
	if (r < 0)
		uapi_device_state_free(d);
	return r;
}

static int get_with(const char *dir, const char *iface, const char *req, struct uapi_device_state *d,
		    int timeout_ms)
{
	char *resp = NULL;
	size_t rlen = 0;
	int fd, r;

	memset(d, 0, sizeof(*d));
	fd = uapi_client_connect(dir, iface);
	if (fd < 0)
		return fd;
	r = exchange(fd, req, strlen(req), &resp, &rlen, timeout_ms);
	close(fd);
	if (r < 0)
		return r;
	r = uapi_client_parse_get(d, resp, rlen);
	key_wipe(resp, rlen);
	free(resp);
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
	char *resp = NULL;
	size_t rlen = 0;
	int fd, r;

	fd = uapi_client_connect(dir, iface);
	if (fd < 0)
		return fd;
	r = exchange(fd, req, len, &resp, &rlen, timeout_ms);
	close(fd);
	if (r < 0)
		return r;
	/* The answer is only "errno=N"; the get parser reads it the same way. */
	r = uapi_client_parse_get(&d, resp, rlen);
	if (r == 0)
		uapi_device_state_free(&d);
	free(resp);
	return r;
}
