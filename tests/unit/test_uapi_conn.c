/* uapi connections against one real device (wg_uapi_dev_ops, its lock counted).
 *
 * The race of two clients: A opens a set for peer P and pauses; B removes P (remove=true,
 * replace_peers=true, or a private key whose public half is P); A goes on with P's lines.
 * Each request must apply whole, so A's lines never reach a peer B freed (under ASan a
 * use-after-free fails the test) and nothing it adds to the allowed-IPs table points at freed
 * memory. Then: one lock hold per request and none while input is incomplete or a response
 * is being written, the request limits, what a failed set leaves, the clamped private key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wg/allowedips.h"
#include "wg/crypto.h"
#include "wg/key.h"
#include "wg/peer.h"
#include "wg/uapi_dev.h"

static int null_send(void *ctx, struct endpoint *ep, struct wg_pkt *pkts, unsigned int n)
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

/* wg_uapi_dev_ops with its lock watched: never taken twice, counted per kind. */
static struct uapi_ops ops;
static int held, wlocks, rlocks, key_sets;
static uint64_t key_cpu_ns;	/* spent in set_private_key, under the write lock */

static void t_lock(void *d, bool write)
{
	assert_int_equal(held, 0);
	held = write ? 2 : 1;
	*(write ? &wlocks : &rlocks) += 1;
	wg_uapi_dev_ops.lock(d, write);
}

static void t_unlock(void *d, bool write)
{
	assert_int_equal(held, write ? 2 : 1);
	held = 0;
	wg_uapi_dev_ops.unlock(d, write);
}

/* Each call redoes the DH of every peer. */
static int t_set_private_key(void *d, const uint8_t key[32], void *prep)
{
	struct timespec t0, t1;
	int r;

	key_sets++;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	r = wg_uapi_dev_ops.set_private_key(d, key, prep);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	key_cpu_ns += (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec;
	return r;
}

struct fix {
	struct wg_device dev;
	struct uapi_conn a, b;
	uint8_t p_priv[32], p_pub[32];
	char p_hex[KEY_HEX_LEN + 1], p_priv_hex[KEY_HEX_LEN + 1];
};

static int setup(void **state)
{
	struct wg_device_ops dops = { .udp_send = null_send, .tun_write = null_tun,
				      .now = fixed_now, .wall = fixed_wall };
	struct fix *f = calloc(1, sizeof(*f));
	uint8_t priv[32];

	assert_non_null(f);
	ops = wg_uapi_dev_ops;
	ops.lock = t_lock;
	ops.unlock = t_unlock;
	ops.set_private_key = t_set_private_key;
	held = wlocks = rlocks = key_sets = 0;
	key_cpu_ns = 0;
	assert_int_equal(wg_device_init(&f->dev, "race", &dops), 0);
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

	uapi_conn_feed(c, &ops, &f->dev, s, strlen(s));
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

/* A set of n peers with an allowed IP each, keys derived from seed. */
static char *peers_request(unsigned int n, uint8_t seed)
{
	size_t cap = 64 + n * 128, len = 0;
	char *r = malloc(cap), hex[KEY_HEX_LEN + 1];
	uint8_t pub[32];

	assert_non_null(r);
	len += (size_t)snprintf(r + len, cap - len, "set=1\n");
	for (unsigned int i = 0; i < n; i++) {
		memset(pub, seed, sizeof(pub));
		pub[0] = (uint8_t)i;
		pub[1] = (uint8_t)(i >> 8);
		key_to_hex(hex, pub);
		len += (size_t)snprintf(r + len, cap - len, "public_key=%s\nallowed_ip=198.19.%u.%u/32\n",
					hex, (i >> 8) & 255, i & 255);
	}
	snprintf(r + len, cap - len, "\n");
	return r;
}

/* A set is applied under one hold of the write lock, however it arrives, and not before its
 * blank line; a get under one hold of the read lock. */
static void test_one_hold_per_request(void **state)
{
	struct fix *f = *state;
	char *req = peers_request(40, 7);
	size_t len = strlen(req);

	for (size_t i = 0; i + 1 < len; i++)
		uapi_conn_feed(&f->a, &ops, &f->dev, req + i, 1);
	assert_int_equal(wlocks, 0);
	assert_int_equal(f->dev.n_peers, 0);
	assert_string_equal(feed(f, &f->a, "\n"), "errno=0\n\n");
	assert_int_equal(wlocks, 1);
	assert_int_equal(f->dev.n_peers, 40);
	assert_int_equal(aip_count(f->dev.aip), 40);
	uapi_conn_feed(&f->b, &ops, &f->dev, "get=1\n\n", 7);
	assert_int_equal(strcmp(f->b.out.data + f->b.out.len - 9, "errno=0\n\n"), 0);
	assert_int_equal(rlocks, 1);
	assert_int_equal(wlocks, 1);
	free(req);
}

static void test_limits(void **state)
{
	struct fix *f = *state;
	char *req = peers_request(3, 9), *big;

	/* more peers or allowed IPs than allowed: refused whole, connection kept */
	f->a.lim.peers = 2;
	assert_string_equal(feed(f, &f->a, req), "errno=-7\n\n");
	assert_int_equal(f->dev.n_peers, 0);
	assert_int_equal(wlocks, 0);
	f->a.lim.peers = 3;
	f->a.lim.allowed_ips = 2;
	assert_string_equal(feed(f, &f->a, req), "errno=-7\n\n");
	assert_int_equal(f->dev.n_peers, 0);
	f->a.lim.allowed_ips = 3;
	assert_string_equal(feed(f, &f->a, req), "errno=0\n\n");
	assert_int_equal(f->dev.n_peers, 3);

	/* a request over the byte limit: errno=-EMSGSIZE and the connection is done */
	f->b.lim.request_bytes = 4096;
	big = malloc(8192);
	assert_non_null(big);
	strcpy(big, "set=1\n");
	for (size_t off = 6; off + 16 < 8000; off += 15)
		memcpy(big + off, "listen_port=77\n", 16);
	assert_false(uapi_conn_feed(&f->b, &ops, &f->dev, big, strlen(big)));
	assert_int_equal(f->b.out.len, strlen("errno=-90\n\n"));
	assert_memory_equal(f->b.out.data, "errno=-90\n\n", f->b.out.len);
	assert_int_equal(f->dev.listen_port, 0);
	assert_true(f->b.in_len <= 4097);	/* no more than one byte past the limit held */
	assert_true(f->b.in_cap <= 4097);	/* nor a buffer doubled past it */
	free(big);
	free(req);
}

/* As wireguard-go: the lines before the bad one stay applied (the peer it created too), the
 * rest is not; the connection goes on. */
static void test_error_keeps_what_came_before(void **state)
{
	struct fix *f = *state;
	char req[512];

	snprintf(req, sizeof(req), "set=1\nfwmark=5\npublic_key=%s\nallowed_ip=198.19.0.0/33\n"
		 "allowed_ip=198.19.0.9/32\n\n", f->p_hex);
	assert_string_equal(feed(f, &f->a, req), "errno=-22\n\n");
	assert_int_equal(f->dev.fwmark, 5);
	assert_non_null(wg_device_find_peer(&f->dev, f->p_pub));
	assert_int_equal(aip_count(f->dev.aip), 0);
	assert_int_equal(held, 0);
	assert_string_equal(feed(f, &f->a, "set=1\nfwmark=6\n\n"), "errno=0\n\n");
	assert_int_equal(f->dev.fwmark, 6);
	/* a set the client cut short (no blank line, then its side closed) is applied */
	feed(f, &f->b, "set=1\nfwmark=7\n");
	assert_int_equal(f->dev.fwmark, 6);
	uapi_conn_eof(&f->b, &ops, &f->dev);
	assert_int_equal(f->dev.fwmark, 7);
}

/* Stored clamped, as the kernel does: `wg show` prints +EUw... for /EUw... */
static void test_private_key_clamped(void **state)
{
	struct fix *f = *state;
	uint8_t k[32], pub[32];
	char req[256], hex[KEY_HEX_LEN + 1], want[128];
	const char *r;

	memcpy(k, f->p_priv, 32);
	k[0] |= 7;
	k[31] |= 0x80;
	key_to_hex(hex, k);
	snprintf(req, sizeof(req), "set=1\nprivate_key=%s\n\n", hex);
	assert_string_equal(feed(f, &f->a, req), "errno=0\n\n");
	assert_memory_equal(f->dev.identity.static_private, f->p_priv, 32);
	assert_memory_equal(f->dev.identity.static_public, f->p_pub, 32);
	snprintf(want, sizeof(want), "private_key=%s\n", f->p_priv_hex);
	r = feed(f, &f->a, "get=1\n\n");
	assert_non_null(strstr(r, want));
	assert_true(crypto_x25519_pub(pub, k));
	assert_memory_equal(pub, f->p_pub, 32);		/* the same key either way */
}

/* The static-static DH of new peers is done before the lock (wg_uapi_dev_ops.prepare): it must
 * be what computing it under the lock gives, also when the same set changes the private key
 * first (what was done ahead is then for the old key, and not used). */
static void assert_ss_right(struct fix *f)
{
	for (struct wg_peer *p = f->dev.peers; p; p = p->next) {
		uint8_t ss[32];

		assert_true(crypto_x25519(ss, f->dev.identity.static_private, p->public_key));
		assert_true(p->hs.ss_valid);
		assert_memory_equal(p->hs.precomputed_ss, ss, 32);
	}
}

static void test_dh_ahead(void **state)
{
	struct fix *f = *state;
	char *req = peers_request(20, 5), *req2 = peers_request(20, 6), *both;

	assert_string_equal(feed(f, &f->a, req), "errno=0\n\n");
	assert_int_equal(f->dev.n_peers, 20);
	assert_ss_right(f);
	both = malloc(strlen(req2) + 128);
	assert_non_null(both);
	sprintf(both, "set=1\nprivate_key=%s\n%s", f->p_priv_hex, req2 + 6);
	assert_string_equal(feed(f, &f->a, both), "errno=0\n\n");
	assert_int_equal(f->dev.n_peers, 40);
	assert_memory_equal(f->dev.identity.static_public, f->p_pub, 32);
	assert_ss_right(f);
	free(both);
	free(req2);
	free(req);
}

/* 1000 private_key= lines alternating between two keys, on a device of 100 peers: the key and
 * each peer's DH with it are set once, with the last line's key, not 1000 times under the
 * write lock (with 8 MiB of such lines that took minutes). */
static void test_private_key_lines_once(void **state)
{
	struct fix *f = *state;
	char *req = peers_request(100, 8), other[KEY_HEX_LEN + 1], *many;
	size_t cap = 1000 * 80 + 64, len;
	uint8_t k[32];

	assert_string_equal(feed(f, &f->a, req), "errno=0\n\n");
	assert_int_equal(f->dev.n_peers, 100);
	crypto_x25519_keygen(k);
	key_to_hex(other, k);
	many = malloc(cap);
	assert_non_null(many);
	len = (size_t)snprintf(many, cap, "set=1\n");
	for (int i = 0; i < 1000; i++)
		len += (size_t)snprintf(many + len, cap - len, "private_key=%s\n", i & 1 ? f->p_priv_hex : other);
	snprintf(many + len, cap - len, "\n");
	assert_string_equal(feed(f, &f->a, many), "errno=0\n\n");
	assert_int_equal(key_sets, 1);
	assert_int_equal(wlocks, 2);
	assert_memory_equal(f->dev.identity.static_private, f->p_priv, 32);
	assert_int_equal(f->dev.n_peers, 100);
	assert_ss_right(f);
	free(many);
	free(req);
}

/* A new private key on a device of 500 peers: every peer's DH with it is done before the
 * lock, so setting it under the lock takes no X25519 (500 of them take 20 ms or more). */
static void test_private_key_dh_ahead(void **state)
{
	struct fix *f = *state;
	char *req = peers_request(500, 9), set[128];

	assert_string_equal(feed(f, &f->a, req), "errno=0\n\n");
	assert_int_equal(f->dev.n_peers, 500);
	snprintf(set, sizeof(set), "set=1\nprivate_key=%s\n\n", f->p_priv_hex);
	assert_string_equal(feed(f, &f->a, set), "errno=0\n\n");
	assert_int_equal(key_sets, 1);
	assert_memory_equal(f->dev.identity.static_public, f->p_pub, 32);
	assert_ss_right(f);
	print_message("setting the key under the lock: %.2f ms of CPU\n", (double)key_cpu_ns / 1e6);
	assert_true(key_cpu_ns < 5000000);
	free(req);
}

/* Over a socket: nothing is locked while a request is incomplete, nor while a large get
 * response waits for the client to read it. */
static void test_io_unlocked(void **state)
{
	struct fix *f = *state;
	char *req = peers_request(600, 3), *resp;
	size_t len = strlen(req), got = 0, cap = 1 << 20;
	int sv[2], want;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	uapi_conn_free(&f->a);
	uapi_conn_init(&f->a, sv[0]);
	assert_int_equal(write(sv[1], req, len - 1), (ssize_t)(len - 1));
	want = uapi_conn_io(&f->a, &ops, &f->dev);
	assert_int_equal(want, UAPI_WANT_READ);
	assert_int_equal(wlocks, 0);
	assert_int_equal(f->dev.n_peers, 0);
	assert_int_equal(write(sv[1], "\nget=1\n\n", 8), 8);
	resp = malloc(cap);
	assert_non_null(resp);
	/* the response (600 peers, some 150 KB) does not fit the socket buffer at once */
	want = uapi_conn_io(&f->a, &ops, &f->dev);
	assert_int_equal(wlocks, 1);
	assert_int_equal(rlocks, 1);
	assert_int_equal(held, 0);
	while (want & UAPI_WANT_WRITE) {
		ssize_t r = read(sv[1], resp + got, cap - 1 - got);

		if (r > 0)
			got += (size_t)r;
		assert_int_equal(held, 0);
		want = uapi_conn_io(&f->a, &ops, &f->dev);
	}
	assert_int_equal(want, UAPI_WANT_READ);
	for (ssize_t r; (r = read(sv[1], resp + got, cap - 1 - got)) > 0;)
		got += (size_t)r;
	resp[got] = 0;
	assert_int_equal(strncmp(resp, "errno=0\n\n", 9), 0);
	assert_int_equal(strcmp(resp + got - 9, "errno=0\n\n"), 0);
	assert_int_equal(f->dev.n_peers, 600);
	assert_int_equal(rlocks, 1);
	close(sv[1]);
	free(resp);
	free(req);
}

/* c on a new socket pair, in pool: the client's end. */
static int conn_socket(struct uapi_conn *c, struct uapi_pool *pool)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	uapi_conn_free(c);
	uapi_conn_init(c, sv[0]);
	c->pool = pool;
	return sv[1];
}

/* The client at fd sends len bytes, c taking them as they come; c's last answer to the loop
 * (0: it is done, and freed). */
static int push(struct fix *f, struct uapi_conn *c, int fd, const char *data, size_t len)
{
	size_t off = 0;
	int want = UAPI_WANT_READ;

	while (want) {
		ssize_t w = off < len ? send(fd, data + off, len - off, MSG_NOSIGNAL) : 0;

		if (w > 0)
			off += (size_t)w;
		want = uapi_conn_io(c, &ops, &f->dev);
		if (off == len && !(want & UAPI_WANT_WRITE) && (w <= 0 || want != UAPI_WANT_READ))
			break;
	}
	if (!want)
		uapi_conn_free(c);
	return want;
}

/* What the client at fd has been sent (NUL-terminated, in a static buffer), and whether the
 * connection is closed after it. */
static const char *answer(int fd, bool *closed)
{
	static char buf[1 << 20];
	size_t got = 0;
	ssize_t r;

	while ((r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)r;
	*closed = r == 0 || (r < 0 && errno == ECONNRESET);	/* reset: it left input unread */
	buf[got] = 0;
	return buf;
}

/* "set=1\n" and fwmark= lines, at most len bytes in all, without the blank line. */
static char *partial_set(size_t len)
{
	char *r = malloc(len + 1);
	size_t off;

	assert_non_null(r);
	memcpy(r, "set=1\n", 6);
	for (off = 6; off + 9 <= len; off += 9)
		memcpy(r + off, "fwmark=1\n", 9);
	r[off] = 0;
	return r;
}

/* The connections' buffers beyond UAPI_CONN_FREE each share a pool: a request that would take
 * it past its max is answered errno=-ENOBUFS and closed, a get waits while the pool is full
 * and is answered whole once it is not, and one client alone can always read the device;
 * what they held is given back. Without it, 64 connections holding 8 MiB requests took
 * 563 MB. */
static void test_pool(void **state)
{
	struct fix *f = *state;
	struct uapi_pool pool = { .max = (1 << 20) - UAPI_CONN_FREE };
	char *peers = peers_request(600, 3), *small = partial_set(300 << 10), *big = partial_set(600 << 10);
	const char *r;
	bool closed;
	int a, b;

	/* a get of 600 peers is some 150 KB */
	assert_string_equal(feed(f, &f->a, peers), "errno=0\n\n");
	a = conn_socket(&f->a, &pool);
	b = conn_socket(&f->b, &pool);

	/* A holds 300 KiB (a buffer of 512 KiB); B's 600 KiB would need 1 MiB more */
	assert_int_equal(push(f, &f->a, a, small, strlen(small)), UAPI_WANT_READ);
	assert_int_equal(pool.used, (512 << 10) - UAPI_CONN_FREE);
	assert_int_equal(push(f, &f->b, b, big, strlen(big)), 0);
	assert_string_equal(answer(b, &closed), "errno=-105\n\n");
	assert_true(closed);
	assert_int_equal(pool.refused, 1);
	close(b);
	assert_int_equal(push(f, &f->a, a, "\n", 1), UAPI_WANT_READ);
	assert_string_equal(answer(a, &closed), "errno=0\n\n");
	assert_int_equal(f->dev.fwmark, 1);
	assert_int_equal(pool.used, 0);		/* the request's buffer is let go */

	/* alone, the same 600 KiB fit; then A fills the pool and B's get waits until A is done */
	b = conn_socket(&f->b, &pool);
	assert_int_equal(push(f, &f->b, b, big, strlen(big)), UAPI_WANT_READ);
	assert_int_equal(push(f, &f->b, b, "\n", 1), UAPI_WANT_READ);
	assert_string_equal(answer(b, &closed), "errno=0\n\n");
	assert_int_equal(push(f, &f->a, a, big, strlen(big)), UAPI_WANT_READ);
	assert_int_equal(pool.used, pool.max);
	assert_int_equal(push(f, &f->b, b, "get=1\n\n", 7), UAPI_WANT_ROOM);
	assert_true(f->b.waiting);
	assert_int_equal(uapi_conn_io(&f->b, &ops, &f->dev), UAPI_WANT_ROOM);
	assert_string_equal(answer(b, &closed), "");
	assert_false(closed);
	assert_int_equal(push(f, &f->a, a, "\n", 1), UAPI_WANT_READ);
	assert_string_equal(answer(a, &closed), "errno=0\n\n");
	assert_int_equal(uapi_conn_io(&f->b, &ops, &f->dev), UAPI_WANT_READ);
	assert_false(f->b.waiting);
	r = answer(b, &closed);
	assert_true(strlen(r) > 100000);
	assert_string_equal(r + strlen(r) - 9, "errno=0\n\n");
	assert_int_equal(pool.used, 0);		/* the response's buffer too, once written */

	/* a pool of one byte: one client alone still reads the whole device */
	pool.max = 1;
	assert_int_equal(push(f, &f->b, b, "get=1\n\n", 7), UAPI_WANT_READ);
	r = answer(b, &closed);
	assert_string_equal(r + strlen(r) - 9, "errno=0\n\n");

	/* the others past the bound (as a response that started with room left can take them):
	 * small requests still go through, a get waits */
	pool.used += 1 << 20;
	assert_int_equal(push(f, &f->a, a, "set=1\nfwmark=2\n\n", 16), UAPI_WANT_READ);
	assert_string_equal(answer(a, &closed), "errno=0\n\n");
	assert_int_equal(push(f, &f->a, a, "get=1\n\n", 7), UAPI_WANT_ROOM);
	pool.used -= 1 << 20;
	assert_int_equal(uapi_conn_io(&f->a, &ops, &f->dev), UAPI_WANT_READ);
	r = answer(a, &closed);
	assert_string_equal(r + strlen(r) - 9, "errno=0\n\n");
	assert_int_equal(pool.refused, 1);

	uapi_conn_free(&f->a);
	uapi_conn_free(&f->b);
	assert_int_equal(pool.used, 0);
	close(a);
	close(b);
	free(big);
	free(small);
	free(peers);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_race_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_race_replace_peers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_race_private_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_hold_per_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_keeps_what_came_before, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_key_clamped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_unlocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dh_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_key_lines_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_key_dh_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
