/* The ICMP transport's naming of a listener session as an endpoint, apart from the sockets so
 * that it can be tested: the dialler's address, its echo identifier in the port, and the local
 * address its requests were sent to as the endpoint's source. */
#ifndef CULVERT_ENGINE_XPORT_ICMP_H
#define CULVERT_ENGINE_XPORT_ICMP_H
#include <stdbool.h>
#include <stdint.h>

#include "wg/device.h"
#include "wire/icmp.h"

/* A session is taken as gone when the dialler has sent nothing for this long: it polls at least
 * every ICMPW_IDLE_MAX_NS while it lives. Sends then dial the address instead. */
#define XPORT_ICMP_SESSION_LIVE_NS (3 * ICMPW_IDLE_MAX_NS)

void xport_icmp_ep_from_key(const struct icmpw_key *key, struct endpoint *ep);
/* false for an endpoint of no address family the transport carries */
bool xport_icmp_key_from_ep(const struct endpoint *ep, struct icmpw_key *key);
/* Whether a send to s's endpoint goes to its held requests (else: dial). */
bool xport_icmp_session_live(const struct icmpw_session *s, uint64_t now);

#endif
