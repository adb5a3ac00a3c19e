#!/usr/bin/env python3
"""A stand-in for systemd's notify socket: binds SOCKET (a path), and for each datagram prints
one line "pid=PID t=SECONDS MSG" (newlines in MSG as '|'), flushing each. With --check IFACE,
on READY=1 it also records whether the tun device IFACE exists and its control socket accepts a
connection right then ("ready_dev=yes|no ready_sock=yes|no"), since READY=1 must mean both."""
import os, socket, struct, sys, time

path = sys.argv[1]
iface = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--check" else None
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
os.chmod(path, 0o777)  # the manager's socket is writable by every user too
print("listening", flush=True)
t0 = time.monotonic()
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = -1
    for lvl, typ, data in anc:
        if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
    text = msg.decode(errors="replace")
    extra = ""
    if iface and "READY=1" in text.split("\n"):
        try:
            socket.if_nametoindex(iface)
            dev = "yes"
        except OSError:
            dev = "no"
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect("/var/run/wireguard/%s.sock" % iface)
            sock = "yes"
        except OSError:
            sock = "no"
        c.close()
        extra = " ready_dev=%s ready_sock=%s" % (dev, sock)
    print("pid=%d t=%.3f %s%s" % (pid, time.monotonic() - t0, text.replace("\n", "|"), extra), flush=True)
