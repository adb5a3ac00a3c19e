/* Moves datagrams over the ICMP transport (src/wire/icmp*.c) between two namespaces, without
 * the engine, for tests/e2e/icmp_wire.sh.
 *   icmp_pipe listen -4|-6 [-q QUEUE]   echo every message back; "PUSH n [ms]" queues n more;
 *                                       answer ordinary pings; on SIGTERM print the counters
 *   icmp_pipe dial -4|-6 [-i ID] [-n COUNT] [-p PUSH] [-w MS] ADDR
 *                                       send COUNT patterned messages, check each comes back
 *                                       intact, then ask for PUSH and check those arrive with
 *                                       nothing sent but polls (-w: the listener queues them
 *                                       MS later, the dialler idle meanwhile); prints "ok ..." */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lib/packet.h"
#include "wire/icmp.h"
#include "wire/icmp_sock.h"

enum { BATCH = 32, BUF = 2048, MAXMSG = 1400 };

static volatile sig_atomic_t stop_flag;
static void on_term(int sig) { (void)sig; stop_flag = 1; }

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct icmpw_stats st;
static uint8_t rxbuf[BATCH][BUF];

static void print_stats(void)
{
	printf("stat rx_msgs %llu tx_msgs %llu polls_rx %llu polls_tx %llu foreign_answered %llu\n",
	       (unsigned long long)st.rx_msgs, (unsigned long long)st.tx_msgs,
	       (unsigned long long)st.polls_rx, (unsigned long long)st.polls_tx,
	       (unsigned long long)st.foreign_answered);
	for (int i = 0; i < ICMPW_DROP_MAX; i++)
		printf("drop %s %llu\n", icmpw_drop_name(i), (unsigned long long)st.drop[i]);
	fflush(stdout);
}

static void set_bufs(struct icmpw_dgram *d)
{
	for (int i = 0; i < BATCH; i++) {
		d[i].buf = rxbuf[i];
		d[i].cap = BUF;
	}
}

static void send_one(struct icmpw_sock *s, uint8_t *buf, size_t len, const struct sockaddr_storage *to,
		     const struct endpoint_local *from)
{
	struct icmpw_dgram d = { .buf = buf, .len = len, .peer = *to };

	if (from)
		d.local = *from;

	if (icmpw_sock_send(s, &d, 1) != 1)
		st.drop[ICMPW_DROP_SEND]++;
}

/* Message k: 4-byte k, then bytes k*7+i; its length varies with k. */
static size_t pattern(uint8_t *p, uint32_t k)
{
	size_t len = 4 + (k * 97) % (MAXMSG - 4);

	p[0] = (uint8_t)(k >> 24); p[1] = (uint8_t)(k >> 16); p[2] = (uint8_t)(k >> 8); p[3] = (uint8_t)k;
	for (size_t i = 4; i < len; i++)
		p[i] = (uint8_t)(k * 7 + i);
	return len;
}

/* Answer held requests with queued messages. */
static void flush(struct icmpw_sock *s, struct icmpw_table *t, struct icmpw_session *se, bool v6)
{
	uint8_t out[BUF];
	uint16_t seq;
	const uint8_t *q;
	size_t qlen;
	uint8_t backlog;

	while (se && icmpw_session_take(t, se, now_ns(), &seq, &q, &qlen, &backlog)) {
		struct icmpw_dgram to;
		size_t l = icmpw_build(out, sizeof(out), v6, ICMPW_LISTENER, se->key.id, seq, backlog, q, qlen);

		icmpw_sock_addr(&se->key, &to);
		send_one(s, out, l, &to.peer, &to.local);
		st.tx_msgs++;
	}
}

static int listen_main(bool v6, unsigned int qcap)
{
	struct icmpw_sock s;
	struct icmpw_guard g;
	struct icmpw_table t;
	struct icmpw_dgram d[BATCH];
	uint8_t out[BUF], msg[MAXMSG];
	struct icmpw_key later_key;       /* "PUSH n ms": n messages queued ms from now */
	unsigned int later_n = 0;
	uint64_t later_t = 0;
	int r;

	if ((r = icmpw_sock_open(&s, v6, ICMPW_LISTENER)) < 0 || (r = icmpw_table_init(&t, 16, qcap, MAXMSG)) < 0 ||
	    (r = icmpw_guard_start(&g, v6)) < 0) {
		fprintf(stderr, "icmp_pipe: %s\n", strerror(-r));
		return 1;
	}
	set_bufs(d);
	printf("listening\n");
	fflush(stdout);
	while (!stop_flag) {
		struct pollfd pfd = { s.fd, POLLIN, 0 };
		int n;

		if (later_n && now_ns() >= later_t) {
			struct icmpw_session *se = icmpw_table_get(&t, &later_key, now_ns(), false);

			for (unsigned int k = 0; se && k < later_n; k++) {
				size_t l = pattern(msg, 1000000 + k);

				if (icmpw_session_enqueue(&t, se, msg, l) < 0)
					st.drop[ICMPW_DROP_QUEUE_FULL]++;
			}
			later_n = 0;
			flush(&s, &t, se, v6);
		}
		if (poll(&pfd, 1, later_n ? 5 : 200) <= 0)
			continue;
		n = icmpw_sock_recv(&s, d, BATCH);
		for (int i = 0; i < n; i++) {
			struct icmpw_msg m;
			enum icmpw_drop why;
			struct icmpw_key key;
			struct icmpw_session *se;
			uint64_t now = now_ns();

			if (!icmpw_parse(d[i].icmp, d[i].len, v6, ICMPW_LISTENER, MAXMSG, &m, &why)) {
				st.drop[why]++;
				/* Ordinary ping to one of our unicast addresses: answer it as the kernel
				 * would have, from the address it was sent to. */
				if (why == ICMPW_DROP_FOREIGN && d[i].unicast) {
					size_t l = icmpw_echo_answer(d[i].icmp, d[i].len, v6, out, sizeof(out));

					if (l) {
						send_one(&s, out, l, &d[i].peer, &d[i].local);
						st.foreign_answered++;
					}
				}
				continue;
			}
			icmpw_sock_key(&s, &d[i], m.id, &key);
			se = icmpw_table_get(&t, &key, now, true);
			if (!se) {
				st.drop[ICMPW_DROP_TABLE_FULL]++;
				continue;
			}
			icmpw_session_hold(se, m.seq, now);
			if (!m.len) {
				st.polls_rx++;
			} else {
				unsigned int push;

				st.rx_msgs++;
				if (m.len < sizeof(msg) && m.len > 5 && !memcmp(m.data, "PUSH ", 5)) {
					memcpy(msg, m.data, m.len);
					msg[m.len] = 0;
					char *end;

					push = (unsigned int)strtoul((const char *)msg + 5, &end, 10);
					if (*end == ' ') {
						later_key = key;
						later_n = push;
						later_t = now + strtoull(end + 1, NULL, 10) * 1000000ull;
						push = 0;
					}
					for (unsigned int k = 0; k < push; k++) {
						size_t l = pattern(msg, 1000000 + k);

						if (icmpw_session_enqueue(&t, se, msg, l) < 0)
							st.drop[ICMPW_DROP_QUEUE_FULL]++;
					}
				} else if (icmpw_session_enqueue(&t, se, m.data, m.len) < 0) {
					st.drop[ICMPW_DROP_QUEUE_FULL]++;
				}
			}
			flush(&s, &t, se, v6);
		}
	}
	{
		unsigned int used = 0;

		for (unsigned int i = 0; i < t.n; i++)
			used += t.s[i].used;
		printf("sessions %u\n", used);
	}
	print_stats();
	icmpw_guard_stop(&g);
	icmpw_table_free(&t);
	icmpw_sock_close(&s);
	return 0;
}

static int dial_main(bool v6, const char *addr, int id, unsigned int count, unsigned int push, unsigned int delay_ms)
{
	struct icmpw_sock s;
	struct icmpw_poll p;
	struct icmpw_dgram d[BATCH];
	struct sockaddr_storage to = { 0 };
	struct icmpw_dialled dialled;
	uint8_t out[BUF], msg[MAXMSG];
	uint8_t *seen = calloc(count + push + 1, 1);
	unsigned int sent = 0, echoed = 0, pushed = 0, bad = 0;
	uint16_t seq = 0, myid;
	uint64_t start = now_ns(), deadline = start + 30000000000ull, push_at = 0, polls_at_push = 0;
	bool asked = false;
	int r;

	if (v6) {
		((struct sockaddr_in6 *)&to)->sin6_family = AF_INET6;
		r = inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&to)->sin6_addr);
	} else {
		((struct sockaddr_in *)&to)->sin_family = AF_INET;
		r = inet_pton(AF_INET, addr, &((struct sockaddr_in *)&to)->sin_addr);
	}
	if (r != 1 || !seen) {
		fprintf(stderr, "icmp_pipe: bad address %s\n", addr);
		return 2;
	}
	if (id >= 0)
		myid = (uint16_t)id;
	else if (getrandom(&myid, sizeof(myid), 0) != sizeof(myid))
		return 1;
	dialled.addr = to;
	dialled.id = myid;
	if ((r = icmpw_sock_open(&s, v6, ICMPW_DIALLER)) < 0 || (r = icmpw_sock_dial(&s, &dialled, 1)) < 0) {
		fprintf(stderr, "icmp_pipe: %s\n", strerror(-r));
		return 1;
	}
	set_bufs(d);
	icmpw_poll_init(&p, now_ns());
	while (!stop_flag && (echoed < count || pushed < push)) {
		uint64_t now = now_ns(), next;
		unsigned int due = icmpw_poll_due(&p, now, &next);
		struct pollfd pfd = { s.fd, POLLIN, 0 };
		int n, wait_ms;

		if (now > deadline)
			break;
		/* Upstream data: a few in flight at a time, each request also a reply slot. */
		while (sent < count && sent - echoed < 8) {
			size_t l = pattern(msg, sent);

			send_one(&s, out, icmpw_build(out, sizeof(out), v6, ICMPW_DIALLER, myid, seq++, 0, msg, l), &to, NULL);
			icmpw_poll_sent(&p, now, true);
			sent++;
			st.tx_msgs++;
			due = due ? due - 1 : 0;
		}
		if (echoed == count && !asked && push) {
			int l = delay_ms ? snprintf((char *)msg, sizeof(msg), "PUSH %u %u", push, delay_ms)
					 : snprintf((char *)msg, sizeof(msg), "PUSH %u", push);

			send_one(&s, out, icmpw_build(out, sizeof(out), v6, ICMPW_DIALLER, myid, seq++, 0, msg, (size_t)l), &to, NULL);
			icmpw_poll_sent(&p, now, true);
			asked = true;
			push_at = now;
			polls_at_push = st.polls_tx;
			due = due ? due - 1 : 0;
		}
		for (; due; due--) {
			send_one(&s, out, icmpw_build(out, sizeof(out), v6, ICMPW_DIALLER, myid, seq++, 0, NULL, 0), &to, NULL);
			icmpw_poll_sent(&p, now, false);
			st.polls_tx++;
		}
		icmpw_poll_due(&p, now, &next);
		wait_ms = next > now ? (int)((next - now) / 1000000) + 1 : 1;
		if (poll(&pfd, 1, wait_ms > 50 ? 50 : wait_ms) <= 0)
			continue;
		n = icmpw_sock_recv(&s, d, BATCH);
		for (int i = 0; i < n; i++) {
			struct icmpw_msg m;
			enum icmpw_drop why;
			uint32_t k;

			if (!icmpw_parse(d[i].icmp, d[i].len, v6, ICMPW_DIALLER, MAXMSG, &m, &why)) {
				st.drop[why]++;
				continue;
			}
			if (m.id != myid || !icmpw_sock_from(&s, &d[i], &to)) {
				st.drop[ICMPW_DROP_WRONG_ID]++;
				continue;
			}
			icmpw_poll_reply(&p, now_ns(), m.backlog, m.len > 0);
			if (!m.len)
				continue;
			st.rx_msgs++;
			if (m.len < 4) {
				bad++;
				continue;
			}
			k = (uint32_t)m.data[0] << 24 | (uint32_t)m.data[1] << 16 | (uint32_t)m.data[2] << 8 | m.data[3];
			if (k >= 1000000 && k - 1000000 < push)
				k = count + (k - 1000000);
			else if (k >= count) {
				bad++;
				continue;
			}
			{
				uint32_t orig = k < count ? k : 1000000 + (k - count);
				size_t l = pattern(msg, orig);

				if (l != m.len || memcmp(msg, m.data, l)) {
					bad++;
					continue;
				}
			}
			if (seen[k]++)
				continue;   /* duplicates should not happen; not counted twice */
			if (k < count)
				echoed++;
			else
				pushed++;
		}
	}
	/* Every echo and every pushed message must arrive, nothing damaged. (A dialler's socket
	 * once got every reply to the host, and a sibling dialler's burst crowded its own out.) */
	bool ok = echoed == count && pushed == push && !bad;

	printf("%s id %u sent %u echoed %u/%u pushed %u/%u bad %u polls %llu polls_after_push %llu push_ms %llu ms %llu\n",
	       ok ? "ok" : "FAILED", myid, sent, echoed, count,
	       pushed, push, bad, (unsigned long long)st.polls_tx, (unsigned long long)(st.polls_tx - polls_at_push),
	       push_at ? (unsigned long long)((now_ns() - push_at) / 1000000) : 0ull,
	       (unsigned long long)((now_ns() - start) / 1000000));
	print_stats();
	icmpw_sock_close(&s);
	free(seen);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	bool v6 = false;
	int id = -1, opt;
	unsigned int count = 200, push = 50, qcap = 64, delay_ms = 0;

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (argc < 2)
		goto usage;
	optind = 2;
	while ((opt = getopt(argc, argv, "46i:n:p:q:w:")) != -1) {
		switch (opt) {
		case '4': v6 = false; break;
		case '6': v6 = true; break;
		case 'i': id = atoi(optarg); break;
		case 'n': count = (unsigned int)atoi(optarg); break;
		case 'p': push = (unsigned int)atoi(optarg); break;
		case 'w': delay_ms = (unsigned int)atoi(optarg); break;
		case 'q': qcap = (unsigned int)atoi(optarg); break;
		default: goto usage;
		}
	}
	if (!strcmp(argv[1], "listen"))
		return listen_main(v6, qcap);
	if (!strcmp(argv[1], "dial") && optind < argc)
		return dial_main(v6, argv[optind], id, count, push, delay_ms);
usage:
	fprintf(stderr, "usage: icmp_pipe listen -4|-6 [-q QUEUE] | dial -4|-6 [-i ID] [-n COUNT] [-p PUSH] [-w MS] ADDR\n");
	return 2;
}
