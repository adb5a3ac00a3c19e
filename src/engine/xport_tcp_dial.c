/* The TCP transport's dialler: outgoing connections from the listening port, and for one peer
 * (a plaintext tunnel's client) the server kept dialled: every address of its name in turn,
 * then a backoff between rounds. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "engine/xport_tcp_int.h"
#include "lib/clock.h"
#include "lib/log.h"

enum {
	ONE_BACKOFF_MIN_MS = 100,
	ONE_BACKOFF_MAX_MS = 5000,
};

/* One peer: the connection is gone, so the tun may be read again (its packets now count as
 * having no peer), and a client dials again. When it never connected (dial_err says why), a
 * server name's next address is dialled at once, and only once every one has failed in turn
 * does the round end with a message naming the server, the backoff, and the same order. */
void xtcp_one_lost(struct wg_loop *l, const struct endpoint *ep, const char *dial_err)
{
	struct xtcp *t = xt(l);
	unsigned int n = 1 + l->o.n_dial_more;
	const char *name = l->o.dial_name[0] ? l->o.dial_name : "the server";
	char b[64];

	loop_tun_pause(l, false);
	if (!l->o.dial.sa.sa_family)
		return;
	if (dial_err) {
		endpoint_str(ep, b, sizeof(b));
		t->dial_i = (t->dial_i + 1) % n;
		if (++t->dial_failed < n) {
			log_ratelimited(LOG_LVL_INFO, "cannot connect to %s (%s): %s; trying its next address",
					name, b, dial_err);
			t->next_dial = clock_mono_coarse_ns();
			return;
		}
		t->dial_failed = 0;
		if (n > 1)
			log_ratelimited(LOG_LVL_WARN, "cannot connect to %s: none of its %u addresses answered "
					"(the last, %s: %s)", name, n, b, dial_err);
		else
			log_ratelimited(LOG_LVL_WARN, "cannot connect to %s (%s): %s", name, b, dial_err);
	}
	t->next_dial = clock_mono_coarse_ns() + (uint64_t)t->backoff_ms * 1000000u;
	log_debug("reconnecting in %u ms", t->backoff_ms);
	t->backoff_ms = t->backoff_ms * 2 > ONE_BACKOFF_MAX_MS ? ONE_BACKOFF_MAX_MS : t->backoff_ms * 2;
}

/* One peer, client: a connection to the server, or another attempt after the backoff. */
void xtcp_one_dial(struct wg_loop *l)
{
	struct endpoint ep;
	char b[64];

	xt(l)->next_dial = 0;
	memset(&ep, 0, sizeof(ep));
	ep.addr = xt(l)->dial_i ? l->o.dial_more[xt(l)->dial_i - 1] : l->o.dial;
	log_debug("connecting to %s", endpoint_str(&ep, b, sizeof(b)));
	if (!xtcp_conn_dial(l, &ep))
		xtcp_one_lost(l, &ep, strerror(errno));
}

void xtcp_dial_ok(struct wg_loop *l)
{
	xt(l)->backoff_ms = ONE_BACKOFF_MIN_MS;
	xt(l)->dial_failed = 0;
}

void xtcp_dial_init(struct xtcp *t)
{
	t->backoff_ms = ONE_BACKOFF_MIN_MS;
}

int xtcp_socket(struct wg_loop *l, int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	int one = 1;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (l->fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &l->fwmark, sizeof(l->fwmark)) < 0)) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* A new connection to ep from our listening port (an ephemeral one if that is refused). */
struct tcp_conn *xtcp_conn_dial(struct wg_loop *l, const struct endpoint *ep)
{
	struct endpoint local;
	int fd = xtcp_socket(l, ep->sa.sa_family);

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	memset(&local, 0, sizeof(local));
	local.sa.sa_family = ep->sa.sa_family;
	if (ep->sa.sa_family == AF_INET6)
		local.in6.sin6_port = htons(l->bound_port);
	else
		local.in4.sin_port = htons(l->bound_port);
	if (bind(fd, &local.sa, endpoint_len(&local)) < 0)
		log_debug("TCP: cannot dial from port %u (%s); an ephemeral port it is", l->bound_port,
			  strerror(errno));
	if (connect(fd, &ep->sa, endpoint_len(ep)) < 0 && errno != EINPROGRESS) {
		int e = errno;
		char b[64];

		log_debug("TCP: cannot connect to %s: %s", endpoint_str(ep, b, sizeof(b)), strerror(e));
		close(fd);
		errno = e;	/* for the caller's message */
		return NULL;
	}
	return xtcp_conn_new(l, fd, ep, true);
}
