/* wg_flood: a handshake flooder for testing a WireGuard responder under attack.
 *
 * wg_flood [-b ADDR] [-n PORTS] [-t SECS] [-r RATE] [-g | -R FILE] [-T | -I] [-q] PUBKEY HOST[:PORT]
 *
 * From PORTS UDP sockets bound to ADDR (each its own source port) it sends handshake
 * initiations to HOST:PORT whose MAC1 is valid for PUBKEY (the responder's public key; that is
 * all an attacker needs) and whose other fields are random, so each one passes MAC1 and costs
 * the responder an X25519 before it fails. It reads the cookie replies, decrypts the cookie
 * (keyed by the public key, bound to the MAC1 it answers) and from then on sends valid MAC2s
 * from that source, as an attacker who owns its address would. RATE caps messages per second
 * over all sockets (0: as fast as one core can). -g sends random 148-byte type-1 datagrams
 * instead, which need no key and pass nothing (what a spoofing attacker can send). -R FILE
 * replays one captured initiation (FILE: its 148 bytes) from every port, with this source's
 * MAC2 once it has a cookie: it decrypts, names a real peer and costs the responder all the
 * handshake's DH before the timestamp shows a replay. -T speaks culvert's TCP transport
 * instead: each source is a connection carrying the messages as 2-byte-length frames, and the
 * cookie replies come back on it; a connection the responder closes is dialled again. -I speaks
 * culvert's ICMP transport as a dialler: each source is an echo identifier (one raw socket, one
 * address), each message an echo request, and the cookie replies come back in the listener's
 * echo replies; HOST needs no port.
 * Every second it prints what it sent and received; at the end (or on SIGTERM/SIGINT) one
 * "total:" line.
 * It links libculvert for the MAC and cookie code (src/wg/cookie.c), so it speaks exactly the
 * responder's dialect of the cookie exchange; the random bytes are the attacker's own. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <netinet/icmp6.h>
#include <linux/icmp.h>

#include "wg/cookie.h"
#include "wire/icmp.h"
#include "wg/crypto.h"
#include "wg/key.h"
#include "wg/messages.h"

enum {
	MAX_PORTS = 256,
	POOL = 256,	/* distinct initiations per source, sent in turn */
	BATCH = 64,	/* messages per sendmmsg */
};

struct source {
	int fd;
	uint16_t port;	/* -I: the echo identifier */
	/* -T: a frame may leave in pieces, and replies arrive as a byte stream */
	uint8_t tx[BATCH * (2 + sizeof(struct wg_msg_initiation))];
	size_t tx_off, tx_n;
	uint8_t rx[4096];
	size_t rx_n;
	struct cookie_maker maker;
	uint8_t cookie[WG_COOKIE_LEN];	/* the cookie the pool's MAC2s were made with */
	bool have_cookie;
	unsigned int cursor;
	struct wg_msg_initiation pool[POOL];
};

struct counts {
	uint64_t sent, send_err, replies, cookies, bad_replies, other, redials;
};

static struct source *src;
static int n_src = 8;
static uint32_t index_base;
static bool garbage, quiet;
static struct wg_msg_initiation replay;	/* -R: the captured initiation */
static bool replaying, tcp, icmp;
static int icmp_fd = -1;	/* -I: one raw socket for every source */
static uint16_t id_base, echo_seq;
static volatile sig_atomic_t stopping;
static const char *bind_to;
static struct sockaddr_storage target;
static socklen_t target_len;

static void on_signal(int sig)
{
	stopping = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * WG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: wg_flood [-b ADDR] [-n PORTS] [-t SECS] [-r RATE] [-g | -R FILE] [-T | -I] [-q] PUBKEY HOST[:PORT]\n"
		"  -b, --bind ADDR      local address of the sockets (default: any)\n"
		"  -n, --ports N        source ports, one socket each (default 8, at most %d)\n"
		"  -t, --duration SECS  how long to send (default 10)\n"
		"  -r, --rate N         messages per second over all ports, 0 = no cap (default 0)\n"
		"  -g, --garbage        random 148-byte type-1 datagrams (no valid MAC1; PUBKEY unused)\n"
		"  -R, --replay FILE    send the initiation in FILE (148 bytes, captured) from every port\n"
		"  -T, --tcp            culvert's TCP transport: one connection per port, framed\n"
		"  -I, --icmp           culvert's ICMP transport: one echo identifier per port (no PORT)\n"
		"  -q, --quiet          only the total line\n", MAX_PORTS);
	exit(2);
}

/* HOST:PORT or [V6]:PORT, numeric only. */
static bool parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_DGRAM }, *ai;
	size_t hl;

	if (!colon || colon == s)
		return false;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return false;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return false;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return true;
}

/* -I: a bare address, which has no port to give. */
static bool parse_host(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char b[INET6_ADDRSTRLEN + 8];

	if (strlen(s) >= INET6_ADDRSTRLEN)
		return false;
	snprintf(b, sizeof(b), strchr(s, ':') ? "[%s]:0" : "%s:0", s);
	return parse_addr(b, ss, len);
}

static bool read_replay(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(&replay, 1, sizeof(replay), f) : 0;
	int extra = f ? fgetc(f) : EOF;

	if (f)
		fclose(f);
	if (n != sizeof(replay) || extra != EOF || !wg_msg_type_is(&replay, WG_MSG_INITIATION)) {
		fprintf(stderr, "wg_flood: %s is not one %d-byte initiation (the UDP payload alone)\n",
			path, WG_MSG_INITIATION_LEN);
		exit(2);
	}
	return true;
}

/* -I: the raw socket every source shares, bound and connected, taking echo replies only. */
static int open_icmp(const struct sockaddr_storage *local, socklen_t llen)
{
	bool v6 = target.ss_family == AF_INET6;
	int fd = socket(target.ss_family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	int r, sz = 1 << 22;

	if (fd < 0) {
		perror("wg_flood: raw ICMP socket (needs CAP_NET_RAW)");
		exit(1);
	}
	if (v6) {
		struct icmp6_filter f;

		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
		r = setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
	} else {
		struct icmp_filter f = { ~(1u << ICMP_ECHOREPLY) };	/* a set bit drops that type */

		r = setsockopt(fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f));
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (r || bind(fd, (const struct sockaddr *)local, llen) ||
	    connect(fd, (const struct sockaddr *)&target, target_len)) {
		perror("wg_flood: raw ICMP socket setup");
		exit(1);
	}
	return fd;
}

/* Source i's socket, bound and connected (a TCP connection is made blocking, then used
 * without blocking). */
static void open_one(int i)
{
	struct sockaddr_storage local = { .ss_family = target.ss_family };
	socklen_t llen = target_len;
	int fd, sz = 1 << 20;

	if (bind_to) {
		char b[INET6_ADDRSTRLEN + 8];
		snprintf(b, sizeof(b), target.ss_family == AF_INET6 ? "[%s]:0" : "%s:0", bind_to);
		if (!parse_addr(b, &local, &llen) || local.ss_family != target.ss_family) {
			fprintf(stderr, "wg_flood: bad bind address %s (same family as the target)\n", bind_to);
			exit(2);
		}
	}
	if (icmp) {
		if (icmp_fd < 0)
			icmp_fd = open_icmp(&local, llen);
		src[i].fd = icmp_fd;
		src[i].port = (uint16_t)(id_base + i);
		return;
	}
	fd = socket(target.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM | SOCK_NONBLOCK) | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("wg_flood: socket");
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&local, llen) || connect(fd, (const struct sockaddr *)&target, target_len)) {
		perror("wg_flood: bind/connect");
		exit(1);
	}
	if (tcp && fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		perror("wg_flood: fcntl");
		exit(1);
	}
	llen = sizeof(local);
	getsockname(fd, (struct sockaddr *)&local, &llen);
	src[i].fd = fd;
	src[i].port = ntohs(local.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port
							: ((struct sockaddr_in *)&local)->sin_port);
	src[i].tx_off = src[i].tx_n = src[i].rx_n = 0;
}

/* -T: the responder closed source s's connection (it closes the unproven after a while):
 * dial again, from a new port. */
static void redial(struct source *s, struct counts *c)
{
	close(s->fd);
	open_one((int)(s - src));
	c->redials++;
}

static void fill_pool(struct source *s, int si, const uint8_t pub[WG_KEY_LEN])
{
	cookie_maker_init(&s->maker, pub);
	for (int k = 0; k < POOL; k++) {
		struct wg_msg_initiation *m = &s->pool[k];

		if (replaying) {
			*m = replay;
		} else {
			crypto_random(m, sizeof(*m));
			memset(m, 0, 4);
			m->type = WG_MSG_INITIATION;
			if (garbage)
				continue;
			m->sender_index = htole32(index_base + (uint32_t)(si * POOL + k));
		}
		cookie_add_macs(&s->maker, m, sizeof(*m), now_ns());
	}
}

/* A cookie reply for source s: take the cookie and, if it is new, redo the pool's MAC2s. */
static void take_reply(struct source *s, const struct wg_msg_cookie_reply *r, struct counts *c)
{
	uint32_t k = le32toh(r->receiver_index) - index_base - (uint32_t)((s - src) * POOL);
	uint64_t now = now_ns();

	if (replaying)	/* one message in every slot: it answers slot 0 or nothing of ours */
		k = r->receiver_index == replay.sender_index ? 0 : POOL;

	c->replies++;
	if (k >= POOL) {
		c->bad_replies++;
		return;
	}
	memcpy(s->maker.last_mac1, s->pool[k].macs.mac1, WG_MAC_LEN);
	s->maker.have_last_mac1 = true;
	if (cookie_consume_reply(&s->maker, r, now)) {
		c->bad_replies++;
		return;
	}
	c->cookies++;
	if (s->have_cookie && crypto_equal(s->cookie, s->maker.cookie, WG_COOKIE_LEN))
		return;
	memcpy(s->cookie, s->maker.cookie, WG_COOKIE_LEN);
	s->have_cookie = true;
	for (int j = 0; j < POOL; j++)
		cookie_add_macs(&s->maker, &s->pool[j], sizeof(s->pool[j]), now);
}

/* -T: the framed replies in s's stream. */
static void drain_tcp(struct source *s, struct counts *c)
{
	for (;;) {
		ssize_t n = recv(s->fd, s->rx + s->rx_n, sizeof(s->rx) - s->rx_n, MSG_DONTWAIT);
		size_t off = 0;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			redial(s, c);
			return;
		}
		if (n < 0)
			return;
		s->rx_n += (size_t)n;
		while (s->rx_n - off >= 2) {
			size_t len = (size_t)s->rx[off] << 8 | s->rx[off + 1];

			if (s->rx_n - off < 2 + len)
				break;
			if (len == WG_MSG_COOKIE_REPLY_LEN && wg_msg_type_is(s->rx + off + 2, WG_MSG_COOKIE_REPLY))
				take_reply(s, (const struct wg_msg_cookie_reply *)(s->rx + off + 2), c);
			else
				c->other++;
			off += 2 + len;
		}
		memmove(s->rx, s->rx + off, s->rx_n - off);
		s->rx_n -= off;
		if (s->rx_n == sizeof(s->rx)) {	/* no frame of ours is that long */
			redial(s, c);
			return;
		}
	}
}

/* -I: the echo replies on the shared socket, each to the source its identifier names. IPv4
 * raw sockets hand over the IP header too. */
static void drain_icmp(struct counts *c)
{
	bool v6 = target.ss_family == AF_INET6;
	uint8_t buf[2048];
	ssize_t n;

	while ((n = recv(icmp_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		size_t hl = v6 ? 0 : (size_t)(buf[0] & 0x0f) * 4;
		enum icmpw_drop why;
		struct icmpw_msg m;
		uint16_t k;

		if ((size_t)n < hl || !icmpw_parse(buf + hl, (size_t)n - hl, v6, ICMPW_DIALLER, sizeof(buf), &m, &why)) {
			c->other++;
			continue;
		}
		k = (uint16_t)(m.id - id_base);
		if (k < n_src && m.len == WG_MSG_COOKIE_REPLY_LEN && wg_msg_type_is(m.data, WG_MSG_COOKIE_REPLY))
			take_reply(&src[k], (const struct wg_msg_cookie_reply *)m.data, c);
		else if (m.len)	/* an empty reply answers a poll: nothing to count */
			c->other++;
	}
}

static void drain(struct counts *c)
{
	uint8_t buf[256];

	if (icmp) {
		drain_icmp(c);
		return;
	}
	for (int i = 0; i < n_src; i++) {
		ssize_t n;

		if (tcp) {
			drain_tcp(&src[i], c);
			continue;
		}
		while ((n = recv(src[i].fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
			if (n == WG_MSG_COOKIE_REPLY_LEN && wg_msg_type_is(buf, WG_MSG_COOKIE_REPLY))
				take_reply(&src[i], (const struct wg_msg_cookie_reply *)buf, c);
			else
				c->other++;
		}
	}
}

/* -T: what is left of the last batch first, then want framed messages; a frame cut by a full
 * socket buffer goes on next time, so the stream stays framed. */
static int send_tcp(struct source *s, int want, struct counts *c)
{
	ssize_t n;

	if (s->tx_off == s->tx_n) {
		size_t m = sizeof(struct wg_msg_initiation);

		s->tx_off = s->tx_n = 0;
		for (int i = 0; i < want; i++) {
			s->tx[s->tx_n] = (uint8_t)(m >> 8);
			s->tx[s->tx_n + 1] = (uint8_t)m;
			memcpy(s->tx + s->tx_n + 2, &s->pool[(s->cursor + (unsigned int)i) % POOL], m);
			s->tx_n += 2 + m;
		}
		s->cursor += (unsigned int)want;
		c->sent += (uint64_t)want;
	}
	n = send(s->fd, s->tx + s->tx_off, s->tx_n - s->tx_off, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			c->send_err++;
			return 0;
		}
		redial(s, c);
		return 0;
	}
	s->tx_off += (size_t)n;
	return want;
}

static int send_batch(struct source *s, int want, struct counts *c)
{
	static uint8_t echo[BATCH][ICMPW_OVERHEAD + sizeof(struct wg_msg_initiation)];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	int n;

	if (tcp)
		return send_tcp(s, want, c);
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < want; i++) {
		iov[i].iov_base = &s->pool[(s->cursor + (unsigned int)i) % POOL];
		iov[i].iov_len = sizeof(struct wg_msg_initiation);
		if (icmp) {	/* the message as the payload of an echo request from s's identifier */
			iov[i].iov_len = icmpw_build(echo[i], sizeof(echo[i]), target.ss_family == AF_INET6, ICMPW_DIALLER,
						     s->port, echo_seq++, 0, iov[i].iov_base, iov[i].iov_len);
			iov[i].iov_base = echo[i];
		}
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	n = sendmmsg(s->fd, mm, (unsigned int)want, MSG_DONTWAIT);
	if (n < 0) {
		/* a full queue or a refused port is the flood working, not a reason to stop */
		if (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED) {
			perror("wg_flood: sendmmsg");
			exit(1);
		}
		c->send_err++;
		return 0;
	}
	s->cursor += (unsigned int)n;
	c->sent += (uint64_t)n;
	return n;
}

static void report(const char *what, double secs, const struct counts *c)
{
	int with = 0;

	for (int i = 0; i < n_src; i++)
		with += src[i].have_cookie;
	printf("%s %.0f sent/s (%llu sent in %.1f s), send_err=%llu, cookie_replies=%llu, cookies=%llu, "
	       "bad_replies=%llu, other=%llu, redials=%llu, sources_with_cookie=%d/%d\n", what,
	       secs > 0 ? (double)c->sent / secs : 0.0, (unsigned long long)c->sent, secs,
	       (unsigned long long)c->send_err, (unsigned long long)c->replies,
	       (unsigned long long)c->cookies, (unsigned long long)c->bad_replies,
	       (unsigned long long)c->other, (unsigned long long)c->redials, with, n_src);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bind", required_argument, 0, 'b' }, { "ports", required_argument, 0, 'n' },
		{ "duration", required_argument, 0, 't' }, { "rate", required_argument, 0, 'r' },
		{ "garbage", no_argument, 0, 'g' }, { "replay", required_argument, 0, 'R' },
		{ "tcp", no_argument, 0, 'T' }, { "icmp", no_argument, 0, 'I' }, { "quiet", no_argument, 0, 'q' },
		{ 0, 0, 0, 0 },
	};
	double duration = 10, rate = 0;
	uint8_t pub[WG_KEY_LEN] = { 0 };
	struct sockaddr_storage dst;
	socklen_t dlen;
	struct counts total = { 0 }, last = { 0 };
	uint64_t start, next_print, end;
	int o;

	while ((o = getopt_long(argc, argv, "b:n:t:r:gR:TIq", opts, NULL)) != -1) {
		switch (o) {
		case 'b': bind_to = optarg; break;
		case 'n': n_src = atoi(optarg); break;
		case 't': duration = atof(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'g': garbage = true; break;
		case 'R': replaying = read_replay(optarg); break;
		case 'T': tcp = true; break;
		case 'I': icmp = true; break;
		case 'q': quiet = true; break;
		default: usage();
		}
	}
	if (argc - optind != 2 || (garbage && replaying) || (tcp && icmp) || n_src < 1 || n_src > MAX_PORTS || duration <= 0 || rate < 0)
		usage();
	if (!garbage && !key_from_base64(pub, argv[optind])) {
		fprintf(stderr, "wg_flood: %s is not a base64 public key (wg pubkey prints one)\n", argv[optind]);
		return 2;
	}
	if (!parse_addr(argv[optind + 1], &dst, &dlen) && !(icmp && parse_host(argv[optind + 1], &dst, &dlen))) {
		fprintf(stderr, "wg_flood: %s is not a numeric HOST:PORT or [V6]:PORT%s\n", argv[optind + 1],
			icmp ? " or HOST" : "");
		return 2;
	}
	src = calloc((size_t)n_src, sizeof(*src));
	if (!src)
		return 1;
	crypto_random(&index_base, sizeof(index_base));
	crypto_random(&id_base, sizeof(id_base));
	target = dst;
	target_len = dlen;
	for (int i = 0; i < n_src; i++)
		open_one(i);
	for (int i = 0; i < n_src; i++)
		fill_pool(&src[i], i, pub);
	printf("wg_flood: %s from %d ports (first %u) to %s for %.1f s, rate cap %.0f/s (0: none)\n",
	       garbage ? "garbage" : replaying ? "a replayed initiation" : "initiations with valid MAC1", n_src, src[0].port, argv[optind + 1],
	       duration, rate);
	fflush(stdout);

	/* SIGTERM or SIGINT ends the flood early, still with the total line */
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	start = now_ns();
	end = start + (uint64_t)(duration * 1e9);
	next_print = start + WG_NSEC_PER_SEC;
	for (int turn = 0;; turn = (turn + 1) % n_src) {
		uint64_t now = now_ns();
		int want = BATCH;

		if (now >= end || stopping)
			break;
		if (now >= next_print) {
			struct counts d = {
				total.sent - last.sent, total.send_err - last.send_err, total.replies - last.replies,
				total.cookies - last.cookies, total.bad_replies - last.bad_replies, total.other - last.other,
				total.redials - last.redials,
			};
			char t[32];

			snprintf(t, sizeof(t), "t=%.0f", (double)(now - start) / 1e9);
			if (!quiet)
				report(t, 1.0, &d);
			last = total;
			next_print += WG_NSEC_PER_SEC;
		}
		if (rate > 0) {
			double allowed = rate * (double)(now - start) / 1e9 - (double)total.sent;

			if (allowed < 1) {
				struct timespec ts = { 0, (long)((1 - allowed) / rate * 1e9) };
				if (ts.tv_nsec > 1000000)
					ts.tv_nsec = 1000000;
				nanosleep(&ts, NULL);
				drain(&total);
				continue;
			}
			if (allowed < want)
				want = (int)allowed;
		}
		send_batch(&src[turn], want, &total);
		if (turn == n_src - 1)
			drain(&total);
	}
	drain(&total);
	report("total:", (double)(now_ns() - start) / 1e9, &total);
	for (int i = 0; i < n_src; i++) {
		cookie_maker_wipe(&src[i].maker);
		if (!icmp)
			close(src[i].fd);
	}
	if (icmp_fd >= 0)
		close(icmp_fd);
	free(src);
	return 0;
}
