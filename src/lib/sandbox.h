/* The daemon's last line of defence once set up: a seccomp allow-list of the system calls its
 * data path, control socket, timers, logging and shutdown make, process-wide. Anything else
 * ends the process with one line saying which call it was. Calls return 0 or -errno. */
#ifndef CULVERT_SANDBOX_H
#define CULVERT_SANDBOX_H
#include <stdbool.h>

/* Installs the filter on every thread of the process (no_new_privs is set first, as the
 * kernel requires of an unprivileged caller). Irrevocable; call once setup (device, sockets,
 * privilege drop) is done. The exec family, fork, open, ptrace and the like are refused: a
 * refused call prints "NAME: seccomp: system call N is not on the allow-list" on stderr (NAME
 * is kept, not copied) and to syslog if to_syslog, and the process dies of SIGSYS.
 * -ENOSYS on a kernel without seccomp filters. */
int sandbox_apply(const char *name, bool to_syslog);
/* Whether sandbox_apply succeeded in this process (for `culvert show`). */
bool sandbox_active(void);

#endif
