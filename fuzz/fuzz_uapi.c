/* libFuzzer: uapi requests fed in pieces to a connection backed by a small device model with a
 * real allowed-IPs table; a get after every input exercises the emitters too. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wg/allowedips.h"
#include "wg/uapi.h"

struct fpeer { bool used; uint8_t pub[32], psk[32]; struct sockaddr_storage ep; bool has_ep; uint16_t ka; };
struct fdev { uint8_t priv[32]; uint16_t port; uint32_t mark; struct fpeer p[4]; struct aip_table *aip; int open; };

static int f_priv(void *d, const uint8_t k[32], void *prep) { memcpy(((struct fdev *)d)->priv, k, 32); return 0; }
static int f_port(void *d, uint16_t p) { ((struct fdev *)d)->port = p; return p == 1 ? -EADDRINUSE : 0; }
static int f_mark(void *d, uint32_t m) { ((struct fdev *)d)->mark = m; return 0; }
static int f_replace(void *dv)
{
	struct fdev *d = dv;

	for (int i = 0; i < 4; i++) {
		aip_remove_peer(d->aip, &d->p[i]);
		memset(&d->p[i], 0, sizeof(d->p[i]));
	}
	return 0;
}
static int f_begin(void *dv, const uint8_t pub[32], void *prep, void **peer, bool *created)
{
	struct fdev *d = dv;
	int i = pub[0] & 3;

	if (pub[0] == 0xee) {		/* "our own key" */
		*peer = NULL;
		return 0;
	}
	*created = !d->p[i].used;
	d->p[i].used = true;
	memcpy(d->p[i].pub, pub, 32);
	*peer = &d->p[i];
	d->open++;
	return 0;
}
static void f_end(void *dv, void *p) { ((struct fdev *)dv)->open--; }
static int f_remove(void *dv, void *p)
{
	struct fdev *d = dv;

	aip_remove_peer(d->aip, p);
	memset(p, 0, sizeof(struct fpeer));
	d->open--;
	return 0;
}
static int f_psk(void *dv, void *p, const uint8_t k[32]) { memcpy(((struct fpeer *)p)->psk, k, 32); return 0; }
static int f_ep(void *dv, void *p, const struct sockaddr *sa, socklen_t len)
{
	struct fpeer *fp = p;

	if (len > sizeof(fp->ep))
		abort();
	memcpy(&fp->ep, sa, len);
	fp->has_ep = true;
	return 0;
}
static int f_ka(void *dv, void *p, uint16_t s) { ((struct fpeer *)p)->ka = s; return 0; }
static int f_repl(void *dv, void *p) { aip_remove_peer(((struct fdev *)dv)->aip, p); return 0; }
static int f_add(void *dv, void *p, int fam, const uint8_t *a, uint8_t cidr)
{
	return aip_insert(((struct fdev *)dv)->aip, fam, a, cidr, p);
}
static int f_get(void *dv, struct uapi_buf *out)
{
	struct fdev *d = dv;
	struct uapi_device_info di = { d->priv, d->port, d->mark };

	uapi_emit_device(out, &di);
	for (int i = 0; i < 4; i++) {
		struct uapi_peer_info pi = { d->p[i].pub, d->p[i].psk,
					     d->p[i].has_ep ? (struct sockaddr *)&d->p[i].ep : NULL,
					     1, 2, 3, 4, d->p[i].ka };
		if (!d->p[i].used)
			continue;
		uapi_emit_peer(out, &pi);
		uapi_emit_allowed_ips(out, d->aip, &d->p[i]);
	}
	return 0;
}

static const struct uapi_ops ops = {
	.set_private_key = f_priv, .set_listen_port = f_port, .set_fwmark = f_mark,
	.replace_peers = f_replace, .peer_begin = f_begin, .peer_end = f_end, .peer_remove = f_remove,
	.peer_set_preshared_key = f_psk, .peer_set_endpoint = f_ep, .peer_set_persistent_keepalive = f_ka,
	.peer_replace_allowed_ips = f_repl, .peer_add_allowed_ip = f_add, .get = f_get,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fdev d = { .aip = aip_new() };
	struct uapi_conn c;
	size_t off = 0, step = size ? (data[0] % 17) + 1 : 1;

	uapi_conn_init(&c, -1);
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		uapi_conn_feed(&c, &ops, &d, (const char *)data + off, n);
		off += n;
		/* every response is complete text ending in a blank line */
		if (c.out.len && (c.out.len < 2 || memcmp(c.out.data + c.out.len - 2, "\n\n", 2)))
			abort();
		c.out.len = 0;
	}
	uapi_conn_eof(&c, &ops, &d);
	if (d.open != 0)	/* every peer begun was ended or removed */
		abort();
	uapi_conn_free(&c);
	uapi_conn_init(&c, -1);
	uapi_conn_feed(&c, &ops, &d, "get=1\n\n", 7);
	uapi_conn_free(&c);
	aip_free(d.aip);
	return 0;
}
