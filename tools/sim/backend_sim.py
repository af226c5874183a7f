#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive the XDP backend simulator (tools/sim/backend_sim.bpf.c) in a lab.

The simulator answers TCP SYNs and UDP datagrams to a block of IPv4 and a
block of IPv6 addresses from XDP in the backend namespace, so that benchmarks
can emulate a million backends without the backend kernel's TCP/UDP stack
becoming the bottleneck::

    from lab import Lab
    from sim import BackendSim
    with Lab(listen=[], backend_xdp=False) as lab, BackendSim(lab) as sim:
        sim.set_rules([("198.18.3.0/24", 80, "dead"),
                       ("2001:2::100-2001:2::1ff", None, "closed", "udp")], default="up")
        sim.expect("198.18.3.7", 80)          # -> "dead"
        sim.counters()["rst_rx"]              # RSTs the prober sent back

Rules: (addresses, ports, action[, protocol]), first match wins; addresses as
accepted by the lab ('a.b.c.d', CIDR, 'a-b', IPv4 or IPv6); ports an int,
(lo, hi) or None (all); protocol 'tcp', 'udp' or None (both, the default).
Actions:

    action   TCP SYN          UDP datagram
    up       SYN-ACK          echoed back (addresses and ports swapped)
    closed   RST              ICMP / ICMPv6 port unreachable quoting it
    dead     nothing          nothing
    other    SYN-ACK          OTHER_PAYLOAD instead (a check's expect fails)
"""
from __future__ import annotations

import ipaddress
import socket
import struct

from lab import Lab, bpf
from lab.names import SIM_PIN_PREFIX, V4_BLOCK, V6_BLOCK, tool_obj
from lab.nft import parse_target

SIM_OBJ = tool_obj("sim/backend_sim")
ACTIONS = {"up": 0, "closed": 1, "dead": 2, "other": 3}
ACTION_NAMES = {v: k for k, v in ACTIONS.items()}
PROTOS = {None: 0, "tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}
# The counters by kind (enum sim_counter): IPv4 TCP first, with the names the
# bench has always read ("bad" counts packets of any kind it could not answer).
TCP_EVENTS = ("syn", "synack", "rst_sent", "dead", "rst_rx", "other")
UDP_EVENTS = ("", "_echo", "_unreach", "_dead", "_other")
COUNTERS = (TCP_EVENTS + ("bad",) + tuple(e + "6" for e in TCP_EVENTS)
            + tuple("udp" + e for e in UDP_EVENTS) + tuple("udp6" + e for e in UDP_EVENTS))
# What the simulator answers UDP datagrams to "other" backends with.
OTHER_PAYLOAD = b"xhcsim:other"
MAX_RULES = 64
SIM_BLOCK = V4_BLOCK
SIM_BLOCK6 = V6_BLOCK
CFG = struct.Struct("<IIIIQQQQ")            # struct sim_cfg
RULE = struct.Struct("<QQQQHHBBH")          # struct sim_rule


def _port_range(ports) -> tuple[int, int]:
    if ports is None:
        return 0, 65535
    if isinstance(ports, int):
        return ports, ports
    lo, hi = ports
    return int(lo), int(hi)


def _halves(a: int) -> tuple[int, int]:
    """An address as the rules hold it: two 64-bit halves (IPv4 in the low one)."""
    return a >> 64, a & (2 ** 64 - 1)


class BackendSim(bpf.XdpTool):
    """The simulator attached (native XDP) to the backend veth of LAB."""

    def __init__(self, lab: Lab, block: str = SIM_BLOCK, default: str = "up",
                 block6: str | None = SIM_BLOCK6):
        self.lab = lab
        self.block = ipaddress.ip_network(block)
        self.block6 = ipaddress.ip_network(block6) if block6 else None
        # (family, lo, hi, port lo, port hi, protocol, action)
        self.rules: list[tuple[int, int, int, int, int, int, int]] = []
        self.default = ACTIONS[default]
        super().__init__(lab.sfx, SIM_PIN_PREFIX, SIM_OBJ, lab.backend_ns, lab.backend_if,
                         maps=("sim_cfg", "sim_rules", "sim_counters"))
        try:
            self._write_cfg()
        except BaseException:
            self.close()
            raise

    def _write_cfg(self) -> None:
        net6 = mask6 = (0, 0)
        if self.block6:
            net6 = _halves(int(self.block6.network_address))
            mask6 = _halves(int(self.block6.netmask))
        bpf.update(self.fd("sim_cfg"), struct.pack("<I", 0),
                   CFG.pack(int(self.block.network_address), int(self.block.netmask),
                            len(self.rules), self.default, *net6, *mask6))

    def set_rules(self, rules, default: str | None = None) -> None:
        """Replace the rules. The count goes last, so a packet sees either
        the old count or the new rules up to it, never a rule half-written
        beyond the count (shrinking first when the list gets shorter)."""
        new = []
        for addrs, ports, action, *proto in rules:
            ver, lo, hi = parse_target(addrs)
            plo, phi = _port_range(ports)
            new.append((ver, lo, hi, plo, phi, PROTOS[proto[0] if proto else None],
                        ACTIONS[action]))
        if len(new) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES} rules")
        if default is not None:
            self.default = ACTIONS[default]
        self.rules = []
        self._write_cfg()
        for i, (ver, lo, hi, plo, phi, proto, act) in enumerate(new):
            bpf.update(self.fd("sim_rules"), struct.pack("<I", i),
                       RULE.pack(*_halves(lo), *_halves(hi), plo, phi, ver, proto, act))
        self.rules = new
        self._write_cfg()

    def expect(self, addr: str, port: int, proto: str = "tcp") -> str:
        """What the simulator answers a SYN (a datagram, with PROTO 'udp') to
        ADDR:PORT with: 'up', 'closed', 'dead' or 'other'."""
        ip = ipaddress.ip_address(addr)
        a, p = int(ip), PROTOS[proto]
        for ver, lo, hi, plo, phi, rproto, act in self.rules:
            if ver == ip.version and lo <= a <= hi and plo <= port <= phi and \
                    rproto in (0, p):
                return ACTION_NAMES[act]
        return ACTION_NAMES[self.default]

    def state(self, addr: str, port: int, proto: str = "tcp", expect: bool = True) -> str:
        """The state a health check should find.  TCP: 'up' where the
        simulator answers SYN-ACK, 'down' otherwise.  UDP with an expect
        that the probe's own payload meets: 'up' where it echoes; without
        EXPECT, silence and any reply are 'up' too, only port unreachable
        is 'down'."""
        act = self.expect(addr, port, proto)
        if proto == "tcp":
            return "up" if act in ("up", "other") else "down"
        if act == "closed":
            return "down"
        return "up" if act == "up" or not expect else "down"

    def counters(self) -> dict[str, int]:
        """The simulator's counters, summed over CPUs."""
        return {name: bpf.percpu_u64_sum(self.fd("sim_counters"), i)
                for i, name in enumerate(COUNTERS)}
