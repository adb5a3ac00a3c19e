/* The pieces of culvert up / culvert down (up.c drives them in wg-quick's order). Each returns
 * 0 or -errno and, on failure, has printed one sentence naming IFACE and what to do. */
#ifndef CULVERT_CLI_UP_H
#define CULVERT_CLI_UP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/config.h"

enum { UP_TIMEOUT_MS = 5000 };

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

/* up_sync.c: wg syncconf of c's keys and peers onto the running interface. */
int up_sync(const char *name, const struct config *c);
/* The daemon's SIGHUP (culvert wg --config PATH): runs `culvert syncconf PATH`, detached. */
void up_sync_spawn(void *path);
/* The same SIGHUP in the unprivileged child of culvert wg --user: passed to the root monitor
 * if the kernel lets it, else a log line names the monitor's pid. */
void up_sync_to_parent(void *unused);

#endif
