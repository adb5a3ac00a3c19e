/* Dropping root after setup. The capability calls are the raw syscalls (linux/capability.h):
 * three 32-bit words of each set are all a v3 header needs, and libcap would be one more
 * dependency for two calls. */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "lib/priv.h"

gid_t priv_default_gid(uid_t uid)
{
	struct passwd *pw = getpwuid(uid);

	return pw ? pw->pw_gid : (gid_t)uid;
}

/* The real, effective and saved uid of /proc/PID/status; false when the process is gone. */
static bool proc_uids(const char *pid, uid_t ids[3])
{
	char path[64], line[256];
	unsigned long v[3];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if (!(f = fopen(path, "re")))
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "Uid: %lu %lu %lu", &v[0], &v[1], &v[2]) == 3;
	fclose(f);
	for (int i = 0; found && i < 3; i++)
		ids[i] = (uid_t)v[i];
	return found;
}

int priv_uid_processes(uid_t uid, pid_t *example)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		uid_t ids[3];

		if (*end || pid <= 0 || pid == (long)getpid() || !proc_uids(e->d_name, ids))
			continue;
		if (ids[0] == uid || ids[1] == uid || ids[2] == uid) {
			if (!n && example)
				*example = (pid_t)pid;
			n++;
		}
	}
	closedir(d);
	return n;
}

static int cap_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };

	return syscall(SYS_capget, &h, d) < 0 ? -errno : 0;
}

static int cap_set(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };

	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static bool kept(int cap, const int *keep, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (keep[i] == cap)
			return true;
	return false;
}

int priv_drop(uid_t uid, gid_t gid, const int *keep, size_t n_keep)
{
	struct __user_cap_data_struct d[2];
	int r;

	for (size_t i = 0; i < n_keep; i++)
		if (keep[i] < 0 || keep[i] > CAP_LAST_CAP)
			return -EINVAL;
	/* The bounding set first, while CAP_SETPCAP is still ours. */
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (!kept(c, keep, n_keep) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	/* setresuid cleared the effective set; make it and the permitted set exactly keep[]. */
	memset(d, 0, sizeof(d));
	for (size_t i = 0; i < n_keep; i++) {
		d[keep[i] / 32].effective |= 1u << (keep[i] % 32);
		d[keep[i] / 32].permitted |= 1u << (keep[i] % 32);
	}
	if ((r = cap_set(d)) < 0)
		return r;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* Refuse to go on if root is still reachable (a setresuid that did nothing, say). */
	if (uid != 0 && (setresuid(0, 0, 0) == 0 || geteuid() == 0))
		return -EPERM;
	return 0;
}

int priv_effective_caps(unsigned long long *mask)
{
	struct __user_cap_data_struct d[2];
	int r = cap_get(d);

	if (r < 0)
		return r;
	*mask = (unsigned long long)d[1].effective << 32 | d[0].effective;
	return 0;
}

void priv_describe(char *buf, size_t len)
{
	static const struct { int cap; const char *name; } names[] = {
		{ CAP_NET_ADMIN, "net_admin" }, { CAP_NET_BIND_SERVICE, "net_bind_service" },
		{ CAP_NET_RAW, "net_raw" }, { CAP_SETUID, "setuid" }, { CAP_SYS_ADMIN, "sys_admin" },
	};
	unsigned long long caps = 0;
	size_t off;

	if (priv_effective_caps(&caps) < 0)
		caps = 0;
	if (geteuid() == 0 && caps >> CAP_SYS_ADMIN & 1) {
		snprintf(buf, len, "root");
		return;
	}
	off = (size_t)snprintf(buf, len, "uid %u gid %u, capabilities:", (unsigned int)geteuid(),
			       (unsigned int)getegid());
	if (!caps && off < len)
		off += (size_t)snprintf(buf + off, len - off, " none");
	for (int c = 0; c <= CAP_LAST_CAP && off < len; c++) {
		if (!(caps >> c & 1))
			continue;
		const char *n = NULL;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (names[i].cap == c)
				n = names[i].name;
		off += n ? (size_t)snprintf(buf + off, len - off, " %s", n) :
			   (size_t)snprintf(buf + off, len - off, " cap_%d", c);
	}
}

static void (*monitor_hup)(void *arg);
static void *monitor_hup_arg;

void priv_monitor_on_hup(void (*fn)(void *arg), void *arg)
{
	monitor_hup = fn;
	monitor_hup_arg = arg;
}

int priv_monitor(int *status)
{
	return priv_monitor_relay(status, -1, NULL);
}

int priv_monitor_relay(int *status, int fd, void (*readable)(int fd))
{
	sigset_t set, old;
	pid_t pid;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	/* Blocked before the fork, so no signal falls between it and the signalfd. */
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -e;
	}
	if (pid == 0) {
		/* The child gets back the mask it had, SIGCHLD included. */
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	/* The monitor holds nothing open but the relay: a device or socket goes away with the
	 * child's last fd, and a client of a listening socket never waits on the monitor's copy. */
	if (fd >= 0 && fd != 3) {
		if (dup2(fd, 3) < 0)
			fd = -1;
		else
			fd = 3;
	}
	if (syscall(SYS_close_range, fd >= 0 ? 4u : 3u, ~0u, 0u) < 0)
		for (int i = fd >= 0 ? 4 : 3; i < 1024; i++)
			close(i);
	/* with a relay, a signalfd to poll beside it; without, nothing (sigwaitinfo) */
	sfd = fd >= 0 ? signalfd(-1, &set, SFD_CLOEXEC) : -1;
	for (;;) {
		struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
		struct signalfd_siginfo si;
		int st;

		if (sfd < 0) {
			siginfo_t sw;

			if (sigwaitinfo(&set, &sw) < 0)
				continue;
			si.ssi_signo = (uint32_t)sw.si_signo;
		} else {
			if (poll(pfd, fd >= 0 ? 2 : 1, -1) < 0)
				continue;
			if (pfd[1].revents && readable)
				readable(fd);
			if (!(pfd[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
		}
		if (si.ssi_signo == SIGHUP && monitor_hup) {
			monitor_hup(monitor_hup_arg);
			continue;
		}
		if (si.ssi_signo != SIGCHLD) {
			kill(pid, (int)si.ssi_signo);
			continue;
		}
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			/* what the child said last (that it is stopping) may still be queued */
			if (fd >= 0 && readable)
				readable(fd);
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return 1;
		}
	}
}
