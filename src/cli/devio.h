/* What culvert dump and culvert respond share: attaching to a device the way the tutorial's
 * reader does, and waiting for a packet or a signal. */
#ifndef CULVERT_CLI_DEVIO_H
#define CULVERT_CLI_DEVIO_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Attach to NAME: an existing device keeps its mode and queue flag, so attaching needs no
 * privilege when the caller owns it; a missing one is created (tap if want_tap) and vanishes
 * when we exit. On failure prints one sentence prefixed with cmd. */
int devio_attach(const char *cmd, const char *name, bool want_tap, bool pi, bool quiet, int *fd, bool *tap);

/* SIGINT and SIGTERM as a descriptor, so the read loop can end cleanly. fd or -errno. */
int devio_signal_fd(void);

/* Waits for a packet on fd or a signal on sfd. Returns the packet length (> 0 or 0 for an empty
 * read), -EINTR once a signal arrived, or -errno after printing one line prefixed with cmd. */
ssize_t devio_read(const char *cmd, const char *name, int fd, int sfd, void *buf, size_t cap);

#endif
