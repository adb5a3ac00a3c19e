/* WireGuard userspace control protocol: a get's response emitted (what a set's lines do is
 * uapi.c). The text is wireguard-go's, byte for byte, since that is what `wg` parses. */
#include "uapi.h"
#include "allowedips.h"
#include "key.h"
#include "lib/addr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- output buffer ---- */

static bool buf_reserve(struct uapi_buf *b, size_t more)
{
	size_t cap;
	char *d;

	if (b->oom)
		return false;
	if (b->len + more <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	/* a get response holds the private key */
	d = key_grow(b->data, b->cap, b->len, cap);
	if (!d) {
		b->oom = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

void uapi_buf_printf(struct uapi_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void uapi_buf_free(struct uapi_buf *b)
{
	if (b->data)
		key_wipe(b->data, b->cap);	/* a get response holds the private key */
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- get=1 ---- */

static void emit_key(struct uapi_buf *b, const char *name, const uint8_t key[32])
{
	char hex[KEY_HEX_LEN + 1];

	key_to_hex(hex, key);
	uapi_buf_printf(b, "%s=%s\n", name, hex);
	key_wipe(hex, sizeof(hex));
}

void uapi_emit_device(struct uapi_buf *b, const struct uapi_device_info *d)
{
	if (d->private_key && !key_is_zero(d->private_key))
		emit_key(b, "private_key", d->private_key);
	if (d->listen_port)
		uapi_buf_printf(b, "listen_port=%u\n", d->listen_port);
	if (d->fwmark)
		uapi_buf_printf(b, "fwmark=%u\n", d->fwmark);
}

static void emit_endpoint(struct uapi_buf *b, const struct sockaddr *sa)
{
	char text[ADDR_STRLEN];

	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		uapi_buf_printf(b, "endpoint=%s\n", addr_sockaddr_str(sa, true, text, sizeof(text)));
}

void uapi_emit_peer(struct uapi_buf *b, const struct uapi_peer_info *p)
{
	static const uint8_t zero[32];

	emit_key(b, "public_key", p->public_key);
	emit_key(b, "preshared_key", p->preshared_key ? p->preshared_key : zero);
	uapi_buf_printf(b, "protocol_version=1\n");
	if (p->endpoint)
		emit_endpoint(b, p->endpoint);
	uapi_buf_printf(b, "last_handshake_time_sec=%llu\nlast_handshake_time_nsec=%llu\n"
			"tx_bytes=%llu\nrx_bytes=%llu\npersistent_keepalive_interval=%u\n",
			(unsigned long long)p->last_handshake_sec, (unsigned long long)p->last_handshake_nsec,
			(unsigned long long)p->tx_bytes, (unsigned long long)p->rx_bytes,
			p->persistent_keepalive);
}

void uapi_emit_allowed_ip(struct uapi_buf *b, int family, const uint8_t *addr, uint8_t cidr)
{
	char text[ADDR_STRLEN];

	if (family != AF_INET && family != AF_INET6)
		return;
	uapi_buf_printf(b, "allowed_ip=%s\n", addr_cidr_str(family, addr, cidr, text, sizeof(text)));
}

static bool emit_one_aip(void *arg, int family, const uint8_t *addr, uint8_t cidr)
{
	uapi_emit_allowed_ip(arg, family, addr, cidr);
	return true;
}

void uapi_emit_allowed_ips(struct uapi_buf *b, const struct aip_table *t, void *peer)
{
	aip_for_each_of_peer(t, peer, emit_one_aip, b);
}
