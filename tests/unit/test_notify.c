/* notify: NOTIFY_SOCKET parsing (path and abstract), the messages on the wire, the watchdog's
 * PID rule and pacing, the variables removed from the environment, the monitor's filter, and a
 * message relayed from a forked child through priv_monitor_relay. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lib/notify.h"
#include "lib/priv.h"

/* A datagram socket bound to name (a path, or '@' for the abstract namespace). */
static int listener(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(a.sun_path, name, n);
	if (name[0] == '@')
		a.sun_path[0] = '\0';
	else
		unlink(name);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)), 0);
	return fd;
}

/* The next datagram within 2 s, as a string; "" when none came. */
static const char *next_msg(int fd)
{
	static char buf[4096];
	struct timeval tv = { 2, 0 };
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool pending(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
}

static void test_disabled(void **state)
{
	unsetenv("NOTIFY_SOCKET");
	notify_init();
	assert_false(notify_enabled());
	assert_int_equal(notify_send("READY=1"), -ENOTCONN);
	assert_int_equal(notify_relay_open(), -1);
	/* not a path nor an abstract name: ignored, as sd_notify does */
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	notify_init();
	assert_false(notify_enabled());
}

static void test_abstract(void **state)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "@culvert-test-notify-%d", (int)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	setenv("WATCHDOG_USEC", "1000000", 1);
	notify_init();
	assert_true(notify_enabled());
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_null(getenv("WATCHDOG_USEC"));
	assert_int_equal(notify_sendf("READY=1\nSTATUS=%s up", "wg0"), 0);
	assert_string_equal(next_msg(fd), "READY=1\nSTATUS=wg0 up");
	close(fd);
}

static void test_path_and_watchdog(void **state)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/culvert-test-notify-%d", (int)getpid());
	fd = listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "200000", 1);
	notify_init();
	assert_int_equal(notify_watchdog_usec(), 200000);
	notify_watchdog();		/* too early: nothing */
	assert_false(pending(fd));
	usleep(120000);			/* past half the interval */
	notify_watchdog();
	assert_string_equal(next_msg(fd), "WATCHDOG=1");
	notify_watchdog();		/* just sent: nothing */
	assert_false(pending(fd));

	/* the watchdog of another PID is not ours; ours is */
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "200000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	notify_init();
	assert_int_equal(notify_watchdog_usec(), 0);
	assert_null(getenv("WATCHDOG_PID"));
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "200000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	notify_init();
	assert_int_equal(notify_watchdog_usec(), 200000);
	/* a malformed interval is no interval */
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "12x", 1);
	notify_init();
	assert_int_equal(notify_watchdog_usec(), 0);
	close(fd);
	unlink(path);
}

static void test_filter(void **state)
{
	static const char in[] = "READY=1\nMAINPID=1\nSTATUS=up\nFDSTORE=1\nWATCHDOG=1\nSTOPPING=1";
	char out[256];

	static const char want[] = "READY=1\nSTATUS=up\nWATCHDOG=1\nSTOPPING=1\n";

	assert_int_equal(notify_filter(out, sizeof(out), in, strlen(in)), strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(notify_filter(out, sizeof(out), "MAINPID=1", 9), 0);
	assert_string_equal(out, "");
	/* a prefix of a key is not the key; an embedded NUL drops the line */
	assert_int_equal(notify_filter(out, sizeof(out), "READY\nSTATUS=a\0b\nERRNO=5", 24), 8);
	assert_string_equal(out, "ERRNO=5\n");
	/* what does not fit is left out whole, never cut */
	assert_int_equal(notify_filter(out, 12, "STATUS=0123456789\nREADY=1", 25), 8);
	assert_string_equal(out, "READY=1\n");
}

/* The child's message reaches the listener from the monitor, filtered. */
static void test_relay(void **state)
{
	char path[64];
	int fd, st = -1;

	snprintf(path, sizeof(path), "/tmp/culvert-test-notify-r%d", (int)getpid());
	fd = listener(path);
	int passcred = 1;
	setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &passcred, sizeof(passcred));
	setenv("NOTIFY_SOCKET", path, 1);
	notify_init();
	pid_t outer = fork();
	assert_true(outer >= 0);
	if (outer == 0) {
		int r = priv_monitor_relay(&st, notify_relay_open(), notify_relay_forward);

		if (r == 0) {	/* the child */
			notify_relay_child();
			_exit(notify_send("READY=1\nMAINPID=1\nSTATUS=relayed") ? 3 : 0);
		}
		_exit(r == 1 ? st : 4);
	}
	char buf[256], cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = recvmsg(fd, &mh, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "READY=1\nSTATUS=relayed\n");
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	assert_non_null(c);
	assert_int_equal(c->cmsg_type, SCM_CREDENTIALS);
	struct ucred cr;
	memcpy(&cr, CMSG_DATA(c), sizeof(cr));
	assert_int_equal(cr.pid, outer);	/* the monitor sent it, not its child */
	assert_int_equal(waitpid(outer, &st, 0), outer);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_abstract),
		cmocka_unit_test(test_path_and_watchdog),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_relay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
