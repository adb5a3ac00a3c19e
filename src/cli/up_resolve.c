/* Endpoint names for culvert up and culvert syncconf: resolved once before anything is sent,
 * retrying a temporary failure as wg(8) does under WG_ENDPOINT_RESOLUTION_RETRIES, so that a
 * unit started at boot before DNS works (wg-quick@ and culvert-up@ set it to infinity) comes
 * up once it does. The daemon is then given addresses only, as the control protocol wants. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "cli/cli_util.h"
#include "cli/up.h"
#include "lib/addr.h"

/* wg(8)'s backoff: 1 s, then 1.2 times longer each time, at most 20 s. */
enum { RETRY_FIRST_MS = 1000, RETRY_MAX_MS = 20000 };

bool up_resolve_retries(int *retries)
{
	const char *s = getenv("WG_ENDPOINT_RESOLUTION_RETRIES");
	uint64_t v;

	if (!s) {
		*retries = UP_RETRIES_DEFAULT;
		return true;
	}
	if (!strcmp(s, "infinity")) {
		*retries = UP_RETRIES_FOREVER;
		return true;
	}
	if (!cli_uint(s, 0, INT_MAX, &v))
		return false;
	*retries = (int)v;
	return true;
}

bool up_endpoint_is_name(const char *host)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_DGRAM }, *res;

	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return true;
	freeaddrinfo(res);
	return false;
}

int up_resolve_once(const char *host, uint16_t port, struct sockaddr_storage *out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM }, *res;
	int r = getaddrinfo(host, NULL, &hints, &res);

	if (r != 0)
		return r;
	/* The first answer, as wg(8) takes it. */
	r = EAI_FAMILY;
	if ((res->ai_family == AF_INET && res->ai_addrlen == sizeof(struct sockaddr_in)) ||
	    (res->ai_family == AF_INET6 && res->ai_addrlen == sizeof(struct sockaddr_in6))) {
		memset(out, 0, sizeof(*out));
		memcpy(out, res->ai_addr, res->ai_addrlen);
		if (res->ai_family == AF_INET)
			((struct sockaddr_in *)out)->sin_port = htons(port);
		else
			((struct sockaddr_in6 *)out)->sin6_port = htons(port);
		r = 0;
	}
	freeaddrinfo(res);
	return r;
}

/* glibc's permanent failures (its NameResolver notes): retrying cannot help. */
static bool permanent(int eai)
{
	return eai == EAI_NONAME || eai == EAI_FAIL || eai == EAI_FAMILY
#ifdef EAI_NODATA
	       || eai == EAI_NODATA
#endif
		;
}

static const char *eai_text(int eai, int saved_errno)
{
	return eai == EAI_SYSTEM ? strerror(saved_errno) : gai_strerror(eai);
}

static int resolve_peer(const char *cmd, const char *name, struct config_peer *p, int retries)
{
	struct sockaddr_storage ss;
	char host[ADDR_STRLEN], *dup;
	unsigned int wait_ms = RETRY_FIRST_MS;
	int r, saved;

	for (int tries = 0;; tries++) {
		errno = 0;
		r = up_resolve_once(p->endpoint_host, p->endpoint_port, &ss);
		saved = errno;
		if (r == 0)
			break;
		if (permanent(r)) {
			fprintf(stderr, "culvert %s: %s: the endpoint '%s' of the peer at line %u does not resolve: %s; "
				"fix the Endpoint line or the name's DNS record\n", cmd, name, p->endpoint_host, p->line,
				eai_text(r, saved));
			return -EINVAL;
		}
		if (retries != UP_RETRIES_FOREVER && tries >= retries) {
			fprintf(stderr, "culvert %s: %s: the endpoint '%s' of the peer at line %u still does not resolve "
				"after %d %s: %s; once DNS works run it again, or set WG_ENDPOINT_RESOLUTION_RETRIES=infinity "
				"to wait for it\n", cmd, name, p->endpoint_host, p->line, retries,
				retries == 1 ? "retry" : "retries", eai_text(r, saved));
			return -EAGAIN;
		}
		fprintf(stderr, "culvert %s: %s: the endpoint '%s' of the peer at line %u does not resolve yet: %s; "
			"trying again in %u.%u s\n", cmd, name, p->endpoint_host, p->line, eai_text(r, saved),
			wait_ms / 1000, wait_ms % 1000 / 100);
		struct timespec ts = { wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		wait_ms = wait_ms * 6 / 5 > RETRY_MAX_MS ? RETRY_MAX_MS : wait_ms * 6 / 5;
	}
	addr_sockaddr_str((const struct sockaddr *)&ss, false, host, sizeof(host));
	if (!(dup = strdup(host))) {
		fprintf(stderr, "culvert %s: %s: out of memory\n", cmd, name);
		return -ENOMEM;
	}
	free(p->endpoint_host);
	p->endpoint_host = dup;
	return 0;
}

int up_resolve_endpoints(const char *cmd, const char *name, struct config *c)
{
	int retries, r;

	if (!up_resolve_retries(&retries)) {
		fprintf(stderr, "culvert %s: WG_ENDPOINT_RESOLUTION_RETRIES='%s' is neither a number nor infinity; fix or unset it\n",
			cmd, getenv("WG_ENDPOINT_RESOLUTION_RETRIES"));
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_peers; i++) {
		struct config_peer *p = &c->peers[i];

		if (p->has_endpoint && up_endpoint_is_name(p->endpoint_host) &&
		    (r = resolve_peer(cmd, name, p, retries)) < 0)
			return r;
	}
	return 0;
}
