/* Configuration files: wg-quick(8)'s INI format and the narrower `wg setconf` format.
 *
 * [Interface]  PrivateKey ListenPort FwMark                       (both formats)
 *              Address DNS MTU Table PreUp PostUp PreDown PostDown SaveConfig   (wg-quick only)
 *              Mode                              (culvert up only: tun or tap, culvert wg --mode)
 * [Peer]       PublicKey PresharedKey AllowedIPs Endpoint PersistentKeepalive  (both)
 *
 * Keys and section names are case-insensitive; '#' starts a comment anywhere on a line;
 * whitespace around keys, values and list items is ignored. Address, DNS, AllowedIPs and the
 * four hooks may repeat and accumulate, as in wg-quick; every other key may appear once per
 * section. Unknown sections and keys, repeats of single keys, bad values, a [Peer] without
 * PublicKey and two peers with the same PublicKey are errors, reported once as
 * "NAME:LINE: what is wrong" with the offending token quoted.
 *
 * This module only parses. The hooks (PreUp...) and SaveConfig are kept verbatim for the
 * caller; nothing here runs a command or resolves a host name (Endpoint stays text). */
#ifndef CULVERT_CONFIG_H
#define CULVERT_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum config_format {
	CONFIG_WG_QUICK,	/* wg-quick(8) files, e.g. /etc/wireguard/wg0.conf */
	CONFIG_WG_SETCONF,	/* `wg setconf` / `wg showconf`: wg-quick keys are unknown */
};

/* An IP prefix or interface address: 4 or 16 bytes in network order, host bits as written. */
struct config_cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t cidr;
};

struct config_peer {
	uint8_t public_key[32];
	bool has_preshared_key;
	uint8_t preshared_key[32];
	struct config_cidr *allowed_ips;
	size_t n_allowed_ips;
	bool has_endpoint;
	char *endpoint_host;	/* as written, without brackets: an address or a name to resolve */
	uint16_t endpoint_port;
	bool has_persistent_keepalive;
	uint16_t persistent_keepalive;	/* seconds; 0 = off */
	unsigned int line;	/* of its [Peer] header, for later messages */
};

struct config {
	enum config_format format;
	bool has_private_key;
	uint8_t private_key[32];
	bool has_listen_port;
	uint16_t listen_port;
	bool has_fwmark;
	uint32_t fwmark;	/* 0 = off */

	/* wg-quick only */
	struct config_cidr *addresses;
	size_t n_addresses;
	char **dns;		/* servers (IP literals) and search domains, in order */
	size_t n_dns;
	bool has_mtu;
	uint32_t mtu;
	char *table;		/* "off", "auto", a number or a table name; NULL = not given */
	char **pre_up, **post_up, **pre_down, **post_down;
	size_t n_pre_up, n_post_up, n_pre_down, n_post_down;
	bool has_save_config;
	bool save_config;
	bool tap;		/* Mode = tap */

	struct config_peer *peers;
	size_t n_peers;
};

/* Parses text (len bytes, need not be NUL-terminated; NUL bytes are an error). name is used
 * in messages (usually the file name). On failure returns false, writes one line to err and
 * leaves *c empty. On success the caller frees with config_free(). */
bool config_parse(struct config *c, const char *text, size_t len, const char *name,
		  enum config_format fmt, char *err, size_t errlen);

/* Reads and parses path (at most 1 MiB). Returns 0, -errno for I/O (err says which file), or
 * -EINVAL for a parse error (err has the "NAME:LINE:" message). Does not check permissions. */
int config_load(struct config *c, const char *path, enum config_format fmt, char *err, size_t errlen);

/* Wipes the keys and frees everything; *c is left empty. */
void config_free(struct config *c);

/* Refuses a file holding secrets that group or others may read: returns -EACCES with a message
 * naming the file and the fix (chmod 600), or -errno if it cannot be examined. */
int config_check_private_file(const char *path, char *err, size_t errlen);

/* Value parsers shared with the uapi. Each parses the whole string [s, s+len). */
/* "ADDR/CIDR" or, when allow_bare, a lone ADDR meaning /32 or /128. */
bool config_parse_cidr(struct config_cidr *out, const char *s, size_t len, bool allow_bare);
/* "host:port" or "[v6]:port"; host copied to host (hostlen bytes incl. NUL), no brackets.
 * An IPv6 literal must be bracketed. */
bool config_parse_endpoint(const char *s, size_t len, char *host, size_t hostlen, uint16_t *port);
/* Decimal digits only, no sign or space, value <= max. */
bool config_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out);

#endif
