/* culvert simpletun's device side with offloads: 64 KB reads split to the MTU before they
 * reach the wire, and TCP segments from the peer merged into one device write. */
#include "engine/st.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "lib/log.h"
#include "lib/tun.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

const char *st_off_str(bool vnet, unsigned int tun_f, bool no_offload, bool tap, char *buf, size_t len)
{
	if (!vnet) {
		snprintf(buf, len, "tun plain (%s)", no_offload ? "--no-offload" :
			 tap ? "tap: one frame per read" : "the kernel refused IFF_VNET_HDR");
		return buf;
	}
	snprintf(buf, len, "tun vnet_hdr%s%s%s%s%s", tun_f & TUN_F_CSUM ? " csum" : "",
		 tun_f & TUN_F_TSO4 ? " tso4" : "", tun_f & TUN_F_TSO6 ? " tso6" : "",
		 tun_f & TUN_F_USO4 ? " uso" : "", tun_f & TUN_F_TSO4 ? " gro" : "");
	return buf;
}

unsigned int st_off_probe(int fd)
{
	static const unsigned int tries[] = {
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
		TUN_F_CSUM,
	};

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		if (tun_set_offload(fd, tries[i]) == 0)
			return tries[i];
	return 0;
}

int st_tun_read(struct st_ctx *x, struct iovec *out, size_t max, size_t seg_max)
{
	struct st_off *o = x->off;
	/* the segments of one read are sent before the next read reuses the slots */
	struct tun_split_area area = { .slots = o->slots, .bytes = ST_SEG_BYTES };
	enum gso_reason why;
	ssize_t r;
	int k;

	if (!x->vnet)
		return -EINVAL;
	do
		r = read(x->tun, o->rbuf, ST_READ_BUF);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -EAGAIN;
	k = tun_split(o->rbuf, (size_t)r, x->pl.limit, seg_max, &area, out, max, &why);
	if (k == -EINVAL && why == GSO_SLOT_TOO_SMALL && plain_refresh_limit(&x->pl)) {
		area.used = 0;
		k = tun_split(o->rbuf, (size_t)r, x->pl.limit, seg_max, &area, out, max, &why);
	}
	if (k < 0) {
		x->pl.c.drop[PLAIN_DROP_BAD_OFFLOAD]++;
		log_ratelimited(LOG_LVL_WARN, "%s: dropped a %zd-byte packet from the device (%s, bad_offload)",
				x->ifname, r - (ssize_t)GSO_VNET_HDR_LEN, gso_reason_name(why));
		return 0;
	}
	if (k > 1) {
		o->tso_pkts++;
		o->tso_segs += (unsigned long long)k;
	} else if (((const struct virtio_net_hdr *)(const void *)o->rbuf)->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		o->csum_done++;
	}
	return k;
}

static bool write_one(struct st_ctx *x, const struct iovec *iov, int n, size_t len)
{
	ssize_t w;

	do
		w = writev(x->tun, iov, n);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		x->pl.c.drop[PLAIN_DROP_TUN_WRITE]++;
		log_ratelimited(LOG_LVL_WARN, "%s: device refused a %zu-byte packet: %s (tun_write)",
				x->ifname, len, strerror(errno));
		return false;
	}
	log_debug("NET2TAP %llu: Written %zu bytes to the tap interface", x->pl.c.rx_frames, len);
	return true;
}

void st_tun_flush(struct st_ctx *x)
{
	struct st_off *o = x->off;
	int k;

	if (!o || !o->gn)
		return;
	k = gro_coalesce(&o->gro, o->gp, o->gn, o->gout, GRO_MAX_BATCH);
	o->gn = 0;
	for (int i = 0; i < k; i++)
		write_one(x, &o->gout[i], 1, o->gout[i].iov_len - GRO_HEADROOM);
}

void st_tun_queue(struct st_ctx *x, const uint8_t *p, size_t n)
{
	struct st_off *o = x->off;

	if (!x->vnet || !(x->tun_f & TUN_F_TSO4)) {
		st_tun_write(x, p, n);
		return;
	}
	if (!plain_check_write(&x->pl, p, n))
		return;
	if (n > GRO_MAX_LEN)
		return;
	/* The IP header lands 16-byte aligned after a 64-byte lead: the virtio header fits
	 * in front of it, merged payloads after it. */
	uint8_t *b = o->gbufs + o->gn * ST_GRO_STRIDE + 64;
	memcpy(b, p, n);
	o->gp[o->gn++] = (struct gro_pkt){ .data = b, .len = n, .cap = GRO_MAX_LEN };
	x->pl.c.rx_frames++;
	x->pl.c.rx_bytes += n;
	if (o->gn == GRO_MAX_BATCH)
		st_tun_flush(x);
}

void st_tun_write(struct st_ctx *x, const uint8_t *p, size_t n)
{
	static const uint8_t zero[GSO_VNET_HDR_LEN];
	struct iovec iov[2] = { { (void *)zero, sizeof(zero) }, { (void *)p, n } };

	if (!plain_check_write(&x->pl, p, n))
		return;
	if (x->vnet ? write_one(x, iov, 2, n) : write_one(x, iov + 1, 1, n)) {
		x->pl.c.rx_frames++;
		x->pl.c.rx_bytes += n;
	}
}
