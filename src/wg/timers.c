/* WireGuard timer policy. Behaviour follows the whitepaper's section 6 and the way the Linux
 * driver arms its five per-peer timers; here each timer is only a deadline. */
#include "timers.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

/* Jitter only spreads retries apart; like the kernel's prandom it need not be secret, and a
 * getrandom() call per sent packet (data_sent arms a timer each time) shows in ping latency.
 * A per-thread xorshift seeded once from getrandom() is enough. */
static uint64_t default_jitter(void *arg)
{
	static __thread uint64_t x;

	(void)arg;
	if (!x && (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x) || !x))
		x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)&x;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (x >> 32) % (REKEY_TIMEOUT_JITTER_MAX + 1);
}

static uint64_t jitter(struct timers *t)
{
	uint64_t j = t->jitter(t->jitter_arg);

	return j > REKEY_TIMEOUT_JITTER_MAX ? REKEY_TIMEOUT_JITTER_MAX : j;
}

/* 0 means "off", so a deadline computed at time 0 must still be armed. */
static uint64_t at(uint64_t now, uint64_t delta)
{
	uint64_t d = now + delta;

	return d ? d : 1;
}

void timers_init(struct timers *t, timers_jitter_fn fn, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->jitter = fn ? fn : default_jitter;
	t->jitter_arg = arg;
}

void timers_stop(struct timers *t)
{
	t->retransmit_at = t->keepalive_at = t->new_handshake_at = 0;
	t->persistent_at = t->expire_at = t->zero_keys_at = 0;
	t->need_another_keepalive = false;
	t->handshake_attempts = 0;
}

void timers_data_sent(struct timers *t, uint64_t now)
{
	/* Heard nothing back within KEEPALIVE + TIMERS_REKEY_TIMEOUT of sending data: the peer may have
	 * lost our session, so start a fresh handshake. */
	if (!t->new_handshake_at)
		t->new_handshake_at = at(now, TIMERS_KEEPALIVE_TIMEOUT + TIMERS_REKEY_TIMEOUT + jitter(t));
}

void timers_data_received(struct timers *t, uint64_t now)
{
	if (!t->keepalive_at)
		t->keepalive_at = at(now, TIMERS_KEEPALIVE_TIMEOUT);
	else
		t->need_another_keepalive = true;
}

void timers_auth_packet_sent(struct timers *t, uint64_t now)
{
	(void)now;
	t->keepalive_at = 0;		/* anything we send tells the peer we are alive */
}

void timers_auth_packet_received(struct timers *t, uint64_t now)
{
	(void)now;
	t->new_handshake_at = 0;
}

void timers_auth_packet_traversal(struct timers *t, uint64_t now)
{
	if (t->persistent_interval)
		t->persistent_at = at(now, t->persistent_interval * TIMERS_NS_PER_SEC);
}

void timers_handshake_initiated(struct timers *t, uint64_t now)
{
	t->last_initiation_sent = now;
	t->initiation_ever_sent = true;
	t->retransmit_at = at(now, TIMERS_REKEY_TIMEOUT + jitter(t));
}

void timers_handshake_complete(struct timers *t, uint64_t now)
{
	(void)now;
	t->retransmit_at = 0;
	t->handshake_attempts = 0;
	t->sent_lastminute_handshake = false;
}

void timers_session_derived(struct timers *t, uint64_t now, bool initiator)
{
	t->have_session = true;
	t->session_initiator = initiator;
	t->session_birth = now;
	t->sent_lastminute_handshake = false;
	t->expire_at = at(now, TIMERS_REJECT_AFTER_TIME);
	t->zero_keys_at = at(now, 3 * TIMERS_REJECT_AFTER_TIME);
}

/* No more than one initiation per TIMERS_REKEY_TIMEOUT per peer, whatever asks for it. */
static bool rate_limited(const struct timers *t, uint64_t now)
{
	return t->initiation_ever_sent && now - t->last_initiation_sent < TIMERS_REKEY_TIMEOUT;
}

unsigned int timers_want_handshake(struct timers *t, uint64_t now)
{
	/* A fresh reason to handshake starts a new series of attempts. */
	t->handshake_attempts = 0;
	return rate_limited(t, now) ? 0 : TIMERS_SEND_HANDSHAKE_INITIATION;
}

void timers_handshake_reset(struct timers *t)
{
	t->retransmit_at = 0;
	t->handshake_attempts = 0;
	t->initiation_ever_sent = false;
}

unsigned int timers_keep_fresh_send(struct timers *t, uint64_t now, uint64_t send_counter)
{
	if (!t->have_session)
		return timers_want_handshake(t, now);
	/* Only the initiator rekeys on age, so both ends do not race to initiate. */
	if (send_counter > REKEY_AFTER_MESSAGES ||
	    (t->session_initiator && now - t->session_birth >= TIMERS_REKEY_AFTER_TIME))
		return timers_want_handshake(t, now);
	return 0;
}

unsigned int timers_keep_fresh_receive(struct timers *t, uint64_t now)
{
	/* The initiator also rekeys when receiving on a session close to expiry, in case it has
	 * nothing to send itself; once per session. */
	if (!t->have_session || !t->session_initiator || t->sent_lastminute_handshake)
		return 0;
	if (now - t->session_birth < TIMERS_REJECT_AFTER_TIME - TIMERS_KEEPALIVE_TIMEOUT - TIMERS_REKEY_TIMEOUT)
		return 0;
	t->sent_lastminute_handshake = true;
	return timers_want_handshake(t, now);
}

void timers_set_persistent_keepalive(struct timers *t, uint64_t now, uint16_t seconds)
{
	uint16_t old = t->persistent_interval;

	t->persistent_interval = seconds;
	if (!seconds) {
		t->persistent_at = 0;
	} else if (!old || !t->persistent_at) {
		t->persistent_at = at(now, 0);
	} else if (t->persistent_at > now + seconds * TIMERS_NS_PER_SEC) {
		t->persistent_at = at(now, seconds * TIMERS_NS_PER_SEC);
	}
}

uint64_t timers_next_deadline(const struct timers *t)
{
	const uint64_t d[] = { t->retransmit_at, t->keepalive_at, t->new_handshake_at,
			       t->persistent_at, t->expire_at, t->zero_keys_at };
	uint64_t min = UINT64_MAX;

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (d[i] && d[i] < min)
			min = d[i];
	return min;
}

static bool due(uint64_t *deadline, uint64_t now)
{
	if (!*deadline || *deadline > now)
		return false;
	*deadline = 0;
	return true;
}

unsigned int timers_tick(struct timers *t, uint64_t now)
{
	unsigned int act = 0;

	if (due(&t->retransmit_at, now)) {
		if (t->handshake_attempts >= TIMERS_MAX_HANDSHAKE_RETRIES) {
			/* Gave up for TIMERS_REKEY_ATTEMPT_TIME: drop what waits for a session, and
			 * make sure stale keys do not outlive us. */
			t->keepalive_at = 0;
			t->need_another_keepalive = false;
			act |= TIMERS_CLEAR_QUEUE;
			if (!t->zero_keys_at)
				t->zero_keys_at = at(now, 3 * TIMERS_REJECT_AFTER_TIME);
		} else {
			t->handshake_attempts++;
			act |= TIMERS_SEND_HANDSHAKE_INITIATION;
		}
	}
	if (due(&t->keepalive_at, now)) {
		act |= TIMERS_SEND_KEEPALIVE;
		if (t->need_another_keepalive) {
			t->need_another_keepalive = false;
			t->keepalive_at = at(now, TIMERS_KEEPALIVE_TIMEOUT);
		}
	}
	if (due(&t->new_handshake_at, now))
		act |= timers_want_handshake(t, now);
	if (due(&t->persistent_at, now) && t->persistent_interval)
		act |= TIMERS_SEND_PERSISTENT_KEEPALIVE;
	if (due(&t->expire_at, now)) {
		t->have_session = false;
		act |= TIMERS_EXPIRE_SESSION;
	}
	if (due(&t->zero_keys_at, now)) {
		t->have_session = false;
		t->expire_at = 0;
		act |= TIMERS_ZERO_KEYS;
	}
	return act;
}

bool timers_session_usable(uint64_t birth, uint64_t now, uint64_t counter)
{
	return now - birth < TIMERS_REJECT_AFTER_TIME && counter < REJECT_AFTER_MESSAGES;
}
