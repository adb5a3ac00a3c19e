/* Subcommand entry points. Each returns the process exit code:
 * 0 ok, 1 runtime failure, 2 usage error (bad flag or argument). */
#ifndef CULVERT_CLI_H
#define CULVERT_CLI_H

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

#endif
