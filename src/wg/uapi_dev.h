/* The `wg` control protocol (get=1 / set=1 over /var/run/wireguard/IFACE.sock) applied to a
 * device: wg/uapi.h parses and emits the text, these callbacks read and change the device.
 * The dev argument of every callback is a struct wg_device. */
#ifndef CULVERT_WG_UAPI_DEV_H
#define CULVERT_WG_UAPI_DEV_H

#include "wg/uapi.h"

extern const struct uapi_ops wg_uapi_dev_ops;

#endif
