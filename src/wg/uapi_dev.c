/* uapi callbacks on a struct wg_device: what `wg set`/`wg setconf` change and `wg show` reads.
 * A set runs with dev->lock held for writing, a get with it held for reading: the workers go
 * on meanwhile, so what they change under a peer's mutex is read under it. */
#include "wg/uapi_dev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/priv.h"
#include "lib/sandbox.h"
#include "wg/allowedips.h"
#include "wg/crypto.h"
#include "wg/fdb.h"
#include "wg/key.h"
#include "wg/peer.h"

static int set_listen_port(void *d, uint16_t port)
{
	struct wg_device *dev = d;
	uint16_t old = dev->listen_port;

	if (port && port == old)
		return 0;
	dev->listen_port = port;
	if (dev->ops.rebind && dev->ops.rebind(dev->ops.ctx) < 0) {
		dev->listen_port = old;
		return -EADDRINUSE;
	}
	return 0;
}

static int set_fwmark(void *d, uint32_t mark)
{
	struct wg_device *dev = d;
	uint32_t old = dev->fwmark;
	int r;

	if (mark == old)
		return 0;
	dev->fwmark = mark;
	if (dev->ops.rebind && (r = dev->ops.rebind(dev->ops.ctx)) < 0) {
		dev->fwmark = old;
		return r;
	}
	return 0;
}

static int replace_peers(void *d)
{
	wg_device_remove_all_peers(d);
	return 0;
}

/* The static-static DH of each peer a set will create, done before the lock: it is most of
 * the time a big `wg setconf` takes, during which the workers would otherwise wait. A set that
 * changes the private key has every peer's done ahead, with the new key: one X25519 a peer
 * held the write lock 227 ms at 4096 peers, 2.65 s at 60,000. */
struct prep_ss {
	uint8_t pub[32], ss[32];
	bool ok;		/* X25519 gave a non-zero result */
};

struct prep {
	uint8_t priv[32];	/* the private key the DHs were done with */
	size_t n;
	struct prep_ss e[];	/* sorted by pub */
};

static int cmp_pub(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static void unprepare(void *d, void *v)
{
	struct prep *pr = v;

	key_wipe(pr, sizeof(*pr) + pr->n * sizeof(pr->e[0]));
	free(pr);
}

static void *prepare(void *d, const uint8_t *priv, const uint8_t (*pubs)[32], size_t n)
{
	struct wg_device *dev = d;
	struct prep *pr = NULL;
	bool rekey = false, has;
	size_t room;

	wg_device_rdlock(dev);
	has = dev->identity.has_identity;
	if (priv && !key_is_zero(priv)) {
		uint8_t k[32];

		memcpy(k, priv, 32);
		crypto_x25519_clamp(k);
		rekey = !has || !key_equal(k, dev->identity.static_private);
		key_wipe(k, sizeof(k));
	}
	if (priv && key_is_zero(priv))
		has = false;	/* the key is removed: no DH to do */
	room = n + (rekey ? dev->n_peers : 0);
	if ((has || rekey) && room)
		pr = calloc(1, sizeof(*pr) + room * sizeof(pr->e[0]));
	if (pr) {
		if (rekey) {
			memcpy(pr->priv, priv, 32);
			crypto_x25519_clamp(pr->priv);
			for (struct wg_peer *p = dev->peers; p; p = p->next)
				memcpy(pr->e[pr->n++].pub, p->public_key, 32);
		} else {
			memcpy(pr->priv, dev->identity.static_private, 32);
		}
		for (size_t i = 0; i < n; i++)
			if (!wg_device_find_peer(dev, pubs[i]))
				memcpy(pr->e[pr->n++].pub, pubs[i], 32);
	}
	wg_device_unlock(dev);
	if (!pr)
		return NULL;
	if (!pr->n) {
		unprepare(d, pr);
		return NULL;
	}
	for (size_t i = 0; i < pr->n; i++)
		pr->e[i].ok = crypto_x25519(pr->e[i].ss, pr->priv, pr->e[i].pub);
	qsort(pr->e, pr->n, sizeof(pr->e[0]), cmp_pub);
	return pr;
}

/* The DH done ahead for pub, if the private key is still the one it was done with. */
static const uint8_t *prepared_ss(const struct prep *pr, const struct wg_device *dev, const uint8_t pub[32])
{
	const struct prep_ss *e;

	if (!pr || !dev->identity.has_identity || !key_equal(pr->priv, dev->identity.static_private))
		return NULL;
	e = bsearch(pub, pr->e, pr->n, sizeof(pr->e[0]), cmp_pub);
	return e && e->ok ? e->ss : NULL;
}

struct ahead {
	const struct prep *pr;
	const struct wg_device *dev;
};

static const uint8_t *ss_ahead(void *arg, const uint8_t pub[32])
{
	const struct ahead *a = arg;

	return prepared_ss(a->pr, a->dev, pub);
}

static int set_private_key(void *d, const uint8_t key[32], void *prep)
{
	struct ahead a = { prep, d };

	if (key_is_zero(key))
		return wg_device_set_private_key(d, NULL);
	return wg_device_set_private_key_ahead(d, key, prep ? ss_ahead : NULL, &a);
}

static int peer_begin(void *d, const uint8_t pub[32], void *prep, void **peer, bool *created)
{
	struct wg_device *dev = d;
	struct wg_peer *p;

	*created = false;
	if (dev->identity.has_identity && key_equal(pub, dev->identity.static_public)) {
		*peer = NULL;
		return 0;
	}
	p = wg_device_find_peer(dev, pub);
	if (!p) {
		p = wg_device_add_peer_ss(dev, pub, prepared_ss(prep, dev, pub));
		if (!p)
			return -ENOMEM;
		*created = true;
	}
	*peer = p;
	return 0;
}

static void peer_end(void *d, void *peer)
{
	struct wg_peer *p = peer;

	if (p->staged_count)
		wg_peer_flush_staged(p);
}

static int peer_remove(void *d, void *peer)
{
	wg_device_remove_peer(d, peer);
	return 0;
}

static int peer_set_psk(void *d, void *peer, const uint8_t psk[32])
{
	wg_peer_set_psk(peer, key_is_zero(psk) ? NULL : psk);
	return 0;
}

static int peer_set_endpoint(void *d, void *peer, const struct sockaddr *sa, socklen_t len)
{
	struct endpoint ep;

	memset(&ep, 0, sizeof(ep));
	if ((sa->sa_family == AF_INET && len >= sizeof(ep.in4)) ||
	    (sa->sa_family == AF_INET6 && len >= sizeof(ep.in6)))
		memcpy(&ep, sa, sa->sa_family == AF_INET ? sizeof(ep.in4) : sizeof(ep.in6));
	else
		return -EINVAL;
	wg_peer_set_endpoint(peer, &ep);
	return 0;
}

static int peer_set_keepalive(void *d, void *peer, uint16_t seconds)
{
	wg_peer_set_persistent_keepalive(peer, seconds);
	return 0;
}

static int peer_replace_aips(void *d, void *peer)
{
	struct wg_device *dev = d;

	aip_remove_peer(dev->aip, peer);
	return 0;
}

static int peer_add_aip(void *d, void *peer, int family, const uint8_t *addr, uint8_t cidr)
{
	struct wg_device *dev = d;

	return aip_insert(dev->aip, family, addr, cidr, peer);
}

/* Tap mode's switch table, one culvert_fdb=MAC VLAN PORT AGE line an entry (PORT: the peer's
 * base64 public key, or "local" for the tap; AGE: seconds since last seen). */
static bool emit_fdb(void *arg, const struct fdb_entry_info *e)
{
	struct uapi_buf *out = arg;
	char mac[18], b64[KEY_B64_LEN + 1] = "local";

	if (e->port)
		key_to_base64(b64, e->port->public_key);
	uapi_buf_printf(out, "culvert_fdb=%s %u %s %llu\n", fdb_mac_str(e->mac, mac), e->vid, b64,
			(unsigned long long)(e->age_ns / 1000000000u));
	return !out->oom;
}

static void emit_tap(struct wg_device *dev, struct uapi_buf *out)
{
	uapi_buf_printf(out, "culvert_mode=tap\n");
	for (int i = 0; i < FDB_DROP__COUNT; i++)
		uapi_buf_printf(out, "culvert_drop_%s=%llu\n", fdb_drop_name(i),
				(unsigned long long)fdb_drops(dev->fdb, i));
	fdb_for_each(dev->fdb, wg_device_now(dev), emit_fdb, out);
}

static int get(void *d, struct uapi_buf *out)
{
	struct wg_device *dev = d;
	struct uapi_device_info di = {
		.private_key = dev->identity.has_identity ? dev->identity.static_private : NULL,
		.listen_port = dev->listen_port,
		.fwmark = dev->fwmark,
	};

	uapi_emit_device(out, &di);
	if (out->culvert_ext && dev->offload[0])
		uapi_buf_printf(out, "culvert_offload=%s\n", dev->offload);
	if (out->culvert_ext) {
		char who[128];

		priv_describe(who, sizeof(who));
		uapi_buf_printf(out, "culvert_user=%s\n", who);
		uapi_buf_printf(out, "culvert_seccomp=%s\n", sandbox_active() ? "on" : "off");
	}
	if (out->culvert_ext)
		for (int i = 0; i < WG_DROP__COUNT; i++)
			uapi_buf_printf(out, "culvert_drop_%s=%llu\n", wg_drop_name(i),
					(unsigned long long)__atomic_load_n(&dev->drops[i], __ATOMIC_RELAXED));
	if (out->culvert_ext && dev->fdb)
		emit_tap(dev, out);
	for (struct wg_peer *p = dev->peers; p; p = p->next) {
		struct endpoint ep;
		struct uapi_peer_info pi = {
			.public_key = p->public_key,
			.preshared_key = p->psk,
			.persistent_keepalive = p->persistent_keepalive,
		};

		pthread_mutex_lock(&p->lock);
		ep = p->endpoint;
		pi.last_handshake_sec = (uint64_t)p->last_handshake_sec;
		pi.last_handshake_nsec = (uint64_t)p->last_handshake_nsec;
		pi.tx_bytes = p->tx_bytes;
		pi.rx_bytes = p->rx_bytes;
		pthread_mutex_unlock(&p->lock);
		pi.endpoint = ep.sa.sa_family != AF_UNSPEC ? &ep.sa : NULL;
		uapi_emit_peer(out, &pi);
		uapi_emit_allowed_ips(out, dev->aip, p);
	}
	return out->oom ? -ENOMEM : 0;
}

static void lock(void *d, bool write)
{
	if (write)
		wg_device_lock(d);
	else
		wg_device_rdlock(d);
}

static void unlock(void *d, bool write)
{
	wg_device_unlock(d);
}

const struct uapi_ops wg_uapi_dev_ops = {
	.set_private_key = set_private_key,
	.set_listen_port = set_listen_port,
	.set_fwmark = set_fwmark,
	.replace_peers = replace_peers,
	.prepare = prepare,
	.unprepare = unprepare,
	.peer_begin = peer_begin,
	.peer_end = peer_end,
	.peer_remove = peer_remove,
	.peer_set_preshared_key = peer_set_psk,
	.peer_set_endpoint = peer_set_endpoint,
	.peer_set_persistent_keepalive = peer_set_keepalive,
	.peer_replace_allowed_ips = peer_replace_aips,
	.peer_add_allowed_ip = peer_add_aip,
	.get = get,
	.lock = lock,
	.unlock = unlock,
};
