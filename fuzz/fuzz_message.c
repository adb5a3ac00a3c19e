/* Arbitrary bytes into every WireGuard message consumer of a responder with a fixed identity:
 * MAC checks, initiation/response/cookie-reply consumption (with and without the MAC gate)
 * and transport decryption on an established keypair. Nothing may crash or leak. */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wg/cookie.h"
#include "wg/crypto.h"
#include "wg/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct noise_identity resp_id, init_id;
static struct noise_handshake resp_hs;     /* responder's view of the initiator */
static struct noise_handshake pending_hs;  /* responder's own initiation, awaiting a response */
static struct noise_handshake init_hs;
static struct cookie_checker checker;
static struct cookie_maker maker;
static struct noise_keypair kp, peer_kp;
static const uint8_t src[6] = { 198, 18, 0, 2, 0xca, 0x6c };

static struct noise_handshake *lookup(const uint8_t key[32], void *arg)
{
	return memcmp(key, resp_hs.remote_static, 32) ? NULL : &resp_hs;
}

static void setup(void)
{
	uint8_t k[32];
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct noise_handshake *hs;

	memset(k, 0x01, 32);
	if (noise_identity_set(&resp_id, k))
		abort();
	memset(k, 0x02, 32);
	if (noise_identity_set(&init_id, k))
		abort();
	noise_handshake_init(&resp_hs, &resp_id, init_id.static_public, NULL);
	noise_handshake_init(&init_hs, &init_id, resp_id.static_public, NULL);
	cookie_checker_init(&checker, resp_id.static_public);
	cookie_maker_init(&maker, init_id.static_public);

	/* A real session so data messages reach the AEAD. */
	if (noise_create_initiation(&init, &init_hs, 0x4321) ||
	    noise_consume_initiation(&init, &resp_id, lookup, NULL, 1, &hs) ||
	    noise_create_response(&resp, hs, 0x1234) ||
	    noise_consume_response(&resp, &init_hs) ||
	    noise_begin_session(&resp_hs, &kp, 1) || noise_begin_session(&init_hs, &peer_kp, 1))
		abort();
	/* An initiation of our own, so responses and cookie replies have something to answer. */
	noise_handshake_init(&pending_hs, &resp_id, init_id.static_public, NULL);
	if (noise_create_initiation(&init, &pending_hs, 0x5555))
		abort();
	cookie_add_macs(&maker, &init, sizeof(init), 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static uint8_t buf[4096];
	static uint64_t now = 10ULL * WG_NSEC_PER_SEC;
	struct noise_handshake *hs;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1 || size > sizeof(buf))
		return 0;
	now += WG_NSEC_PER_SEC / 10;
	memcpy(buf, data, size);

	switch (data[0]) {
	case WG_MSG_INITIATION:
		if (size != WG_MSG_INITIATION_LEN)
			break;
		(void)cookie_validate(&checker, buf, size, src, sizeof(src), size & 1, now);
		if (noise_consume_initiation((struct wg_msg_initiation *)buf, &resp_id, lookup, NULL, now, &hs) == 0) {
			struct wg_msg_response r;
			(void)noise_create_response(&r, hs, 0x7777);
			noise_handshake_clear(hs);
		}
		break;
	case WG_MSG_RESPONSE:
		if (size != WG_MSG_RESPONSE_LEN)
			break;
		(void)cookie_validate(&checker, buf, size, src, sizeof(src), true, now);
		{
			struct noise_handshake copy = pending_hs;   /* keep it awaiting a response */
			(void)noise_consume_response((struct wg_msg_response *)buf, &copy);
			noise_handshake_wipe(&copy);
		}
		break;
	case WG_MSG_COOKIE_REPLY:
		if (size != WG_MSG_COOKIE_REPLY_LEN)
			break;
		(void)cookie_consume_reply(&maker, (struct wg_msg_cookie_reply *)buf, now);
		maker.have_last_mac1 = true;
		break;
	case WG_MSG_DATA:
		(void)noise_decrypt_data(&kp, buf, size, now);
		break;
	default:
		/* Any other bytes: the MAC check must cope with every length. */
		(void)cookie_validate(&checker, buf, size, src, sizeof(src), true, now);
		break;
	}
	return 0;
}
