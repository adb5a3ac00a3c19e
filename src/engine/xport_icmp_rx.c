/* The ICMP transport's receive side: the listener's socket (echo requests: sessions, their
 * messages to the device, replies from what they hold; ordinary pings answered as the kernel
 * would) and the diallers' socket (echo replies: messages to the device, the polls the
 * listener's backlog asks for). */
#include <stdint.h>

#include "engine/xport_icmp.h"
#include "engine/xport_icmp_int.h"
#include "lib/clock.h"

static int rx_batch(struct loop_worker *w, struct icmpw_sock *s)
{
	struct xicmp *x = xi(w->l);

	for (unsigned int i = 0; i < ICMP_BATCH; i++) {
		/* into the device's receive buffers: it decrypts in place, just before the data */
		x->rx[i].buf = w->rx_ptrs[i];
		x->rx[i].cap = LOOP_BUF_SIZE - WG_PKT_HEADROOM - WG_PKT_TAILROOM;
	}
	return icmpw_sock_recv(s, x->rx, ICMP_BATCH);
}

static void touch(struct xicmp *x, unsigned int *nt, struct icmpw_session *se)
{
	for (unsigned int i = 0; i < *nt; i++)
		if (x->touched[i] == se)
			return;
	x->touched[(*nt)++] = se;
}

/* An ordinary ping to one of our addresses, answered as the kernel would have. */
static void answer_ping(struct wg_loop *l, struct icmp_fam *f, const struct icmpw_dgram *in)
{
	struct icmpw_dgram *d = xicmp_tx_slot(l, &f->ls);

	d->len = icmpw_echo_answer(in->icmp, in->len, f->v6, d->buf, d->cap);
	if (!d->len)
		return;
	d->peer = in->peer;
	d->local = in->local;
	xi(l)->tx_n++;
}

void xicmp_listen_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	struct wg_loop *l = w->l;
	struct xicmp *x = xi(l);
	struct icmp_fam *f = fam_of(s, lsrc);

	for (int b = 0; b < LOOP_BATCHES_PER_WAKE; b++) {
		int n = rx_batch(w, &f->ls);
		unsigned int k = 0, nt = 0;
		uint64_t now = clock_mono_ns();

		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			struct icmpw_dgram *d = &x->rx[i];
			struct icmpw_session *se;
			enum icmpw_drop why;
			struct icmpw_key key;
			struct icmpw_msg m;

			if (!icmpw_parse(d->icmp, d->len, f->v6, ICMPW_LISTENER, ICMP_MSG_MAX, &m, &why)) {
				xicmp_drop(l, why, 1);
				if (why == ICMPW_DROP_FOREIGN && d->unicast)
					answer_ping(l, f, d);
				continue;
			}
			icmpw_sock_key(&f->ls, d, m.id, &key);
			se = icmpw_table_get(&x->t, &key, now, true);
			if (x->t.lost) {	/* what was queued for an unproven session it evicted */
				xicmp_drop(l, ICMPW_DROP_NO_SESSION, x->t.lost);
				x->t.lost = 0;
			}
			if (!se) {
				xicmp_drop(l, ICMPW_DROP_TABLE_FULL, 1);
				continue;
			}
			icmpw_session_hold(se, m.seq, now);
			touch(x, &nt, se);
			if (!m.len)
				continue;
			w->pkts[k] = (struct wg_pkt){ .data = d->buf + (m.data - d->buf), .len = (uint32_t)m.len };
			xport_icmp_ep_from_key(&key, &w->pkts[k].ep);
			k++;
		}
		if (k)
			loop_net_input(l, w->pkts, k);
		for (unsigned int i = 0; i < nt; i++)
			xicmp_session_flush(l, f, x->touched[i], now);
		xicmp_tx_flush(l);
		if (n < ICMP_BATCH)
			return;
	}
}

static struct icmp_dial *dial_find(struct xicmp *x, struct icmp_fam *f, const struct icmpw_dgram *d, uint16_t id)
{
	for (unsigned int i = 0; i < ICMP_DIALS; i++) {
		struct icmp_dial *dl = &x->d[i];

		if (dl->used && dl->id == id && dl->v6 == f->v6 && icmpw_sock_from(&f->ds, d, &dl->to))
			return dl;
	}
	return NULL;
}

void xicmp_dial_event(struct loop_worker *w, struct loop_src *s, uint32_t events)
{
	struct wg_loop *l = w->l;
	struct xicmp *x = xi(l);
	struct icmp_fam *f = fam_of(s, dsrc);

	for (int b = 0; b < LOOP_BATCHES_PER_WAKE; b++) {
		int n = rx_batch(w, &f->ds);
		uint64_t now = clock_mono_ns();
		unsigned int k = 0;

		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			struct icmpw_dgram *d = &x->rx[i];
			enum icmpw_drop why;
			struct icmp_dial *dl;
			struct icmpw_msg m;

			if (!icmpw_parse(d->icmp, d->len, f->v6, ICMPW_DIALLER, ICMP_MSG_MAX, &m, &why)) {
				xicmp_drop(l, why, 1);
				continue;
			}
			dl = dial_find(x, f, d, m.id);
			if (!dl) {
				xicmp_drop(l, ICMPW_DROP_WRONG_ID, 1);
				continue;
			}
			icmpw_poll_reply(&dl->poll, now, m.backlog, m.len > 0);
			dl->replied = true;
			if (!m.len)
				continue;
			dl->last_used = now;
			w->pkts[k] = (struct wg_pkt){ .data = d->buf + (m.data - d->buf), .len = (uint32_t)m.len,
						      .ep = dl->ep };
			k++;
		}
		if (k)
			loop_net_input(l, w->pkts, k);
		/* what the replies' backlog asks for */
		for (unsigned int i = 0; i < ICMP_DIALS; i++)
			if (x->d[i].replied) {
				x->d[i].replied = false;
				if (x->d[i].used)
					xicmp_dial_poll(l, f, &x->d[i], now);
			}
		xicmp_tx_flush(l);
		if (n < ICMP_BATCH)
			return;
	}
}
