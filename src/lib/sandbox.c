/* The seccomp allow-list (libseccomp). The list is what strace saw `culvert wg` do over the wg
 * e2e scenarios after setup: the data path, rebinds (wg set listen-port, fwmark), the TCP
 * and ICMP transports, the control socket, timers, signals, notify, logging, and shutdown; plus what libc
 * does underneath (futex, allocation, thread start, restartable sequences).
 *
 * The default action is SCMP_ACT_TRAP, and the SIGSYS handler writes one line and re-raises
 * the signal with the default action: the process dies (systemd restarts it) and the log says
 * why. The kernel's audit log is not asked to record refusals (SCMP_FLTATR_CTL_LOG): it would
 * also record every clone3 refused by design, at each thread start. Not SCMP_ACT_ERRNO: a daemon that has made a call it never makes is either broken in a
 * way the tests missed or running an attacker's code, and neither should go on with an error
 * it never handles. Not a bare SCMP_ACT_KILL_PROCESS: that leaves only an audit record, which
 * a container or a journal without audit may not show. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <syslog.h>
#include <seccomp.h>

#include "lib/log.h"
#include "lib/sandbox.h"

static bool active, also_syslog;
static const char *who = "culvert";

/* Every call culvert wg makes after setup. Names libseccomp does not know on this
 * architecture are skipped (an older libseccomp, an architecture without the legacy call). */
static const char *const allowed[] = {
	/* the data path: tun queues, UDP and TCP sockets, epoll, timerfd and eventfd wakeups */
	"read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
	"recvmmsg", "sendmmsg", "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl",
	"poll", "ppoll", "close", "fcntl", "ioctl", "timerfd_settime", "timerfd_gettime",
	/* rebinds and the TCP transport open sockets (families checked below) */
	"bind", "connect", "listen", "accept", "accept4", "shutdown", "setsockopt", "getsockopt",
	"getsockname", "getpeername",
	/* time, randomness (keys, cookies), sleeping */
	"clock_gettime", "clock_getres", "gettimeofday", "time", "clock_nanosleep", "nanosleep",
	"getrandom",
	/* glibc's qsort asks the memory size (sysconf(_SC_PHYS_PAGES)) for big arrays: a
	 * setconf of thousands of peers */
	"sysinfo",
	/* the handshake thread lowers its own priority once (loop.c) */
	"setpriority",
	/* the ICMP transport reaps its echo guardian (forked at setup) when it ends */
	"wait4",
	/* libc underneath: locks, allocation, threads (clone below), signals, exit */
	"futex", "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "set_robust_list",
	"rseq", "sched_yield", "sched_getaffinity", "rt_sigaction", "rt_sigprocmask",
	"rt_sigreturn", "sigaltstack", "getpid", "gettid", "tgkill", "exit", "exit_group",
	"getuid", "geteuid", "getgid", "getegid", "capget", "restart_syscall",
	/* the control socket's peer check, /proc-free; shutdown removes the socket */
	"unlink", "unlinkat", "newfstatat", "fstat", "lseek",
};

/* async-signal-safe: no stdio, no allocation */
static size_t append(char *line, size_t n, size_t size, const char *s)
{
	while (*s && n < size)
		line[n++] = *s++;
	return n;
}

static void sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[256], num[12];
	size_t n, k = sizeof(num) - 1;
	unsigned int nr = (unsigned int)si->si_syscall;

	num[k] = '\0';
	do
		num[--k] = (char)('0' + nr % 10);
	while ((nr /= 10) && k);
	n = append(line, 0, sizeof(line), who);
	n = append(line, n, sizeof(line), ": seccomp: system call ");
	n = append(line, n, sizeof(line), num + k);
	n = append(line, n, sizeof(line), " is not on the allow-list (run with --no-seccomp and report it); exiting\n");
	/* The lines the log's thread has not written yet go first, so none is lost and this one
	 * comes last. Not async-signal-safe either, but the queue's lock is held only for copies
	 * and a futex wake, never across a call the filter refuses, so the trapped thread cannot
	 * hold it; if the trapped thread is the log's own, the wait ends after a second. */
	log_flush(1000);
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	/* Detached, stderr is /dev/null. syslog() is not async-signal-safe, but the process
	 * ends here either way and the calls syslog makes are all allowed, so no lock of its
	 * can be held by the trapped call. */
	if (also_syslog)
		syslog(LOG_ERR, "%.*s", (int)(n - 1), line);
	/* SA_RESETHAND made the action the default one already: this kills the process. */
	raise(SIGSYS);
}

static int add(scmp_filter_ctx ctx, const char *name, unsigned int n_cmp, const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;
	return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n_cmp, cmp);
}

static int build(scmp_filter_ctx ctx)
{
	static const int families[] = { AF_UNIX, AF_INET, AF_INET6 };
	int r = 0;

	for (size_t i = 0; !r && i < sizeof(allowed) / sizeof(allowed[0]); i++)
		r = add(ctx, allowed[i], 0, NULL);
	/* sockets of the families the daemon uses: UDP/TCP, the control and notify sockets,
	 * syslog, if_nametoindex for a scoped IPv6 endpoint */
	for (size_t i = 0; !r && i < sizeof(families) / sizeof(families[0]); i++) {
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]);
		r = add(ctx, "socket", 1, &c);
	}
	/* SIGHUP to the monitor, which re-reads --config (the data path cannot exec) */
	if (!r) {
		struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_EQ, SIGHUP);
		r = add(ctx, "kill", 1, &c);
	}
	if (!r)
		r = add(ctx, "getppid", 0, NULL);
	/* threads (the workers) but not processes: clone only with CLONE_THREAD; clone3 hides
	 * its flags in memory a filter cannot read, so it fails with ENOSYS and libc falls back
	 * to clone */
	if (!r) {
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
		r = add(ctx, "clone", 1, &c);
	}
	if (!r) {
		int nr = seccomp_syscall_resolve_name("clone3");
		if (nr != __NR_SCMP_ERROR)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
	}
	/* every thread gets the filter, also one started before it (none is, today) */
	if (!r)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	return r;
}

int sandbox_apply(const char *name, bool to_syslog)
{
	struct sigaction sa;
	scmp_filter_ctx ctx;
	int r;

	if (name)
		who = name;
	also_syslog = to_syslog;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	r = build(ctx);
	if (!r)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return r == -ECANCELED || r == -EFAULT ? -ENOSYS : r;
	active = true;
	return 0;
}

bool sandbox_active(void)
{
	return active;
}
