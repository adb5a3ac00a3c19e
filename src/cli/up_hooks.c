/* PreUp/PostUp/PreDown/PostDown and DNS, as wg-quick(8) runs them. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/up.h"

/* hook with every %i replaced by name (wg-quick: ${hook//%i/$INTERFACE}). */
static char *expand(const char *hook, const char *name)
{
	size_t n = 0, nl = strlen(name), len = strlen(hook);
	char *out, *p;

	for (const char *s = hook; (s = strstr(s, "%i")); s += 2)
		n++;
	out = malloc(len + n * nl + 1);
	if (!out)
		return NULL;
	for (p = out; *hook;) {
		if (hook[0] == '%' && hook[1] == 'i') {
			memcpy(p, name, nl);
			p += nl;
			hook += 2;
		} else {
			*p++ = *hook++;
		}
	}
	*p = '\0';
	return out;
}

int up_hooks(char **hooks, size_t n, const char *name, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		char *cmd = expand(hooks[i], name);
		int r;

		if (!cmd)
			return -ENOMEM;
		/* wg-quick evals the hook in a subshell of its own bash, which runs with
		 * set -e -o pipefail and LC_ALL=C: the same here. */
		char *argv[] = { "bash", "-e", "-o", "pipefail", "-c", cmd, NULL };

		fprintf(stderr, "[#] %s\n", cmd);
		setenv("LC_ALL", "C", 1);
		r = up_run(argv, NULL, NULL);
		if (r != 0) {
			fprintf(stderr, "culvert: %s: %s = %s %s; fix the command or remove it from the config\n",
				name, what, cmd, r == -ENOENT ? "could not run (no bash on PATH)" : "failed");
			free(cmd);
			return r < 0 ? r : -ECANCELED;
		}
		free(cmd);
	}
	return 0;
}

/* wg-quick's rule: an entry of digits and dots, or with a ':', is a server; else a domain. */
static bool is_server(const char *s)
{
	if (strchr(s, ':'))
		return true;
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && *s != '.')
			return false;
	return true;
}

static bool has_server(const struct config *c)
{
	for (size_t i = 0; i < c->n_dns; i++)
		if (is_server(c->dns[i]))
			return true;
	return false;
}

/* resolvconf's interface-order may ask for a prefix ("tun*" lines): its first such line wins. */
void up_dns_ifname(char *out, size_t len, const char *name)
{
	FILE *f = fopen("/etc/resolvconf/interface-order", "re");
	char line[256], prefix[64] = "";

	while (f && fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\n");
		bool ok = n >= 2 && n < sizeof(prefix) && line[n - 1] == '*';

		for (size_t i = 0; ok && i + 1 < n; i++)
			ok = isalnum((unsigned char)line[i]) || line[i] == '-';
		if (ok) {
			memcpy(prefix, line, n - 1);
			prefix[n - 1] = '.';
			prefix[n] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	snprintf(out, len, "%s%s", prefix, name);
}

int up_dns_set(const struct config *c, const char *name)
{
	char ifname[128], *text;
	size_t cap = 64, len = 0;
	int r;

	if (!has_server(c))
		return 0;
	for (size_t i = 0; i < c->n_dns; i++)
		cap += strlen(c->dns[i]) + 16;
	text = malloc(cap);
	if (!text)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_dns; i++)
		if (is_server(c->dns[i]))
			len += (size_t)snprintf(text + len, cap - len, "nameserver %s\n", c->dns[i]);
	for (size_t i = 0, first = 1; i < c->n_dns; i++)
		if (!is_server(c->dns[i])) {
			len += (size_t)snprintf(text + len, cap - len, "%s%s", first ? "search " : " ", c->dns[i]);
			first = 0;
		}
	if (len && text[len - 1] != '\n')
		snprintf(text + len, cap - len, "\n");
	up_dns_ifname(ifname, sizeof(ifname), name);
	char *argv[] = { "resolvconf", "-a", ifname, "-m", "0", "-x", NULL };

	r = up_run(argv, text, NULL);
	free(text);
	if (r != 0) {
		fprintf(stderr, "culvert up: %s: resolvconf -a %s %s; install resolvconf (or openresolv) or remove DNS from the config\n",
			name, ifname, r == -ENOENT ? "could not be run" : "failed");
		return r < 0 ? r : -EIO;
	}
	return 0;
}

int up_dns_unset(const struct config *c, const char *name)
{
	char ifname[128];
	int r;

	if (!has_server(c))
		return 0;
	up_dns_ifname(ifname, sizeof(ifname), name);
	char *argv[] = { "resolvconf", "-d", ifname, "-f", NULL };

	r = up_run(argv, NULL, NULL);
	if (r != 0) {
		fprintf(stderr, "culvert down: %s: resolvconf -d %s %s; remove its DNS servers by hand\n",
			name, ifname, r == -ENOENT ? "could not be run" : "failed");
		return r < 0 ? r : -EIO;
	}
	return 0;
}
