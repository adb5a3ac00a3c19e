/* sandbox: the seccomp allow-list. Every filter is installed in a forked child (it cannot be
 * removed), which reports through its exit code or dies of SIGSYS; its stderr comes back
 * through a pipe so the log line can be checked. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lib/sandbox.h"

/* run fn under the filter in a child: its exit code, or 128 + the signal that ended it; what
 * it wrote on stderr in err */
static int in_sandbox(int (*fn)(void), char *err, size_t len)
{
	int st, p[2];
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		if (sandbox_apply("test_sandbox", false) != 0)
			_exit(100);
		if (!sandbox_active())
			_exit(101);
		_exit(fn());	/* _exit: no atexit handlers (a sanitizer's) under the filter */
	}
	assert_true(pid > 0);
	close(p[1]);
	while ((n = read(p[0], err + got, len - 1 - (size_t)got)) > 0)
		got += n;
	err[got] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int do_execve(void)
{
	char *const argv[] = { "true", NULL }, *const envp[] = { NULL };

	execve("/bin/true", argv, envp);
	return 1;	/* refused with an error instead of the kill: also wrong */
}

static int do_open(void)
{
	int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);

	return fd >= 0 ? 1 : 2;
}

static int do_fork(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return pid > 0 ? 1 : 2;
}

static int do_packet_socket(void)
{
	return socket(AF_PACKET, SOCK_RAW, 0) >= 0 ? 1 : 2;
}

static void *thread_fn(void *arg)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return arg;
}

static int cmp_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static int efd = -1, tfd = -1;	/* made before the filter, as the daemon's setup makes them */

/* what the daemon does after setup: sockets, epoll, a timer, a thread, memory, time */
static int do_allowed(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct itimerspec its = { .it_value.tv_nsec = 1000 };
	struct epoll_event ev = { .events = EPOLLIN };
	char buf[64] = "x";
	pthread_t t;
	void *ret;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(fd, (struct sockaddr *)&a, &alen))
		return 10;
	if (sendto(fd, buf, 1, 0, (struct sockaddr *)&a, sizeof(a)) != 1)
		return 11;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev) || epoll_wait(efd, &ev, 1, 1000) != 1)
		return 12;
	if (recv(fd, buf, sizeof(buf), 0) != 1)
		return 13;
	if (timerfd_settime(tfd, 0, &its, NULL))
		return 14;
	if (pthread_create(&t, NULL, thread_fn, buf) || pthread_join(t, &ret) || ret != buf)
		return 15;
	int *big = malloc(1 << 22);
	if (!big)
		return 16;
	/* a big qsort asks for the memory size (sysinfo), as a setconf of 10000 peers does */
	for (int i = 0; i < (1 << 20); i++)
		big[i] = (int)(((unsigned int)i * 7919u) % 1000003u);
	qsort(big, 1 << 20, sizeof(int), cmp_int);
	free(big);
	close(tfd);
	close(efd);
	close(fd);
	return 0;
}

static void assert_killed(int (*fn)(void))
{
	char err[512];

	assert_int_equal(in_sandbox(fn, err, sizeof(err)), 128 + SIGSYS);
	assert_non_null(strstr(err, "test_sandbox: seccomp: system call "));
	assert_non_null(strstr(err, "is not on the allow-list"));
}

static void test_execve_killed(void **state)
{
	char err[512], want[64];

	assert_int_equal(in_sandbox(do_execve, err, sizeof(err)), 128 + SIGSYS);
	snprintf(want, sizeof(want), "system call %d is not", (int)SYS_execve);
	assert_non_null(strstr(err, want));
}

static void test_open_killed(void **state) { assert_killed(do_open); }
static void test_fork_killed(void **state) { assert_killed(do_fork); }
static void test_packet_socket_killed(void **state) { assert_killed(do_packet_socket); }

static void test_data_path_allowed(void **state)
{
	char err[512];
	int r;

	efd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	assert_true(efd >= 0 && tfd >= 0);
	r = in_sandbox(do_allowed, err, sizeof(err));
	close(efd);
	close(tfd);

	assert_string_equal(err, "");
	assert_int_equal(r, 0);
}

static void test_inactive_without_apply(void **state)
{
	assert_false(sandbox_active());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inactive_without_apply),
		cmocka_unit_test(test_execve_killed),
		cmocka_unit_test(test_open_killed),
		cmocka_unit_test(test_fork_killed),
		cmocka_unit_test(test_packet_socket_killed),
		cmocka_unit_test(test_data_path_allowed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
