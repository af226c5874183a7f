# SPDX-License-Identifier: MIT
"""Packets by hand: checksums, TCP segments and UDP datagrams in IPv4/IPv6,
Ethernet frames, raw sends from a namespace, and reading a probe off a veth."""
from __future__ import annotations

import ipaddress
import random
import socket
import struct
import time

from .netns import netns_socket
from .proc import LabError

_TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}


def inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp_flags(flags: str | int) -> int:
    """'SA' -> 0x12; an int is taken as it is."""
    if isinstance(flags, int):
        return flags
    v = 0
    for c in flags.upper():
        v |= _TCP_FLAGS[c]
    return v


def _addresses(src_ip: str, dst_ip: str):
    src, dst = ipaddress.ip_address(src_ip), ipaddress.ip_address(dst_ip)
    if src.version != dst.version:
        raise ValueError("source and destination address families differ")
    return src, dst


def _l4_checksum(src, dst, proto: int, l4: bytes) -> int:
    """The TCP/UDP checksum of L4 (its checksum field 0) with the pseudo-header."""
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, proto, len(l4))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(l4), proto)
    return inet_checksum(pseudo + l4)


def _ip_packet(src, dst, proto: int, l4: bytes, ttl: int, ip_id: int | None) -> bytes:
    """L4 behind an IPv4 header (DF, checksummed) or an IPv6 header."""
    if src.version == 4:
        if ip_id is None:
            ip_id = random.getrandbits(16)
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ip_id,
                          0x4000, ttl, proto, 0, src.packed, dst.packed)
        hdr = hdr[:10] + struct.pack("!H", inet_checksum(hdr)) + hdr[12:]
    else:
        hdr = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, ttl,
                          src.packed, dst.packed)
    return hdr + l4


def make_ip_tcp(src_ip: str, src_port: int, dst_ip: str, dst_port: int,
                seq: int, ack: int, flags: str | int = "S", *,
                window: int = 65535, ttl: int = 64, mss: int | None = 1460,
                ip_id: int | None = None) -> bytes:
    """An IPv4 or IPv6 packet (header included) carrying one TCP segment."""
    src, dst = _addresses(src_ip, dst_ip)
    opts = struct.pack("!BBH", 2, 4, mss) if mss else b""
    doff = (20 + len(opts)) // 4
    tcp = struct.pack("!HHIIBBHHH", src_port, dst_port, seq & 0xFFFFFFFF,
                      ack & 0xFFFFFFFF, doff << 4, tcp_flags(flags), window,
                      0, 0) + opts
    csum = _l4_checksum(src, dst, 6, tcp)
    tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
    return _ip_packet(src, dst, 6, tcp, ttl, ip_id)


def make_ip_udp(src_ip: str, src_port: int, dst_ip: str, dst_port: int,
                payload: bytes, *, checksum: bool = True, ttl: int = 64,
                ip_id: int | None = None) -> bytes:
    """An IPv4 or IPv6 packet (header included) carrying one UDP datagram.
    checksum=False leaves an IPv4 datagram without one (0); IPv6 always has
    one (RFC 8200)."""
    src, dst = _addresses(src_ip, dst_ip)
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    if checksum or src.version == 6:
        # a computed 0 is sent as 0xffff: 0 means "none" (RFC 768)
        csum = _l4_checksum(src, dst, 17, udp) or 0xFFFF
        udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    return _ip_packet(src, dst, 17, udp, ttl, ip_id)


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def make_eth_frame(src_mac: str, dst_mac: str, l3: bytes) -> bytes:
    """Ethernet frame around an IP packet (EtherType from the IP version)."""
    etype = 0x0800 if (l3[0] >> 4) == 4 else 0x86DD
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", etype) + l3


def send_raw_ip(ns: str, packet: bytes) -> None:
    """Send a complete IPv4/IPv6 packet from namespace NS (raw socket,
    header included; routed by the namespace's routing table)."""
    v = packet[0] >> 4
    if v == 4:
        s = netns_socket(ns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        dst = (socket.inet_ntop(socket.AF_INET, packet[16:20]), 0)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    elif v == 6:
        s = netns_socket(ns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        dst = (socket.inet_ntop(socket.AF_INET6, packet[24:40]), 0)
    else:
        raise ValueError("not an IP packet")
    with s:
        s.sendto(packet, dst)


def _probe_l4(f: bytes, v6: bool) -> tuple[bytes, int, bytes] | None:
    """(destination address, L4 protocol, L4 bytes) of an Ethernet frame's IP packet."""
    ip = f[14:]
    if v6:
        return (ip[24:40], ip[6], ip[40:]) if len(ip) >= 48 and ip[0] >> 4 == 6 else None
    if len(ip) < 28 or ip[0] >> 4 != 4:
        return None
    return ip[16:20], ip[9], ip[(ip[0] & 0xf) * 4:]


def probe_source_port(ns: str, dev: str, dst_ip: str, dst_port: int, proto: int = 6,
                      timeout: float = 5.0) -> int:
    """The source port of the next probe (a TCP SYN, or with PROTO 17 a UDP
    datagram) to dst_ip:dst_port, IPv4 or IPv6, that arrives on DEV in NS,
    read with a packet socket (before nftables can drop it)."""
    addr = ipaddress.ip_address(dst_ip)
    v6 = addr.version == 6
    sock = netns_socket(ns, socket.AF_PACKET, socket.SOCK_RAW,
                        socket.htons(0x86DD if v6 else 0x0800))
    try:
        sock.bind((dev, 0))
        sock.settimeout(0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got = _probe_l4(sock.recv(2048), v6)
            except socket.timeout:
                continue
            if not got or got[0] != addr.packed or got[1] != proto:
                continue
            l4 = got[2]
            if int.from_bytes(l4[2:4], "big") != dst_port:
                continue
            if proto == 6 and l4[13] & 0x12 != 0x02:
                continue
            return int.from_bytes(l4[0:2], "big")
    finally:
        sock.close()
    raise LabError(f"no probe to {dst_ip}:{dst_port} seen within {timeout}s")


def syn_source_port(ns: str, dev: str, dst_ip: str, dst_port: int,
                    timeout: float = 5.0) -> int:
    """The source port of the next SYN to dst_ip:dst_port seen on DEV in NS."""
    return probe_source_port(ns, dev, dst_ip, dst_port, 6, timeout)
