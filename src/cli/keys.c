/* culvert genkey / pubkey / genpsk: key text exactly as wg(8) prints and reads it. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "wg/crypto.h"
#include "wg/key.h"

static int usage(FILE *f, const char *name, const char *what)
{
	if (f != stdout) {
		fprintf(f, "culvert %s: takes no arguments%s; run 'culvert %s --help'\n", name,
			strcmp(name, "pubkey") ? "" : " (the private key comes on stdin)", name);
		return CLI_EXIT_USAGE;
	}
	fprintf(f, "Usage: culvert %s\n%s\nSee culvert-genkey(8).\n", name, what);
	return CLI_EXIT_OK;
}

/* wg warns the same way: a secret redirected into a file that others can read. */
static void warn_if_exposed(const char *name)
{
	struct stat st;

	if (!fstat(STDOUT_FILENO, &st) && S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO)))
		fprintf(stderr, "culvert %s: warning: writing a secret key to a file other users can read; "
			"run 'umask 077' first (or chmod 600 the file)\n", name);
}

static int print_key(const char *name, uint8_t key[KEY_LEN])
{
	char b64[KEY_B64_LEN + 1];
	int ok;

	key_to_base64(b64, key);
	ok = printf("%s\n", b64) > 0 && fflush(stdout) == 0;
	key_wipe(b64, sizeof(b64));
	key_wipe(key, KEY_LEN);
	if (!ok) {
		fprintf(stderr, "culvert %s: cannot write to stdout\n", name);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static const char genkey_help[] =
	"Print a new random Curve25519 private key (clamped), base64, like `wg genkey`.\n"
	"Write it with a umask of 077: umask 077; culvert genkey > private.key";
static const char genpsk_help[] =
	"Print a new random 32-byte preshared key, base64, like `wg genpsk`.";
static const char pubkey_help[] =
	"Read a base64 private key on stdin and print its public key, like `wg pubkey`:\n"
	"culvert genkey | tee private.key | culvert pubkey > public.key";

int cmd_genkey(int argc, char **argv)
{
	uint8_t key[KEY_LEN];

	if (cli_wants_help(argc, argv))
		return usage(stdout, "genkey", genkey_help);
	if (argc > 1)
		return usage(stderr, "genkey", genkey_help);
	warn_if_exposed("genkey");
	crypto_x25519_keygen(key);
	return print_key("genkey", key);
}

int cmd_genpsk(int argc, char **argv)
{
	uint8_t key[KEY_LEN];

	if (cli_wants_help(argc, argv))
		return usage(stdout, "genpsk", genpsk_help);
	if (argc > 1)
		return usage(stderr, "genpsk", genpsk_help);
	warn_if_exposed("genpsk");
	crypto_random(key, sizeof(key));
	return print_key("genpsk", key);
}

int cmd_pubkey(int argc, char **argv)
{
	char in[256], *s, *e;
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	size_t n;
	bool ok;

	if (cli_wants_help(argc, argv))
		return usage(stdout, "pubkey", pubkey_help);
	if (argc > 1)
		return usage(stderr, "pubkey", pubkey_help);
	/* Unbuffered, so no copy of the private key stays in stdio's buffer. */
	setvbuf(stdin, NULL, _IONBF, 0);
	n = fread(in, 1, sizeof(in) - 1, stdin);
	if (ferror(stdin)) {
		fprintf(stderr, "culvert pubkey: cannot read stdin\n");
		return CLI_EXIT_FAIL;
	}
	in[n] = '\0';
	for (s = in; isspace((unsigned char)*s); s++)
		;
	for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	if (!*s) {
		fprintf(stderr, "culvert pubkey: no key on stdin; pipe a private key in, e.g. culvert genkey | culvert pubkey\n");
		return CLI_EXIT_FAIL;
	}
	if (n == sizeof(in) - 1 || strlen(s) != KEY_B64_LEN) {
		fprintf(stderr, "culvert pubkey: stdin holds %zu%s characters, not one private key "
			"(44 base64 characters ending in '=', as culvert genkey prints)\n",
			strlen(s), n == sizeof(in) - 1 ? " or more" : "");
		key_wipe(in, sizeof(in));
		return CLI_EXIT_FAIL;
	}
	ok = key_from_base64(priv, s);
	key_wipe(in, sizeof(in));
	if (!ok) {
		fprintf(stderr, "culvert pubkey: stdin is not a base64 private key (a character is outside "
			"A-Z a-z 0-9 + / or the last one is not '=')\n");
		return CLI_EXIT_FAIL;
	}
	ok = crypto_x25519_pub(pub, priv);
	key_wipe(priv, sizeof(priv));
	if (!ok) {
		fprintf(stderr, "culvert pubkey: that private key gives no usable public key\n");
		return CLI_EXIT_FAIL;
	}
	return print_key("pubkey", pub);
}
