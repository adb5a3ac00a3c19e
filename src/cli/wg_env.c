/* What launchers of wireguard-go hand a userspace WireGuard daemon through the environment,
 * read the way wireguard-go reads it: WG_TUN_FD (an open tun device), WG_UAPI_FD (a listening
 * control socket) and WG_PROCESS_FOREGROUND=1 (do not detach). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_tun.h>

#include "cli/cli_util.h"
#include "cli/wg_env.h"

/* -ENOENT when var is not set; else the descriptor, or -EBADF after saying what is wrong. */
static int env_fd(const char *var)
{
	const char *s = getenv(var);
	uint64_t v;

	if (!s || !*s)
		return -ENOENT;
	if (!cli_uint(s, 0, 65535, &v) || fcntl((int)v, F_GETFD) < 0) {
		fprintf(stderr, "culvert wg: %s=%s is not an open file descriptor of this process; unset it or pass the descriptor\n",
			var, s);
		return -EBADF;
	}
	/* Workers and helpers we run must not inherit it. */
	fcntl((int)v, F_SETFD, FD_CLOEXEC);
	return (int)v;
}

bool wg_env_foreground(void)
{
	const char *s = getenv("WG_PROCESS_FOREGROUND");

	return s && !strcmp(s, "1");
}

int wg_env_tun(char name[IFNAMSIZ], int *fd, bool *vnet_hdr)
{
	struct ifreq ifr;
	int f = env_fd("WG_TUN_FD");

	if (f < 0)
		return f == -ENOENT ? 0 : f;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(f, TUNGETIFF, &ifr) < 0) {
		fprintf(stderr, "culvert wg: WG_TUN_FD=%d is not an attached tun device (%s)\n", f, strerror(errno));
		return -EBADF;
	}
	if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TUN || !(ifr.ifr_flags & IFF_NO_PI)) {
		fprintf(stderr, "culvert wg: WG_TUN_FD=%d is %s; open it with IFF_TUN | IFF_NO_PI, as for wireguard-go\n",
			f, (ifr.ifr_flags & IFF_TAP) ? "a tap device" : "a tun device with packet information");
		return -EINVAL;
	}
	fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK);
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	name[IFNAMSIZ - 1] = '\0';
	*vnet_hdr = ifr.ifr_flags & IFF_VNET_HDR;
	*fd = f;
	return 1;
}

int wg_env_uapi(void)
{
	int f = env_fd("WG_UAPI_FD"), on = 0;
	socklen_t len = sizeof(on);

	if (f < 0)
		return f;
	if (getsockopt(f, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on) {
		fprintf(stderr, "culvert wg: WG_UAPI_FD=%d is not a listening socket; pass the control socket after listen()\n", f);
		return -EBADF;
	}
	return f;
}
