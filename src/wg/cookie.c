/* MAC1, MAC2 and the cookie exchange. Every MAC comparison is constant time; the cookie
 * secret rotates lazily on first use after COOKIE_SECRET_MAX_AGE. */
#include "wg/cookie.h"

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "wg/crypto.h"

static const uint64_t secret_max_age = COOKIE_SECRET_MAX_AGE * WG_NSEC_PER_SEC;
static const uint64_t cookie_max_age = (COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY) * WG_NSEC_PER_SEC;

static void label_key(uint8_t out[WG_HASH_LEN], const char *label, const uint8_t pub[WG_KEY_LEN])
{
	crypto_blake2s_2(out, label, 8, pub, WG_KEY_LEN);
}

/* mac1 covers everything before it; mac2 everything before mac2 (so mac1 too). */
static void compute_mac1(uint8_t out[WG_MAC_LEN], const uint8_t key[WG_HASH_LEN], const uint8_t *msg, size_t len)
{
	crypto_blake2s(out, WG_MAC_LEN, msg, len - sizeof(struct wg_macs), key, WG_HASH_LEN);
}

static void compute_mac2(uint8_t out[WG_MAC_LEN], const uint8_t cookie[WG_COOKIE_LEN], const uint8_t *msg, size_t len)
{
	crypto_blake2s(out, WG_MAC_LEN, msg, len - WG_MAC_LEN, cookie, WG_COOKIE_LEN);
}

static bool expired(uint64_t birth, uint64_t now, uint64_t max_age)
{
	return now < birth || now - birth >= max_age;
}

void cookie_checker_init(struct cookie_checker *c, const uint8_t our_public[WG_KEY_LEN])
{
	label_key(c->mac1_key, WG_LABEL_MAC1, our_public);
	label_key(c->cookie_key, WG_LABEL_COOKIE, our_public);
}

void cookie_checker_wipe(struct cookie_checker *c)
{
	crypto_wipe(c, sizeof(*c));
}

static void make_cookie(struct cookie_checker *c, uint8_t cookie[WG_COOKIE_LEN],
			const void *src, size_t srclen, uint64_t now)
{
	if (!c->have_secret || expired(c->secret_birth, now, secret_max_age)) {
		crypto_random(c->secret, sizeof(c->secret));
		c->secret_birth = now;
		c->have_secret = true;
	}
	crypto_blake2s(cookie, WG_COOKIE_LEN, src, srclen, c->secret, sizeof(c->secret));
}

static bool mac2_matches(const uint8_t cookie[WG_COOKIE_LEN], const void *msg, size_t len)
{
	const struct wg_macs *macs = (const struct wg_macs *)((const uint8_t *)msg + len - sizeof(*macs));
	uint8_t mac[WG_MAC_LEN];

	compute_mac2(mac, cookie, msg, len);
	return crypto_equal(mac, macs->mac2, WG_MAC_LEN);
}

bool cookie_mac2_valid(const uint8_t secret[WG_HASH_LEN], uint64_t birth, uint64_t now,
		       const void *msg, size_t len, const void *src, size_t srclen)
{
	uint8_t cookie[WG_COOKIE_LEN];
	bool ok;

	if (len <= sizeof(struct wg_macs) || expired(birth, now, secret_max_age))
		return false;
	crypto_blake2s(cookie, WG_COOKIE_LEN, src, srclen, secret, WG_HASH_LEN);
	ok = mac2_matches(cookie, msg, len);
	crypto_wipe(cookie, sizeof(cookie));
	return ok;
}

bool cookie_mac1_valid(const uint8_t mac1_key[WG_HASH_LEN], const void *msg, size_t len)
{
	const struct wg_macs *macs;
	uint8_t mac[WG_MAC_LEN];

	if (len <= sizeof(*macs))
		return false;
	macs = (const struct wg_macs *)((const uint8_t *)msg + len - sizeof(*macs));
	compute_mac1(mac, mac1_key, msg, len);
	return crypto_equal(mac, macs->mac1, WG_MAC_LEN);
}

enum cookie_result cookie_validate(struct cookie_checker *c, const void *msg, size_t len,
				   const void *src, size_t srclen, bool check_mac2, uint64_t now)
{
	if (!cookie_mac1_valid(c->mac1_key, msg, len))
		return COOKIE_BAD_MAC1;
	return check_mac2 ? cookie_validate_mac2(c, msg, len, src, srclen, now) : COOKIE_GOOD_MAC1;
}

enum cookie_result cookie_validate_mac2(struct cookie_checker *c, const void *msg, size_t len,
					const void *src, size_t srclen, uint64_t now)
{
	uint8_t cookie[WG_COOKIE_LEN];
	enum cookie_result r = COOKIE_GOOD_MAC1;

	if (len <= sizeof(struct wg_macs))
		return COOKIE_BAD_MAC1;
	make_cookie(c, cookie, src, srclen, now);
	if (mac2_matches(cookie, msg, len))
		r = COOKIE_GOOD_MAC2;
	crypto_wipe(cookie, sizeof(cookie));
	return r;
}

int cookie_reply_create(struct cookie_checker *c, struct wg_msg_cookie_reply *out,
			const void *msg, size_t len, uint32_t receiver_index_le,
			const void *src, size_t srclen, uint64_t now)
{
	uint8_t cookie[WG_COOKIE_LEN];
	const struct wg_macs *macs;

	if (len <= sizeof(*macs))
		return -EINVAL;
	macs = (const struct wg_macs *)((const uint8_t *)msg + len - sizeof(*macs));
	memset(out, 0, sizeof(*out));
	out->type = WG_MSG_COOKIE_REPLY;
	out->receiver_index = receiver_index_le;
	crypto_random(out->nonce, sizeof(out->nonce));
	make_cookie(c, cookie, src, srclen, now);
	bool ok = crypto_xaead_encrypt(out->encrypted_cookie, cookie, sizeof(cookie), macs->mac1,
				       WG_MAC_LEN, out->nonce, c->cookie_key);
	crypto_wipe(cookie, sizeof(cookie));
	return ok ? 0 : -ENOMEM;
}

void cookie_maker_init(struct cookie_maker *m, const uint8_t peer_public[WG_KEY_LEN])
{
	memset(m, 0, sizeof(*m));
	label_key(m->mac1_key, WG_LABEL_MAC1, peer_public);
	label_key(m->cookie_key, WG_LABEL_COOKIE, peer_public);
}

void cookie_maker_wipe(struct cookie_maker *m)
{
	crypto_wipe(m, sizeof(*m));
}

void cookie_add_macs(struct cookie_maker *m, void *msg, size_t len, uint64_t now)
{
	struct wg_macs *macs = (struct wg_macs *)((uint8_t *)msg + len - sizeof(*macs));

	compute_mac1(macs->mac1, m->mac1_key, msg, len);
	memcpy(m->last_mac1, macs->mac1, WG_MAC_LEN);
	m->have_last_mac1 = true;
	if (m->have_cookie && !expired(m->cookie_birth, now, cookie_max_age))
		compute_mac2(macs->mac2, m->cookie, msg, len);
	else
		memset(macs->mac2, 0, WG_MAC_LEN);
}

int cookie_consume_reply(struct cookie_maker *m, const struct wg_msg_cookie_reply *r, uint64_t now)
{
	uint8_t cookie[WG_COOKIE_LEN];

	if (r->type != WG_MSG_COOKIE_REPLY || r->reserved[0] || r->reserved[1] || r->reserved[2])
		return -EINVAL;
	if (!m->have_last_mac1)
		return -ENOENT;
	if (!crypto_xaead_decrypt(cookie, r->encrypted_cookie, sizeof(r->encrypted_cookie),
				  m->last_mac1, WG_MAC_LEN, r->nonce, m->cookie_key)) {
		crypto_wipe(cookie, sizeof(cookie));
		return -EBADMSG;
	}
	memcpy(m->cookie, cookie, sizeof(cookie));
	crypto_wipe(cookie, sizeof(cookie));
	m->cookie_birth = now;
	m->have_cookie = true;
	/* One reply per message sent: a replayed reply must not refresh the cookie. */
	m->have_last_mac1 = false;
	return 0;
}

size_t cookie_addr_from_sockaddr(uint8_t out[COOKIE_ADDR_MAX], const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(out, &in->sin_addr, 4);
		memcpy(out + 4, &in->sin_port, 2);
		return 6;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		memcpy(out, &in6->sin6_addr, 16);
		memcpy(out + 16, &in6->sin6_port, 2);
		return 18;
	}
	return 0;
}
