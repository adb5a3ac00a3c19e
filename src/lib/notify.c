/* The service manager's notify protocol written out, not libsystemd's sd_notify(): it is one
 * sendto() of a documented, stable datagram (sd_notify(3), "the protocol is stable"), and the
 * monitor that relays an unprivileged child's messages must forward raw datagrams under its own
 * PID anyway, which sd_notify() cannot do for another process without CAP_SYS_ADMIN. So the
 * binary needs no libsystemd and runs the same with or without systemd. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lib/clock.h"
#include "lib/notify.h"

enum { NOTIFY_MSG_MAX = 4096 };

static struct sockaddr_un addr;
static socklen_t addr_len;		/* 0: no manager listens */
static int relay[2] = { -1, -1 };	/* [0] the monitor's end, [1] the child's */
static int via = -1;			/* in the child: where its messages go */
static uint64_t wd_usec, wd_last;

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && !*end;
}

void notify_init(void)
{
	const char *s = getenv("NOTIFY_SOCKET");
	size_t n = s ? strlen(s) : 0;
	uint64_t v, pid;

	addr_len = 0;
	wd_usec = 0;
	/* a path, or '@' for a name in the abstract namespace; anything else is not for us */
	if (n >= 2 && n < sizeof(addr.sun_path) && (s[0] == '/' || s[0] == '@')) {
		memset(&addr, 0, sizeof(addr));
		addr.sun_family = AF_UNIX;
		memcpy(addr.sun_path, s, n);
		if (s[0] == '@')
			addr.sun_path[0] = '\0';
		addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	if (addr_len && parse_u64(getenv("WATCHDOG_USEC"), &v) && v &&
	    (!getenv("WATCHDOG_PID") || (parse_u64(getenv("WATCHDOG_PID"), &pid) && pid == (uint64_t)getpid()))) {
		wd_usec = v;
		wd_last = clock_mono_ns() / CLOCK_NSEC_PER_USEC;
	}
	/* nothing this process starts is the service's main process */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

bool notify_enabled(void)
{
	return addr_len || via >= 0;
}

uint64_t notify_watchdog_usec(void)
{
	return wd_usec;
}

int notify_send(const char *msg)
{
	size_t len = strlen(msg);
	ssize_t r;
	int fd;

	if (via >= 0)
		return send(via, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
	if (!addr_len)
		return -ENOTCONN;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
	if (r < 0)
		r = -errno;
	close(fd);
	return r < 0 ? (int)r : 0;
}

int notify_sendf(const char *fmt, ...)
{
	char msg[NOTIFY_MSG_MAX];
	va_list ap;

	if (!notify_enabled())
		return -ENOTCONN;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return notify_send(msg);
}

void notify_watchdog(void)
{
	uint64_t now;

	if (!wd_usec)
		return;
	now = clock_mono_ns() / CLOCK_NSEC_PER_USEC;
	if (now - wd_last < wd_usec / 2)
		return;
	wd_last = now;
	notify_send("WATCHDOG=1");
}

int notify_relay_open(void)
{
	if (!addr_len || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, relay) < 0)
		return -1;
	return relay[0];
}

void notify_relay_child(void)
{
	if (relay[1] < 0)
		return;
	via = relay[1];
	/* the watchdog is the data path's to keep: the child ticks, the monitor passes it on */
}

size_t notify_filter(char *out, size_t out_len, const char *msg, size_t len)
{
	static const char *const allowed[] = { "READY=", "STOPPING=", "STATUS=", "WATCHDOG=", "RELOADING=",
					       "ERRNO=" };
	size_t o = 0;

	if (!out_len)
		return 0;
	while (len) {
		const char *nl = memchr(msg, '\n', len);
		size_t l = nl ? (size_t)(nl - msg) : len;
		bool ok = false;

		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			ok |= l >= strlen(allowed[i]) && !memcmp(msg, allowed[i], strlen(allowed[i]));
		if (ok && !memchr(msg, '\0', l) && o + l + 1 < out_len) {
			memcpy(out + o, msg, l);
			o += l;
			out[o++] = '\n';
		}
		msg += l + (nl ? 1 : 0);
		len -= l + (nl ? 1 : 0);
	}
	out[o] = '\0';
	return o;
}

void notify_relay_forward(int fd)
{
	char buf[NOTIFY_MSG_MAX], out[NOTIFY_MSG_MAX];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		if (notify_filter(out, sizeof(out), buf, (size_t)n))
			notify_send(out);
}
