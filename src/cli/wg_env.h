/* wireguard-go's launcher interface: WG_TUN_FD, WG_UAPI_FD, WG_PROCESS_FOREGROUND. Each
 * function prints one sentence when the variable is set but unusable. */
#ifndef CULVERT_CLI_WG_ENV_H
#define CULVERT_CLI_WG_ENV_H
#include <stdbool.h>
#include <net/if.h>

bool wg_env_foreground(void);
/* 1 with *fd, the device's name and whether it carries virtio_net_hdr; 0 when WG_TUN_FD is
 * not set; -errno when it is set but unusable. */
int wg_env_tun(char name[IFNAMSIZ], int *fd, bool *vnet_hdr);
/* The listening control socket of WG_UAPI_FD, -ENOENT when not set, another -errno when bad. */
int wg_env_uapi(void);

#endif
