/* Batched UDP and tun I/O. GSO runs are built from the caller's buffers with one iovec per
 * datagram, so nothing is copied; the kernel cuts the super-datagram at gso_size. */
#include "engine/udpio.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
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

void udpio_set_bufs(int fd, int want, struct udpio_caps *caps)
{
	set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, want, &caps->sndbuf_forced, &caps->sndbuf);
	set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, want, &caps->rcvbuf_forced, &caps->rcvbuf);
}

int udpio_attach(struct udpio *u, int fd, const struct udpio_opts *o)
{
	static const struct udpio_opts defaults;
	union endpoint_addr a;
	socklen_t l = sizeof(a);
	int v;

	if (!o)
		o = &defaults;
	memset(&u->caps, 0, sizeof(u->caps));
	memset(&u->stats, 0, sizeof(u->stats));
	u->rx_nm = 0;
	u->rx_seg_hint = 0;
	u->fd = fd;
	u->last_err = 0;
	if (getsockname(fd, &a.sa, &l) < 0)
		return -errno;
	u->caps.family = a.sa.sa_family;
	if (a.sa.sa_family == AF_INET6) {
		l = sizeof(v);
		u->caps.dual_stack = getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l) == 0 && !v;
	}
	udpio_set_bufs(fd, o->bufsize > 0 ? o->bufsize : UDPIO_DEFAULT_BUF, &u->caps);
	/* UDP_SEGMENT is readable on every kernel that can send it (4.18+). */
	l = sizeof(v);
	u->caps.gso = !o->no_gso && getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &l) == 0;
	v = 1;
	u->caps.gro = !o->no_gro && setsockopt(fd, SOL_UDP, UDP_GRO, &v, sizeof(v)) == 0;
	/* On a dual-stack socket IPV6_PKTINFO also reports IPv4 datagrams (v4-mapped), so one
	 * option, one control message per datagram. */
	if (o->pktinfo)
		u->caps.pktinfo = a.sa.sa_family == AF_INET6 ?
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &v, sizeof(v)) == 0 :
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &v, sizeof(v)) == 0;
	return 0;
}

int udpio_open(struct udpio *u, const union endpoint_addr *bind_addr, const struct udpio_opts *o)
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
static socklen_t to_sock(const struct udpio *u, const union endpoint_addr *in, union endpoint_addr *out)
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

static void from_sock(union endpoint_addr *a)
{
	if (a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr)) {
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = a->in6.sin6_port };
		memcpy(&in.sin_addr, &a->in6.sin6_addr.s6_addr[12], 4);
		memset(a, 0, sizeof(*a));
		a->in = in;
	}
}

static size_t put_cmsg(void *ctl, size_t space, int level, int type, const void *data, size_t len)
{
	struct cmsghdr *c = ctl;

	if (space < CMSG_SPACE(len))
		return 0;
	memset(c, 0, CMSG_SPACE(len));
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	return CMSG_SPACE(len);
}

size_t udpio_put_src(void *ctl, size_t space, const union endpoint_addr *dst, const struct endpoint_local *src)
{
	if (!endpoint_local_isset(src))
		return 0;
	if (dst->sa.sa_family == AF_INET) {
		/* ifindex 0: the route decides the interface, only the source is ours. */
		struct in_pktinfo pi = { .ipi_spec_dst = src->in };
		return put_cmsg(ctl, space, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	}
	struct in6_pktinfo pi6 = { .ipi6_addr = src->in6, .ipi6_ifindex = src->ifindex };
	return put_cmsg(ctl, space, IPPROTO_IPV6, IPV6_PKTINFO, &pi6, sizeof(pi6));
}

void udpio_parse_ctl(const struct msghdr *mh, size_t *seg, struct endpoint_local *src)
{
	memset(src, 0, sizeof(*src));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int gs;
			memcpy(&gs, CMSG_DATA(c), sizeof(gs));
			if (gs > 0)
				*seg = (size_t)gs;
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(src, 0, sizeof(*src));
			src->in = pi.ipi_spec_dst;	/* a local address even for a broadcast */
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi6;
			memcpy(&pi6, CMSG_DATA(c), sizeof(pi6));
			memset(src, 0, sizeof(*src));
			if (IN6_IS_ADDR_V4MAPPED(&pi6.ipi6_addr)) {
				memcpy(&src->in, &pi6.ipi6_addr.s6_addr[12], 4);
			} else {
				src->in6 = pi6.ipi6_addr;
				/* only a link-local address needs its interface to mean anything */
				if (IN6_IS_ADDR_LINKLOCAL(&pi6.ipi6_addr))
					src->ifindex = pi6.ipi6_ifindex;
			}
		}
	}
}

/* Datagrams carried by message m. */
static size_t msg_pkts(const struct udpio *u, size_t m) { return u->msgs[m].msg_hdr.msg_iovlen; }

/* One datagram at a time for a refused super-datagram (still from its source); returns
 * datagrams handled or -EAGAIN. */
static int send_each(struct udpio *u, const struct udpio_pkt *pkts, size_t m)
{
	struct msghdr mh = u->msgs[m].msg_hdr;
	size_t n = mh.msg_iovlen, done = 0;
	const struct iovec *iov = mh.msg_iov;
	const struct udpio_pkt *p = &pkts[iov - u->iov];
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(struct in6_pktinfo))]; } ctl;

	mh.msg_controllen = udpio_put_src(ctl.b, sizeof(ctl.b), &p->ep.addr, &p->ep.local);
	mh.msg_control = mh.msg_controllen ? ctl.b : NULL;
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

/* Message m's control data: the GSO size when it carries several datagrams (seg > 0), the
 * source when one is set. */
static void set_ctl(struct udpio *u, size_t m, size_t seg, const union endpoint_addr *dst,
		    const struct endpoint_local *src)
{
	struct msghdr *mh = &u->msgs[m].msg_hdr;
	size_t used = 0;

	if (seg) {
		uint16_t gs = (uint16_t)seg;
		used = put_cmsg(u->ctl[m].b, sizeof(u->ctl[m].b), SOL_UDP, UDP_SEGMENT, &gs, sizeof(gs));
	}
	used += udpio_put_src(u->ctl[m].b + used, sizeof(u->ctl[m].b) - used, dst, src);
	mh->msg_control = used ? u->ctl[m].b : NULL;
	mh->msg_controllen = used;
}

static bool src_gone(int err)
{
	return err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH || err == ENODEV;
}

/* Message m was refused for its source: it and every later message from that source go again
 * without one (the kernel picks), and their pkts[] say so. */
static void drop_src(struct udpio *u, struct udpio_pkt *pkts, size_t m, size_t nm)
{
	const struct endpoint_local gone = pkts[u->msgs[m].msg_hdr.msg_iov - u->iov].ep.local;

	u->stats.tx_src_gone++;
	for (size_t k = m; k < nm; k++) {
		struct msghdr *mh = &u->msgs[k].msg_hdr;
		size_t i = (size_t)(mh->msg_iov - u->iov);
		if (!endpoint_local_equal(&pkts[i].ep.local, &gone))
			continue;
		for (size_t j = i; j < i + mh->msg_iovlen; j++)
			memset(&pkts[j].ep.local, 0, sizeof(pkts[j].ep.local));
		set_ctl(u, k, mh->msg_iovlen > 1 ? pkts[i].len : 0, &pkts[i].ep.addr, &pkts[i].ep.local);
	}
}

int udpio_send(struct udpio *u, struct udpio_pkt *pkts, size_t n)
{
	size_t nm = 0, i = 0, handled = 0;

	if (n > UDPIO_MAX_BATCH)
		return -EINVAL;
	while (i < n) {
		size_t j = i + 1, bytes = pkts[i].len, seg = pkts[i].len;
		if (u->caps.gso && seg > 0) {
			while (j < n && j - i < UDPIO_MAX_SEGS && pkts[j].len > 0 && pkts[j].len <= seg &&
			       bytes + pkts[j].len <= UDPIO_MAX_GSO_BYTES && endpoint_addr_equal(&pkts[i].ep.addr, &pkts[j].ep.addr) &&
			       endpoint_local_equal(&pkts[i].ep.local, &pkts[j].ep.local)) {
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
		mh->msg_namelen = to_sock(u, &pkts[i].ep.addr, &u->addrs[nm]);
		set_ctl(u, nm, j - i > 1 ? seg : 0, &pkts[i].ep.addr, &pkts[i].ep.local);
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
		if (src_gone(err) && endpoint_local_isset(&pkts[u->msgs[m].msg_hdr.msg_iov - u->iov].ep.local)) {
			drop_src(u, pkts, m, nm);
			continue;
		}
		if (msg_pkts(u, m) > 1 && (err == EIO || err == EINVAL || err == EMSGSIZE)) {
			/* EIO: the route's device cannot checksum for us; GSO will not work on it. */
			if (err == EIO)
				u->caps.gso = false;
			u->stats.tx_gso_fallback++;
			int s = send_each(u, pkts, m);
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

/* Splits the messages of the last recvmmsg into out[] from where the previous call stopped;
 * what does not fit stays for the next call (udpio_rx_pending), nothing is dropped. */
static size_t recv_split(struct udpio *u, uint8_t *const *bufs, struct udpio_pkt *out, size_t n_out)
{
	size_t k = 0;

	for (; u->rx_msg < u->rx_nm; u->rx_msg++, u->rx_off = 0, u->rx_started = false) {
		size_t i = u->rx_msg, len = u->msgs[i].msg_len;
		struct msghdr *mh = &u->msgs[i].msg_hdr;

		if (!u->rx_started) {
			if (mh->msg_flags & MSG_TRUNC) {
				u->stats.rx_trunc++;
				continue;
			}
			size_t seg = len;
			udpio_parse_ctl(mh, &seg, &u->rx_src);
			if (seg >= len)
				seg = len;
			else
				u->stats.rx_gro_msgs++;
			if (seg && seg < u->rx_seg_min)
				u->rx_seg_min = seg;
			u->rx_seg = seg;
			from_sock(&u->addrs[i]);
			u->rx_started = true;
		}
		do {
			if (k == n_out)
				return k;
			size_t l = len - u->rx_off < u->rx_seg ? len - u->rx_off : u->rx_seg;
			out[k].buf = bufs[i] + u->rx_off;
			out[k].len = l;
			out[k].ep.addr = u->addrs[i];
			out[k].ep.local = u->rx_src;
			k++;
			u->rx_off += l;
		} while (u->rx_off < len);
	}
	/* all out: the smallest segment seen sizes the next receive */
	if (u->rx_seg_min != SIZE_MAX)
		u->rx_seg_hint = u->rx_seg_min;
	u->rx_nm = 0;
	return k;
}

bool udpio_rx_pending(const struct udpio *u)
{
	return u->rx_nm != 0;
}

int udpio_recv(struct udpio *u, uint8_t *const *bufs, size_t cap, size_t nbufs,
	       struct udpio_pkt *out, size_t n_out)
{
	size_t nm = nbufs < UDPIO_MAX_BATCH ? nbufs : UDPIO_MAX_BATCH;

	if (n_out == 0)
		return -EINVAL;
	if (u->rx_nm)
		return (int)recv_split(u, bufs, out, n_out);
	/* With GRO a message holds up to 64 datagrams, or as many of the last receive's smallest
	 * as fit in 64 KB: ask for as many messages as out[] should hold then. At MTU 1420 that
	 * is 5 messages for 256 slots; at 34736, where one message is one datagram, all nbufs
	 * (rather than 4, a quarter of a batch). A guess too high only leaves segments for the
	 * next call. */
	if (u->caps.gro) {
		size_t per = UDPIO_MAX_SEGS;
		if (u->rx_seg_hint && (65535 + u->rx_seg_hint - 1) / u->rx_seg_hint < per)
			per = (65535 + u->rx_seg_hint - 1) / u->rx_seg_hint;
		if (nm > n_out / per)
			nm = n_out / per ? n_out / per : 1;
	}
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
	if (r < 0) {
		u->rx_drained = true;
		return -errno;
	}
	u->rx_drained = (size_t)r < nm;
	u->rx_nm = (size_t)r;
	u->rx_msg = 0;
	u->rx_off = 0;
	u->rx_started = false;
	u->rx_seg_min = SIZE_MAX;
	return (int)recv_split(u, bufs, out, n_out);
}

const char *udpio_caps_str(const struct udpio_caps *c, char *buf, size_t len)
{
	snprintf(buf, len, "gso %s, gro %s%s, %s, sndbuf %d%s, rcvbuf %d%s",
		 c->gso ? "on" : "off", c->gro ? "on" : "off", c->pktinfo ? ", pktinfo" : "",
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
