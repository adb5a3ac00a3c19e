/* culvert wg's command line and environment, read into one struct before anything is opened. */
#ifndef CULVERT_CLI_WG_ARGS_H
#define CULVERT_CLI_WG_ARGS_H
#include <stdbool.h>

#include "cli/cli_util.h"
#include "engine/loop.h"
#include "lib/tun.h"

struct wg_cli_config {
	const char *ifname;		/* as given; WG_TUN_FD's device name wins over it */
	bool foreground, debug, no_seccomp;
	unsigned int workers;		/* 1..TUN_MAX_QUEUES; 1 with --transport tcp */
	struct cli_runas ra;
	struct tun_opts to;		/* mode, excl (--attach), vnet_hdr, queues */
	struct wg_loop_opts lo;		/* transport, offload and busy-poll; on_hup is the run's */
	char *reload_path;		/* --config, absolute; freed by wg_cli_config_free */
	bool monitor;			/* a root monitor runs beside the data path */
};

/* The exit code wg_cli_parse returns when the daemon is to run. */
#define WG_CLI_RUN (-1)

/* argv (getopt_long from optind 1) and the CULVERT_WG_* variables, WG_TUN_FD checked against
 * --mode. WG_CLI_RUN, or the exit code once usage, the version or one sentence naming the bad
 * token was printed. */
int wg_cli_parse(struct wg_cli_config *cfg, int argc, char **argv);
void wg_cli_config_free(struct wg_cli_config *cfg);

#endif
