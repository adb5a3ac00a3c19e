/* Allowed IPs trie: longest prefix, replace, removals, edges, and a comparison against a naive
 * linear table over thousands of random prefixes; prints the time to load 10,000 peers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/clock.h"
#include "wg/allowedips.h"

static int P[64];		/* peers are just distinct addresses */
#define PEER(i) ((void *)&P[i])

static void ins(struct aip_table *t, const char *s, void *peer)
{
	char buf[64], *slash;
	uint8_t a[16];
	int fam;

	strcpy(buf, s);
	slash = strchr(buf, '/');
	*slash = 0;
	fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(fam, buf, a), 1);
	assert_int_equal(aip_insert(t, fam, a, (uint8_t)atoi(slash + 1), peer), 0);
}

static int rem(struct aip_table *t, const char *s, void *peer)
{
	char buf[64], *slash;
	uint8_t a[16];
	int fam;

	strcpy(buf, s);
	slash = strchr(buf, '/');
	*slash = 0;
	fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(fam, buf, a), 1);
	return aip_remove(t, fam, a, (uint8_t)atoi(slash + 1), peer);
}

static void *look(struct aip_table *t, const char *s)
{
	uint8_t a[16];
	int fam = strchr(s, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(fam, s, a), 1);
	return aip_lookup(t, fam, a);
}

static void test_longest_prefix(void **state)
{
	struct aip_table *t = aip_new();

	ins(t, "198.19.0.0/16", PEER(1));
	ins(t, "198.19.1.0/24", PEER(2));
	ins(t, "198.19.1.128/25", PEER(3));
	ins(t, "198.19.1.7/32", PEER(4));
	ins(t, "198.18.0.0/15", PEER(5));
	assert_ptr_equal(look(t, "198.19.2.1"), PEER(1));
	assert_ptr_equal(look(t, "198.19.1.1"), PEER(2));
	assert_ptr_equal(look(t, "198.19.1.200"), PEER(3));
	assert_ptr_equal(look(t, "198.19.1.7"), PEER(4));
	assert_ptr_equal(look(t, "198.18.255.255"), PEER(5));
	assert_null(look(t, "198.20.0.1"));
	assert_null(look(t, "10.0.0.1"));
	/* an IPv4 prefix never answers an IPv6 lookup */
	assert_null(look(t, "::"));
	assert_int_equal(aip_count(t), 5);
	aip_free(t);
}

static void test_host_bits_masked(void **state)
{
	struct aip_table *t = aip_new();
	char out[64];

	ins(t, "198.19.1.77/24", PEER(1));
	ins(t, "2001:db8::1234/32", PEER(2));
	assert_ptr_equal(look(t, "198.19.1.1"), PEER(1));
	assert_ptr_equal(look(t, "2001:db8:ffff::1"), PEER(2));
	/* removing the masked form finds it */
	assert_int_equal(rem(t, "198.19.1.0/24", PEER(1)), 0);
	assert_int_equal(rem(t, "2001:db8:0:0::/32", PEER(2)), 0);
	assert_int_equal(aip_count(t), 0);
	(void)out;
	aip_free(t);
}

static void test_replace_owner(void **state)
{
	struct aip_table *t = aip_new();

	ins(t, "198.19.0.0/24", PEER(1));
	ins(t, "198.19.0.0/24", PEER(2));
	assert_ptr_equal(look(t, "198.19.0.9"), PEER(2));
	assert_int_equal(aip_count(t), 1);
	assert_int_equal(aip_count_of_peer(t, PEER(1)), 0);
	assert_int_equal(aip_count_of_peer(t, PEER(2)), 1);
	/* the old owner can no longer remove it */
	assert_int_equal(rem(t, "198.19.0.0/24", PEER(1)), -ENOENT);
	ins(t, "198.19.0.0/24", PEER(2));	/* same owner again: no change */
	assert_int_equal(aip_count(t), 1);
	aip_free(t);
}

static void test_remove_one(void **state)
{
	struct aip_table *t = aip_new();

	ins(t, "198.19.0.0/16", PEER(1));
	ins(t, "198.19.5.0/24", PEER(2));
	ins(t, "198.19.6.0/24", PEER(3));
	assert_int_equal(rem(t, "198.19.5.0/24", PEER(2)), 0);
	assert_ptr_equal(look(t, "198.19.5.1"), PEER(1));
	assert_ptr_equal(look(t, "198.19.6.1"), PEER(3));
	assert_int_equal(rem(t, "198.19.5.0/24", PEER(2)), -ENOENT);
	assert_int_equal(rem(t, "198.19.7.0/24", PEER(3)), -ENOENT);
	assert_int_equal(rem(t, "198.19.0.0/17", PEER(1)), -ENOENT);
	assert_int_equal(rem(t, "198.19.0.0/16", PEER(1)), 0);
	assert_null(look(t, "198.19.5.1"));
	assert_ptr_equal(look(t, "198.19.6.1"), PEER(3));
	assert_int_equal(aip_count(t), 1);
	aip_free(t);
}

struct collect { char s[16][80]; int n; };

static bool collect_fn(void *arg, int family, const uint8_t *addr, uint8_t cidr)
{
	struct collect *c = arg;
	char ip[64];

	inet_ntop(family, addr, ip, sizeof(ip));
	snprintf(c->s[c->n++], sizeof(c->s[0]), "%s/%u", ip, cidr);
	return c->n < 16;
}

static void test_remove_peer_and_iterate(void **state)
{
	struct aip_table *t = aip_new();
	struct collect c = { .n = 0 };

	ins(t, "198.19.9.0/24", PEER(1));
	ins(t, "2001:db8:1::/48", PEER(1));
	ins(t, "198.19.0.0/16", PEER(2));
	ins(t, "198.19.9.128/25", PEER(1));
	ins(t, "0.0.0.0/0", PEER(3));
	aip_for_each_of_peer(t, PEER(1), collect_fn, &c);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.s[0], "198.19.9.0/24");	/* insertion order */
	assert_string_equal(c.s[1], "2001:db8:1::/48");
	assert_string_equal(c.s[2], "198.19.9.128/25");
	aip_remove_peer(t, PEER(1));
	assert_int_equal(aip_count_of_peer(t, PEER(1)), 0);
	assert_ptr_equal(look(t, "198.19.9.200"), PEER(2));
	assert_null(look(t, "2001:db8:1::1"));
	assert_ptr_equal(look(t, "8.8.8.8"), PEER(3));
	assert_int_equal(aip_count(t), 2);
	c.n = 0;
	aip_for_each_of_peer(t, PEER(1), collect_fn, &c);
	assert_int_equal(c.n, 0);
	aip_remove_peer(t, PEER(9));		/* unknown peer: nothing happens */
	assert_int_equal(aip_count(t), 2);
	aip_free(t);
}

static void test_edges(void **state)
{
	struct aip_table *t = aip_new();
	uint8_t a[16] = { 0 };

	ins(t, "0.0.0.0/0", PEER(1));
	ins(t, "::/0", PEER(2));
	ins(t, "255.255.255.255/32", PEER(3));
	ins(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", PEER(4));
	ins(t, "2001:db8::1/128", PEER(5));
	ins(t, "::ffff:198.19.0.1/128", PEER(6));	/* v4-mapped stays in the IPv6 tree */
	assert_ptr_equal(look(t, "1.2.3.4"), PEER(1));
	assert_ptr_equal(look(t, "255.255.255.255"), PEER(3));
	assert_ptr_equal(look(t, "255.255.255.254"), PEER(1));
	assert_ptr_equal(look(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), PEER(4));
	assert_ptr_equal(look(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), PEER(2));
	assert_ptr_equal(look(t, "2001:db8::1"), PEER(5));
	assert_ptr_equal(look(t, "2001:db8::2"), PEER(2));
	assert_ptr_equal(look(t, "::ffff:198.19.0.1"), PEER(6));
	assert_ptr_equal(look(t, "198.19.0.1"), PEER(1));
	/* bad arguments */
	assert_int_equal(aip_insert(t, AF_INET, a, 33, PEER(1)), -EINVAL);
	assert_int_equal(aip_insert(t, AF_INET6, a, 129, PEER(1)), -EINVAL);
	assert_int_equal(aip_insert(t, AF_UNIX, a, 0, PEER(1)), -EINVAL);
	assert_int_equal(aip_insert(t, AF_INET, a, 8, NULL), -EINVAL);
	assert_null(aip_lookup(t, AF_UNIX, a));
	assert_int_equal(rem(t, "0.0.0.0/0", PEER(1)), 0);
	assert_int_equal(rem(t, "::/0", PEER(2)), 0);
	assert_null(look(t, "1.2.3.4"));
	assert_ptr_equal(look(t, "255.255.255.255"), PEER(3));
	aip_free(t);
}

/* ---- random comparison with a linear reference ---- */

struct ref { int v6; uint8_t a[16]; uint8_t cidr; void *peer; bool live; };

static bool ref_match(const struct ref *r, int v6, const uint8_t *a)
{
	if (r->v6 != v6)
		return false;
	for (int b = 0; b < r->cidr; b++) {
		int bit = 7 - b % 8;
		if (((r->a[b / 8] >> bit) & 1) != ((a[b / 8] >> bit) & 1))
			return false;
	}
	return true;
}

static void *ref_lookup(struct ref *refs, int n, int v6, const uint8_t *a)
{
	int best = -1;

	for (int i = 0; i < n; i++)
		if (refs[i].live && ref_match(&refs[i], v6, a) && (best < 0 || refs[i].cidr > refs[best].cidr))
			best = i;
	return best < 0 ? NULL : refs[best].peer;
}

static void mask(uint8_t *a, int len, int cidr)
{
	for (int b = cidr; b < len * 8; b++)
		a[b / 8] &= (uint8_t)~(1u << (7 - b % 8));
}

/* Addresses from a small pool of bases so prefixes nest and collide often. */
static void rand_addr(uint8_t *a, int v6)
{
	static const uint8_t base4[3][4] = { { 198, 19, 0, 0 }, { 198, 18, 128, 0 }, { 10, 0, 0, 0 } };
	static const uint8_t base6[2][16] = { { 0x20, 0x01, 0x0d, 0xb8 }, { 0xfe, 0x80 } };
	int len = v6 ? 16 : 4;

	memcpy(a, v6 ? base6[rand() % 2] : base4[rand() % 3], len);
	for (int i = v6 ? 4 : 2; i < len; i++)
		a[i] = rand() % 4 ? (uint8_t)(rand() % 4) : (uint8_t)rand();
}

static void test_random_vs_linear(void **state)
{
	enum { N = 3000, L = 8000 };
	struct ref *refs = calloc(N, sizeof(*refs));
	struct aip_table *t = aip_new();
	int n = 0;

	srand(12345);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N / 3; i++) {
			struct ref *r = &refs[n];
			int len;

			r->v6 = rand() % 2;
			len = r->v6 ? 16 : 4;
			rand_addr(r->a, r->v6);
			r->cidr = (uint8_t)(rand() % (len * 8 + 1));
			mask(r->a, len, r->cidr);
			r->peer = PEER(rand() % 64);
			r->live = true;
			/* the trie replaces an identical prefix's owner: mirror that */
			for (int j = 0; j < n; j++)
				if (refs[j].live && refs[j].v6 == r->v6 && refs[j].cidr == r->cidr &&
				    !memcmp(refs[j].a, r->a, len))
					refs[j].live = false;
			assert_int_equal(aip_insert(t, r->v6 ? AF_INET6 : AF_INET, r->a, r->cidr, r->peer), 0);
			n++;
		}
		/* remove some prefixes one by one, and every prefix of a few peers */
		for (int i = 0; i < n; i += 7)
			if (refs[i].live) {
				assert_int_equal(aip_remove(t, refs[i].v6 ? AF_INET6 : AF_INET, refs[i].a,
							    refs[i].cidr, refs[i].peer), 0);
				refs[i].live = false;
			}
		void *gone = PEER(round * 5);
		aip_remove_peer(t, gone);
		for (int i = 0; i < n; i++)
			if (refs[i].peer == gone)
				refs[i].live = false;

		size_t live = 0;
		for (int i = 0; i < n; i++)
			live += refs[i].live;
		assert_int_equal(aip_count(t), live);

		for (int q = 0; q < L; q++) {
			uint8_t a[16];
			int v6 = rand() % 2;

			rand_addr(a, v6);
			assert_ptr_equal(aip_lookup(t, v6 ? AF_INET6 : AF_INET, a), ref_lookup(refs, n, v6, a));
		}
		/* and every stored prefix's own address */
		for (int i = 0; i < n; i++)
			assert_ptr_equal(aip_lookup(t, refs[i].v6 ? AF_INET6 : AF_INET, refs[i].a),
					 ref_lookup(refs, n, refs[i].v6, refs[i].a));
	}
	/* empty it completely through the API and check nothing is left */
	for (int i = 0; i < 64; i++)
		aip_remove_peer(t, PEER(i));
	assert_int_equal(aip_count(t), 0);
	free(refs);
	aip_free(t);
}

static double secs(void)
{
	return (double)clock_mono_ns() / 1e9;
}

static void test_ten_thousand_peers(void **state)
{
	enum { NP = 10000 };
	struct aip_table *t = aip_new();
	char *peers = malloc(NP);
	double t0 = secs(), t1, t2;

	/* each peer: a /32 and a /128 tunnel address and a /24 behind it, like a hub config */
	for (int i = 0; i < NP; i++) {
		uint8_t a4[4] = { 198, 19, (uint8_t)(i >> 8), (uint8_t)i };
		uint8_t n4[4] = { 10, (uint8_t)(i >> 8), (uint8_t)i, 0 };
		uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i };

		assert_int_equal(aip_insert(t, AF_INET, a4, 32, peers + i), 0);
		assert_int_equal(aip_insert(t, AF_INET, n4, 24, peers + i), 0);
		assert_int_equal(aip_insert(t, AF_INET6, a6, 128, peers + i), 0);
	}
	t1 = secs();
	for (int r = 0; r < 100; r++)
		for (int i = 0; i < NP; i++) {
			uint8_t a4[4] = { 10, (uint8_t)(i >> 8), (uint8_t)i, (uint8_t)r };
			assert_ptr_equal(aip_lookup_v4(t, a4), peers + i);
		}
	t2 = secs();
	printf("allowedips: 10000 peers, %zu prefixes loaded in %.1f ms; %.0f ns per lookup\n",
	       aip_count(t), (t1 - t0) * 1e3, (t2 - t1) * 1e9 / (100.0 * NP));
	assert_true(t1 - t0 < 0.5);
	for (int i = 0; i < NP; i++)
		aip_remove_peer(t, peers + i);
	assert_int_equal(aip_count(t), 0);
	free(peers);
	aip_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_longest_prefix),
		cmocka_unit_test(test_host_bits_masked),
		cmocka_unit_test(test_replace_owner),
		cmocka_unit_test(test_remove_one),
		cmocka_unit_test(test_remove_peer_and_iterate),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_random_vs_linear),
		cmocka_unit_test(test_ten_thousand_peers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
