/* The tun side of a worker: reads, with a GSO super-packet from a TSO-enabled device split into
 * MTU-sized packets before encryption, and writes, with decrypted TCP segments merged back into
 * super-packets (GRO) so the kernel's stack sees few large packets. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/if_tun.h>

#include "engine/loop_int.h"
#include "engine/tun_split.h"
#include "lib/log.h"
#include "lib/packet.h"
#include "lib/tun.h"

_Static_assert((int)WG_MSG_DATA_HEADER_LEN >= (int)GRO_HEADROOM, "no room for the virtio header");
_Static_assert((int)LOOP_SEG_L2_MAX >= (int)TUN_SPLIT_L2_MAX, "a split tap frame may not fit its slot");
_Static_assert((int)TUN_SPLIT_L2_MAX >= (int)PKT_ETH_MAX_HLEN && (int)GRO_L2_MAX >= (int)PKT_ETH_MAX_HLEN,
	       "pkt_eth_ip_offset can give a longer link header than the split or the merge has room for");

/* A packet to write as GRO takes it: a tap's frame as its IP packet behind the link header,
 * or whole (raw) when it carries none. */
static struct gro_pkt gro_pkt_of(const struct wg_loop *l, const struct wg_pkt *p)
{
	size_t l2 = l->tap ? pkt_eth_ip_offset(p->data, p->len) : 0;

	if (l->tap && !l2)
		return (struct gro_pkt){ .data = p->data, .len = p->len, .cap = p->len, .raw = true };
	return (struct gro_pkt){ .data = p->data + l2, .len = p->len - l2, .cap = p->len - l2, .l2 = (uint8_t)l2 };
}

static unsigned int tun_write_gro(struct loop_worker *w, struct wg_pkt *pkts, unsigned int n)
{
	unsigned int ok = 0;
	int k;

	/* Decrypted packets lie back to back in a UDP GRO buffer, each behind its own data
	 * header (room for the virtio header): no room after them, so heads move to scratch. */
	for (unsigned int i = 0; i < n; i++)
		w->gpkts[i] = gro_pkt_of(w->l, &pkts[i]);
	k = gro_coalesce(&w->gro, w->gpkts, n, w->gout, GRO_MAX_BATCH);
	if (k < 0)
		return 0;
	for (int i = 0; i < k; i++) {
		ssize_t r;
		do
			r = write(w->tun.fd, w->gout[i].iov_base, w->gout[i].iov_len);
		while (r < 0 && errno == EINTR);
		if (r == (ssize_t)w->gout[i].iov_len)
			ok++;
	}
	/* merged segments count as written when their packet was */
	return k && ok == (unsigned int)k ? n : ok;
}

int loop_tun_write(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	struct wg_loop *l = ctx;
	struct loop_worker *w = loop_cur(l);
	unsigned int ok = 0;

	/* GRO's table and scratch are the worker's own. Another thread writing here (the
	 * handshake thread, whose flush of staged packets answers one too big for any datagram
	 * with ICMP) shares worker 0's queue, not its GRO state, which worker 0 may be using at
	 * that moment: it writes packet by packet. */
	if (l->vnet && w->gro_bufs && loop_self == w) {
		for (unsigned int i = 0; i < n; i += GRO_MAX_BATCH)
			ok += tun_write_gro(w, pkts + i, n - i > GRO_MAX_BATCH ? GRO_MAX_BATCH : n - i);
		return (int)ok;
	}
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *p = pkts[i].data;
		size_t len = pkts[i].len;

		if (l->vnet) {
			/* room is there: the data header preceded the plaintext */
			p -= LOOP_VNET;
			memset(p, 0, LOOP_VNET);
			len += LOOP_VNET;
		}
		if (write(w->tun.fd, p, len) == (ssize_t)len)
			ok++;
	}
	return (int)ok;
}

/* One tun read into buf (packet at buf + WG_PKT_HEADROOM); with vnet headers a GSO
 * super-packet is split (tun_split) into the slot region from byte *used on, each segment given
 * room for its gso_size. Adds to w->pkts; returns 1 on a packet, 0 on EAGAIN, -1 on a fatal
 * error. */
static int tun_read_one(struct loop_worker *w, uint8_t *buf, unsigned int *n, size_t *used)
{
	struct wg_loop *l = w->l;
	uint8_t *pkt = buf + WG_PKT_HEADROOM;
	size_t room = LOOP_BUF_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM;
	struct tun_split_area a = { .slots = w->slots, .bytes = LOOP_SLOT_BYTES, .used = *used,
				    .headroom = WG_PKT_HEADROOM, .tailroom = WG_PKT_TAILROOM, .eth = l->tap };
	unsigned int max = LOOP_PKTS - *n < UDPIO_MAX_SEGS ? LOOP_PKTS - *n : UDPIO_MAX_SEGS;
	enum gso_reason why;
	ssize_t r;
	int k;

	do
		r = l->vnet ? read(w->tun.fd, pkt - LOOP_VNET, room + LOOP_VNET) : read(w->tun.fd, pkt, room);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		log_err("reading the tun device failed: %s", strerror(errno));
		loop_stop(l, -errno);
		return -1;
	}
	if (!l->vnet) {
		w->pkts[*n] = (struct wg_pkt){ .data = pkt, .len = (uint32_t)r };
		(*n)++;
		return 1;
	}
	k = tun_split(pkt - LOOP_VNET, (size_t)r, room, __atomic_load_n(&l->seg_max, __ATOMIC_RELAXED), &a,
		      w->segs, max, &why);
	if (k < 0) {
		static struct log_ratelimit rl;
		loop_drop(l, why == GSO_TOO_MANY_SEGS || why == GSO_SLOT_TOO_SMALL ?
				       WG_DROP_TOO_BIG : WG_DROP_BAD_INNER_PACKET);
		log_limited(&rl, LOG_LVL_DEBUG, "dropped a packet from the tun device (%s)", gso_reason_name(why));
		return 1;
	}
	if (a.used != *used) {
		w->tso_pkts++;
		w->tso_segs += (unsigned int)k;
	} else if (pkt[-LOOP_VNET] & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		w->csum_done++;
	}
	for (int i = 0; i < k; i++) {
		w->pkts[*n] = (struct wg_pkt){ .data = w->segs[i].iov_base, .len = (uint32_t)w->segs[i].iov_len };
		(*n)++;
	}
	*used = a.used;
	return 1;
}

static void tun_readable(struct loop_worker *w)
{
	for (int b = 0; b < LOOP_BATCHES_PER_WAKE; b++) {
		unsigned int n = 0, bufs = 0;
		size_t used = 0;
		int r = 1;

		/* Stop while a full super-packet may still not fit. */
		while (bufs < LOOP_TUN_BUFS && n + UDPIO_MAX_SEGS <= LOOP_PKTS &&
		       used + LOOP_SPLIT_MAX <= LOOP_SLOT_BYTES) {
			unsigned int before = n;
			size_t ub = used;
			r = tun_read_one(w, w->tx_bufs + (size_t)bufs * LOOP_BUF_SIZE, &n, &used);
			if (r <= 0)
				break;
			/* The read buffer holds the packet unless it was split into slots. */
			if (n > before && used == ub)
				bufs++;
		}
		if (n)
			w->l->proc.ops->tun_input(w->l->proc.ctx, w->pkts, n);
		if (r <= 0 || w->tun_paused)
			return;
	}
}

void loop_tun_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	if (events & (EPOLLHUP | EPOLLERR) && !(events & EPOLLIN)) {
		log_err("the tun device went away");
		loop_stop(w->l, -ENODEV);
		return;
	}
	tun_readable(w);
}

const char *loop_tun_desc(const struct wg_loop *l)
{
	if (l->tap)
		return l->tso ? "tap vnet_hdr tso csum" : l->vnet ? "tap vnet_hdr csum" : "tap plain";
	return l->tso ? "tun vnet_hdr tso csum" : l->vnet ? "tun vnet_hdr csum" : "tun plain";
}

short loop_tun_flags(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	return ioctl(fd, TUNGETIFF, &ifr) == 0 ? ifr.ifr_flags : 0;
}

/* TSO and checksum offload let one read carry up to 64 KB of TCP; split here. The TUN_F_* set
 * the device took (0: none, one packet per read and write). */
unsigned int loop_tun_offloads(int fd)
{
	unsigned int base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

#if defined(TUN_F_USO4) && defined(TUN_F_USO6)
	if (tun_set_offload(fd, base | TUN_F_USO4 | TUN_F_USO6) == 0)
		return base | TUN_F_USO4 | TUN_F_USO6;
#endif
	if (tun_set_offload(fd, base) == 0)
		return base;
	log_debug("the tun device takes no offloads: one packet per read and write");
	return 0;
}

void loop_tun_stats(const struct wg_loop *l, struct loop_tun_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->vnet = l->vnet;
	st->tun_f = l->tun_f;
	for (unsigned int i = 0; i < l->n_workers; i++) {
		const struct loop_worker *w = &l->w[i];

		st->tso_pkts += w->tso_pkts;
		st->tso_segs += w->tso_segs;
		st->csum_done += w->csum_done;
		st->gro_merged += w->gro.stats.merged;
		st->gro_out += w->gro.stats.out_gso;
	}
}

void loop_tun_pause(struct wg_loop *l, bool on)
{
	struct loop_worker *w = &l->w[0];
	struct epoll_event ev = { .events = on ? 0 : EPOLLIN, .data.ptr = &w->tun };

	if (w->tun_paused == on || w->tun.fd < 0)
		return;
	w->tun_paused = on;
	epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->tun.fd, &ev);
}

void loop_set_frame_max(void *loop, size_t frame_max)
{
	struct wg_loop *l = loop;

	__atomic_store_n(&l->frame_max, frame_max, __ATOMIC_RELAXED);
}

void loop_set_seg_max(void *loop, size_t seg_max)
{
	struct wg_loop *l = loop;

	__atomic_store_n(&l->seg_max, seg_max, __ATOMIC_RELAXED);
}
