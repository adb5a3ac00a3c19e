/* Subcommand entry points. Each returns the process exit code:
 * 0 ok, 1 runtime failure, 2 usage error (bad flag or argument). */
#ifndef CULVERT_CLI_H
#define CULVERT_CLI_H

#include <stdbool.h>
#include <sys/types.h>

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

#define CLI_WEAK __attribute__((weak))
int cmd_dev(int argc, char **argv) CLI_WEAK;
int cmd_dump(int argc, char **argv) CLI_WEAK;
int cmd_respond(int argc, char **argv) CLI_WEAK;
int cmd_simpletun(int argc, char **argv) CLI_WEAK;
int cmd_wg(int argc, char **argv) CLI_WEAK;
int cmd_up(int argc, char **argv) CLI_WEAK;
int cmd_down(int argc, char **argv) CLI_WEAK;
int cmd_strip(int argc, char **argv) CLI_WEAK;
int cmd_syncconf(int argc, char **argv) CLI_WEAK;
int cmd_reresolve(int argc, char **argv) CLI_WEAK;
int cmd_show(int argc, char **argv) CLI_WEAK;
int cmd_genkey(int argc, char **argv) CLI_WEAK;
int cmd_pubkey(int argc, char **argv) CLI_WEAK;
int cmd_genpsk(int argc, char **argv) CLI_WEAK;

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

#endif
