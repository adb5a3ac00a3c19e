#!/usr/bin/env python3
"""icmp_garbage.py 4|6 ADDR COUNT [INTERVAL]: sends COUNT echo requests to ADDR whose payload
starts like the ICMP transport's (magic "cv") but is bad, alternating a wrong version (length
right) and a lying length (version right), INTERVAL seconds apart (default 0.002). Prints
"sent N version V length L" (how many of each kind)."""
import socket, struct, sys, time

fam, addr, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
gap = float(sys.argv[4]) if len(sys.argv) > 4 else 0.002
v6 = fam == "6"
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW,
                  socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff


kinds = {"version": 0, "length": 0}
for i in range(count):
    body = bytes((i * 7 + j) & 0xff for j in range(32 + i % 100))
    if i % 2:
        hdr = b"cv" + bytes([1, 0]) + struct.pack("!H", len(body) + 1 + i % 50)
        kinds["length"] += 1
    else:
        hdr = b"cv" + bytes([2 + i % 200, 0]) + struct.pack("!H", len(body))
        kinds["version"] += 1
    typ = 128 if v6 else 8
    # ICMPv6 raw sockets have the kernel fill the checksum (it covers a pseudo header).
    pkt = struct.pack("!BBHHH", typ, 0, 0, 0x4242, i & 0xffff) + hdr + body
    if not v6:
        pkt = pkt[:2] + struct.pack("!H", csum(pkt)) + pkt[4:]
    s.sendto(pkt, (addr, 0))
    time.sleep(gap)
print("sent %d version %d length %d" % (count, kinds["version"], kinds["length"]), flush=True)
