/* Least privilege for a daemon that needs root only to set up: drop to a user keeping a few
 * capabilities, and a privileged monitor that outlives the dropped child to clean up what only
 * root may remove. Calls return 0 or -errno. */
#ifndef CULVERT_PRIV_H
#define CULVERT_PRIV_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The gid to run with when only a user was given: its primary group, else the uid's number. */
gid_t priv_default_gid(uid_t uid);

/* Become uid/gid (no supplementary groups) and keep only the capabilities in keep[] (CAP_*
 * numbers), effective and permitted, none inheritable or ambient; the bounding set loses the
 * rest and no_new_privs is set, so nothing exec'd later regains them. Call before starting
 * threads: capabilities are per thread. */
int priv_drop(uid_t uid, gid_t gid, const int *keep, size_t n_keep);

/* Forks. Returns 0 in the child, which goes on to drop privileges and do the work. The parent
 * stays privileged, passes SIGTERM, SIGINT and SIGHUP on to the child, and returns 1 once the
 * child has ended, with *status its exit code (128 + signal if it was killed), so the caller
 * can clean up and exit. -errno if fork fails. */
int priv_monitor(int *status);
/* The same, and the monitor keeps fd (closed in the child) open and calls readable(fd) when it
 * is readable and once more after the child ended: how an unprivileged child's messages reach
 * someone who listens only to the monitor (the service manager: lib/notify.h). */
int priv_monitor_relay(int *status, int fd, void (*readable)(int fd));

/* How many processes other than this one run as uid (real, effective or saved: any of them
 * may signal a process of that uid, and share its ports through SO_REUSEPORT); *example is
 * one of them. 0 when none, -errno when /proc cannot be read. */
int priv_uid_processes(uid_t uid, pid_t *example);
/* Set before priv_monitor: the monitor calls fn on SIGHUP instead of passing it on (a reload
 * that needs root, e.g. reading a root-only file, runs there). */
void priv_monitor_on_hup(void (*fn)(void *arg), void *arg);

/* The capabilities this thread has in effect, as the kernel's bit mask. */
int priv_effective_caps(unsigned long long *mask);

/* "root", or "uid 65534 gid 65534, capabilities: net_bind_service net_admin" (for `show`;
 * capabilities in the kernel's order). */
void priv_describe(char *buf, size_t len);

#endif
