/* ICMP transport, listening side: sessions by (address, echo identifier), the requests each
 * holds unanswered and its bounded downstream queue (see icmp.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire/icmp.h"

int icmpw_table_init(struct icmpw_table *t, unsigned int sessions, unsigned int qcap, size_t msgmax)
{
	memset(t, 0, sizeof(*t));
	if (!sessions || !qcap || !msgmax || msgmax > ICMPW_MAX_MSG)
		return -EINVAL;
	t->s = calloc(sessions, sizeof(*t->s));
	if (!t->s)
		return -ENOMEM;
	t->n = sessions;
	t->qcap = qcap;
	t->msgmax = msgmax;
	for (unsigned int i = 0; i < sessions; i++) {
		t->s[i].q = malloc((size_t)qcap * msgmax);
		t->s[i].qlen = calloc(qcap, sizeof(*t->s[i].qlen));
		if (!t->s[i].q || !t->s[i].qlen) {
			icmpw_table_free(t);
			return -ENOMEM;
		}
	}
	return 0;
}

void icmpw_table_free(struct icmpw_table *t)
{
	for (unsigned int i = 0; t->s && i < t->n; i++) {
		free(t->s[i].q);
		free(t->s[i].qlen);
	}
	free(t->s);
	memset(t, 0, sizeof(*t));
}

static bool key_eq(const struct icmpw_key *a, const struct icmpw_key *b)
{
	return a->id == b->id && endpoint_equal(&a->ep, &b->ep) &&
	       endpoint_local_equal(&a->ep.local, &b->ep.local);
}

static bool older(const struct icmpw_session *s, const struct icmpw_session *than)
{
	return !than || s->last_seen < than->last_seen;
}

struct icmpw_session *icmpw_table_get(struct icmpw_table *t, const struct icmpw_key *key,
				      uint64_t now, bool create)
{
	struct icmpw_session *free_s = NULL, *stale = NULL, *victim = NULL;
	unsigned int mine = 0;

	/* A linear scan: tables are small (one entry per dialling peer), and this keeps the
	 * memory bound obvious. */
	for (unsigned int i = 0; i < t->n; i++) {
		struct icmpw_session *s = &t->s[i];

		if (!s->used) {
			if (!free_s)
				free_s = s;
		} else if (key_eq(&s->key, key)) {
			if (create)
				s->last_seen = now;
			return s;
		} else if (now - s->last_seen >= ICMPW_SESSION_TTL_NS) {
			if (older(s, stale))
				stale = s;
		} else if (!s->proven) {
			if (older(s, victim))
				victim = s;
			mine += endpoint_same_source(&s->key.ep.sa, &key->ep.sa);
		}
	}
	if (!create || (t->prove && mine >= ICMPW_UNPROVEN_PER_SOURCE))
		return NULL;
	if (!free_s)
		free_s = stale ? stale : victim;
	if (!free_s)
		return NULL;
	if (free_s->used) {
		t->lost += free_s->q_n;
		t->unproven -= !free_s->proven;
	}
	free_s->used = true;
	free_s->proven = !t->prove;
	t->unproven += !free_s->proven;
	free_s->key = *key;
	free_s->last_seen = now;
	free_s->slot_head = free_s->slot_n = 0;
	free_s->q_head = free_s->q_n = 0;
	return free_s;
}

bool icmpw_table_prove(struct icmpw_table *t, const struct icmpw_key *key, uint64_t peer)
{
	struct icmpw_session *s = icmpw_table_get(t, key, 0, false);

	if (!s || (s->proven && s->prover == peer))
		return false;
	t->unproven -= !s->proven;
	s->proven = true;
	s->prover = peer;
	for (unsigned int i = 0; i < t->n; i++) {
		struct icmpw_session *o = &t->s[i];

		if (o != s && o->used && o->proven && o->prover == peer) {
			o->proven = false;
			t->unproven++;
		}
	}
	return true;
}

static void expire_slots(struct icmpw_session *s, uint64_t now)
{
	while (s->slot_n && now - s->slot_t[s->slot_head] >= ICMPW_HOLD_NS) {
		s->slot_head = (s->slot_head + 1) % ICMPW_SLOTS;
		s->slot_n--;
	}
}

void icmpw_session_hold(struct icmpw_session *s, uint16_t seq, uint64_t now)
{
	unsigned int i;

	expire_slots(s, now);
	if (s->slot_n == ICMPW_SLOTS) {
		s->slot_head = (s->slot_head + 1) % ICMPW_SLOTS;
		s->slot_n--;
	}
	i = (s->slot_head + s->slot_n) % ICMPW_SLOTS;
	s->slot_seq[i] = seq;
	s->slot_t[i] = now;
	s->slot_n++;
	s->last_seen = now;
}

unsigned int icmpw_session_held(const struct icmpw_session *s, uint64_t now)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < s->slot_n; i++)
		n += now - s->slot_t[(s->slot_head + i) % ICMPW_SLOTS] < ICMPW_HOLD_NS;
	return n;
}

int icmpw_session_enqueue(struct icmpw_table *t, struct icmpw_session *s, const void *msg, size_t len)
{
	unsigned int i;

	if (len > t->msgmax)
		return -EMSGSIZE;
	if (s->q_n == t->qcap)
		return -ENOBUFS;
	i = (s->q_head + s->q_n) % t->qcap;
	memcpy(s->q + (size_t)i * t->msgmax, msg, len);
	s->qlen[i] = (uint16_t)len;
	s->q_n++;
	return 0;
}

bool icmpw_session_take(struct icmpw_table *t, struct icmpw_session *s, uint64_t now,
			uint16_t *seq, const uint8_t **msg, size_t *len, uint8_t *backlog)
{
	unsigned int i = s->q_head;

	expire_slots(s, now);
	if (!s->slot_n || !s->q_n)
		return false;
	*seq = s->slot_seq[s->slot_head];
	s->slot_head = (s->slot_head + 1) % ICMPW_SLOTS;
	s->slot_n--;
	*msg = s->q + (size_t)i * t->msgmax;
	*len = s->qlen[i];
	s->q_head = (i + 1) % t->qcap;
	s->q_n--;
	*backlog = s->q_n > 255 ? 255 : (uint8_t)s->q_n;
	return true;
}
