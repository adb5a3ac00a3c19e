/* The plaintext processor (culvert simpletun): packets cross between the device and one peer
 * as they are, in simpletun's wire format. It holds simpletun's rules, whichever transport
 * carries them: who the peer is (the client's server; the server's learned, then latest,
 * client), what may be written to the device, and the named drop and close reasons with their
 * counters, printed at exit. */
#ifndef CULVERT_ENGINE_PROC_PLAIN_H
#define CULVERT_ENGINE_PROC_PLAIN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#include "engine/proc.h"
#include "engine/udpio.h"
#include "wire/icmp.h"

/* Drop and close reasons, each with its own counter. */
enum plain_drop {
	PLAIN_DROP_NO_PEER,       /* tun packet while no peer is connected or known */
	PLAIN_DROP_QUEUE_FULL,    /* tun packet while the socket is backed up */
	PLAIN_DROP_BAD_PACKET,    /* frame/datagram that is not an IP packet (tun) or Ethernet frame (tap) */
	PLAIN_DROP_TUN_WRITE,     /* the kernel refused the packet */
	PLAIN_DROP_DGRAM_EMPTY,
	PLAIN_DROP_DGRAM_TOO_LONG,
	PLAIN_DROP_SEND_ERROR,
	PLAIN_DROP_BAD_OFFLOAD,   /* a device super-packet that could not be split (gso_* reason logged) */
	PLAIN_DROP_MAX
};
enum plain_close {
	PLAIN_CLOSE_PEER,         /* orderly close or reset by the peer */
	PLAIN_CLOSE_ZERO_LENGTH,
	PLAIN_CLOSE_TOO_LONG,
	PLAIN_CLOSE_ERROR,        /* socket error */
	PLAIN_CLOSE_REPLACED,     /* a newer client took over */
	PLAIN_CLOSE_MAX
};

struct plain_counters {
	unsigned long long tx_frames, tx_bytes, rx_frames, rx_bytes, connects;
	unsigned long long drop[PLAIN_DROP_MAX], close[PLAIN_CLOSE_MAX];
	unsigned long long icmp[ICMPW_DROP_MAX];	/* the ICMP transport's drops, by its names */
};

struct plain {
	char ifname[IFNAMSIZ];
	bool server, tap, udp;    /* udp: one packet per datagram (UDP, or ICMP with icmp) */
	bool icmp;                /* datagrams in ICMP echoes (the peer is the whole endpoint) */
	size_t limit;             /* largest packet accepted from the peer: MTU (+18 on tap), read at
	                           * plain_init and then once a second by the loop (ops.mtu) */
	bool have_peer;           /* datagrams: the peer's address is known */
	union endpoint_addr peer;
	struct endpoint peer_ep;   /* icmp server: the client's session as the transport names it */
	struct plain_counters c;
	/* On the engine's loop (one worker): */
	uint16_t port;            /* to listen on (0: any) */
	struct wg_loop *loop;
	uint8_t *stage;           /* received packets copied behind room for a virtio header */
	struct wg_pkt staged[UDPIO_MAX_BATCH];
	unsigned int n_staged;
	size_t stage_used;
	char udp_caps[160];       /* what the UDP socket does, as the transport said */
};

/* What the device side did, for the offload line of plain_print. */
struct plain_tun_stats {
	const char *offloads;     /* st_off_str's words */
	const char *udp_caps;     /* datagram mode: what the socket does */
	unsigned long long tso_pkts, tso_segs, csum_done, gro_merged, gro_out;
};

void plain_init(struct plain *pl, const char *ifname, bool server, bool tap, bool udp);
/* Sanity check of a packet about to be written to the device. */
bool plain_plausible(const struct plain *pl, const uint8_t *p, size_t n);
/* plain_plausible, counting and logging a packet that is not (bad_packet). */
bool plain_check_write(struct plain *pl, const uint8_t *p, size_t n);
/* A datagram from the network: true when it is to be written to the device. Counts and logs
 * what is dropped (dgram_empty, dgram_too_long, bad_packet); on the server a valid datagram
 * from a new address makes its sender the peer (*learned set). */
bool plain_dgram_in(struct plain *pl, const uint8_t *p, size_t len, const union endpoint_addr *from,
		    bool *learned);
/* The client's server (datagram mode). */
void plain_set_peer(struct plain *pl, const union endpoint_addr *a);
/* The loop's processor ops with a struct plain as ctx (plain_init first; plain_free after the
 * loop is gone). One worker. */
extern const struct loop_proc_ops plain_proc_ops;
void plain_free(struct plain *pl);

/* The exit lines: traffic, drops, offloads, and (streams) closes. */
void plain_print(const struct plain *pl, const struct plain_tun_stats *ts);

#endif
