/* uapi connections: requests cut whole out of a client's byte stream, run one at a time, and
 * the non-blocking socket I/O around them (what a set's lines do is uapi.c).
 *
 * Nothing of a request is acted on before its last line has arrived, so a client that stops
 * half-way holds no lock and no handle on the device; the only state kept between reads is
 * the bytes themselves. */
#include "wg/uapi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "wg/key.h"

enum {
	READ_CHUNK = 64 << 10,		/* one recv */
	READ_BUDGET = 256 << 10,	/* read by one uapi_conn_io call before yielding */
};

enum req { REQ_NONE, REQ_GET, REQ_GET_EXT, REQ_GET_BAD, REQ_SET, REQ_BAD_OP, REQ_TOO_BIG };

void uapi_conn_init(struct uapi_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->lim.request_bytes = UAPI_REQUEST_MAX;
	c->lim.peers = UAPI_PEERS_MAX;
	c->lim.allowed_ips = UAPI_ALLOWED_IPS_MAX;
}

/* What buffers of in_cap and out_cap bytes take from a pool. */
static size_t pooled(size_t in_cap, size_t out_cap)
{
	return (in_cap > UAPI_CONN_FREE ? in_cap - UAPI_CONN_FREE : 0) +
	       (out_cap > UAPI_CONN_FREE ? out_cap - UAPI_CONN_FREE : 0);
}

/* What the other connections of c's pool take from it. */
static size_t pool_others(const struct uapi_conn *c)
{
	return c->pool->used - c->pooled;
}

static void pool_update(struct uapi_conn *c)
{
	if (!c->pool)
		return;
	c->pool->used = pool_others(c) + pooled(c->in_cap, c->out.cap);
	c->pooled = pooled(c->in_cap, c->out.cap);
}

/* Whether c's buffers may be of in_cap and out_cap bytes: within UAPI_CONN_FREE each they
 * always may, so that small requests never wait on big ones. */
static bool pool_room(const struct uapi_conn *c, size_t in_cap, size_t out_cap)
{
	size_t p = pooled(in_cap, out_cap);

	return !c->pool || !p || pool_others(c) + p <= c->pool->max;
}

/* Whether a get of c must wait: the others fill the pool. A response is bounded when it
 * starts, not as it grows, since the device's size is the administrator's choice and one
 * client at least must be able to read it whole; nor does c wait on its own buffers, which
 * nothing but c would let go. */
static bool pool_full(const struct uapi_conn *c)
{
	return c->pool && pool_others(c) >= c->pool->max;
}

static void in_release(struct uapi_conn *c)
{
	if (c->in)
		key_wipe(c->in, c->in_cap);	/* a set holds private and preshared keys */
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = c->scanned = 0;
}

/* The largest first request kept in c->in before it is refused as too big. */
static size_t in_limit(const struct uapi_conn *c)
{
	return c->lim.request_bytes > UAPI_LINE_MAX ? c->lim.request_bytes : UAPI_LINE_MAX;
}

/* Room for more bytes after in_len (never asked past in_limit + 1): 0, -ENOMEM, or -ENOBUFS
 * when the pool has none. */
static int in_reserve(struct uapi_conn *c, size_t more)
{
	size_t need = c->in_len + more, cap = c->in_cap ? c->in_cap : 4096;
	char *n;

	if (need <= c->in_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	/* doubling alone took a request of 8 MiB to 16 MiB of buffer */
	if (cap > in_limit(c) + 1 && need <= in_limit(c) + 1)
		cap = in_limit(c) + 1;
	if (!pool_room(c, cap, c->out.cap))
		return -ENOBUFS;
	n = key_grow(c->in, c->in_cap, c->in_len, cap);
	if (!n)
		return -ENOMEM;
	c->in = n;
	c->in_cap = cap;
	pool_update(c);
	return 0;
}

/* The first request in c->in: its kind, its length *len (through the line that ends it) and
 * *body, where the lines after the operation start. REQ_NONE while more input is needed. */
static enum req next_request(struct uapi_conn *c, size_t *len, size_t *body)
{
	size_t n = c->in_len, op, from;
	const char *in = c->in, *e;
	bool ext;

	e = n ? memchr(in, '\n', n < UAPI_LINE_MAX ? n : UAPI_LINE_MAX) : NULL;
	if (!e)
		return n >= UAPI_LINE_MAX ? REQ_BAD_OP : REQ_NONE;
	op = (size_t)(e - in);
	*body = op + 1;
	/* Where to look for the end: c->scanned avoids searching the same bytes again as a
	 * big request arrives in pieces; one byte back, since "\n\n" may straddle two reads. */
	from = c->scanned > op + 1 ? c->scanned - 1 : op;
	if (op == 5 && !memcmp(in, "set=1", 5)) {
		e = memmem(in + from, n - from, "\n\n", 2);
		if (e) {
			*len = (size_t)(e - in) + 2;
			return REQ_SET;
		}
		if (c->eof) {		/* applied as far as it goes, as wireguard-go does */
			*len = n;
			return REQ_SET;
		}
	} else if ((ext = op == 11 && !memcmp(in, "get=culvert", 11)) || (op == 5 && !memcmp(in, "get=1", 5))) {
		if (n < op + 2)
			return REQ_NONE;
		if (in[op + 1] == '\n') {
			*len = op + 2;
			return ext ? REQ_GET_EXT : REQ_GET;
		}
		/* "get=1" must be followed by a blank line: answer -EINVAL, drop that line */
		from = from > op + 1 ? from : op + 1;
		e = memchr(in + from, '\n', n - from);
		if (e) {
			*len = (size_t)(e - in) + 1;
			return REQ_GET_BAD;
		}
	} else {
		return REQ_BAD_OP;
	}
	c->scanned = n;
	return n > in_limit(c) ? REQ_TOO_BIG : REQ_NONE;
}

/* Drops the first len bytes (a request done with). */
static void in_consume(struct uapi_conn *c, size_t len)
{
	size_t rest = c->in_len - len;

	memmove(c->in, c->in + len, rest);
	key_wipe(c->in + rest, len);
	c->in_len = rest;
	c->scanned = 0;
	if (!rest && c->in_cap > UAPI_CONN_FREE)
		in_release(c);
}

static void respond_errno(struct uapi_conn *c, int err)
{
	uapi_buf_printf(&c->out, "errno=%d\n\n", err);
}

/* A request the pool has no room for: answered, dropped, and the connection closed, since
 * the rest of the request is still to come and its end cannot be found. */
static void refuse_input(struct uapi_conn *c)
{
	c->pool->refused++;
	log_ratelimited(LOG_LVL_WARN, "control: a request over %zu bytes refused and its connection "
			"closed: the control connections hold %zu bytes, at most %zu (%llu refused so far)",
			c->in_len, c->pool->used, c->pool->max, c->pool->refused);
	in_release(c);
	respond_errno(c, -ENOBUFS);
	c->closing = true;
}

/* Formatted under the lock for reading; the caller sends it after the lock is let go. */
static void do_get(struct uapi_conn *c, const struct uapi_ops *ops, void *dev, bool ext)
{
	size_t mark = c->out.len;
	int ret = 0;

	c->out.culvert_ext = ext;
	if (ops->get) {
		if (ops->lock)
			ops->lock(dev, false);
		ret = ops->get(dev, &c->out);
		if (ops->unlock)
			ops->unlock(dev, false);
	}
	if (!ret && c->out.oom)
		ret = -ENOMEM;
	if (ret) {
		if (c->out.data)
			key_wipe(c->out.data + mark, c->out.len - mark);
		c->out.len = mark;
		c->out.oom = false;
		if (!mark && c->out.cap > UAPI_CONN_FREE)
			uapi_buf_free(&c->out);
	}
	respond_errno(c, ret);
}

/* Runs the first request, if it is complete. False when there was none to run, or it is a get
 * that waits for room (c->waiting). */
static bool run_one(struct uapi_conn *c, const struct uapi_ops *ops, void *dev)
{
	size_t len = 0, body = 0;
	enum req r;

	c->waiting = false;
	if (c->closing)
		return false;
	switch ((r = next_request(c, &len, &body))) {
	case REQ_NONE:
		return false;
	case REQ_GET:
	case REQ_GET_EXT:
		if ((c->waiting = pool_full(c)))
			return false;
		do_get(c, ops, dev, r == REQ_GET_EXT);
		break;
	case REQ_GET_BAD:
		respond_errno(c, -EINVAL);
		break;
	case REQ_SET:
		respond_errno(c, uapi_apply_set(ops, dev, c->in + body, len - body, &c->lim));
		break;
	case REQ_TOO_BIG:
		log_ratelimited(LOG_LVL_WARN, "control: a request over %zu bytes; refused and closed",
				c->lim.request_bytes);
		respond_errno(c, -EMSGSIZE);
		c->closing = true;
		return true;
	case REQ_BAD_OP:
		c->closing = true;
		return true;
	}
	in_consume(c, len);
	return true;
}

bool uapi_conn_feed(struct uapi_conn *c, const struct uapi_ops *ops, void *dev, const char *data, size_t len)
{
	while (!c->closing) {
		while (run_one(c, ops, dev))
			;
		if (c->closing || !len)
			break;
		/* never more than one byte past the limit of the request still incomplete */
		size_t n = in_limit(c) + 1 - c->in_len;
		int r;

		if (n > len)
			n = len;
		if ((r = in_reserve(c, n)) < 0) {
			if (r == -ENOBUFS)
				refuse_input(c);
			c->closing = true;
			break;
		}
		memcpy(c->in + c->in_len, data, n);
		c->in_len += n;
		data += n;
		len -= n;
	}
	pool_update(c);
	return !c->closing;
}

void uapi_conn_eof(struct uapi_conn *c, const struct uapi_ops *ops, void *dev)
{
	c->eof = true;
	while (run_one(c, ops, dev))
		;
	c->closing = true;
	pool_update(c);
}

static int conn_io(struct uapi_conn *c, const struct uapi_ops *ops, void *dev)
{
	size_t budget = READ_BUDGET;
	int r;

	for (;;) {
		/* Flush first; run or read more only once everything owed has been written. */
		while (c->out_off < c->out.len) {
			ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return UAPI_WANT_WRITE;
			if (w <= 0)
				return 0;
			c->out_off += (size_t)w;
		}
		if (c->out.oom || c->closing)
			return 0;
		if (c->out.len) {
			c->answered++;
			c->out_off = 0;
			if (c->out.cap > UAPI_CONN_FREE) {
				uapi_buf_free(&c->out);		/* wiped */
			} else {
				key_wipe(c->out.data, c->out.len);
				c->out.len = 0;
			}
		}
		if (run_one(c, ops, dev))
			continue;
		if (c->waiting)
			return UAPI_WANT_ROOM;	/* reading on would only add to the pool */
		if (c->eof) {
			c->closing = true;	/* what is left is no whole request */
			continue;
		}
		if (!budget)
			return UAPI_WANT_READ;

		size_t want = in_limit(c) + 1 - c->in_len;

		if (want > READ_CHUNK)
			want = READ_CHUNK;
		if (want > budget)
			want = budget;
		if ((r = in_reserve(c, want)) == -ENOBUFS) {
			refuse_input(c);
			continue;	/* the answer is sent, then the connection closed */
		}
		if (r < 0)
			return 0;

		ssize_t got = recv(c->fd, c->in + c->in_len, want, MSG_DONTWAIT);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return UAPI_WANT_READ;
		if (got < 0)
			return 0;
		if (got == 0)
			c->eof = true;
		c->in_len += (size_t)got;
		budget -= (size_t)got;
	}
}

int uapi_conn_io(struct uapi_conn *c, const struct uapi_ops *ops, void *dev)
{
	int want = conn_io(c, ops, dev);

	pool_update(c);
	return want;
}

void uapi_conn_free(struct uapi_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	uapi_buf_free(&c->out);
	in_release(c);
	pool_update(c);
}
