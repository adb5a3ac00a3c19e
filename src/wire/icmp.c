/* ICMP transport framing and the dialler's poll policy (see icmp.h). */
#include <string.h>

#include "lib/packet.h"
#include "wire/icmp.h"

static const char *const drop_names[ICMPW_DROP_MAX] = {
	[ICMPW_DROP_SHORT] = "icmp_short",
	[ICMPW_DROP_TYPE] = "icmp_type",
	[ICMPW_DROP_CSUM] = "icmp_csum",
	[ICMPW_DROP_FOREIGN] = "icmp_foreign",
	[ICMPW_DROP_VERSION] = "icmp_version",
	[ICMPW_DROP_LENGTH] = "icmp_length",
	[ICMPW_DROP_TOO_LONG] = "icmp_too_long",
	[ICMPW_DROP_WRONG_ID] = "icmp_wrong_id",
	[ICMPW_DROP_QUEUE_FULL] = "icmp_queue_full",
	[ICMPW_DROP_NO_SESSION] = "icmp_no_session",
	[ICMPW_DROP_TABLE_FULL] = "icmp_table_full",
	[ICMPW_DROP_SEND] = "icmp_send",
};

const char *icmpw_drop_name(enum icmpw_drop d)
{
	return (unsigned int)d < ICMPW_DROP_MAX ? drop_names[d] : "?";
}

static uint8_t echo_type(bool v6, enum icmpw_role sender)
{
	if (sender == ICMPW_DIALLER)
		return v6 ? PKT_ICMP6_ECHO_REQUEST : PKT_ICMP_ECHO_REQUEST;
	return v6 ? PKT_ICMP6_ECHO_REPLY : PKT_ICMP_ECHO_REPLY;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

bool icmpw_is_ours(const uint8_t *icmp, size_t len, bool v6)
{
	if (len < ICMPW_ECHO_HLEN + 2 || icmp[1] != 0 || get16(icmp + ICMPW_ECHO_HLEN) != ICMPW_MAGIC)
		return false;
	return icmp[0] == echo_type(v6, ICMPW_DIALLER) || icmp[0] == echo_type(v6, ICMPW_LISTENER);
}

bool icmpw_parse(const uint8_t *icmp, size_t len, bool v6, enum icmpw_role role, size_t limit,
		 struct icmpw_msg *m, enum icmpw_drop *why)
{
	const uint8_t *h = icmp + ICMPW_ECHO_HLEN;
	/* A listener takes what diallers send, and the other way round. */
	uint8_t want = echo_type(v6, role == ICMPW_LISTENER ? ICMPW_DIALLER : ICMPW_LISTENER);
	size_t n;

	memset(m, 0, sizeof(*m));
	if (len < ICMPW_ECHO_HLEN) {
		*why = ICMPW_DROP_SHORT;
		return false;
	}
	m->type = icmp[0];
	m->id = get16(icmp + 4);
	m->seq = get16(icmp + 6);
	if (icmp[0] != want || icmp[1] != 0) {
		*why = ICMPW_DROP_TYPE;
		return false;
	}
	if (!v6 && pkt_csum(icmp, len) != 0) {
		*why = ICMPW_DROP_CSUM;
		return false;
	}
	if (len < ICMPW_OVERHEAD || get16(h) != ICMPW_MAGIC) {
		/* Too short to be ours or not ours at all: either way an ordinary ping. */
		*why = ICMPW_DROP_FOREIGN;
		return false;
	}
	if (h[2] != ICMPW_VERSION) {
		*why = ICMPW_DROP_VERSION;
		return false;
	}
	n = get16(h + 4);
	if (n != len - ICMPW_OVERHEAD) {
		*why = ICMPW_DROP_LENGTH;
		return false;
	}
	if (n > limit) {
		*why = ICMPW_DROP_TOO_LONG;
		return false;
	}
	m->backlog = role == ICMPW_DIALLER ? h[3] : 0;
	m->data = icmp + ICMPW_OVERHEAD;
	m->len = n;
	return true;
}

size_t icmpw_build(uint8_t *out, size_t cap, bool v6, enum icmpw_role role, uint16_t id,
		   uint16_t seq, uint8_t backlog, const void *data, size_t len)
{
	size_t total = ICMPW_OVERHEAD + len;

	if (len > ICMPW_MAX_MSG || cap < total)
		return 0;
	out[0] = echo_type(v6, role);
	out[1] = 0;
	put16(out + 2, 0);
	put16(out + 4, id);
	put16(out + 6, seq);
	put16(out + 8, ICMPW_MAGIC);
	out[10] = ICMPW_VERSION;
	out[11] = role == ICMPW_LISTENER ? backlog : 0;
	put16(out + 12, (uint16_t)len);
	if (len)
		memmove(out + ICMPW_OVERHEAD, data, len);
	/* ICMPv6 raw sockets always have the kernel compute the checksum (pseudo header). */
	if (!v6)
		put16(out + 2, pkt_csum(out, total));
	return total;
}

size_t icmpw_echo_answer(const uint8_t *icmp, size_t len, bool v6, uint8_t *out, size_t cap)
{
	if (len < ICMPW_ECHO_HLEN || len > cap || icmp[1] != 0 ||
	    icmp[0] != (v6 ? PKT_ICMP6_ECHO_REQUEST : PKT_ICMP_ECHO_REQUEST))
		return 0;
	memmove(out, icmp, len);
	out[0] = v6 ? PKT_ICMP6_ECHO_REPLY : PKT_ICMP_ECHO_REPLY;
	put16(out + 2, 0);
	if (!v6)
		put16(out + 2, pkt_csum(out, len));
	return len;
}

void icmpw_poll_init(struct icmpw_poll *p, uint64_t now)
{
	memset(p, 0, sizeof(*p));
	p->last_data = now;
	p->last_send = now - ICMPW_IDLE_MAX_NS;   /* the first poll is due at once */
}

void icmpw_poll_sent(struct icmpw_poll *p, uint64_t now, bool data)
{
	/* Mirrors the listener: with every slot held, the oldest is let go. */
	if (p->n == ICMPW_SLOTS) {
		p->head = (p->head + 1) % ICMPW_SLOTS;
		p->n--;
	}
	p->sent[(p->head + p->n) % ICMPW_SLOTS] = now;
	p->n++;
	p->last_send = now;
	if (data)
		p->last_data = now;
}

void icmpw_poll_reply(struct icmpw_poll *p, uint64_t now, uint8_t backlog, bool data)
{
	/* The listener answers its oldest held request first. */
	while (p->n && now - p->sent[p->head] >= ICMPW_HOLD_NS) {
		p->head = (p->head + 1) % ICMPW_SLOTS;
		p->n--;
	}
	if (p->n) {
		p->head = (p->head + 1) % ICMPW_SLOTS;
		p->n--;
	}
	p->backlog = backlog;
	if (data)
		p->last_data = now;
}

unsigned int icmpw_poll_due(const struct icmpw_poll *p, uint64_t now, uint64_t *next)
{
	unsigned int held = 0, want = 1, i;
	uint64_t oldest = 0, idle = now - p->last_data, interval;

	*next = now + ICMPW_REFRESH_NS;
	for (i = 0; i < p->n; i++) {
		uint64_t t = p->sent[(p->head + i) % ICMPW_SLOTS];

		if (now - t < ICMPW_REFRESH_NS) {
			if (!held++)
				oldest = t;
		}
	}
	if (idle < ICMPW_ACTIVE_NS)
		want += p->backlog;
	if (want > ICMPW_SLOTS)
		want = ICMPW_SLOTS;
	if (held)
		*next = oldest + ICMPW_REFRESH_NS;
	if (want > held && (held || idle < ICMPW_IDLE_AFTER_NS))
		return want - held;
	if (held)
		return 0;
	/* Long idle, nothing held: one poll per interval, the interval growing with the idle time. */
	interval = idle / 4;
	if (interval < ICMPW_REFRESH_NS)
		interval = ICMPW_REFRESH_NS;
	if (interval > ICMPW_IDLE_MAX_NS)
		interval = ICMPW_IDLE_MAX_NS;
	if (now - p->last_send >= interval)
		return 1;
	*next = p->last_send + interval;
	return 0;
}
