/* What culvert dump and culvert respond share: attaching to a device the way the tutorial's
 * reader does, and waiting for a packet or a signal. */
#ifndef CULVERT_CLI_DEVIO_H
#define CULVERT_CLI_DEVIO_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <net/if.h>

struct devio {
	int fd;
	bool tap;
	bool created;      /* made by us: not persistent, gone when fd closes */
	bool pi;           /* each packet starts with the 4-byte packet information header */
	size_t vnet_len;   /* then with a virtio_net_hdr of this size (0: none) */
	char name[IFNAMSIZ];
};

/* Attach to NAME. An existing device keeps its mode and flags (multi_queue, pi, vnet_hdr):
 * the kernel applies an attacher's flags to the whole persistent device, so asking for
 * others would change it for its owner. want_pi asks for the packet information header
 * anyway. A missing device is created (tap if want_tap) and vanishes when we exit. On failure
 * prints one sentence prefixed with cmd and returns -errno. */
int devio_attach(const char *cmd, const char *name, bool want_tap, bool want_pi, struct devio *d);

/* "cmd: created tun device NAME ..." on stderr when we made it: say so once setup worked. */
void devio_note_created(const char *cmd, const struct devio *d);

/* Bytes of headers (pi, virtio_net_hdr) in front of every packet read or written. */
size_t devio_hdr_len(const struct devio *d);

/* Writes one packet (without headers) to the device, prefixed with the headers it needs. */
ssize_t devio_write(const struct devio *d, const void *pkt, size_t len);

/* SIGINT and SIGTERM as a descriptor, so the read loop can end cleanly. fd or -errno. */
int devio_signal_fd(void);

/* Waits for a packet on fd or a signal on sfd. Returns the packet length (> 0 or 0 for an empty
 * read), -EINTR once a signal arrived, or -errno after printing one line prefixed with cmd. */
ssize_t devio_read(const char *cmd, const char *name, int fd, int sfd, void *buf, size_t cap);

#endif
