/* uapi client: parsing canned get=1 responses (culvert_* extension, several peers, IPv6
 * endpoint, errors), the exact set=1 text built from a parsed config, a round trip over a real
 * unix socket, and listing a socket directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "wg/config.h"
#include "wg/key.h"
#include "wg/uapi.h"
#include "wg/uapi_client.h"

#define HEX_A "1111111111111111111111111111111111111111111111111111111111111111"
#define HEX_B "2222222222222222222222222222222222222222222222222222222222222222"
#define HEX_C "3333333333333333333333333333333333333333333333333333333333333333"
#define HEX_0 "0000000000000000000000000000000000000000000000000000000000000000"
#define B64_A "ERERERERERERERERERERERERERERERERERERERERERE="
#define B64_B "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI="
#define B64_C "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM="

static const char get_plain[] =
	"private_key=" HEX_A "\n"
	"listen_port=51820\n"
	"fwmark=4660\n"
	"public_key=" HEX_B "\n"
	"preshared_key=" HEX_0 "\n"
	"protocol_version=1\n"
	"endpoint=198.18.0.2:51821\n"
	"last_handshake_time_sec=1700000000\n"
	"last_handshake_time_nsec=5\n"
	"tx_bytes=1000\n"
	"rx_bytes=2000\n"
	"persistent_keepalive_interval=25\n"
	"allowed_ip=198.19.0.2/32\n"
	"allowed_ip=2001:db8::/64\n"
	"public_key=" HEX_C "\n"
	"preshared_key=" HEX_A "\n"
	"protocol_version=1\n"
	"endpoint=[2001:db8:1::2]:51822\n"
	"last_handshake_time_sec=0\n"
	"last_handshake_time_nsec=0\n"
	"tx_bytes=0\n"
	"rx_bytes=0\n"
	"persistent_keepalive_interval=0\n"
	"errno=0\n\n";

static void check_plain(const struct uapi_device_state *d)
{
	uint8_t a[32], b[32], c[32];

	assert_true(key_from_hex(a, HEX_A));
	assert_true(key_from_hex(b, HEX_B));
	assert_true(key_from_hex(c, HEX_C));
	assert_true(d->has_private_key);
	assert_memory_equal(d->private_key, a, 32);
	assert_int_equal(d->listen_port, 51820);
	assert_int_equal(d->fwmark, 4660);
	assert_int_equal(d->n_peers, 2);

	assert_memory_equal(d->peers[0].public_key, b, 32);
	assert_false(d->peers[0].has_preshared_key);
	assert_string_equal(d->peers[0].endpoint, "198.18.0.2:51821");
	assert_int_equal(d->peers[0].last_handshake_sec, 1700000000);
	assert_int_equal(d->peers[0].last_handshake_nsec, 5);
	assert_int_equal(d->peers[0].tx_bytes, 1000);
	assert_int_equal(d->peers[0].rx_bytes, 2000);
	assert_int_equal(d->peers[0].persistent_keepalive, 25);
	assert_int_equal(d->peers[0].n_allowed_ips, 2);
	assert_int_equal(d->peers[0].allowed_ips[0].family, AF_INET);
	assert_int_equal(d->peers[0].allowed_ips[0].cidr, 32);
	assert_memory_equal(d->peers[0].allowed_ips[0].addr, "\xc6\x13\x00\x02", 4);
	assert_int_equal(d->peers[0].allowed_ips[1].family, AF_INET6);
	assert_int_equal(d->peers[0].allowed_ips[1].cidr, 64);

	assert_memory_equal(d->peers[1].public_key, c, 32);
	assert_true(d->peers[1].has_preshared_key);
	assert_string_equal(d->peers[1].endpoint, "[2001:db8:1::2]:51822");
	assert_int_equal(d->peers[1].last_handshake_sec, 0);
	assert_int_equal(d->peers[1].n_allowed_ips, 0);
}

static void test_parse_plain(void **state)
{
	struct uapi_device_state d;

	(void)state;
	assert_int_equal(uapi_client_parse_get(&d, get_plain, sizeof(get_plain) - 1), 0);
	check_plain(&d);
	assert_int_equal(d.n_ext, 0);
	assert_int_equal(d.peers[0].n_ext, 0);
	uapi_device_state_free(&d);
}

/* The same response with culvert_* lines at device and peer level and keys of some future
 * daemon that must be ignored. */
static void test_parse_extension(void **state)
{
	static const char get_ext[] =
		"private_key=" HEX_A "\n"
		"listen_port=51820\n"
		"fwmark=4660\n"
		"some_future_key=whatever\n"
		"culvert_drop_unallowed_src=3\n"
		"culvert_drop_bad_mac=0\n"
		"culvert_offload=tun_vnet_hdr\n"
		"culvert_offload=udp_gso, udp_gro\n"
		"public_key=" HEX_B "\n"
		"preshared_key=" HEX_0 "\n"
		"protocol_version=1\n"
		"endpoint=198.18.0.2:51821\n"
		"last_handshake_time_sec=1700000000\n"
		"last_handshake_time_nsec=5\n"
		"tx_bytes=1000\n"
		"rx_bytes=2000\n"
		"persistent_keepalive_interval=25\n"
		"culvert_drop_replay=7\n"
		"allowed_ip=198.19.0.2/32\n"
		"another_future_key=1\n"
		"allowed_ip=2001:db8::/64\n"
		"public_key=" HEX_C "\n"
		"preshared_key=" HEX_A "\n"
		"protocol_version=1\n"
		"endpoint=[2001:db8:1::2]:51822\n"
		"last_handshake_time_sec=0\n"
		"last_handshake_time_nsec=0\n"
		"tx_bytes=0\n"
		"rx_bytes=0\n"
		"persistent_keepalive_interval=0\n"
		"errno=0\n\n";
	struct uapi_device_state d;

	(void)state;
	assert_int_equal(uapi_client_parse_get(&d, get_ext, sizeof(get_ext) - 1), 0);
	check_plain(&d);
	assert_int_equal(d.n_ext, 4);
	assert_string_equal(d.ext[0].key, "drop_unallowed_src");
	assert_string_equal(d.ext[0].value, "3");
	assert_string_equal(d.ext[1].key, "drop_bad_mac");
	assert_string_equal(d.ext[1].value, "0");
	assert_string_equal(d.ext[2].key, "offload");
	assert_string_equal(d.ext[2].value, "tun_vnet_hdr");
	assert_string_equal(d.ext[3].value, "udp_gso, udp_gro");
	assert_string_equal(uapi_ext_get(d.ext, d.n_ext, "drop_unallowed_src"), "3");
	assert_null(uapi_ext_get(d.ext, d.n_ext, "drop_replay"));
	assert_int_equal(d.peers[0].n_ext, 1);
	assert_string_equal(d.peers[0].ext[0].key, "drop_replay");
	assert_string_equal(d.peers[0].ext[0].value, "7");
	assert_int_equal(d.peers[1].n_ext, 0);
	uapi_device_state_free(&d);
}

static int parse(const char *s)
{
	struct uapi_device_state d;
	int r = uapi_client_parse_get(&d, s, strlen(s));

	if (r == 0)
		uapi_device_state_free(&d);
	return r;
}

static void test_parse_errors(void **state)
{
	(void)state;
	assert_int_equal(parse("errno=0\n\n"), 0);
	/* the server sends a negative errno (as wireguard-go does); a positive one means the same */
	assert_int_equal(parse("errno=-22\n\n"), -EINVAL);
	assert_int_equal(parse("errno=22\n\n"), -EINVAL);
	assert_int_equal(parse("listen_port=1\nerrno=-98\n\n"), -EADDRINUSE);
	assert_int_equal(parse(""), -EPROTO);				/* no errno line */
	assert_int_equal(parse("listen_port=1\n\n"), -EPROTO);
	assert_int_equal(parse("listen_port\nerrno=0\n\n"), -EPROTO);	/* no '=' */
	assert_int_equal(parse("=1\nerrno=0\n\n"), -EPROTO);
	assert_int_equal(parse("listen_port=65536\nerrno=0\n\n"), -EPROTO);
	assert_int_equal(parse("listen_port=-1\nerrno=0\n\n"), -EPROTO);
	assert_int_equal(parse("errno=x\n\n"), -EPROTO);
	assert_int_equal(parse("public_key=abcd\nerrno=0\n\n"), -EPROTO);
	assert_int_equal(parse("public_key=" HEX_B "\nallowed_ip=198.19.0.1\nerrno=0\n\n"), -EPROTO);
	assert_int_equal(parse("public_key=" HEX_B "\ntx_bytes=1x\nerrno=0\n\n"), -EPROTO);
	assert_int_equal(parse("public_key=" HEX_B "\nendpoint=\nerrno=0\n\n"), -EPROTO);
	/* an allowed_ip before any peer is not a device key: ignored like any unknown key */
	assert_int_equal(parse("allowed_ip=198.19.0.1/32\nerrno=0\n\n"), 0);
}

/* A NUL inside a line would cut keys and values short where they are copied as strings: the
 * whole response is refused rather than read as something else. */
static void test_parse_nul(void **state)
{
	static const char ext[] = "culvert_\0drop_x=1\nerrno=0\n\n";
	static const char ep[] = "public_key=" HEX_B "\nendpoint=198.18.0.1\0:5\nerrno=0\n\n";
	static const char val[] = "culvert_offload=udp\0gso\nerrno=0\n\n";
	struct uapi_device_state d;

	(void)state;
	assert_int_equal(uapi_client_parse_get(&d, ext, sizeof(ext) - 1), -EPROTO);
	assert_int_equal(d.n_ext, 0);
	assert_null(d.ext);
	assert_int_equal(uapi_client_parse_get(&d, ep, sizeof(ep) - 1), -EPROTO);
	assert_int_equal(d.n_peers, 0);
	assert_int_equal(uapi_client_parse_get(&d, val, sizeof(val) - 1), -EPROTO);
	/* the same without the NULs is fine */
	assert_int_equal(parse("culvert_drop_x=1\nculvert_offload=udp_gso\nerrno=0\n\n"), 0);
}

static const char conf_text[] =
	"[Interface]\n"
	"PrivateKey = " B64_A "\n"
	"ListenPort = 51820\n"
	"FwMark = 0x1234\n"
	"Address = 198.19.0.1/24\n"
	"\n"
	"[Peer]\n"
	"PublicKey = " B64_B "\n"
	"PresharedKey = " B64_C "\n"
	"AllowedIPs = 198.19.0.2/32, 2001:db8:0:0::/64\n"
	"Endpoint = 198.18.0.2:51821\n"
	"PersistentKeepalive = 25\n"
	"\n"
	"[Peer]\n"
	"PublicKey = " B64_C "\n"
	"Endpoint = [2001:db8:1:0::2]:51822\n";

static void test_build_set(void **state)
{
	static const char want[] =
		"set=1\n"
		"private_key=" HEX_A "\n"
		"listen_port=51820\n"
		"fwmark=4660\n"
		"replace_peers=true\n"
		"public_key=" HEX_B "\n"
		"preshared_key=" HEX_C "\n"
		"endpoint=198.18.0.2:51821\n"
		"persistent_keepalive_interval=25\n"
		"replace_allowed_ips=true\n"
		"allowed_ip=198.19.0.2/32\n"
		"allowed_ip=2001:db8::/64\n"
		"public_key=" HEX_C "\n"
		"endpoint=[2001:db8:1::2]:51822\n"
		"replace_allowed_ips=true\n"
		"\n";
	static const struct uapi_ops no_ops;
	struct uapi_buf b = { 0 };
	struct uapi_conn conn;
	struct config c;
	char err[256];

	(void)state;
	assert_true(config_parse(&c, conf_text, sizeof(conf_text) - 1, "t.conf", CONFIG_WG_QUICK, err, sizeof(err)));
	assert_int_equal(uapi_client_build_set(&b, &c, true, err, sizeof(err)), 0);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);
	uapi_buf_free(&b);

	/* without replace_peers, and the server side parses what we built */
	assert_int_equal(uapi_client_build_set(&b, &c, false, err, sizeof(err)), 0);
	assert_null(strstr(b.data, "replace_peers"));
	uapi_conn_init(&conn, -1);
	assert_true(uapi_conn_feed(&conn, &no_ops, NULL, b.data, b.len));
	assert_int_equal(conn.out.len, strlen("errno=0\n\n"));
	assert_memory_equal(conn.out.data, "errno=0\n\n", conn.out.len);
	uapi_conn_free(&conn);
	uapi_buf_free(&b);
	config_free(&c);
}

static void test_build_set_bad_endpoint(void **state)
{
	static const char text[] =
		"[Interface]\nPrivateKey = " B64_A "\n\n[Peer]\nPublicKey = " B64_B "\n"
		"Endpoint = no-such-host.invalid:51820\n";
	struct uapi_buf b = { 0 };
	struct config c;
	char err[256];

	(void)state;
	assert_true(config_parse(&c, text, sizeof(text) - 1, "t.conf", CONFIG_WG_QUICK, err, sizeof(err)));
	assert_int_equal(uapi_client_build_set(&b, &c, true, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no-such-host.invalid"));
	assert_non_null(strstr(err, "line 4"));
	uapi_buf_free(&b);
	config_free(&c);
}

/* ---- over a real socket, with a one-shot server thread ---- */

struct server {
	int lfd;
	const char *answer;
	char got[256];
};

static void *serve_once(void *arg)
{
	struct server *s = arg;
	size_t n = 0;
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	while (n < sizeof(s->got) - 1) {
		ssize_t r = read(fd, s->got + n, sizeof(s->got) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		if (n >= 2 && s->got[n - 1] == '\n' && s->got[n - 2] == '\n')
			break;
	}
	s->got[n] = '\0';
	if (s->answer && send(fd, s->answer, strlen(s->answer), MSG_NOSIGNAL) < 0)
		s->got[0] = '\0';
	close(fd);
	return NULL;
}

static int listen_at(const char *dir, const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s.sock", dir, name);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static void test_socket_roundtrip(void **state)
{
	char dir[] = "/tmp/uapi-client-XXXXXX", path[300], **names;
	struct uapi_device_state d;
	struct server s = { 0 };
	pthread_t t;
	int fd2, r;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	s.lfd = listen_at(dir, "cv0");
	fd2 = listen_at(dir, "a1");
	snprintf(path, sizeof(path), "%s/notsock.sock", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);

	r = uapi_client_list(dir, &names);
	assert_int_equal(r, 2);
	assert_string_equal(names[0], "a1");
	assert_string_equal(names[1], "cv0");
	assert_null(names[2]);
	uapi_client_free_list(names);

	s.answer = get_plain;
	assert_int_equal(pthread_create(&t, NULL, serve_once, &s), 0);
	assert_int_equal(uapi_client_get(dir, "cv0", &d, 2000), 0);
	pthread_join(t, NULL);
	assert_string_equal(s.got, "get=1\n\n");
	check_plain(&d);
	uapi_device_state_free(&d);

	s.answer = get_plain;
	assert_int_equal(pthread_create(&t, NULL, serve_once, &s), 0);
	assert_int_equal(uapi_client_get_ext(dir, "cv0", &d, 2000), 0);
	pthread_join(t, NULL);
	assert_string_equal(s.got, "get=culvert\n\n");
	check_plain(&d);
	uapi_device_state_free(&d);

	s.answer = "errno=-22\n\n";
	assert_int_equal(pthread_create(&t, NULL, serve_once, &s), 0);
	assert_int_equal(uapi_client_set(dir, "cv0", "set=1\nlisten_port=1\n\n", 21, 2000), -EINVAL);
	pthread_join(t, NULL);
	assert_string_equal(s.got, "set=1\nlisten_port=1\n\n");

	/* a blank line before errno=, and a line longer than any a daemon sends: malformed */
	s.answer = "listen_port=1\n\nerrno=0\n\n";
	assert_int_equal(pthread_create(&t, NULL, serve_once, &s), 0);
	assert_int_equal(uapi_client_get(dir, "cv0", &d, 2000), -EPROTO);
	pthread_join(t, NULL);
	{
		char *longline = malloc(200 << 10);

		assert_non_null(longline);
		memset(longline, 'x', 200 << 10);
		memcpy(longline, "culvert_x=", 10);
		strcpy(longline + (200 << 10) - 12, "\nerrno=0\n\n");
		s.answer = longline;
		assert_int_equal(pthread_create(&t, NULL, serve_once, &s), 0);
		assert_int_equal(uapi_client_get(dir, "cv0", &d, 2000), -EPROTO);
		pthread_join(t, NULL);
		free(longline);
	}

	/* a server that closes without answering */
	s.answer = NULL;
	assert_int_equal(pthread_create(&t, NULL, serve_once, &s), 0);
	assert_int_equal(uapi_client_get(dir, "cv0", &d, 2000), -ECONNRESET);
	pthread_join(t, NULL);

	/* a server that never answers: the timeout holds */
	assert_int_equal(uapi_client_get(dir, "a1", &d, 200), -ETIMEDOUT);
	/* ... also while the request is still being sent: a daemon that never reads cannot hang
	 * `culvert up` with a large set=1 (the alarm turns a hang into a failure) */
	{
		size_t big = 8 << 20;
		char *req = malloc(big);

		assert_non_null(req);
		memset(req, 'x', big);
		alarm(20);
		assert_int_equal(uapi_client_set(dir, "a1", req, big, 300), -ETIMEDOUT);
		alarm(0);
		free(req);
	}
	assert_int_equal(uapi_client_get(dir, "nobody", &d, 200), -ENOENT);

	close(s.lfd);
	close(fd2);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
	r = uapi_client_list(dir, &names);
	assert_int_equal(r, 0);
	assert_null(names[0]);
	uapi_client_free_list(names);
}

/* A daemon's get response for `peers` peers with an endpoint and an allowed IP each, as
 * uapi_emit_* format them, written in pieces as the client reads. */
struct big_server {
	int lfd;
	unsigned int peers;
	size_t sent;
};

static void *serve_big(void *arg)
{
	struct big_server *s = arg;
	struct uapi_buf b = { 0 };
	struct sockaddr_in ep = { .sin_family = AF_INET, .sin_port = htons(51820) };
	char req[64];
	size_t n = 0;
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	while (n < sizeof(req) && (n < 2 || req[n - 1] != '\n' || req[n - 2] != '\n')) {
		ssize_t r = read(fd, req + n, sizeof(req) - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	uapi_buf_printf(&b, "private_key=" HEX_A "\nlisten_port=51820\n");
	for (unsigned int i = 0; i <= s->peers && !b.oom; i++) {
		uint8_t pub[32], a[4] = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };
		struct uapi_peer_info pi = { .public_key = pub, .endpoint = (struct sockaddr *)&ep,
					     .tx_bytes = i, .rx_bytes = i };

		if (i == s->peers || b.len >= (1 << 20)) {
			if (send(fd, b.data, b.len, MSG_NOSIGNAL) != (ssize_t)b.len)
				break;
			s->sent += b.len;
			b.len = 0;
		}
		if (i == s->peers)
			break;
		memset(pub, 0x5a, sizeof(pub));
		memcpy(pub, &i, sizeof(i));
		ep.sin_addr.s_addr = htonl(0xc6120000u | i);
		uapi_emit_peer(&b, &pi);
		uapi_emit_allowed_ip(&b, AF_INET, a, 32);
	}
	if (send(fd, "errno=0\n\n", 9, MSG_NOSIGNAL) == 9)
		s->sent += 9;
	close(fd);
	uapi_buf_free(&b);
	return NULL;
}

/* A get response past the 16 MiB the client once held at most (60,000 peers, some 20 MB, as
 * `wg show` reads them): read whole, as a daemon of that size sends it. */
static void test_large_get(void **state)
{
	char dir[] = "/tmp/uapi-client-XXXXXX", path[300];
	struct big_server s = { .peers = 60000 };
	struct uapi_device_state d;
	const struct uapi_peer_state *last;
	unsigned int i = s.peers - 1;
	uint8_t pub[32];
	pthread_t t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	s.lfd = listen_at(dir, "big0");
	assert_int_equal(pthread_create(&t, NULL, serve_big, &s), 0);
	assert_int_equal(uapi_client_get(dir, "big0", &d, 30000), 0);
	pthread_join(t, NULL);
	assert_true(s.sent > (16 << 20));
	assert_int_equal(d.n_peers, s.peers);
	last = &d.peers[i];
	memset(pub, 0x5a, sizeof(pub));
	memcpy(pub, &i, sizeof(i));
	assert_memory_equal(last->public_key, pub, 32);
	assert_string_equal(last->endpoint, "198.18.234.95:51820");
	assert_int_equal(last->n_allowed_ips, 1);
	assert_int_equal(last->rx_bytes, i);
	uapi_device_state_free(&d);
	close(s.lfd);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_plain),
		cmocka_unit_test(test_parse_extension),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_build_set),
		cmocka_unit_test(test_build_set_bad_endpoint),
		cmocka_unit_test(test_socket_roundtrip),
		cmocka_unit_test(test_large_get),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
