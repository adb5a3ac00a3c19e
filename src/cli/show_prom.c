/* culvert show --format prometheus: interfaces, peers and drop counters as Prometheus metrics,
 * for node_exporter's textfile collector (write to a file, rename into its directory) or any
 * scraper. The format wants each family's samples together under one HELP and TYPE, so the
 * states of all interfaces are gathered first and printed family by family. No timestamps:
 * the textfile collector refuses them. */
#include <stdio.h>
#include <string.h>

#include "cli/show.h"
#include "wg/crypto.h"
#include "wg/key.h"

static void family(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped, as the format asks. */
static void label(const char *key, const char *v, bool last)
{
	printf("%s=\"", key);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			printf("\\%c", *v);
		else if (*v == '\n')
			printf("\\n");
		else
			putchar(*v);
	}
	printf("\"%s", last ? "" : ",");
}

static void peer_labels(const char *iface, const struct uapi_peer_state *p, bool last)
{
	char b64[KEY_B64_LEN + 1];

	key_to_base64(b64, p->public_key);
	label("interface", iface, false);
	label("public_key", b64, last);
}

/* a drop_REASON line with a decimal count: anything else would break the whole exposition */
static bool is_drop(const struct uapi_ext *e)
{
	return !strncmp(e->key, "drop_", 5) && e->key[5] && e->value[0] &&
	       strspn(e->value, "0123456789") == strlen(e->value);
}

/* The peers' counters and times, one family per field. */
enum peer_field { PF_RX, PF_TX, PF_HANDSHAKE, PF_KEEPALIVE };

static void peer_family(const struct show_iface *ifs, size_t n, enum peer_field f)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < ifs[i].d.n_peers; j++) {
			const struct uapi_peer_state *p = &ifs[i].d.peers[j];
			unsigned long long v = f == PF_RX ? p->rx_bytes : f == PF_TX ? p->tx_bytes :
					       f == PF_HANDSHAKE ? p->last_handshake_sec : p->persistent_keepalive;
			static const char *const names[] = {
				"culvert_peer_receive_bytes_total", "culvert_peer_transmit_bytes_total",
				"culvert_peer_latest_handshake_seconds", "culvert_peer_persistent_keepalive_seconds",
			};

			printf("%s{", names[f]);
			peer_labels(ifs[i].name, p, true);
			printf("} %llu\n", v);
		}
}

void show_prom(const struct show_iface *ifs, size_t n)
{
	char b64[KEY_B64_LEN + 1];
	uint8_t pub[32];

	family("culvert_interface_info", "gauge", "A culvert interface: its name and public key (1).");
	for (size_t i = 0; i < n; i++) {
		const struct uapi_device_state *d = &ifs[i].d;

		b64[0] = '\0';
		if (d->has_private_key && crypto_x25519_pub(pub, d->private_key))
			key_to_base64(b64, pub);
		printf("culvert_interface_info{");
		label("interface", ifs[i].name, false);
		label("public_key", b64, true);
		printf("} 1\n");
	}
	family("culvert_interface_listen_port", "gauge", "The UDP (or TCP) port the interface listens on.");
	for (size_t i = 0; i < n; i++) {
		printf("culvert_interface_listen_port{");
		label("interface", ifs[i].name, true);
		printf("} %u\n", ifs[i].d.listen_port);
	}
	family("culvert_interface_peers", "gauge", "Peers configured on the interface.");
	for (size_t i = 0; i < n; i++) {
		printf("culvert_interface_peers{");
		label("interface", ifs[i].name, true);
		printf("} %zu\n", ifs[i].d.n_peers);
	}
	family("culvert_drops_total", "counter", "Packets the interface dropped, by reason (see culvert-show(8)).");
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < ifs[i].d.n_ext; j++) {
			const struct uapi_ext *e = &ifs[i].d.ext[j];

			if (!is_drop(e))
				continue;
			printf("culvert_drops_total{");
			label("interface", ifs[i].name, false);
			label("reason", e->key + 5, true);
			printf("} %s\n", e->value);
		}
	family("culvert_peer_receive_bytes_total", "counter", "Bytes received from the peer.");
	peer_family(ifs, n, PF_RX);
	family("culvert_peer_transmit_bytes_total", "counter", "Bytes sent to the peer.");
	peer_family(ifs, n, PF_TX);
	family("culvert_peer_latest_handshake_seconds", "gauge",
	       "Unix time of the latest completed handshake with the peer; 0 if none yet.");
	peer_family(ifs, n, PF_HANDSHAKE);
	family("culvert_peer_persistent_keepalive_seconds", "gauge", "The peer's persistent keepalive interval; 0 if off.");
	peer_family(ifs, n, PF_KEEPALIVE);
	family("culvert_peer_endpoint_info", "gauge", "The peer's current endpoint (1), for peers that have one.");
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < ifs[i].d.n_peers; j++) {
			const struct uapi_peer_state *p = &ifs[i].d.peers[j];

			if (!p->endpoint[0])
				continue;
			printf("culvert_peer_endpoint_info{");
			peer_labels(ifs[i].name, p, false);
			label("endpoint", p->endpoint, true);
			printf("} 1\n");
		}
	family("culvert_peer_drops_total", "counter", "Packets dropped that belong to the peer, by reason.");
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < ifs[i].d.n_peers; j++) {
			const struct uapi_peer_state *p = &ifs[i].d.peers[j];

			for (size_t k = 0; k < p->n_ext; k++) {
				if (!is_drop(&p->ext[k]))
					continue;
				printf("culvert_peer_drops_total{");
				peer_labels(ifs[i].name, p, false);
				label("reason", p->ext[k].key + 5, true);
				printf("} %s\n", p->ext[k].value);
			}
		}
}
