/* The pieces of culvert up / culvert down (up.c drives them in wg-quick's order). Each returns
 * 0 or -errno and, on failure, has printed one sentence naming IFACE and what to do. */
#ifndef CULVERT_CLI_UP_H
#define CULVERT_CLI_UP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/config.h"

enum { UP_TIMEOUT_MS = 5000 };

/* up.c: FILE (has a '/' or ends in .conf) or IFACE (/etc/wireguard/IFACE.conf), as wg-quick
 * reads its argument; false after one sentence on stderr. */
bool up_target(const char *cmd, const char *arg, char *path, size_t plen, char name[16]);

/* up_run.c: runs argv (argv[0] looked up in PATH) with stdin_text (NULL: /dev/null) on its
 * stdin; its stdout goes to *out (malloc'd, NUL-terminated) when out, else to ours. Returns
 * its exit status (0-255), or -errno when it could not be run. */
int up_run(char *const argv[], const char *stdin_text, char **out);

/* up_hooks.c: PreUp... with %i replaced by name, each run by bash -c as wg-quick's eval does;
 * stops at the first that fails. what is "PreUp" etc. for the message. */
int up_hooks(char **hooks, size_t n, const char *name, const char *what);
/* resolvconf -a/-d for DNS = ..., as wg-quick (nothing when the config has no DNS server). */
int up_dns_set(const struct config *c, const char *name);
int up_dns_unset(const struct config *c, const char *name);
/* The name resolvconf knows the interface by (interface-order prefix + name). */
void up_dns_ifname(char *out, size_t len, const char *name);

/* up_route.c */
/* Table = text as a number: auto and absent give 0 (main, with the /0 handling), off gives
 * UP_TABLE_OFF, a name is looked up in rt_tables as ip(8) does. false: not a table. */
enum { UP_TABLE_OFF = 0xffffffffu };
bool up_table_parse(const char *text, uint32_t *table);
/* MTU minus 80 of the route to the endpoints the daemon resolved, or of the default route,
 * or of 1500. */
int up_mtu_guess(const char *name, unsigned int *mtu);
/* One route per allowed IP of the daemon, longest first; /0 in the main table becomes the full
 * tunnel (fwmark, rules, up_fw_add). *fw_set tells whether a firewall table was made. */
int up_routes(const char *name, uint32_t table, bool *fw_set);
/* Deletes the rules up_routes made for a full tunnel when the interface has one. */
void up_rules_del(const char *name, uint32_t table);

/* up_fw.c: the nftables table wg-quick-IFACE of the full tunnel for family. */
int up_fw_add(const char *name, int family, uint32_t mark);
void up_fw_del(const char *name);

/* up_save.c */
/* SaveConfig: writes the interface's state back to path as wg-quick save does. */
int up_save(const char *path, const char *name, const struct config *c);
/* culvert strip: the file without the wg-quick keys, as wg setconf reads it. */
int up_strip(const char *path, const char *name);

/* up_resolve.c: endpoint names. */
enum { UP_RETRIES_DEFAULT = 15, UP_RETRIES_FOREVER = -1 };
/* WG_ENDPOINT_RESOLUTION_RETRIES as wg(8) reads it: unset 15, "infinity" UP_RETRIES_FOREVER,
 * else a decimal count. false when the text is neither. */
bool up_resolve_retries(int *retries);
/* Whether an Endpoint host is a name (not an IPv4 or IPv6 literal). */
bool up_endpoint_is_name(const char *host);
/* One getaddrinfo of host: its first address, with port. 0 or the EAI_* code. */
struct sockaddr_storage;
int up_resolve_once(const char *host, uint16_t port, struct sockaddr_storage *out);
/* Replaces every peer's endpoint name in c by the address it resolves to; a temporary failure
 * is retried with wg(8)'s backoff as WG_ENDPOINT_RESOLUTION_RETRIES allows, a name that does
 * not exist fails at once. Prints each wait and the failure as "culvert CMD: NAME: ...". */
int up_resolve_endpoints(const char *cmd, const char *name, struct config *c);

/* up_reresolve.c: whether c has an endpoint that is a name; culvert up starts the watcher
 * (`culvert reresolve --watch path`) then, unless CULVERT_RERESOLVE_AFTER is off. */
bool up_has_endpoint_names(const struct config *c);
int up_reresolve_start(const char *path);

/* up_sync.c: wg syncconf of c's keys and peers onto the running interface. */
int up_sync(const char *name, const struct config *c);
/* The daemon's SIGHUP (culvert wg --config PATH): runs `culvert syncconf PATH`, detached. */
void up_sync_spawn(void *path);
/* The same SIGHUP in the unprivileged child of culvert wg --user: passed to the root monitor
 * if the kernel lets it, else a log line names the monitor's pid. */
void up_sync_to_parent(void *unused);

#endif
