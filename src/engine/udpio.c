/* Batched UDP and tun I/O. GSO runs are built from the caller's buffers with one iovec per
 * datagram, so nothing is copied; the kernel cuts the super-datagram at gso_size. */
#include "engine/udpio.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/udp.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

static void set_buf(int fd, int force_opt, int opt, int want, bool *forced, int *got)
{
	socklen_t l = sizeof(*got);
	*forced = setsockopt(fd, SOL_SOCKET, force_opt, &want, sizeof(want)) == 0;
	if (!*forced)
		(void)setsockopt(fd, SOL_SOCKET, opt, &want, sizeof(want));
	if (getsockopt(fd, SOL_SOCKET, opt, got, &l) < 0)
		*got = 0;
}

int udpio_attach(struct udpio *u, int fd, const struct udpio_opts *o)
{
	static const struct udpio_opts defaults;
	union udpio_addr a;
	socklen_t l = sizeof(a);
	int v;

	if (!o)
		o = &defaults;
	memset(&u->caps, 0, sizeof(u->caps));
	memset(&u->stats, 0, sizeof(u->stats));
	u->fd = fd;
	u->last_err = 0;
	if (getsockname(fd, &a.sa, &l) < 0)
		return -errno;
	u->caps.family = a.sa.sa_family;
	if (a.sa.sa_family == AF_INET6) {
		l = sizeof(v);
		u->caps.dual_stack = getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l) == 0 && !v;
	}
	int want = o->bufsize > 0 ? o->bufsize : UDPIO_DEFAULT_BUF;
	set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, want, &u->caps.sndbuf_forced, &u->caps.sndbuf);
	set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, want, &u->caps.rcvbuf_forced, &u->caps.rcvbuf);
	/* UDP_SEGMENT is readable on every kernel that can send it (4.18+). */
	l = sizeof(v);
	u->caps.gso = !o->no_gso && getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &l) == 0;
	v = 1;
	u->caps.gro = !o->no_gro && setsockopt(fd, SOL_UDP, UDP_GRO, &v, sizeof(v)) == 0;
	return 0;
}

int udpio_open(struct udpio *u, const union udpio_addr *bind_addr, const struct udpio_opts *o)
{
	int family = bind_addr->sa.sa_family, fd, r;
	socklen_t alen = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	if (family == AF_INET6) {
		int v = o && o->v6only;
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v));
	}
	if (bind(fd, &bind_addr->sa, alen) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = udpio_attach(u, fd, o);
	if (r < 0)
		close(fd);
	return r;
}

void udpio_close(struct udpio *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
}

/* Destination as the socket needs it: IPv4 on an IPv6 socket goes v4-mapped. */
static socklen_t to_sock(const struct udpio *u, const union udpio_addr *in, union udpio_addr *out)
{
	if (u->caps.family == AF_INET6 && in->sa.sa_family == AF_INET) {
		memset(out, 0, sizeof(*out));
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = in->in.sin_port;
		out->in6.sin6_addr.s6_addr[10] = 0xff;
		out->in6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&out->in6.sin6_addr.s6_addr[12], &in->in.sin_addr, 4);
		return sizeof(out->in6);
	}
	*out = *in;
	return in->sa.sa_family == AF_INET6 ? sizeof(out->in6) : sizeof(out->in);
}

static void from_sock(union udpio_addr *a)
{
	if (a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr)) {
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = a->in6.sin6_port };
		memcpy(&in.sin_addr, &a->in6.sin6_addr.s6_addr[12], 4);
		memset(a, 0, sizeof(*a));
		a->in = in;
	}
}

bool udpio_addr_equal(const union udpio_addr *a, const union udpio_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port && a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	return a->in6.sin6_port == b->in6.sin6_port && a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
	       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16);
}

/* Datagrams carried by message m. */
static size_t msg_pkts(const struct udpio *u, size_t m) { return u->msgs[m].msg_hdr.msg_iovlen; }

/* One datagram at a time for a refused super-datagram; returns datagrams handled or -EAGAIN. */
static int send_each(struct udpio *u, size_t m)
{
	struct msghdr mh = u->msgs[m].msg_hdr;
	size_t n = mh.msg_iovlen, done = 0;
	const struct iovec *iov = mh.msg_iov;

	mh.msg_control = NULL;
	mh.msg_controllen = 0;
	mh.msg_iovlen = 1;
	while (done < n) {
		mh.msg_iov = (struct iovec *)&iov[done];
		if (sendmsg(u->fd, &mh, 0) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == ENOBUFS)
				return done ? (int)done : -EAGAIN;
			u->stats.tx_dropped++;
			u->last_err = errno;
		}
		done++;
	}
	return (int)done;
}

int udpio_send(struct udpio *u, const struct udpio_pkt *pkts, size_t n)
{
	size_t nm = 0, i = 0, handled = 0;

	if (n > UDPIO_MAX_BATCH)
		return -EINVAL;
	while (i < n) {
		size_t j = i + 1, bytes = pkts[i].len, seg = pkts[i].len;
		if (u->caps.gso && seg > 0) {
			while (j < n && j - i < UDPIO_MAX_SEGS && pkts[j].len > 0 && pkts[j].len <= seg &&
			       bytes + pkts[j].len <= UDPIO_MAX_GSO_BYTES && udpio_addr_equal(&pkts[i].addr, &pkts[j].addr)) {
				bytes += pkts[j].len;
				if (pkts[j++].len < seg)
					break;  /* only the last may be short */
			}
		}
		struct msghdr *mh = &u->msgs[nm].msg_hdr;
		memset(mh, 0, sizeof(*mh));
		for (size_t k = i; k < j; k++) {
			u->iov[k].iov_base = pkts[k].buf;
			u->iov[k].iov_len = pkts[k].len;
		}
		mh->msg_iov = &u->iov[i];
		mh->msg_iovlen = j - i;
		mh->msg_name = &u->addrs[nm];
		mh->msg_namelen = to_sock(u, &pkts[i].addr, &u->addrs[nm]);
		if (j - i > 1) {
			struct cmsghdr *c = &u->ctl[nm].h;
			mh->msg_control = u->ctl[nm].b;
			mh->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t gs = (uint16_t)seg;
			memcpy(CMSG_DATA(c), &gs, sizeof(gs));
		}
		nm++;
		i = j;
	}

	size_t m = 0;
	while (m < nm) {
		int r = sendmmsg(u->fd, &u->msgs[m], (unsigned int)(nm - m), 0);
		if (r > 0) {
			for (int k = 0; k < r; k++, m++) {
				handled += msg_pkts(u, m);
				if (msg_pkts(u, m) > 1)
					u->stats.tx_gso_msgs++;
			}
			continue;
		}
		int err = r < 0 ? errno : EAGAIN;
		if (err == EINTR)
			continue;
		if (err == EAGAIN || err == ENOBUFS)
			break;
		if (msg_pkts(u, m) > 1 && (err == EIO || err == EINVAL || err == EMSGSIZE)) {
			/* EIO: the route's device cannot checksum for us; GSO will not work on it. */
			if (err == EIO)
				u->caps.gso = false;
			u->stats.tx_gso_fallback++;
			int s = send_each(u, m);
			if (s < 0)
				break;
			handled += (size_t)s;
			if ((size_t)s < msg_pkts(u, m))
				break;
			m++;
			continue;
		}
		u->stats.tx_dropped += msg_pkts(u, m);
		u->last_err = err;
		handled += msg_pkts(u, m++);
	}
	return handled ? (int)handled : -EAGAIN;
}

int udpio_recv(struct udpio *u, uint8_t *const *bufs, size_t cap, size_t nbufs,
	       struct udpio_pkt *out, size_t n_out)
{
	size_t nm = nbufs < UDPIO_MAX_BATCH ? nbufs : UDPIO_MAX_BATCH, k = 0;
	if (u->caps.gro && nm > n_out / UDPIO_MAX_SEGS)
		nm = n_out / UDPIO_MAX_SEGS ? n_out / UDPIO_MAX_SEGS : 1;
	if (nm > n_out)
		nm = n_out;
	if (nm == 0)
		return -EINVAL;
	for (size_t i = 0; i < nm; i++) {
		struct msghdr *mh = &u->msgs[i].msg_hdr;
		u->iov[i].iov_base = bufs[i];
		u->iov[i].iov_len = cap;
		memset(mh, 0, sizeof(*mh));
		mh->msg_iov = &u->iov[i];
		mh->msg_iovlen = 1;
		mh->msg_name = &u->addrs[i];
		mh->msg_namelen = sizeof(u->addrs[i]);
		mh->msg_control = u->ctl[i].b;
		mh->msg_controllen = sizeof(u->ctl[i].b);
	}
	int r;
	do
		r = recvmmsg(u->fd, u->msgs, (unsigned int)nm, MSG_DONTWAIT, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (int i = 0; i < r; i++) {
		struct msghdr *mh = &u->msgs[i].msg_hdr;
		size_t len = u->msgs[i].msg_len, seg = len;
		if (mh->msg_flags & MSG_TRUNC) {
			u->stats.rx_trunc++;
			continue;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
			if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
			    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
				int gs;
				memcpy(&gs, CMSG_DATA(c), sizeof(gs));
				if (gs > 0 && (size_t)gs < len)
					seg = (size_t)gs;
			}
		}
		if (seg < len)
			u->stats.rx_gro_msgs++;
		from_sock(&u->addrs[i]);
		size_t off = 0;
		do {
			size_t l = len - off < seg ? len - off : seg;
			if (k == n_out) {
				u->stats.rx_overflow++;
			} else {
				out[k].buf = bufs[i] + off;
				out[k].len = l;
				out[k].addr = u->addrs[i];
				k++;
			}
			off += l;
		} while (off < len);
	}
	return (int)k;
}

const char *udpio_caps_str(const struct udpio_caps *c, char *buf, size_t len)
{
	snprintf(buf, len, "gso %s, gro %s, %s, sndbuf %d%s, rcvbuf %d%s",
		 c->gso ? "on" : "off", c->gro ? "on" : "off",
		 c->family == AF_INET ? "ipv4" : c->dual_stack ? "dual-stack" : "ipv6",
		 c->sndbuf, c->sndbuf_forced ? " (forced)" : "",
		 c->rcvbuf, c->rcvbuf_forced ? " (forced)" : "");
	return buf;
}

int udpio_tun_read(int fd, uint8_t *const *bufs, size_t cap, size_t *lens, size_t n)
{
	size_t k = 0;
	while (k < n) {
		ssize_t r = read(fd, bufs[k], cap);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (k)
				break;
			return -errno;
		}
		lens[k++] = (size_t)r;
	}
	return (int)k;
}

int udpio_tun_write(int fd, const struct iovec *pkts, size_t n, uint64_t *dropped)
{
	size_t k = 0;
	while (k < n) {
		if (write(fd, pkts[k].iov_base, pkts[k].iov_len) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return k ? (int)k : -EAGAIN;
			if (dropped)
				(*dropped)++;
		}
		k++;
	}
	return (int)k;
}
