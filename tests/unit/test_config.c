/* wg-quick / wg setconf parsing: a full file, every error with its line, permissions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wg/config.h"
#include "wg/key.h"

#define PRIV "0PCepcEW9BMKNFrvUgLNBkYBuJlh44M9cb6p0OHsP20="
#define PUB1 "j5FitCfeXG/fe6PbdKfatmguBiNenqdupdW1YNTyMwY="
#define PUB2 "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
#define PSK  "6/oTgNWtGhs4rDILjhKyMKlVvSGFLkK5d40d1UOcjOI="

static const char good[] =
	"# a wg-quick file\n"
	"[Interface]\n"
	"  privatekey = " PRIV "   # secret\n"
	"ListenPort=51820\n"
	"Address = 198.19.0.1/24, 2001:db8::1/64\n"
	"Address = 198.19.9.9\n"
	"DNS = 198.19.0.53, 2001:db8::53, corp.example\n"
	"MTU = 1420\n"
	"FwMark = 0x1234\n"
	"Table = off\n"
	"PostUp = iptables -A FORWARD -i %i -j ACCEPT\n"
	"PostUp = echo up\n"
	"PreDown = echo down\n"
	"SaveConfig = true\n"
	"\n"
	"[PEER]\n"
	"PublicKey = " PUB1 "\n"
	"PresharedKey = " PSK "\n"
	"AllowedIPs = 198.19.1.0/24,2001:db8:1::/48 , 198.19.2.2\n"
	"AllowedIPs = 0.0.0.0/0\n"
	"Endpoint = 198.18.0.2:51820\n"
	"PersistentKeepalive = 25\n"
	"[Peer]\n"
	"PublicKey = " PUB2 "\n"
	"Endpoint = [2001:db8::2]:4500\n"
	"PersistentKeepalive = off\n"
	"AllowedIPs =\n"
	"[peer]\n"
	"publickey=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	"endpoint = vpn.example.org:123\n";

static void cidr_is(const struct config_cidr *c, int fam, const char *ip, int cidr)
{
	uint8_t a[16];

	assert_int_equal(c->family, fam);
	assert_int_equal(inet_pton(fam, ip, a), 1);
	assert_memory_equal(c->addr, a, fam == AF_INET ? 4 : 16);
	assert_int_equal(c->cidr, cidr);
}

static void test_good_file(void **state)
{
	struct config c;
	char err[256];
	uint8_t k[32];

	assert_true(config_parse(&c, good, strlen(good), "wg0.conf", CONFIG_WG_QUICK, err, sizeof(err)));
	assert_true(c.has_private_key);
	key_from_base64(k, PRIV);
	assert_memory_equal(c.private_key, k, 32);
	assert_true(c.has_listen_port);
	assert_int_equal(c.listen_port, 51820);
	assert_int_equal(c.n_addresses, 3);
	cidr_is(&c.addresses[0], AF_INET, "198.19.0.1", 24);	/* host bits kept */
	cidr_is(&c.addresses[1], AF_INET6, "2001:db8::1", 64);
	cidr_is(&c.addresses[2], AF_INET, "198.19.9.9", 32);
	assert_int_equal(c.n_dns, 3);
	assert_string_equal(c.dns[2], "corp.example");
	assert_int_equal(c.mtu, 1420);
	assert_true(c.has_fwmark);
	assert_int_equal(c.fwmark, 0x1234);
	assert_string_equal(c.table, "off");
	assert_int_equal(c.n_post_up, 2);
	assert_string_equal(c.post_up[0], "iptables -A FORWARD -i %i -j ACCEPT");
	assert_int_equal(c.n_pre_down, 1);
	assert_int_equal(c.n_pre_up, 0);
	assert_true(c.has_save_config && c.save_config);

	assert_int_equal(c.n_peers, 3);
	key_from_base64(k, PUB1);
	assert_memory_equal(c.peers[0].public_key, k, 32);
	assert_true(c.peers[0].has_preshared_key);
	key_from_base64(k, PSK);
	assert_memory_equal(c.peers[0].preshared_key, k, 32);
	assert_int_equal(c.peers[0].n_allowed_ips, 4);
	cidr_is(&c.peers[0].allowed_ips[1], AF_INET6, "2001:db8:1::", 48);
	cidr_is(&c.peers[0].allowed_ips[2], AF_INET, "198.19.2.2", 32);
	cidr_is(&c.peers[0].allowed_ips[3], AF_INET, "0.0.0.0", 0);
	assert_true(c.peers[0].has_endpoint);
	assert_string_equal(c.peers[0].endpoint_host, "198.18.0.2");
	assert_int_equal(c.peers[0].endpoint_port, 51820);
	assert_int_equal(c.peers[0].persistent_keepalive, 25);
	assert_int_equal(c.peers[0].line, 16);
	assert_string_equal(c.peers[1].endpoint_host, "2001:db8::2");
	assert_int_equal(c.peers[1].endpoint_port, 4500);
	assert_true(c.peers[1].has_persistent_keepalive);
	assert_int_equal(c.peers[1].persistent_keepalive, 0);
	assert_int_equal(c.peers[1].n_allowed_ips, 0);
	assert_false(c.peers[1].has_preshared_key);
	assert_string_equal(c.peers[2].endpoint_host, "vpn.example.org");
	config_free(&c);
	assert_int_equal(c.n_peers, 0);
}

/* Each case: a file, and the exact message. */
static const struct { const char *text, *msg; enum config_format fmt; } bad[] = {
	{ "[Interface]\nFoo = 1\n", "wg0.conf:2: unknown key 'Foo'", CONFIG_WG_QUICK },
	{ "[Interface]\n[Bogus]\n", "wg0.conf:2: unknown section '[Bogus]'", CONFIG_WG_QUICK },
	{ "ListenPort = 1\n", "wg0.conf:1: key 'ListenPort' before any [Interface] or [Peer] section", CONFIG_WG_QUICK },
	{ "[Interface]\nListenPort = 1\nlistenport = 2\n", "wg0.conf:3: duplicate key 'listenport'", CONFIG_WG_QUICK },
	{ "[Interface]\nListenPort = 65536\n", "wg0.conf:2: invalid ListenPort '65536' (want 0-65535)", CONFIG_WG_QUICK },
	{ "[Interface]\nListenPort = -1\n", "wg0.conf:2: invalid ListenPort '-1' (want 0-65535)", CONFIG_WG_QUICK },
	{ "[Interface]\nListenPort\n", "wg0.conf:2: expected 'Key = Value', got 'ListenPort'", CONFIG_WG_QUICK },
	{ "[Interface]\nListenPort =\n", "wg0.conf:2: key 'ListenPort' has no value", CONFIG_WG_QUICK },
	{ "[Interface]\nPrivateKey = abc\n",
	  "wg0.conf:2: PrivateKey is not a valid key (want 44 base64 characters ending in '=', as `culvert genkey` prints)", CONFIG_WG_QUICK },
	{ "[Interface]\nFwMark = 0x1FFFFFFFF\n", "wg0.conf:2: invalid FwMark '0x1FFFFFFFF' (want a number, 0x hex, or off)", CONFIG_WG_QUICK },
	{ "[Interface]\nMTU = 67\n", "wg0.conf:2: invalid MTU '67' (want 68-65535)", CONFIG_WG_QUICK },
	{ "[Interface]\nAddress = 198.19.0.1/33\n", "wg0.conf:2: invalid address '198.19.0.1/33' in Address (want ADDR/PREFIX)", CONFIG_WG_QUICK },
	{ "[Interface]\nAddress = 198.19.0.1/24,,198.19.0.2\n", "wg0.conf:2: empty item in Address list '198.19.0.1/24,,198.19.0.2'", CONFIG_WG_QUICK },
	{ "[Interface]\nSaveConfig = yes\n", "wg0.conf:2: invalid SaveConfig 'yes' (want true or false)", CONFIG_WG_QUICK },
	{ "[Interface]\nMode = bridge\n", "wg0.conf:2: invalid Mode 'bridge' (want tun or tap)", CONFIG_WG_QUICK },
	{ "[Interface]\nMode = tap\n",
	  "wg0.conf:2: unknown key 'Mode' (a wg-quick key, not valid in a `wg setconf` file)", CONFIG_WG_SETCONF },
	{ "[Interface]\n[Interface]\n", "wg0.conf:2: second [Interface] section", CONFIG_WG_QUICK },
	{ "[Interface]\nPublicKey = " PUB1 "\n", "wg0.conf:2: key 'PublicKey' does not belong in [Interface]", CONFIG_WG_QUICK },
	{ "[Peer]\nListenPort = 1\n", "wg0.conf:2: key 'ListenPort' does not belong in [Peer]", CONFIG_WG_QUICK },
	{ "[Interface]\n\n[Peer]\nEndpoint = 198.18.0.1:1\n", "wg0.conf:3: [Peer] has no PublicKey", CONFIG_WG_QUICK },
	{ "[Peer]\nPublicKey = " PUB1 "\n[Peer]\nPublicKey = " PUB1 "\n",
	  "wg0.conf:3: peer " PUB1 " already defined at line 1", CONFIG_WG_QUICK },
	{ "[Peer]\nPublicKey = " PUB1 "x\n",
	  "wg0.conf:2: PublicKey '" PUB1 "x' is not a valid key (want 44 base64 characters ending in '=')", CONFIG_WG_QUICK },
	{ "[Peer]\nPublicKey = " PUB1 "\nEndpoint = 2001:db8::1:51820\n",
	  "wg0.conf:3: invalid Endpoint '2001:db8::1:51820' (want HOST:PORT or [IPv6]:PORT)", CONFIG_WG_QUICK },
	{ "[Peer]\nPublicKey = " PUB1 "\nEndpoint = 198.18.0.1\n",
	  "wg0.conf:3: invalid Endpoint '198.18.0.1' (want HOST:PORT or [IPv6]:PORT)", CONFIG_WG_QUICK },
	{ "[Peer]\nPublicKey = " PUB1 "\nPersistentKeepalive = 70000\n",
	  "wg0.conf:3: invalid PersistentKeepalive '70000' (want 1-65535 seconds or off)", CONFIG_WG_QUICK },
	{ "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 198.19.0.0/24, nope\n",
	  "wg0.conf:3: invalid prefix 'nope' in AllowedIPs (want ADDR/PREFIX)", CONFIG_WG_QUICK },
	{ "[Peer]\nPublicKey = " PUB1 "\nPresharedKey = " PSK "\nPresharedKey = " PSK "\n",
	  "wg0.conf:4: duplicate key 'PresharedKey'", CONFIG_WG_QUICK },
	{ "[Interface\n", "wg0.conf:1: malformed section header '[Interface'", CONFIG_WG_QUICK },
	{ "[Interface]\n = 5\n", "wg0.conf:2: missing key before '='", CONFIG_WG_QUICK },
	{ "[Interface]\nAddress = 198.19.0.1/24\n",
	  "wg0.conf:2: unknown key 'Address' (a wg-quick key, not valid in a `wg setconf` file)", CONFIG_WG_SETCONF },
	{ "[Interface]\nPostUp = x\n",
	  "wg0.conf:2: unknown key 'PostUp' (a wg-quick key, not valid in a `wg setconf` file)", CONFIG_WG_SETCONF },
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config c;
		char err[256] = "";

		assert_false(config_parse(&c, bad[i].text, strlen(bad[i].text), "wg0.conf", bad[i].fmt,
					  err, sizeof(err)));
		if (strcmp(err, bad[i].msg))
			fail_msg("case %zu:\n got  %s\n want %s", i, err, bad[i].msg);
		assert_int_equal(c.n_peers, 0);
	}
}

static void test_secret_not_echoed(void **state)
{
	static const char t[] = "[Interface]\nPrivateKey = " PRIV "X\n";
	struct config c;
	char err[256];

	assert_false(config_parse(&c, t, strlen(t), "wg0.conf", CONFIG_WG_QUICK, err, sizeof(err)));
	assert_null(strstr(err, "0PCep"));

	/* typos around the '=' make the line malformed or the key unknown: still not echoed */
	static const char *const typos[] = {
		"[Interface]\nPrivateKey " PRIV "\n",
		"[Interface]\nPrivateKey: " PRIV "\n",
		"[Interface]\nprivatekey:" PRIV "\n",
		"[Peer]\nPublicKey = " PUB1 "\nPresharedKey " PSK "\n",
		"[Peer]\nPublicKey = " PUB1 "\nPresharedKey-" PSK "\n",
	};
	for (size_t i = 0; i < sizeof(typos) / sizeof(typos[0]); i++) {
		assert_false(config_parse(&c, typos[i], strlen(typos[i]), "wg0.conf", CONFIG_WG_QUICK, err, sizeof(err)));
		if (strstr(err, "0PCep") || strstr(err, "6/oTg"))
			fail_msg("secret echoed: %s", err);
		assert_non_null(strstr(err, "wg0.conf:"));
		assert_non_null(strstr(err, "Key = KEY"));
	}
}

static void test_setconf_format(void **state)
{
	static const char t[] =
		"[Interface]\nPrivateKey = " PRIV "\nListenPort = 1\nFwMark = off\n"
		"[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 198.19.0.0/16\n";
	struct config c;
	char err[256];

	assert_true(config_parse(&c, t, strlen(t), "x", CONFIG_WG_SETCONF, err, sizeof(err)));
	assert_true(c.has_fwmark);
	assert_int_equal(c.fwmark, 0);
	assert_int_equal(c.peers[0].n_allowed_ips, 1);
	config_free(&c);
}

/* culvert up's Mode: tun (the default) or tap, any case. */
static void test_mode(void **state)
{
	static const char tap[] = "[Interface]\nPrivateKey = " PRIV "\nMode = TAP\n";
	static const char tun[] = "[Interface]\nPrivateKey = " PRIV "\nMode = tun\n";
	struct config c;
	char err[256];

	(void)state;
	assert_true(config_parse(&c, tap, strlen(tap), "x", CONFIG_WG_QUICK, err, sizeof(err)));
	assert_true(c.tap);
	config_free(&c);
	assert_true(config_parse(&c, tun, strlen(tun), "x", CONFIG_WG_QUICK, err, sizeof(err)));
	assert_false(c.tap);
	config_free(&c);
}

static void test_nul_and_empty(void **state)
{
	struct config c;
	char err[256];
	static const char t[] = "[Interface]\nListenPort = 1\0\n";

	assert_false(config_parse(&c, t, sizeof(t) - 1, "w", CONFIG_WG_QUICK, err, sizeof(err)));
	assert_string_equal(err, "w:2: NUL byte in file");
	assert_true(config_parse(&c, "", 0, "w", CONFIG_WG_QUICK, err, sizeof(err)));
	assert_int_equal(c.n_peers, 0);
	config_free(&c);
	/* CRLF line ends are tolerated as whitespace */
	assert_true(config_parse(&c, "[Interface]\r\nListenPort = 7\r\n", 29, "w", CONFIG_WG_QUICK, err, sizeof(err)));
	assert_int_equal(c.listen_port, 7);
	config_free(&c);
}

static void test_helpers(void **state)
{
	struct config_cidr a;
	char host[64];
	uint16_t port;
	uint64_t v;

	assert_true(config_parse_cidr(&a, "2001:db8::/32", 13, false));
	assert_false(config_parse_cidr(&a, "2001:db8::", 10, false));	/* uapi wants /N */
	assert_true(config_parse_cidr(&a, "2001:db8::", 10, true));
	assert_int_equal(a.cidr, 128);
	assert_false(config_parse_cidr(&a, "198.19.0.0/", 11, false));
	assert_false(config_parse_cidr(&a, "198.19.0.0/+8", 13, false));
	assert_false(config_parse_cidr(&a, "/8", 2, false));
	assert_false(config_parse_cidr(&a, "2001:db8::/129", 14, false));
	assert_true(config_parse_endpoint("[fe80::1%eth0]:9", 16, host, sizeof(host), &port));
	assert_string_equal(host, "fe80::1%eth0");
	assert_int_equal(port, 9);
	assert_false(config_parse_endpoint("[198.18.0.1]:9", 14, host, sizeof(host), &port));
	assert_false(config_parse_endpoint("[::1]9", 6, host, sizeof(host), &port));
	assert_false(config_parse_endpoint(":9", 2, host, sizeof(host), &port));
	assert_false(config_parse_endpoint("h:", 2, host, sizeof(host), &port));
	assert_false(config_parse_endpoint("h:65536", 7, host, sizeof(host), &port));
	assert_true(config_parse_uint("18446744073709551615", 20, UINT64_MAX, &v));
	assert_false(config_parse_uint("18446744073709551616", 20, UINT64_MAX, &v));
	assert_false(config_parse_uint("", 0, 10, &v));
	assert_false(config_parse_uint("1 ", 2, 10, &v));
}

static void test_load_and_permissions(void **state)
{
	char path[] = "/tmp/culvert-test-config-XXXXXX";
	struct config c;
	char err[512];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, good, strlen(good)), (ssize_t)strlen(good));
	close(fd);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(config_check_private_file(path, err, sizeof(err)), 0);
	assert_int_equal(config_load(&c, path, CONFIG_WG_QUICK, err, sizeof(err)), 0);
	assert_int_equal(c.n_peers, 3);
	config_free(&c);

	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_check_private_file(path, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(config_check_private_file(path, err, sizeof(err)), -EACCES);
	unlink(path);
	assert_int_equal(config_check_private_file(path, err, sizeof(err)), -ENOENT);
	assert_int_equal(config_load(&c, path, CONFIG_WG_QUICK, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));

	/* a parse error through config_load names the file (its base name) and line */
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[Interface]\nBad = 1\n", 20), 20);
	close(fd);
	assert_int_equal(config_load(&c, path, CONFIG_WG_QUICK, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: unknown key 'Bad'"));
	assert_non_null(strstr(err, strrchr(path, '/') + 1));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_secret_not_echoed),
		cmocka_unit_test(test_setconf_format),
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_nul_and_empty),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_load_and_permissions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
