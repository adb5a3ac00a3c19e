/* culvert syncconf: the keys and peers of a wg-quick file applied to a running interface as
 * `wg syncconf IFACE <(wg-quick strip FILE)` applies them: peers that stay keep their sessions,
 * peers gone from the file are removed, nothing else (addresses, routes, DNS) changes. The
 * daemon runs this on SIGHUP when `culvert up` started it (culvert wg --config FILE). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>

#include "cli/cli_util.h"
#include "cli/up.h"
#include "lib/log.h"
#include "wg/key.h"
#include "wg/uapi_client.h"

static bool in_file(const struct config *c, const uint8_t pub[32])
{
	for (size_t i = 0; i < c->n_peers; i++)
		if (!memcmp(c->peers[i].public_key, pub, 32))
			return true;
	return false;
}

int up_sync(const char *name, const struct config *c)
{
	struct uapi_device_state d;
	struct uapi_buf req = { 0 };
	char err[512], hex[KEY_HEX_LEN + 1];
	int r = uapi_client_get(NULL, name, &d, UP_TIMEOUT_MS);

	if (r < 0) {
		fprintf(stderr, "culvert syncconf: %s: cannot read the interface's peers: %s; is it up (culvert up)?\n",
			name, strerror(-r));
		return r;
	}
	r = uapi_client_build_set(&req, c, false, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "culvert syncconf: %s: %s\n", name, err);
		goto out;
	}
	req.len--;	/* the blank line that ends the request comes after the removals */
	for (size_t i = 0; i < d.n_peers; i++) {
		if (in_file(c, d.peers[i].public_key))
			continue;
		key_to_hex(hex, d.peers[i].public_key);
		uapi_buf_printf(&req, "public_key=%s\nremove=true\n", hex);
	}
	uapi_buf_printf(&req, "\n");
	r = req.oom ? -ENOMEM : uapi_client_set(NULL, name, req.data, req.len, UP_TIMEOUT_MS);
	if (r < 0)
		fprintf(stderr, "culvert syncconf: %s: the daemon refused the configuration: %s\n", name, strerror(-r));
out:
	uapi_buf_free(&req);
	uapi_device_state_free(&d);
	return r;
}

/* Runs `culvert syncconf PATH` detached, so the daemon never waits for it; its messages go
 * where the daemon's stderr goes. */
void up_sync_spawn(void *path)
{
	char *argv[] = { "culvert", "syncconf", path, NULL };
	int r = cli_spawn_self(argv, false);

	if (r < 0)
		log_warn("cannot fork to re-read %s: %s", (const char *)path, strerror(-r));
}

void up_sync_to_parent(void *unused)
{
	(void)unused;
	/* A user may not signal root's process, so this mostly says where SIGHUP should go. */
	if (kill(getppid(), SIGHUP) < 0)
		log_warn("SIGHUP reloads through the root monitor: send it to pid %d", (int)getppid());
}
