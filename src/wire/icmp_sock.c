/* ICMP transport sockets and the echo-reply guard (see icmp_sock.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/udpio.h"
#include "lib/packet.h"
#include "wire/icmp_sock.h"
/* After glibc's netinet/in.h, which the uapi headers would otherwise shadow. */
#include <linux/filter.h>
#include <linux/icmp.h>

enum { BATCH_MAX = 64 };

int icmpw_sock_open(struct icmpw_sock *s, bool v6, enum icmpw_role role)
{
	/* Raw, not ping sockets (SOCK_DGRAM IPPROTO_ICMP): those cannot receive echo requests
	 * at all, and pick the identifier themselves; one socket type serves both sides. */
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	int r;

	s->fd = -1;
	if (fd < 0)
		return -errno;
	if (v6) {
		struct icmp6_filter f;

		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(role == ICMPW_LISTENER ? ICMP6_ECHO_REQUEST : ICMP6_ECHO_REPLY, &f);
		r = setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
	} else {
		/* ICMP_FILTER: a set bit drops that type. */
		struct icmp_filter f = { ~(1u << (role == ICMPW_LISTENER ? ICMP_ECHO : ICMP_ECHOREPLY)) };

		r = setsockopt(fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f));
	}
	if (r == 0) {
		struct udpio_caps caps;
		int one = 1;

		/* the default (rmem_max, 208 KB here) holds a few hundred echo requests: a burst,
		 * or a flood sharing the socket with the peers, overflowed it while the worker idled */
		udpio_set_bufs(fd, UDPIO_DEFAULT_BUF, &caps);
		r = v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))
		       : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	}
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	s->fd = fd;
	s->v6 = v6;
	s->role = role;
	s->filtered = false;
	return 0;
}

void icmpw_sock_close(struct icmpw_sock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Whether an answer is allowed: the kernel's local address for an IPv4 datagram equals the
 * header's destination only when that was a unicast address of ours (for a broadcast it is
 * the interface's address); IPv6 reports the destination itself. */
static bool is_unicast(bool v6, const uint8_t *ip4, size_t hl, const struct endpoint_local *l)
{
	if (v6)
		return !IN6_IS_ADDR_MULTICAST(&l->in6) && !IN6_IS_ADDR_UNSPECIFIED(&l->in6);
	return hl >= PKT_IP4_HLEN && l->in.s_addr && !memcmp(ip4 + 16, &l->in, 4);
}

/* Room for one datagram's control messages, aligned as cmsg needs. */
union ctl_buf {
	char buf[UDPIO_CTL_SPACE];
	struct cmsghdr align;
};

/* The batch's headers: datagram i in d[i].buf (cap bytes to receive into, len to send), its
 * peer in d[i].peer; no control messages yet. */
static void msgs_init(struct mmsghdr *mm, struct iovec *iov, struct icmpw_dgram *d, unsigned int n,
		      bool rx, socklen_t namelen)
{
	memset(mm, 0, sizeof(mm[0]) * n);
	for (unsigned int i = 0; i < n; i++) {
		iov[i] = (struct iovec){ d[i].buf, rx ? d[i].cap : d[i].len };
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &d[i].peer;
		mm[i].msg_hdr.msg_namelen = namelen;
	}
}

int icmpw_sock_recv(struct icmpw_sock *s, struct icmpw_dgram *d, unsigned int n)
{
	struct mmsghdr mm[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	union ctl_buf ctl[BATCH_MAX];
	int got;

	if (n > BATCH_MAX)
		n = BATCH_MAX;
	msgs_init(mm, iov, d, n, true, sizeof(d[0].peer));
	for (unsigned int i = 0; i < n; i++) {
		mm[i].msg_hdr.msg_control = ctl[i].buf;
		mm[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
	}
	got = recvmmsg(s->fd, mm, n, MSG_DONTWAIT, NULL);
	if (got < 0)
		return errno == EAGAIN ? 0 : -errno;
	for (int i = 0; i < got; i++) {
		size_t len = mm[i].msg_len, hl = 0, seg = 0;

		udpio_parse_ctl(&mm[i].msg_hdr, &seg, &d[i].local);

		if (mm[i].msg_hdr.msg_flags & MSG_TRUNC)
			len = 0;   /* larger than any message we accept: short, so dropped */
		else if (!s->v6) {
			/* IPv4 raw sockets hand over the IP header too. */
			hl = len ? (size_t)(d[i].buf[0] & 0x0f) * 4 : 0;
			if (len < PKT_IP4_HLEN || hl < PKT_IP4_HLEN || hl > len)
				hl = len = 0;
			else
				len -= hl;
		}
		d[i].icmp = d[i].buf + hl;
		d[i].len = len;
		d[i].unicast = len && is_unicast(s->v6, d[i].buf, hl, &d[i].local);
	}
	return got;
}

int icmpw_sock_send(struct icmpw_sock *s, struct icmpw_dgram *d, unsigned int n)
{
	struct mmsghdr mm[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	union ctl_buf ctl[BATCH_MAX];
	int sent;

	if (n > BATCH_MAX)
		n = BATCH_MAX;
	msgs_init(mm, iov, d, n, false, s->v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	/* Only the listener picks its source: replies leave from the address each request reached. */
	for (unsigned int i = 0; i < n && s->role == ICMPW_LISTENER; i++) {
		size_t c = udpio_put_src(ctl[i].buf, sizeof(ctl[i].buf),
					 (const union endpoint_addr *)&d[i].peer, &d[i].local);
		if (c) {
			mm[i].msg_hdr.msg_control = ctl[i].buf;
			mm[i].msg_hdr.msg_controllen = c;
		}
	}
	sent = sendmmsg(s->fd, mm, n, MSG_DONTWAIT);
	return sent < 0 ? -errno : sent;
}

void icmpw_sock_key(const struct icmpw_sock *s, const struct icmpw_dgram *d, uint16_t id,
		    struct icmpw_key *key)
{
	const struct sockaddr_storage *peer = &d->peer;

	memset(key, 0, sizeof(*key));
	key->ep.local = d->local;
	key->id = id;
	if (s->v6) {
		key->ep.in6.sin6_family = AF_INET6;
		key->ep.in6.sin6_addr = ((const struct sockaddr_in6 *)peer)->sin6_addr;
	} else {
		key->ep.in4.sin_family = AF_INET;
		key->ep.in4.sin_addr = ((const struct sockaddr_in *)peer)->sin_addr;
	}
}

void icmpw_sock_addr(const struct icmpw_key *key, struct icmpw_dgram *d)
{
	struct sockaddr_storage *peer = &d->peer;

	d->local = key->ep.local;
	memset(peer, 0, sizeof(*peer));
	memcpy(peer, &key->ep.addr, endpoint_len(&key->ep));
}

/* A socket filter runs before the receive buffer is charged, so what it refuses costs this
 * socket nothing. IPv4 raw sockets see the IP header first; ICMPv6 ones the ICMPv6 header,
 * with the IPv6 header reachable at SKF_NET_OFF. Per dialled pair: the identifier, then the
 * source address word by word, each mismatch jumping to the next pair; all jumps stay within
 * a pair (cBPF jumps reach 255 instructions at most). */
int icmpw_sock_dial(struct icmpw_sock *s, const struct icmpw_dialled *d, unsigned int n)
{
	struct sock_filter f[1 + ICMPW_DIAL_MAX * 11 + 1];
	struct sock_fprog prog = { .filter = f };
	unsigned int words = s->v6 ? 4 : 1, pair = 2 + 2 * words + 1, k = 0;

	if (s->role != ICMPW_DIALLER || n > ICMPW_DIAL_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++)
		if (d[i].addr.ss_family != (s->v6 ? AF_INET6 : AF_INET))
			return -EINVAL;
	if (!s->v6)   /* X: the IPv4 header's length, where the ICMP header starts */
		f[k++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t a[4];
		unsigned int start = k;

		if (s->v6) {
			memcpy(a, &((const struct sockaddr_in6 *)&d[i].addr)->sin6_addr, 16);
			f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4);
		} else {
			a[0] = ((const struct sockaddr_in *)&d[i].addr)->sin_addr.s_addr;
			f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4);
		}
		f[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, d[i].id, 0,
						    (uint8_t)(start + pair - k - 1));
		k++;
		for (unsigned int w = 0; w < words; w++) {
			f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
							      s->v6 ? SKF_NET_OFF + 8 + 4 * w : 12);
			f[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohl(a[w]), 0,
							    (uint8_t)(start + pair - k - 1));
			k++;
		}
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffff);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	prog.len = (unsigned short)k;
	if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return -errno;
	if (!s->filtered) {
		/* What was queued before the first filter (nothing of ours: nothing was sent yet)
		 * goes, so that nothing another dialler got is read first. Bounded: the queue is. */
		for (unsigned int i = 0; i < 65536; i++)
			if (recv(s->fd, NULL, 0, MSG_DONTWAIT | MSG_TRUNC) < 0 && errno != EINTR)
				break;
		s->filtered = true;
	}
	return 0;
}

bool icmpw_sock_from(const struct icmpw_sock *s, const struct icmpw_dgram *d,
		     const struct sockaddr_storage *dialled)
{
	if (s->v6)
		return !memcmp(&((const struct sockaddr_in6 *)&d->peer)->sin6_addr,
			       &((const struct sockaddr_in6 *)dialled)->sin6_addr, 16);
	return ((const struct sockaddr_in *)&d->peer)->sin_addr.s_addr ==
	       ((const struct sockaddr_in *)dialled)->sin_addr.s_addr;
}

const char *icmpw_guard_path(bool v6)
{
	return v6 ? "/proc/sys/net/ipv6/icmp/echo_ignore_all" : "/proc/sys/net/ipv4/icmp_echo_ignore_all";
}

static int read_val(bool v6, char *c)
{
	int fd = open(icmpw_guard_path(v6), O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, c, 1);
	close(fd);
	return n == 1 ? 0 : -EIO;
}

static int write_val(bool v6, char c)
{
	int fd = open(icmpw_guard_path(v6), O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, &c, 1) != 1)
		r = -errno;
	close(fd);
	return r;
}

/* Put the old value back, unless someone else set another one since. */
static void restore(bool v6, char old)
{
	char cur;

	if (old != '1' && !read_val(v6, &cur) && cur == '1')
		write_val(v6, old);
}

static void guardian(int rd, bool v6, char old)
{
	char c;

	/* Signals meant for the daemon's process group (Ctrl-C, a service stop) must not end
	 * the guardian before it has restored. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	prctl(PR_SET_NAME, "culvert-icmpgd");
	/* Hold nothing of the parent's open: a socket kept alive here would outlive it. */
	if (rd != 3 && dup2(rd, 3) == 3)
		rd = 3;
	for (int fd = 3; fd < 1024; fd++)
		if (fd != rd)
			close(fd);
	if (rd == 3)
		syscall(SYS_close_range, 4u, ~0u, 0u);
	while (read(rd, &c, 1) < 0 && errno == EINTR)
		;
	restore(v6, old);
	_exit(0);
}

int icmpw_guard_start(struct icmpw_guard *g, bool v6)
{
	int p[2], r;
	pid_t pid;

	g->pid = -1;
	g->pipe_w = -1;
	g->v6 = v6;
	r = read_val(v6, &g->old);
	if (r < 0)
		return r;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	r = write_val(v6, '1');
	if (r < 0)
		goto fail;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		restore(v6, g->old);
		goto fail;
	}
	if (pid == 0) {
		close(p[1]);
		guardian(p[0], v6, g->old);
	}
	close(p[0]);
	g->pid = pid;
	g->pipe_w = p[1];
	return 0;
fail:
	close(p[0]);
	close(p[1]);
	return r;
}

int icmpw_guard_stop(struct icmpw_guard *g)
{
	int st;

	if (g->pid <= 0)
		return 0;
	close(g->pipe_w);   /* the guardian restores and exits */
	while (waitpid(g->pid, &st, 0) < 0 && errno == EINTR)
		;
	g->pid = -1;
	g->pipe_w = -1;
	return 0;
}
