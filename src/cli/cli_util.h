/* Helpers the subcommands share, each printing one sentence that names the bad token. */
#ifndef CULVERT_CLI_UTIL_H
#define CULVERT_CLI_UTIL_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli/cli.h"

/* True when argv[1] is -h or --help. */
int cli_wants_help(int argc, char **argv);
/* After getopt_long (opterr = 0, optstring starting with ':') returned C, ':' or '?': print the
 * one sentence for "CMD: OPTION needs a value" or "CMD: unknown option". */
void cli_option_error(const char *cmd, int c, char **argv);

/* --user and --group of the daemons that drop root once set up (wg, simpletun). The parsers
 * name a bad user or group once, on stderr; cli_runas_finish refuses --group without --user
 * and a user of uid 0, gives a user without --group its primary group, and warns (one line)
 * when the user already runs other processes. */
struct cli_runas {
	const char *name;	/* the user as given */
	bool user, group;
	uid_t uid;
	gid_t gid;
};
bool cli_runas_user(struct cli_runas *ra, const char *s);
bool cli_runas_group(struct cli_runas *ra, const char *s);
bool cli_runas_finish(struct cli_runas *ra, const char *cmd);

/* S as a decimal number from min to max: digits only, no sign, space or 0x. */
bool cli_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* cli_uint, or false after "culvert CMD: WHAT 'S' is not a number from MIN to MAX". */
bool cli_number(const char *cmd, const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Standard input, output and error onto /dev/null: a detached process has no terminal. */
void cli_stdio_null(void);
/* Runs this very binary with argv, detached: a double fork, so the caller waits only for the
 * first child and leaves no zombie; no signal blocked and none of the caller's descriptors
 * but 0-2, which own_session also puts on /dev/null in a session of its own. 0 or -errno. */
int cli_spawn_self(char *const argv[], bool own_session);

#endif
