/* wg-quick / wg setconf configuration parser. Works on a private copy of the text, line by
 * line, cutting it in place; every failure becomes one "NAME:LINE: ..." message. */
#include "config.h"
#include "key.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct parser {
	struct config *c;
	const char *name;
	unsigned int line;
	char *err;
	size_t errlen;
	enum { SEC_NONE, SEC_INTERFACE, SEC_PEER } section;
	bool seen_interface;
	uint32_t seen;		/* single-valued keys seen in this section, by key index */
};

static bool fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->errlen)
		return false;
	n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, p->line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* Tokens are echoed in messages; bound them so a huge line gives a readable message. */
#define TOK(s) (int)(strlen(s) > 64 ? 64 : strlen(s)), (s)

static char *trim(char *s)
{
	char *e;

	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Grows *arr (of elements of size sz) so index *n is valid; doubles at powers of two. */
static void *push(void *arr_p, size_t *n, size_t sz)
{
	void **arr = arr_p;
	size_t cnt = *n;

	if (cnt == 0 || (cnt >= 4 && !(cnt & (cnt - 1)))) {
		size_t cap = cnt ? cnt * 2 : 4;
		void *na;

		if (cap > SIZE_MAX / sz)
			return NULL;
		/* Not realloc: peers hold preshared keys, so the old block is wiped before it goes. */
		na = malloc(cap * sz);
		if (!na)
			return NULL;
		if (*arr) {
			memcpy(na, *arr, cnt * sz);
			key_wipe(*arr, cnt * sz);
			free(*arr);
		}
		*arr = na;
	}
	memset((char *)*arr + cnt * sz, 0, sz);
	(*n)++;
	return (char *)*arr + cnt * sz;
}

/* ---- keys ---- */

enum key_id {
	K_PRIVATE_KEY, K_LISTEN_PORT, K_FWMARK, K_ADDRESS, K_DNS, K_MTU, K_TABLE,
	K_PRE_UP, K_POST_UP, K_PRE_DOWN, K_POST_DOWN, K_SAVE_CONFIG, K_MODE,
	K_PUBLIC_KEY, K_PRESHARED_KEY, K_ALLOWED_IPS, K_ENDPOINT, K_PERSISTENT_KEEPALIVE,
};

static const struct key_def {
	const char *name;
	bool peer;		/* section: [Peer] or [Interface] */
	bool quick_only;	/* wg-quick extension, unknown to `wg setconf` */
	bool repeat;		/* may appear more than once (lists accumulate) */
} keys[] = {
	[K_PRIVATE_KEY]		= { "PrivateKey", false, false, false },
	[K_LISTEN_PORT]		= { "ListenPort", false, false, false },
	[K_FWMARK]		= { "FwMark", false, false, false },
	[K_ADDRESS]		= { "Address", false, true, true },
	[K_DNS]			= { "DNS", false, true, true },
	[K_MTU]			= { "MTU", false, true, false },
	[K_TABLE]		= { "Table", false, true, false },
	[K_PRE_UP]		= { "PreUp", false, true, true },
	[K_POST_UP]		= { "PostUp", false, true, true },
	[K_PRE_DOWN]		= { "PreDown", false, true, true },
	[K_POST_DOWN]		= { "PostDown", false, true, true },
	[K_SAVE_CONFIG]		= { "SaveConfig", false, true, false },
	[K_MODE]		= { "Mode", false, true, false },	/* culvert's own */
	[K_PUBLIC_KEY]		= { "PublicKey", true, false, false },
	[K_PRESHARED_KEY]	= { "PresharedKey", true, false, false },
	[K_ALLOWED_IPS]		= { "AllowedIPs", true, false, true },
	[K_ENDPOINT]		= { "Endpoint", true, false, false },
	[K_PERSISTENT_KEEPALIVE] = { "PersistentKeepalive", true, false, false },
};

static struct config_peer *cur_peer(struct parser *p)
{
	return &p->c->peers[p->c->n_peers - 1];
}

/* Splits a comma-separated list, calling item() on each trimmed, non-empty element. */
static bool each_item(struct parser *p, const char *key, char *v, bool allow_empty_list,
		      bool (*item)(struct parser *p, const char *key, char *tok))
{
	char *save = NULL, *tok;

	if (!*v)
		return allow_empty_list ? true : fail(p, "%s needs a value", key);
	if (*v == ',' || v[strlen(v) - 1] == ',' || strstr(v, ",,"))
		return fail(p, "empty item in %s list '%.*s'", key, TOK(v));
	for (tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		tok = trim(tok);
		if (!*tok)
			return fail(p, "empty item in %s list", key);
		if (!item(p, key, tok))
			return false;
	}
	return true;
}

static bool item_address(struct parser *p, const char *key, char *tok)
{
	struct config_cidr a, *slot;

	if (!config_parse_cidr(&a, tok, strlen(tok), true))
		return fail(p, "invalid address '%.*s' in %s (want ADDR/PREFIX)", TOK(tok), key);
	slot = push(&p->c->addresses, &p->c->n_addresses, sizeof(*slot));
	if (!slot)
		return fail(p, "out of memory");
	*slot = a;
	return true;
}

static bool item_allowed_ip(struct parser *p, const char *key, char *tok)
{
	struct config_peer *peer = cur_peer(p);
	struct config_cidr a, *slot;

	if (!config_parse_cidr(&a, tok, strlen(tok), true))
		return fail(p, "invalid prefix '%.*s' in %s (want ADDR/PREFIX)", TOK(tok), key);
	slot = push(&peer->allowed_ips, &peer->n_allowed_ips, sizeof(*slot));
	if (!slot)
		return fail(p, "out of memory");
	*slot = a;
	return true;
}

static bool push_string(struct parser *p, char ***arr, size_t *n, const char *s)
{
	char **slot = push(arr, n, sizeof(*slot));

	if (!slot || !(*slot = strdup(s))) {
		if (slot)
			(*n)--;
		return fail(p, "out of memory");
	}
	return true;
}

static bool item_dns(struct parser *p, const char *key, char *tok)
{
	for (const char *q = tok; *q; q++)
		if (isspace((unsigned char)*q))
			return fail(p, "invalid %s entry '%.*s'", key, TOK(tok));
	return push_string(p, &p->c->dns, &p->c->n_dns, tok);
}

static bool parse_key_b64(struct parser *p, uint8_t out[32], const char *key, const char *v, bool secret)
{
	if (key_from_base64(out, v))
		return true;
	if (secret)	/* never echo a secret, even a malformed one */
		return fail(p, "%s is not a valid key (want 44 base64 characters ending in '=', as `culvert genkey` prints)", key);
	return fail(p, "%s '%.*s' is not a valid key (want 44 base64 characters ending in '=')", key, TOK(v));
}

static bool parse_off_or_uint(const char *v, uint64_t max, bool hex_ok, uint64_t *out)
{
	if (!strcasecmp(v, "off")) {
		*out = 0;
		return true;
	}
	if (hex_ok && (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))) {
		char *end;
		unsigned long long x;

		if (!isxdigit((unsigned char)v[2]) || strlen(v) > 10)
			return false;
		errno = 0;
		x = strtoull(v + 2, &end, 16);
		if (errno || *end || x > max)
			return false;
		*out = x;
		return true;
	}
	return config_parse_uint(v, strlen(v), max, out);
}

static bool set_value(struct parser *p, enum key_id id, char *v)
{
	struct config *c = p->c;
	const char *key = keys[id].name;
	uint64_t n;

	switch (id) {
	case K_PRIVATE_KEY:
		c->has_private_key = true;
		return parse_key_b64(p, c->private_key, key, v, true);
	case K_LISTEN_PORT:
		if (!config_parse_uint(v, strlen(v), 65535, &n))
			return fail(p, "invalid ListenPort '%.*s' (want 0-65535)", TOK(v));
		c->has_listen_port = true;
		c->listen_port = (uint16_t)n;
		return true;
	case K_FWMARK:
		if (!parse_off_or_uint(v, UINT32_MAX, true, &n))
			return fail(p, "invalid FwMark '%.*s' (want a number, 0x hex, or off)", TOK(v));
		c->has_fwmark = true;
		c->fwmark = (uint32_t)n;
		return true;
	case K_ADDRESS:
		return each_item(p, key, v, false, item_address);
	case K_DNS:
		return each_item(p, key, v, false, item_dns);
	case K_MTU:
		if (!config_parse_uint(v, strlen(v), 65535, &n) || n < 68)
			return fail(p, "invalid MTU '%.*s' (want 68-65535)", TOK(v));
		c->has_mtu = true;
		c->mtu = (uint32_t)n;
		return true;
	case K_TABLE:
		for (const char *q = v; *q; q++)
			if (isspace((unsigned char)*q))
				return fail(p, "invalid Table '%.*s' (want off, auto, or a table)", TOK(v));
		if (!(c->table = strdup(v)))
			return fail(p, "out of memory");
		return true;
	case K_PRE_UP:
		return push_string(p, &c->pre_up, &c->n_pre_up, v);
	case K_POST_UP:
		return push_string(p, &c->post_up, &c->n_post_up, v);
	case K_PRE_DOWN:
		return push_string(p, &c->pre_down, &c->n_pre_down, v);
	case K_POST_DOWN:
		return push_string(p, &c->post_down, &c->n_post_down, v);
	case K_SAVE_CONFIG:
		if (strcasecmp(v, "true") && strcasecmp(v, "false"))
			return fail(p, "invalid SaveConfig '%.*s' (want true or false)", TOK(v));
		c->has_save_config = true;
		c->save_config = !strcasecmp(v, "true");
		return true;
	case K_MODE:
		if (strcasecmp(v, "tun") && strcasecmp(v, "tap"))
			return fail(p, "invalid Mode '%.*s' (want tun or tap)", TOK(v));
		c->tap = !strcasecmp(v, "tap");
		return true;
	case K_PUBLIC_KEY:
		return parse_key_b64(p, cur_peer(p)->public_key, key, v, false);
	case K_PRESHARED_KEY:
		cur_peer(p)->has_preshared_key = true;
		return parse_key_b64(p, cur_peer(p)->preshared_key, key, v, true);
	case K_ALLOWED_IPS:
		return each_item(p, key, v, true, item_allowed_ip);
	case K_ENDPOINT: {
		struct config_peer *peer = cur_peer(p);
		char host[256];

		if (!config_parse_endpoint(v, strlen(v), host, sizeof(host), &peer->endpoint_port))
			return fail(p, "invalid Endpoint '%.*s' (want HOST:PORT or [IPv6]:PORT)", TOK(v));
		if (!(peer->endpoint_host = strdup(host)))
			return fail(p, "out of memory");
		peer->has_endpoint = true;
		return true;
	}
	case K_PERSISTENT_KEEPALIVE:
		if (!parse_off_or_uint(v, 65535, false, &n))
			return fail(p, "invalid PersistentKeepalive '%.*s' (want 1-65535 seconds or off)", TOK(v));
		cur_peer(p)->has_persistent_keepalive = true;
		cur_peer(p)->persistent_keepalive = (uint16_t)n;
		return true;
	}
	return fail(p, "internal error");
}

static bool end_section(struct parser *p)
{
	if (p->section == SEC_PEER && !(p->seen & (1u << K_PUBLIC_KEY))) {
		p->line = cur_peer(p)->line;
		return fail(p, "[Peer] has no PublicKey");
	}
	return true;
}

static bool section_line(struct parser *p, char *s)
{
	size_t len = strlen(s);
	char *name;

	if (s[len - 1] != ']')
		return fail(p, "malformed section header '%.*s'", TOK(s));
	s[len - 1] = '\0';
	name = trim(s + 1);
	if (!end_section(p))
		return false;
	p->seen = 0;
	if (!strcasecmp(name, "Interface")) {
		if (p->seen_interface)
			return fail(p, "second [Interface] section");
		p->seen_interface = true;
		p->section = SEC_INTERFACE;
		return true;
	}
	if (!strcasecmp(name, "Peer")) {
		struct config_peer *peer = push(&p->c->peers, &p->c->n_peers, sizeof(*peer));

		if (!peer)
			return fail(p, "out of memory");
		peer->line = p->line;
		p->section = SEC_PEER;
		return true;
	}
	return fail(p, "unknown section '[%.*s]'", TOK(name));
}

/* A malformed line that starts like a secret's key ("PrivateKey: ...", "PresharedKey KEY=")
 * is most likely a secret: it is named, never echoed. */
static const char *secret_name(const char *s)
{
	if (!strncasecmp(s, "PrivateKey", 10))
		return "PrivateKey";
	if (!strncasecmp(s, "PresharedKey", 12))
		return "PresharedKey";
	return NULL;
}

static bool key_line(struct parser *p, char *s)
{
	char *eq = strchr(s, '='), *k, *v;
	const char *secret = secret_name(s);
	size_t id;

	if (!eq && secret)
		return fail(p, "expected '%s = KEY' (the line is not shown: it may hold a secret)", secret);
	if (!eq)
		return fail(p, "expected 'Key = Value', got '%.*s'", TOK(s));
	*eq = '\0';
	k = trim(s);
	v = trim(eq + 1);
	if (!*k)
		return fail(p, "missing key before '='");
	for (id = 0; id < sizeof(keys) / sizeof(keys[0]); id++)
		if (!strcasecmp(k, keys[id].name))
			break;
	if (id == sizeof(keys) / sizeof(keys[0]) && secret)
		return fail(p, "expected '%s = KEY' (the line is not shown: it may hold a secret)", secret);
	if (id == sizeof(keys) / sizeof(keys[0]))
		return fail(p, "unknown key '%.*s'", TOK(k));
	if (keys[id].quick_only && p->c->format == CONFIG_WG_SETCONF)
		return fail(p, "unknown key '%.*s' (a wg-quick key, not valid in a `wg setconf` file)", TOK(k));
	if (p->section == SEC_NONE)
		return fail(p, "key '%.*s' before any [Interface] or [Peer] section", TOK(k));
	if (keys[id].peer != (p->section == SEC_PEER))
		return fail(p, "key '%.*s' does not belong in [%s]", TOK(k),
			    p->section == SEC_PEER ? "Peer" : "Interface");
	if (!keys[id].repeat && (p->seen & (1u << id)))
		return fail(p, "duplicate key '%.*s'", TOK(k));
	p->seen |= 1u << id;
	if (!*v && id != K_ALLOWED_IPS)
		return fail(p, "key '%.*s' has no value", TOK(k));
	return set_value(p, (enum key_id)id, v);
}

static bool check_duplicate_peers(struct parser *p)
{
	struct config *c = p->c;

	/* Quadratic, but only ever over the peers of one file and cheap per pair. */
	for (size_t i = 1; i < c->n_peers; i++)
		for (size_t j = 0; j < i; j++)
			if (!memcmp(c->peers[i].public_key, c->peers[j].public_key, 32)) {
				char b64[KEY_B64_LEN + 1];

				key_to_base64(b64, c->peers[i].public_key);
				p->line = c->peers[i].line;
				return fail(p, "peer %s already defined at line %u", b64, c->peers[j].line);
			}
	return true;
}

bool config_parse(struct config *c, const char *text, size_t len, const char *name,
		  enum config_format fmt, char *err, size_t errlen)
{
	struct parser p = { .c = c, .name = name ? name : "config", .err = err, .errlen = errlen };
	char *buf, *line, *next;
	bool ok = true;

	memset(c, 0, sizeof(*c));
	c->format = fmt;
	if (err && errlen)
		err[0] = '\0';
	if (memchr(text, '\0', len)) {
		p.line = 1;
		for (const char *q = text; *q; q++)
			p.line += *q == '\n';
		return fail(&p, "NUL byte in file");
	}
	if (!(buf = malloc(len + 1)))
		return fail(&p, "out of memory");
	memcpy(buf, text, len);
	buf[len] = '\0';

	for (line = buf; ok && line; line = next) {
		char *hash, *s;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		p.line++;
		if ((hash = strchr(line, '#')))
			*hash = '\0';
		s = trim(line);
		if (!*s)
			continue;
		ok = *s == '[' ? section_line(&p, s) : key_line(&p, s);
	}
	if (ok)
		ok = end_section(&p) && check_duplicate_peers(&p);
	key_wipe(buf, len);
	free(buf);
	if (!ok)
		config_free(c);
	return ok;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_peers; i++) {
		free(c->peers[i].allowed_ips);
		free(c->peers[i].endpoint_host);
		key_wipe(c->peers[i].preshared_key, 32);
	}
	free(c->peers);
	free(c->addresses);
	free_strings(c->dns, c->n_dns);
	free_strings(c->pre_up, c->n_pre_up);
	free_strings(c->post_up, c->n_post_up);
	free_strings(c->pre_down, c->n_pre_down);
	free_strings(c->post_down, c->n_post_down);
	free(c->table);
	key_wipe(c, sizeof(*c));
}
