/* Readiness and liveness for a service manager: the sd_notify(3) protocol, one datagram of
 * KEY=VALUE lines to the AF_UNIX socket $NOTIFY_SOCKET names. Everything is best effort and a
 * no-op when the variable is unset. */
#ifndef CULVERT_NOTIFY_H
#define CULVERT_NOTIFY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and removes them from the environment.
 * Call once, early, in the process the manager started (its main PID). */
void notify_init(void);
bool notify_enabled(void);
/* The watchdog interval asked for, in microseconds; 0 when none is (or it is another PID's). */
uint64_t notify_watchdog_usec(void);

/* Sends one message, e.g. "READY=1\nSTATUS=wg0 up". 0 or -errno (-ENOTCONN when disabled). */
int notify_send(const char *msg);
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* From a periodic tick (at least twice per interval): WATCHDOG=1 every half interval. */
void notify_watchdog(void);

/* A privileged monitor over an unprivileged child (lib/priv.h): the manager believes only
 * the main PID, so the child's messages go through the monitor. Before the fork,
 * notify_relay_open() returns the monitor's end (-1 when disabled) for priv_monitor_relay(),
 * whose readable callback is notify_relay_forward; the child then calls notify_relay_child(). */
int notify_relay_open(void);
void notify_relay_child(void);
void notify_relay_forward(int fd);

/* What of a message from the child the monitor passes on: the lines READY=, STOPPING=,
 * STATUS=, WATCHDOG=, RELOADING= and ERRNO= (never MAINPID= or file descriptors), written to
 * out with their newlines; the length. Exposed for the tests. */
size_t notify_filter(char *out, size_t out_len, const char *msg, size_t len);

#endif
