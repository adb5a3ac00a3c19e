/* Client side of the `wg` control protocol (wg/uapi.h is the server side): what `culvert up`,
 * `culvert down` and `culvert show` use to talk to a running `culvert wg` (or wireguard-go).
 *
 * culvert's extension of the get=1 response, asked for with the request "get=culvert" (plain
 * get=1 is answered exactly as wireguard-go does). The daemon then adds lines whose key starts
 * with "culvert_"; `wg` ignores unknown keys in a get response, but other clients may not,
 * hence the separate request. A client collects every culvert_* line (in order, as key and value text)
 * and ignores any other key it does not know. Defined so far:
 *
 *   culvert_drop_REASON=N   packets dropped for REASON since start, N decimal (uint64);
 *                           REASON is [a-z0-9_]+, the daemon's counter name, e.g.
 *                           culvert_drop_unallowed_src=3, culvert_drop_bad_mac=0.
 *   culvert_offload=TEXT    one active offload per line, free text without newline,
 *                           e.g. culvert_offload=tun_vnet_hdr, culvert_offload=udp_gso.
 *
 * Device-level lines come after the standard device keys (private_key, listen_port, fwmark)
 * and before the first public_key= line. A culvert_* line after a public_key= line belongs to
 * that peer (same forms, per peer counters); `culvert show` prints those under the peer.
 * Values must be one line and at most UAPI_LINE_MAX bytes; nothing else is reserved. */
#ifndef CULVERT_UAPI_CLIENT_H
#define CULVERT_UAPI_CLIENT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg/config.h"
#include "wg/uapi.h"

/* One culvert_* line: key without the "culvert_" prefix (e.g. "drop_unallowed_src"). */
struct uapi_ext {
	char *key;
	char *value;
};

struct uapi_peer_state {
	uint8_t public_key[32];
	bool has_preshared_key;		/* a non-zero preshared key is set */
	char endpoint[64];		/* "ADDR:PORT" or "[V6]:PORT" as sent; "" if none */
	uint64_t last_handshake_sec, last_handshake_nsec;
	uint64_t rx_bytes, tx_bytes;
	uint16_t persistent_keepalive;	/* seconds, 0 = off */
	struct config_cidr *allowed_ips;
	size_t n_allowed_ips;
	struct uapi_ext *ext;
	size_t n_ext;
};

struct uapi_device_state {
	bool has_private_key;
	uint8_t private_key[32];
	uint16_t listen_port;
	uint32_t fwmark;
	struct uapi_ext *ext;
	size_t n_ext;
	struct uapi_peer_state *peers;
	size_t n_peers;
};

/* Connects to DIR/IFACE.sock (dir NULL: UAPI_SOCKET_DIR). A blocking fd or -errno. */
int uapi_client_connect(const char *dir, const char *iface);

/* Parses a complete get=1 response (up to and including "errno=N"). Returns 0, -N when the
 * daemon answered errno=N with N != 0, -EPROTO for a malformed response (a line without '=',
 * a bad number or key, a missing errno line), -ENOMEM. On failure *d is left empty; on success
 * free it with uapi_device_state_free(). */
int uapi_client_parse_get(struct uapi_device_state *d, const char *text, size_t len);
/* Sends get=1 to IFACE and parses the answer as above. Waits at most timeout_ms for it. */
int uapi_client_get(const char *dir, const char *iface, struct uapi_device_state *d, int timeout_ms);
/* The same with "get=culvert" (drop counters, offloads); falls back to get=1 when the daemon
 * does not know it (wireguard-go closes the connection). */
int uapi_client_get_ext(const char *dir, const char *iface, struct uapi_device_state *d, int timeout_ms);
void uapi_device_state_free(struct uapi_device_state *d);

/* Value of the collected culvert_KEY line (key without prefix), or NULL. */
const char *uapi_ext_get(const struct uapi_ext *ext, size_t n, const char *key);

/* Appends a set=1 request for c to out: private key, listen port, fwmark, replace_peers=true
 * when replace_peers, then for each peer its preshared key, endpoint, persistent keepalive,
 * replace_allowed_ips=true and allowed_ip lines; ends with the blank line. Endpoints are
 * resolved with getaddrinfo (names allowed). Returns 0, or -EINVAL / -ENOMEM with one sentence
 * in err (an unresolvable endpoint names the host and the peer's config line). */
int uapi_client_build_set(struct uapi_buf *out, const struct config *c, bool replace_peers,
			  char *err, size_t errlen);
/* Sends a request (e.g. from uapi_client_build_set) and reads "errno=N". Returns 0, -N from
 * the daemon, or -errno for the connection (-ETIMEDOUT after timeout_ms). */
int uapi_client_set(const char *dir, const char *iface, const char *req, size_t len, int timeout_ms);

/* Interface names served in dir (NULL: UAPI_SOCKET_DIR): every DIR/NAME.sock that is a socket,
 * sorted. *names is a NULL-terminated array freed with uapi_client_free_list(); no directory
 * means an empty list. Returns the count or -errno. */
int uapi_client_list(const char *dir, char ***names);
void uapi_client_free_list(char **names);

#endif
