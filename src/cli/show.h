/* culvert show's output formats beside its own text and JSON (show.c). */
#ifndef CULVERT_CLI_SHOW_H
#define CULVERT_CLI_SHOW_H
#include <stddef.h>

#include "wg/uapi_client.h"

struct show_iface {
	char *name;			/* owned */
	struct uapi_device_state d;
};

/* The Prometheus text exposition format (version 0.0.4) of ifs[0..n), every family once. */
void show_prom(const struct show_iface *ifs, size_t n);

#endif
