/* uapi protocol against a mock device: every set key, the exact get text, errors, partial and
 * overlong lines, and the socket helpers on a private directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "wg/allowedips.h"
#include "wg/key.h"
#include "wg/uapi.h"

/* ---- mock device ---- */

struct mpeer {
	bool used, ended;
	uint8_t pub[32], psk[32];
	struct sockaddr_storage ep;
	bool has_ep;
	uint16_t ka;
	uint64_t tx, rx;
};

struct mdev {
	uint8_t priv[32];
	uint8_t self_pub[32];
	uint16_t port;
	uint32_t fwmark;
	struct mpeer peers[8];
	struct aip_table *aip;
	int begins, ends, removes;
	char calls[64];		/* device callbacks in order: k(ey), p(ort), m(ark), r(eplace) */
};

static void m_call(void *d, char c)
{
	char *calls = ((struct mdev *)d)->calls;
	size_t n = strlen(calls);

	if (n + 1 < sizeof(((struct mdev *)d)->calls))
		calls[n] = c;
}

static int m_priv(void *d, const uint8_t k[32], void *prep)
{
	m_call(d, 'k');
	memcpy(((struct mdev *)d)->priv, k, 32);
	return 0;
}
static int m_port(void *d, uint16_t p)
{
	m_call(d, 'p');
	if (p == 1)
		return -EADDRINUSE;	/* pretend port 1 is taken */
	((struct mdev *)d)->port = p;
	return 0;
}
static int m_mark(void *d, uint32_t m) { m_call(d, 'm'); ((struct mdev *)d)->fwmark = m; return 0; }

static void m_drop(struct mdev *d, struct mpeer *p)
{
	aip_remove_peer(d->aip, p);
	memset(p, 0, sizeof(*p));
}

static int m_replace(void *dv)
{
	struct mdev *d = dv;

	m_call(d, 'r');
	for (int i = 0; i < 8; i++)
		if (d->peers[i].used)
			m_drop(d, &d->peers[i]);
	return 0;
}

static int m_begin(void *dv, const uint8_t pub[32], void *prep, void **peer, bool *created)
{
	struct mdev *d = dv;

	d->begins++;
	if (!memcmp(pub, d->self_pub, 32)) {
		*peer = NULL;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		if (d->peers[i].used && !memcmp(d->peers[i].pub, pub, 32)) {
			*peer = &d->peers[i];
			return 0;
		}
	for (int i = 0; i < 8; i++)
		if (!d->peers[i].used) {
			d->peers[i].used = true;
			memcpy(d->peers[i].pub, pub, 32);
			*peer = &d->peers[i];
			*created = true;
			return 0;
		}
	return -ENOSPC;
}

static void m_end(void *dv, void *p) { ((struct mdev *)dv)->ends++; ((struct mpeer *)p)->ended = true; }
static int m_remove(void *dv, void *p) { ((struct mdev *)dv)->removes++; m_drop(dv, p); return 0; }
static int m_psk(void *dv, void *p, const uint8_t k[32]) { memcpy(((struct mpeer *)p)->psk, k, 32); return 0; }
static int m_ep(void *dv, void *p, const struct sockaddr *sa, socklen_t len)
{
	struct mpeer *mp = p;

	memcpy(&mp->ep, sa, len);
	mp->has_ep = true;
	return 0;
}
static int m_ka(void *dv, void *p, uint16_t s) { ((struct mpeer *)p)->ka = s; return 0; }
static int m_repl_aip(void *dv, void *p) { aip_remove_peer(((struct mdev *)dv)->aip, p); return 0; }
static int m_add_aip(void *dv, void *p, int fam, const uint8_t *a, uint8_t cidr)
{
	return aip_insert(((struct mdev *)dv)->aip, fam, a, cidr, p);
}

static int m_get(void *dv, struct uapi_buf *out)
{
	struct mdev *d = dv;
	struct uapi_device_info di = { .private_key = d->priv, .listen_port = d->port, .fwmark = d->fwmark };

	uapi_emit_device(out, &di);
	for (int i = 0; i < 8; i++) {
		struct mpeer *p = &d->peers[i];
		struct uapi_peer_info pi = {
			.public_key = p->pub, .preshared_key = p->psk,
			.endpoint = p->has_ep ? (struct sockaddr *)&p->ep : NULL,
			.last_handshake_sec = i ? 0 : 1700000000, .last_handshake_nsec = i ? 0 : 42,
			.tx_bytes = p->tx, .rx_bytes = p->rx, .persistent_keepalive = p->ka,
		};

		if (!p->used)
			continue;
		uapi_emit_peer(out, &pi);
		uapi_emit_allowed_ips(out, d->aip, p);
	}
	return 0;
}

static const struct uapi_ops ops = {
	.set_private_key = m_priv, .set_listen_port = m_port, .set_fwmark = m_mark,
	.replace_peers = m_replace, .peer_begin = m_begin, .peer_end = m_end, .peer_remove = m_remove,
	.peer_set_preshared_key = m_psk, .peer_set_endpoint = m_ep,
	.peer_set_persistent_keepalive = m_ka, .peer_replace_allowed_ips = m_repl_aip,
	.peer_add_allowed_ip = m_add_aip, .get = m_get,
};

static struct mdev dev;
static struct uapi_conn conn;

static int setup(void **state)
{
	memset(&dev, 0, sizeof(dev));
	dev.aip = aip_new();
	memset(dev.self_pub, 0xee, 32);
	uapi_conn_init(&conn, -1);
	return 0;
}

static int teardown(void **state)
{
	uapi_conn_free(&conn);
	aip_free(dev.aip);
	return 0;
}

/* Feeds s (in pieces of `step` bytes, 0 = whole) and returns the response text, consumed. */
static char *talk(const char *s, size_t step)
{
	static char resp[8192];
	size_t len = strlen(s);

	if (!step)
		step = len ? len : 1;
	for (size_t off = 0; off < len; off += step)
		uapi_conn_feed(&conn, &ops, &dev, s + off, off + step > len ? len - off : step);
	assert_true(conn.out.len < sizeof(resp));
	memcpy(resp, conn.out.data ? conn.out.data : "", conn.out.len);
	resp[conn.out.len] = 0;
	conn.out.len = 0;
	return resp;
}

#define H1 "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1"
#define H2 "0202020202020202020202020202020202020202020202020202020202020202"
#define HP "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define HK "58f8e5c5b33d9b0dbd5b4f3a9e3d9a4b7e1f0c2d3e4f5a6b7c8d9e0f1a2b3c4d"
#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"

static const char set_all[] =
	"set=1\n"
	"private_key=" HK "\n"
	"listen_port=51820\n"
	"fwmark=4660\n"
	"replace_peers=true\n"
	"public_key=" H1 "\n"
	"protocol_version=1\n"
	"preshared_key=" HP "\n"
	"endpoint=198.18.0.2:51820\n"
	"persistent_keepalive_interval=25\n"
	"replace_allowed_ips=true\n"
	"allowed_ip=198.19.1.7/24\n"
	"allowed_ip=2001:db8:1::/48\n"
	"public_key=" H2 "\n"
	"endpoint=[2001:db8::2]:4500\n"
	"allowed_ip=0.0.0.0/0\n"
	"\n";

static const char get_all[] =
	"private_key=" HK "\n"
	"listen_port=51820\n"
	"fwmark=4660\n"
	"public_key=" H1 "\n"
	"preshared_key=" HP "\n"
	"protocol_version=1\n"
	"endpoint=198.18.0.2:51820\n"
	"last_handshake_time_sec=1700000000\n"
	"last_handshake_time_nsec=42\n"
	"tx_bytes=0\n"
	"rx_bytes=0\n"
	"persistent_keepalive_interval=25\n"
	"allowed_ip=198.19.1.0/24\n"
	"allowed_ip=2001:db8:1::/48\n"
	"public_key=" H2 "\n"
	"preshared_key=" Z64 "\n"
	"protocol_version=1\n"
	"endpoint=[2001:db8::2]:4500\n"
	"last_handshake_time_sec=0\n"
	"last_handshake_time_nsec=0\n"
	"tx_bytes=0\n"
	"rx_bytes=0\n"
	"persistent_keepalive_interval=0\n"
	"allowed_ip=0.0.0.0/0\n"
	"errno=0\n\n";

static void test_set_get_roundtrip(void **state)
{
	assert_string_equal(talk(set_all, 0), "errno=0\n\n");
	assert_int_equal(dev.port, 51820);
	assert_int_equal(dev.fwmark, 4660);
	assert_int_equal(dev.begins, 2);
	assert_int_equal(dev.ends, 2);		/* each peer finished once */
	assert_true(dev.peers[0].ended && dev.peers[1].ended);
	assert_int_equal(dev.peers[0].ka, 25);
	assert_string_equal(talk("get=1\n\n", 0), get_all);
	/* pipelined: two requests in one write */
	char both[2048];
	snprintf(both, sizeof(both), "set=1\nfwmark=0\n\nget=1\n\n");
	char *r = talk(both, 0);
	assert_int_equal(strncmp(r, "errno=0\n\nprivate_key=", 21), 0);
	assert_null(strstr(r, "fwmark="));	/* 0 is not listed */
}

static void test_partial_reads(void **state)
{
	/* one byte at a time, and in odd chunks: same result */
	assert_string_equal(talk(set_all, 1), "errno=0\n\n");
	assert_string_equal(talk("get=1\n\n", 1), get_all);
	assert_string_equal(talk(set_all, 7), "errno=0\n\n");
	assert_string_equal(talk("get=1\n\n", 3), get_all);
}

static void test_bad_values(void **state)
{
	static const char *const dev_lines[] = {
		"private_key=" H1 "0", "private_key=xyz", "listen_port=65536", "listen_port=-1",
		"listen_port= 5", "listen_port=", "fwmark=4294967296", "fwmark=0x10",
		"replace_peers=false", "replace_peers=1", "nonsense=1", "allowed_ip=198.19.0.0/16",
		"protocol_version=1",
	};
	static const char *const peer_lines[] = {
		"public_key=" H1 "00", "preshared_key=abc", "endpoint=198.18.0.1", "endpoint=host.example:1",
		"endpoint=2001:db8::1:5", "endpoint=[2001:db8::1]", "endpoint=198.18.0.1:70000",
		"persistent_keepalive_interval=65536", "persistent_keepalive_interval=x",
		"replace_allowed_ips=yes", "allowed_ip=198.19.0.0", "allowed_ip=198.19.0.0/33",
		"allowed_ip=2001:db8::/129", "allowed_ip=junk/8", "protocol_version=2", "update_only=1",
		"remove=false", "listen_port=1", "bogus=1",
	};
	char req[512];

	for (size_t i = 0; i < sizeof(dev_lines) / sizeof(dev_lines[0]); i++) {
		snprintf(req, sizeof(req), "set=1\n%s\n\n", dev_lines[i]);
		if (strcmp(talk(req, 0), "errno=-22\n\n"))
			fail_msg("device line '%s' accepted", dev_lines[i]);
	}
	for (size_t i = 0; i < sizeof(peer_lines) / sizeof(peer_lines[0]); i++) {
		snprintf(req, sizeof(req), "set=1\npublic_key=" H1 "\n%s\n\n", peer_lines[i]);
		if (strcmp(talk(req, 0), "errno=-22\n\n"))
			fail_msg("peer line '%s' accepted", peer_lines[i]);
	}
	/* a line without '=' is a protocol error */
	assert_string_equal(talk("set=1\nlisten_port\n\n", 0), "errno=-71\n\n");
	/* a callback's error goes back as is */
	assert_string_equal(talk("set=1\nlisten_port=1\n\n", 0), "errno=-98\n\n");
	/* after the first error the rest is ignored, and the connection still works */
	assert_string_equal(talk("set=1\nbogus=1\nlisten_port=7\n\n", 0), "errno=-22\n\n");
	assert_int_equal(dev.port, 0);
	assert_string_equal(talk("set=1\nlisten_port=7\n\n", 0), "errno=0\n\n");
	assert_int_equal(dev.port, 7);
	/* uppercase hex is accepted, like wireguard-go */
	assert_string_equal(talk("set=1\nprivate_key=" "F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1F1" "\n\n", 0),
			    "errno=0\n\n");
	assert_int_equal(dev.priv[0], 0xf1);
	/* every peer that began was ended, even in failed requests */
	assert_int_equal(dev.begins, dev.ends + dev.removes);
}

/* A set changes each device setting once, with its last value, in the order of the last lines
 * (a set of 8 MiB of alternating private keys would otherwise redo every peer's DH per line
 * under the lock); the lines are still checked in order, and a bad one or a failing setting
 * stops the set there. */
static void test_device_lines_once(void **state)
{
	assert_string_equal(talk("set=1\nfwmark=1\nprivate_key=" H1 "\nreplace_peers=true\nfwmark=2\n"
				 "private_key=" H2 "\nlisten_port=7\nfwmark=3\n\n", 0), "errno=0\n\n");
	assert_string_equal(dev.calls, "rkpm");
	assert_int_equal(dev.priv[0], 0x02);
	assert_int_equal(dev.port, 7);
	assert_int_equal(dev.fwmark, 3);

	/* a setting that fails stops those whose last line comes after it */
	memset(dev.calls, 0, sizeof(dev.calls));
	assert_string_equal(talk("set=1\nfwmark=5\nlisten_port=1\nprivate_key=" H1 "\n\n", 0),
			    "errno=-98\n\n");
	assert_string_equal(dev.calls, "mp");
	assert_int_equal(dev.fwmark, 5);
	assert_int_equal(dev.priv[0], 0x02);

	/* a bad line: what came before it is applied, nothing after it */
	memset(dev.calls, 0, sizeof(dev.calls));
	assert_string_equal(talk("set=1\nprivate_key=" H1 "\nfwmark=9\nprivate_key=xyz\nlisten_port=8\n"
				 "public_key=" H2 "\n\n", 0), "errno=-22\n\n");
	assert_string_equal(dev.calls, "km");
	assert_int_equal(dev.priv[0], 0xf1);
	assert_int_equal(dev.fwmark, 9);
	assert_int_equal(dev.port, 7);
	assert_int_equal(dev.begins, 0);

	/* device lines after a public_key= are peer lines, and wrong there */
	assert_string_equal(talk("set=1\npublic_key=" H2 "\nfwmark=4\n\n", 0), "errno=-22\n\n");
	assert_int_equal(dev.fwmark, 9);
}

/* Lines with a NUL byte are refused: the name and value are handled as C strings, so
 * "listen_port\0x=5" would be taken for listen_port and "198.19.0.1\0junk/32" for 198.19.0.1/32. */
static void test_nul_in_line(void **state)
{
	static const char key[] = "set=1\nlisten_port\0x=5\n\n";
	static const char aip[] = "set=1\npublic_key=" H1 "\nallowed_ip=198.19.0.1\0junk/32\n\n";
	static const char ep[] = "set=1\npublic_key=" H1 "\nendpoint=198.18.0.9\0:1:51820\n\n";
	const char *reqs[] = { key, aip, ep };
	size_t lens[] = { sizeof(key) - 1, sizeof(aip) - 1, sizeof(ep) - 1 };

	for (size_t i = 0; i < 3; i++) {
		uapi_conn_feed(&conn, &ops, &dev, reqs[i], lens[i]);
		assert_int_equal(conn.out.len, strlen("errno=-22\n\n"));
		assert_memory_equal(conn.out.data, "errno=-22\n\n", conn.out.len);
		conn.out.len = 0;
	}
	assert_int_equal(dev.port, 0);
	assert_int_equal(aip_count(dev.aip), 0);
	assert_false(dev.peers[0].has_ep);
}

static void test_endpoints(void **state)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&dev.peers[0].ep;

	assert_string_equal(talk("set=1\npublic_key=" H1 "\nendpoint=[fe80::1%7]:9\n\n", 0), "errno=0\n\n");
	assert_int_equal(s6->sin6_family, AF_INET6);
	assert_int_equal(s6->sin6_scope_id, 7);
	assert_int_equal(ntohs(s6->sin6_port), 9);
	assert_non_null(strstr(talk("get=1\n\n", 0), "endpoint=[fe80::1%7]:9\n"));
	assert_string_equal(talk("set=1\npublic_key=" H1 "\nendpoint=[fe80::1%lo]:9\n\n", 0), "errno=0\n\n");
	assert_int_equal(s6->sin6_scope_id, 1);
	assert_string_equal(talk("set=1\npublic_key=" H1 "\nendpoint=[fe80::1%nosuchif0]:9\n\n", 0), "errno=-22\n\n");
}

static void test_remove_update_only_and_self(void **state)
{
	char req[512];

	/* update_only on an unknown peer creates nothing */
	assert_string_equal(talk("set=1\npublic_key=" H1 "\nupdate_only=true\nallowed_ip=198.19.0.0/16\n\n", 0),
			    "errno=0\n\n");
	assert_false(dev.peers[0].used);
	assert_int_equal(aip_count(dev.aip), 0);
	/* on a known one it updates */
	assert_string_equal(talk("set=1\npublic_key=" H1 "\n\n", 0), "errno=0\n\n");
	assert_string_equal(talk("set=1\npublic_key=" H1 "\nupdate_only=true\npersistent_keepalive_interval=5\n\n", 0),
			    "errno=0\n\n");
	assert_int_equal(dev.peers[0].ka, 5);
	/* remove, and lines after it for that peer are ignored but checked */
	assert_string_equal(talk("set=1\npublic_key=" H1 "\nallowed_ip=198.19.0.0/16\nremove=true\n"
				 "allowed_ip=198.19.1.0/24\n\n", 0), "errno=0\n\n");
	assert_false(dev.peers[0].used);
	assert_int_equal(aip_count(dev.aip), 0);
	/* the device's own key: ignored (peer_begin gave NULL) */
	snprintf(req, sizeof(req), "set=1\npublic_key=%s\nallowed_ip=198.19.0.0/16\n\n",
		 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
	assert_string_equal(talk(req, 0), "errno=0\n\n");
	assert_int_equal(aip_count(dev.aip), 0);
	/* replace_allowed_ips */
	assert_string_equal(talk("set=1\npublic_key=" H2 "\nallowed_ip=198.19.0.0/16\nallowed_ip=198.19.1.0/24\n\n", 0),
			    "errno=0\n\n");
	assert_int_equal(aip_count(dev.aip), 2);
	assert_string_equal(talk("set=1\npublic_key=" H2 "\nreplace_allowed_ips=true\nallowed_ip=2001:db8::/32\n\n", 0),
			    "errno=0\n\n");
	assert_int_equal(aip_count(dev.aip), 1);
	/* a zero private key clears it, and get then omits it */
	assert_string_equal(talk("set=1\nprivate_key=" Z64 "\n\n", 0), "errno=0\n\n");
	assert_null(strstr(talk("get=1\n\n", 0), "private_key"));
}

static void test_overlong_and_ops(void **state)
{
	char *big = malloc(UAPI_LINE_MAX * 3 + 64);

	strcpy(big, "set=1\nlisten_port=");
	memset(big + strlen(big), '1', UAPI_LINE_MAX * 2);
	strcpy(big + 18 + UAPI_LINE_MAX * 2, "\n\n");
	assert_string_equal(talk(big, 100), "errno=-71\n\n");
	assert_string_equal(talk("get=1\nx\n", 0), "errno=-22\n\n");	/* get=1 needs a blank line */
	assert_string_equal(talk("get=1\n\n", 0), "errno=0\n\n");	/* empty device */
	/* unknown operation: the connection is to be closed, input ignored afterwards */
	assert_false(uapi_conn_feed(&conn, &ops, &dev, "bogus=1\n", 8));
	assert_false(uapi_conn_feed(&conn, &ops, &dev, "get=1\n\n", 7));
	assert_int_equal(conn.out.len, 0);
	free(big);
}

static void test_eof_mid_set(void **state)
{
	talk("set=1\npublic_key=" H1 "\nallowed_ip=198.19.0.0/16\n", 0);
	assert_int_equal(dev.ends, 0);
	uapi_conn_eof(&conn, &ops, &dev);
	assert_int_equal(dev.ends, 1);		/* the peer is still started */
	assert_int_equal(aip_count(dev.aip), 1);
}

/* ---- socket ---- */

static void test_socket(void **state)
{
	char dir[] = "/tmp/culvert-uapi-XXXXXX", sub[128], path[256], resp[4096];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int lfd, cfd, sfd, want, got = 0;

	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/wireguard", dir);
	assert_int_equal(uapi_socket_path(path, sizeof(path), sub, "wgt0"), 0);
	assert_int_equal(uapi_socket_path(path, sizeof(path), sub, "a/b"), -EINVAL);
	assert_int_equal(uapi_socket_path(path, sizeof(path), sub, "0123456789abcdef"), -EINVAL);
	assert_int_equal(uapi_socket_path(path, sizeof(path), sub, ""), -EINVAL);
	assert_int_equal(uapi_socket_path(path, sizeof(path), sub, "wgt0"), 0);

	/* the directory is made 0755 whatever the umask; one others may write to is refused */
	mode_t um = umask(077);
	lfd = uapi_listen(sub, "wgt0");
	umask(um);
	assert_true(lfd >= 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	close(lfd);
	for (int i = 0; i < 2; i++) {
		char why[512] = "";

		assert_int_equal(chmod(sub, i ? 01777 : 0775), 0);
		assert_int_equal(uapi_listen(sub, "wgt0"), -EPERM);
		assert_int_equal(uapi_dir_check(sub, why, sizeof(why)), -EPERM);
		assert_non_null(strstr(why, "chmod go-w"));
	}
	assert_int_equal(chmod(sub, 0700), 0);
	lfd = uapi_listen(sub, "wgt0");
	assert_true(lfd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a second daemon for the same interface is refused */
	assert_int_equal(uapi_listen(sub, "wgt0"), -EADDRINUSE);
	/* (its probe left a connection in our backlog, closed already: drain it) */
	sfd = uapi_accept(lfd);
	assert_true(sfd >= 0);
	assert_int_equal(read(sfd, resp, 1), 0);
	close(sfd);
	assert_int_equal(uapi_accept(lfd), -EAGAIN);

	cfd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sun.sun_path, path);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	sfd = uapi_accept(lfd);
	assert_true(sfd >= 0);
	uapi_conn_free(&conn);
	uapi_conn_init(&conn, sfd);
	assert_int_equal(write(cfd, "set=1\nlisten_port=9\n\nget=1\n\n", 28), 28);
	shutdown(cfd, SHUT_WR);
	do {
		struct pollfd pfd = { .fd = sfd, .events = POLLIN | POLLOUT };

		poll(&pfd, 1, 1000);
		want = uapi_conn_io(&conn, &ops, &dev);
	} while (want);
	uapi_conn_free(&conn);		/* closes sfd */
	uapi_conn_init(&conn, -1);
	for (ssize_t r; (r = read(cfd, resp + got, sizeof(resp) - 1 - got)) > 0;)
		got += (int)r;
	resp[got] = 0;
	assert_string_equal(resp, "errno=0\n\nlisten_port=9\nerrno=0\n\n");
	close(cfd);

	/* a socket left by a dead daemon is replaced */
	close(lfd);
	assert_int_equal(stat(path, &st), 0);
	lfd = uapi_listen(sub, "wgt0");
	assert_true(lfd >= 0);
	close(lfd);
	uapi_unlink(sub, "wgt0");
	assert_int_equal(stat(path, &st), -1);
	/* a non-socket in the way is not removed */
	close(open(path, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(uapi_listen(sub, "wgt0"), -EEXIST);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_get_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_in_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_lines_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_update_only_and_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_and_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_mid_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
