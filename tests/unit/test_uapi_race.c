/* Two control connections against one real device (wg_uapi_dev_ops): client A opens a set for
 * peer P and pauses; client B removes P (remove=true, replace_peers=true, or a private key whose
 * public half is P); A goes on with P's lines. Each request must apply whole, so A's lines
 * never reach a peer B freed (under ASan a use-after-free fails the test) and nothing it adds
 * to the allowed-IPs table points at freed memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wg/allowedips.h"
#include "wg/crypto.h"
#include "wg/key.h"
#include "wg/peer.h"
#include "wg/uapi_dev.h"

static int null_send(void *ctx, const struct wg_endpoint *ep, struct wg_pkt *pkts, unsigned int n)
{
	return (int)n;
}

static int null_tun(void *ctx, struct wg_pkt *pkts, unsigned int n)
{
	return (int)n;
}

static uint64_t fixed_now(void *ctx)
{
	return 1000 * WG_NSEC_PER_SEC;
}

static void fixed_wall(void *ctx, int64_t *sec, int64_t *nsec)
{
	*sec = 1700000000;
	*nsec = 0;
}

struct fix {
	struct wg_device dev;
	struct uapi_conn a, b;
	uint8_t p_priv[32], p_pub[32];
	char p_hex[KEY_HEX_LEN + 1], p_priv_hex[KEY_HEX_LEN + 1];
};

static int setup(void **state)
{
	struct wg_device_ops ops = { .udp_send = null_send, .tun_write = null_tun,
				     .now = fixed_now, .wall = fixed_wall };
	struct fix *f = calloc(1, sizeof(*f));
	uint8_t priv[32];

	assert_non_null(f);
	assert_int_equal(wg_device_init(&f->dev, "race", &ops), 0);
	crypto_x25519_keygen(priv);
	assert_int_equal(wg_device_set_private_key(&f->dev, priv), 0);
	crypto_x25519_keygen(f->p_priv);
	assert_true(crypto_x25519_pub(f->p_pub, f->p_priv));
	key_to_hex(f->p_hex, f->p_pub);
	key_to_hex(f->p_priv_hex, f->p_priv);
	uapi_conn_init(&f->a, -1);
	uapi_conn_init(&f->b, -1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	uapi_conn_free(&f->a);
	uapi_conn_free(&f->b);
	wg_device_uninit(&f->dev);
	free(f);
	return 0;
}

/* Feeds s to c and returns what c owes its client, consumed. */
static const char *feed(struct fix *f, struct uapi_conn *c, const char *s)
{
	static char resp[4096];

	uapi_conn_feed(c, &wg_uapi_dev_ops, &f->dev, s, strlen(s));
	assert_true(c->out.len < sizeof(resp));
	memcpy(resp, c->out.data ? c->out.data : "", c->out.len);
	resp[c->out.len] = 0;
	c->out.len = 0;
	return resp;
}

/* A: "set=1, public_key=P" ... B: what removes P ... A: endpoint and allowed IP of P. */
static void race(struct fix *f, const char *b_request)
{
	char a1[128];

	snprintf(a1, sizeof(a1), "set=1\npublic_key=%s\n", f->p_hex);
	assert_string_equal(feed(f, &f->a, a1), "");
	assert_string_equal(feed(f, &f->b, b_request), "errno=0\n\n");
	assert_string_equal(feed(f, &f->a, "endpoint=198.18.0.2:51820\nallowed_ip=198.19.0.2/32\n\n"),
			    "errno=0\n\n");
}

/* A's request is applied after B's, whole: P exists again with A's endpoint and allowed IP,
 * and the table's only entry points at that live peer. */
static void assert_p_recreated(struct fix *f)
{
	uint8_t dst[4];
	struct wg_peer *p = wg_device_find_peer(&f->dev, f->p_pub);

	assert_non_null(p);
	assert_int_equal(p->endpoint.sa.sa_family, AF_INET);
	assert_int_equal(ntohs(p->endpoint.in4.sin_port), 51820);
	inet_pton(AF_INET, "198.19.0.2", dst);
	assert_ptr_equal(aip_lookup_v4(f->dev.aip, dst), p);
	assert_int_equal(aip_count(f->dev.aip), 1);
	assert_int_equal(f->dev.n_peers, 1);
}

static void test_race_remove(void **state)
{
	struct fix *f = *state;
	char b[128];

	snprintf(b, sizeof(b), "set=1\npublic_key=%s\nremove=true\n\n", f->p_hex);
	race(f, b);
	assert_p_recreated(f);
}

static void test_race_replace_peers(void **state)
{
	struct fix *f = *state;
	char b[160];

	/* P must exist before A starts for B to have something to remove under A */
	snprintf(b, sizeof(b), "set=1\npublic_key=%s\n\n", f->p_hex);
	assert_string_equal(feed(f, &f->b, b), "errno=0\n\n");
	race(f, "set=1\nreplace_peers=true\n\n");
	assert_p_recreated(f);
}

/* B makes P the device's own key: A's lines for P are then those of our own public key, which
 * are checked and ignored (as wireguard-go does); nothing is left in the table. */
static void test_race_private_key(void **state)
{
	struct fix *f = *state;
	char b[160];

	snprintf(b, sizeof(b), "set=1\nprivate_key=%s\n\n", f->p_priv_hex);
	race(f, b);
	assert_null(wg_device_find_peer(&f->dev, f->p_pub));
	assert_int_equal(f->dev.n_peers, 0);
	assert_int_equal(aip_count(f->dev.aip), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_race_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_race_replace_peers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_race_private_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
