/* priv: dropping to a user with a chosen set of capabilities, and the monitor that outlives the
 * dropped child. Every drop happens in a forked child, which reports through its exit code. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lib/priv.h"

enum { NOBODY = 65534 };

/* run fn in a child; its exit code (or 128 + signal) */
static int in_child(int (*fn)(void))
{
	int st;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Each failed expectation exits with its own code, so the parent's assertion names it. */
static int drop_to_nobody(void)
{
	static const int keep[] = { CAP_NET_ADMIN };
	unsigned long long caps = ~0ull;
	char who[128];

	if (priv_drop(NOBODY, NOBODY, keep, 1) != 0)
		return 10;
	if (getuid() != NOBODY || geteuid() != NOBODY || getgid() != NOBODY || getegid() != NOBODY)
		return 11;
	if (priv_effective_caps(&caps) != 0 || caps != 1ull << CAP_NET_ADMIN)
		return 12;
	if (setuid(0) == 0 || seteuid(0) == 0)
		return 13;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 14;
	if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0 || prctl(PR_CAPBSET_READ, CAP_NET_ADMIN, 0, 0, 0) != 1)
		return 15;
	if (getgroups(0, NULL) != 1)
		return 16;
	priv_describe(who, sizeof(who));
	if (strcmp(who, "uid 65534 gid 65534, capabilities: net_admin"))
		return 17;
	return 0;
}

/* Dropping needs root to drop from. As a user (a package built by one) the cases that drop are
 * reported as skipped, never as passed; test_drop_refused runs either way. */
static void need_root(void)
{
	if (geteuid() != 0) {
		print_message("not root: priv_drop needs root to drop from; skipped\n");
		skip();
	}
}

static void test_drop(void **state)
{
	(void)state;
	need_root();
	assert_int_equal(in_child(drop_to_nobody), 0);
}

static int drop_everything(void)
{
	unsigned long long caps = ~0ull;
	char who[128];

	if (priv_drop(NOBODY, NOBODY, NULL, 0) != 0)
		return 20;
	if (priv_effective_caps(&caps) != 0 || caps != 0)
		return 21;
	priv_describe(who, sizeof(who));
	return strcmp(who, "uid 65534 gid 65534, capabilities: none") ? 22 : 0;
}

static void test_drop_all(void **state)
{
	(void)state;
	need_root();
	assert_int_equal(in_child(drop_everything), 0);
}

/* A capability number the kernel does not have is refused before anything changes. */
static int bad_cap(void)
{
	static const int keep[] = { CAP_NET_ADMIN, CAP_LAST_CAP + 1 };
	char who[128];

	if (priv_drop(NOBODY, NOBODY, keep, 2) != -EINVAL)
		return 30;
	if (geteuid() != 0)
		return 31;
	priv_describe(who, sizeof(who));
	return strcmp(who, "root") ? 32 : 0;
}

static void test_bad_cap(void **state)
{
	(void)state;
	need_root();
	assert_int_equal(in_child(bad_cap), 0);
}

/* Without privilege (as a user, or as root that has already become nobody the plain way)
 * priv_drop refuses with -EPERM and the process is who it was. */
static int refused(void)
{
	static const int keep[] = { CAP_NET_ADMIN };
	uid_t uid;
	gid_t gid;

	if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
			       setresuid(NOBODY, NOBODY, NOBODY) < 0))
		return 40;
	uid = getuid();
	gid = getgid();
	if (priv_drop(NOBODY, NOBODY, keep, 1) != -EPERM)
		return 41;
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid)
		return 42;
	return 0;
}

static void test_drop_refused(void **state)
{
	(void)state;
	assert_int_equal(in_child(refused), 0);
}

static void test_default_gid(void **state)
{
	(void)state;
	assert_int_equal(priv_default_gid(0), 0);
	/* a uid without a passwd entry keeps its number as the group */
	assert_int_equal(priv_default_gid(4242424), 4242424);
}

/* A child that stays while we count: a process of our uid other than this one. */
static void test_uid_processes(void **state)
{
	pid_t child = fork(), example = 0;
	int n;

	(void)state;
	if (child == 0) {
		pause();
		_exit(0);
	}
	assert_true(child > 0);
	n = priv_uid_processes(getuid(), &example);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	assert_true(n >= 1);
	assert_true(example > 0 && example != getpid());
	/* a uid no process runs as */
	example = 0;
	assert_int_equal(priv_uid_processes(4242424, &example), 0);
	assert_int_equal(example, 0);
}

/* ---- the monitor ---- */

static int child_code;

static int monitored_exit(void)
{
	int status = -1;
	int r = priv_monitor(&status);

	if (r == 0)
		_exit(child_code);
	return r == 1 ? status : 99;
}

static void test_monitor_status(void **state)
{
	(void)state;
	child_code = 7;
	assert_int_equal(in_child(monitored_exit), 7);
	child_code = 0;
	assert_int_equal(in_child(monitored_exit), 0);
}

static int monitored_kill(void)
{
	int status = -1;
	int r = priv_monitor(&status);

	if (r == 0)
		raise(SIGKILL);
	return r == 1 ? status - 100 : 99;	/* 137 does not fit beside the other codes */
}

static void test_monitor_killed(void **state)
{
	(void)state;
	assert_int_equal(in_child(monitored_kill), 37);
}

/* SIGTERM sent to the monitor reaches the child, which exits 3 on it. */
static void test_monitor_forwards(void **state)
{
	int pipefd[2], st;
	char c;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	pid_t m = fork();
	if (m == 0) {
		int status = -1;
		sigset_t set;

		close(pipefd[0]);
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		int r = priv_monitor(&status);
		if (r == 0) {
			int sig;
			/* ready: the monitor has closed its copy of the pipe by now, ours says go */
			(void)!write(pipefd[1], "r", 1);
			sigwait(&set, &sig);
			_exit(sig == SIGTERM ? 3 : 4);
		}
		_exit(r == 1 ? status : 99);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);
	assert_int_equal(kill(m, SIGTERM), 0);
	assert_int_equal(waitpid(m, &st, 0), m);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_drop_all),
		cmocka_unit_test(test_bad_cap),
		cmocka_unit_test(test_drop_refused),
		cmocka_unit_test(test_default_gid),
		cmocka_unit_test(test_uid_processes),
		cmocka_unit_test(test_monitor_status),
		cmocka_unit_test(test_monitor_killed),
		cmocka_unit_test(test_monitor_forwards),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
