/* SaveConfig (the interface's state written back to its file, as wg-quick's save_config) and
 * culvert strip (the file as wg setconf reads it, as wg-quick strip). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include "cli/up.h"
#include "lib/addr.h"
#include "lib/netlink.h"
#include "wg/key.h"
#include "wg/uapi_client.h"

static int print_addr(int family, const uint8_t addr[16], unsigned int prefixlen, void *arg)
{
	char text[ADDR_STRLEN];

	fprintf(arg, "Address = %s\n", addr_cidr_str(family, addr, prefixlen, text, sizeof(text)));
	return 0;
}

/* DNS servers resolvconf holds for us (wg-quick keeps the servers only, not the domains). */
static void print_dns(FILE *f, const char *name)
{
	char ifname[128], *out = NULL;

	up_dns_ifname(ifname, sizeof(ifname), name);
	char *argv[] = { "resolvconf", "-l", ifname, NULL };

	if (up_run(argv, NULL, &out) < 0 || !out)
		return;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		const char *v = line + strlen("nameserver ");

		if (strncmp(line, "nameserver ", strlen("nameserver ")) || !*v ||
		    v[strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_=+:%.-")])
			continue;
		fprintf(f, "DNS = %s\n", v);
	}
	free(out);
}

static void print_hooks(FILE *f, const char *key, char **h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s = %s\n", key, h[i]);
}

/* The preshared key is not readable over the control socket: the file's, for the same peer. */
static const uint8_t *file_psk(const struct config *c, const uint8_t pub[32])
{
	for (size_t i = 0; i < c->n_peers; i++)
		if (!memcmp(c->peers[i].public_key, pub, 32) && c->peers[i].has_preshared_key)
			return c->peers[i].preshared_key;
	return NULL;
}

/* [Interface] with the wg-quick keys, then what `wg showconf` prints after its header. */
static void write_config(FILE *f, const char *name, const struct config *c, const struct uapi_device_state *d)
{
	char b64[KEY_B64_LEN + 1], ip[ADDR_STRLEN];
	int mtu;

	fprintf(f, "[Interface]\n");
	nl_addr_walk(name, AF_INET, print_addr, f);
	nl_addr_walk(name, AF_INET6, print_addr, f);
	print_dns(f, name);
	if (c->has_mtu && (mtu = nl_link_get_mtu(name)) > 0)
		fprintf(f, "MTU = %d\n", mtu);
	if (c->table)
		fprintf(f, "Table = %s\n", c->table);
	if (c->save_config)
		fprintf(f, "SaveConfig = true\n");
	if (c->tap)
		fprintf(f, "Mode = tap\n");
	print_hooks(f, "PreUp", c->pre_up, c->n_pre_up);
	print_hooks(f, "PostUp", c->post_up, c->n_post_up);
	print_hooks(f, "PreDown", c->pre_down, c->n_pre_down);
	print_hooks(f, "PostDown", c->post_down, c->n_post_down);
	if (d->listen_port)
		fprintf(f, "ListenPort = %u\n", d->listen_port);
	if (d->fwmark)
		fprintf(f, "FwMark = 0x%x\n", d->fwmark);
	if (d->has_private_key) {
		key_to_base64(b64, d->private_key);
		fprintf(f, "PrivateKey = %s\n", b64);
	}
	for (size_t i = 0; i < d->n_peers; i++) {
		const struct uapi_peer_state *p = &d->peers[i];
		const uint8_t *psk = p->has_preshared_key ? file_psk(c, p->public_key) : NULL;

		key_to_base64(b64, p->public_key);
		fprintf(f, "\n[Peer]\nPublicKey = %s\n", b64);
		if (psk) {
			key_to_base64(b64, psk);
			fprintf(f, "PresharedKey = %s\n", b64);
		}
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			fprintf(f, "%s%s", j ? ", " : "AllowedIPs = ", addr_cidr_str(p->allowed_ips[j].family,
				p->allowed_ips[j].addr, p->allowed_ips[j].cidr, ip, sizeof(ip)));
		}
		if (p->n_allowed_ips)
			fprintf(f, "\n");
		if (p->endpoint[0])
			fprintf(f, "Endpoint = %s\n", p->endpoint);
		if (p->persistent_keepalive)
			fprintf(f, "PersistentKeepalive = %u\n", p->persistent_keepalive);
	}
	explicit_bzero(b64, sizeof(b64));
}

int up_save(const char *path, const char *name, const struct config *c)
{
	char tmp[4200];
	struct uapi_device_state d;
	FILE *f;
	int fd, r = uapi_client_get(NULL, name, &d, UP_TIMEOUT_MS);

	if (r < 0) {
		fprintf(stderr, "culvert down: %s: SaveConfig: cannot read the interface's state: %s; %s was left as it was\n",
			name, strerror(-r), path);
		return r;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		r = -errno;
		if (fd >= 0)
			close(fd);
	} else {
		write_config(f, name, c, &d);
		if (fflush(f) || fsync(fileno(f)))
			r = -errno;
		if (fclose(f) && !r)
			r = -errno;
		if (!r && rename(tmp, path) < 0)
			r = -errno;
		if (r)
			unlink(tmp);
	}
	explicit_bzero(d.private_key, sizeof(d.private_key));
	uapi_device_state_free(&d);
	if (r < 0)
		fprintf(stderr, "culvert down: %s: SaveConfig: cannot write %s: %s\n", name, path, strerror(-r));
	return r;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int up_strip(const char *path, const char *name)
{
	static const char *const quick[] = { "Address", "MTU", "DNS", "Table", "PreUp", "PreDown",
					     "PostUp", "PostDown", "SaveConfig", "Mode" };
	FILE *f = fopen(path, "re");
	char *line = NULL, key[64];
	size_t cap = 0;
	bool iface = false;

	if (!f) {
		fprintf(stderr, "culvert strip: cannot read %s: %s\n", path, strerror(errno));
		return -errno;
	}
	(void)name;
	while (getline(&line, &cap, f) >= 0) {
		char *l = trim(line), *k;
		size_t kl = strcspn(l, "#=");
		bool drop = false;

		/* The key is what comes before '=' in the part before '#', trimmed. */
		snprintf(key, sizeof(key), "%.*s", (int)(kl < sizeof(key) ? kl : sizeof(key) - 1), l);
		k = trim(key);
		if (k[0] == '[')
			iface = !strcasecmp(k, "[Interface]");
		for (size_t i = 0; iface && i < sizeof(quick) / sizeof(quick[0]) && !drop; i++)
			drop = !strcasecmp(k, quick[i]);
		if (!drop)
			printf("%s\n", l);
	}
	/* wg-quick's `echo "$WG_CONFIG"` ends with one more newline. */
	printf("\n");
	free(line);
	fclose(f);
	return 0;
}
