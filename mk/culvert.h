/* libculvert: tun/tap devices, rtnetlink link setup, packet decoding and pcap. */
#ifndef CULVERT_H
#define CULVERT_H
#include <culvert/ifname.h>
#include <culvert/tun.h>
#include <culvert/tun_node.h>
#include <culvert/netlink.h>
#include <culvert/packet.h>
#include <culvert/pcap.h>
#endif
