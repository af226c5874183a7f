# SPDX-License-Identifier: MIT
"""Small UDP services for a lab's backend namespace, one process for all of
them (started by services.py, standard library only):

    python3 -I -S udpserv.py MARK_DIR ROLE:PORT[:ARG] ...

ROLE is one of
    echo    send every datagram back as it came
    reply   answer every datagram with ARG (hex bytes)
Each binds 0.0.0.0:PORT and, if the namespace has IPv6, [::]:PORT, and
answers for every address of the lab's AnyIP blocks: from the address the
datagram was sent to, which the kernel tells with IP_PKTINFO /
IPV6_PKTINFO.  Sending from an AnyIP IPv6 address (a local route, not an
address of an interface) needs IPV6_TRANSPARENT; IPv4 does with IP_PKTINFO
alone.  MARK_DIR names the lab's service directory, so that a cleanup finds
the process by its command line.  Prints "ready" once every port is bound.
"""
import os
import select
import signal
import socket
import struct
import sys

# Not every one of these is in Python 3.11's socket module (linux/in.h, in6.h).
IP_PKTINFO = 8
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
IPV6_TRANSPARENT = 75
MAX_DATAGRAM = 65535
CMSG_SPACE = socket.CMSG_SPACE(20)      # in6_pktinfo, larger than in_pktinfo


def _socket(fam: int, port: int) -> socket.socket:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
        s.bind(("::", port))
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind(("0.0.0.0", port))
    return s


def sockets(port: int) -> list:
    socks = [_socket(socket.AF_INET, port)]
    if socket.has_ipv6 and os.path.exists("/proc/net/if_inet6"):
        socks.append(_socket(socket.AF_INET6, port))
    return socks


def local_address(fam: int, ancdata) -> bytes | None:
    """The datagram's destination address, from its IP_PKTINFO / IPV6_PKTINFO."""
    for level, kind, data in ancdata:
        if fam == socket.AF_INET and (level, kind) == (socket.IPPROTO_IP, IP_PKTINFO):
            return data[8:12]                   # in_pktinfo.ipi_addr
        if fam == socket.AF_INET6 and (level, kind) == (socket.IPPROTO_IPV6, IPV6_PKTINFO):
            return data[:16]                    # in6_pktinfo.ipi6_addr
    return None


def source_cmsg(fam: int, local: bytes) -> list:
    """Ancillary data that makes the reply leave from LOCAL."""
    if fam == socket.AF_INET:
        # in_pktinfo: ifindex 0, ipi_spec_dst (the source) = local, ipi_addr unused
        return [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("i4s4s", 0, local, bytes(4)))]
    return [(socket.IPPROTO_IPV6, IPV6_PKTINFO, struct.pack("16si", local, 0))]


def answer(s: socket.socket, role: str, arg: bytes) -> None:
    try:
        data, anc, _flags, peer = s.recvmsg(MAX_DATAGRAM, CMSG_SPACE)
    except OSError:
        return
    reply = data if role == "echo" else arg
    local = local_address(s.family, anc)
    try:
        s.sendmsg([reply], source_cmsg(s.family, local) if local else [], 0, peer)
    except OSError:
        pass                                    # a peer gone: nothing to answer


def main(specs: list) -> None:
    roles = {}
    for spec in specs:
        role, port, *rest = spec.split(":", 2)
        if role not in ("echo", "reply"):
            raise SystemExit(f"udpserv: unknown role {role!r}")
        arg = bytes.fromhex(rest[0]) if rest else b""
        for s in sockets(int(port)):
            roles[s.fileno()] = (s, role, arg)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.write(1, b"ready\n")
    poller = select.poll()
    for fd in roles:
        poller.register(fd, select.POLLIN)
    while True:
        for fd, _ev in poller.poll():
            answer(*roles[fd])


if __name__ == "__main__":
    main(sys.argv[2:])
