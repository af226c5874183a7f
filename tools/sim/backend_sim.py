#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive the XDP backend simulator (tools/sim/backend_sim.bpf.c) in a lab.

The simulator answers SYNs to a block of addresses from XDP in the backend
namespace, so that benchmarks can emulate a million backends without the
backend kernel's TCP stack becoming the bottleneck::

    from lab import Lab
    from sim import BackendSim
    with Lab(listen=[], backend_xdp=False) as lab, BackendSim(lab) as sim:
        sim.set_rules([("198.18.3.0/24", 80, "dead")], default="up")
        sim.expect("198.18.3.7", 80)          # -> "dead"
        sim.counters()["rst_rx"]              # RSTs the prober sent back

Rules: (addresses, ports, action), first match wins; addresses as accepted
by the lab ('a.b.c.d', CIDR, 'a-b'); ports an int, (lo, hi) or None (all);
action 'up' (SYN-ACK), 'closed' (RST) or 'dead' (no answer).
"""
from __future__ import annotations

import ipaddress
import struct

from lab import Lab, bpf
from lab.names import SIM_PIN_PREFIX, tool_obj
from lab.nft import parse_target

SIM_OBJ = tool_obj("sim/backend_sim")
ACTIONS = {"up": 0, "closed": 1, "dead": 2}
ACTION_NAMES = {v: k for k, v in ACTIONS.items()}
COUNTERS = ("syn", "synack", "rst_sent", "dead", "rst_rx", "other", "bad")
MAX_RULES = 64
SIM_BLOCK = "198.18.0.0/16"


def _port_range(ports) -> tuple[int, int]:
    if ports is None:
        return 0, 65535
    if isinstance(ports, int):
        return ports, ports
    lo, hi = ports
    return int(lo), int(hi)


class BackendSim(bpf.XdpTool):
    """The simulator attached (native XDP) to the backend veth of LAB."""

    def __init__(self, lab: Lab, block: str = SIM_BLOCK, default: str = "up"):
        self.lab = lab
        self.block = ipaddress.ip_network(block)
        self.rules: list[tuple[int, int, int, int, int]] = []
        self.default = ACTIONS[default]
        super().__init__(lab.sfx, SIM_PIN_PREFIX, SIM_OBJ, lab.backend_ns, lab.backend_if,
                         maps=("sim_cfg", "sim_rules", "sim_counters"))
        try:
            self._write_cfg()
        except BaseException:
            self.close()
            raise

    def _write_cfg(self) -> None:
        net = int(self.block.network_address)
        mask = int(self.block.netmask)
        bpf.update(self.fd("sim_cfg"), struct.pack("<I", 0),
                   struct.pack("<IIII", net, mask, len(self.rules), self.default))

    def set_rules(self, rules, default: str | None = None) -> None:
        """Replace the rules. The count goes last, so a packet sees either
        the old count or the new rules up to it, never a rule half-written
        beyond the count (shrinking first when the list gets shorter)."""
        new = []
        for addrs, ports, action in rules:
            ver, lo, hi = parse_target(addrs)
            if ver != 4:
                raise ValueError("the simulator answers IPv4 only")
            plo, phi = _port_range(ports)
            new.append((lo, hi, plo, phi, ACTIONS[action]))
        if len(new) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES} rules")
        if default is not None:
            self.default = ACTIONS[default]
        self.rules = []
        self._write_cfg()
        for i, (lo, hi, plo, phi, act) in enumerate(new):
            bpf.update(self.fd("sim_rules"), struct.pack("<I", i),
                       struct.pack("<IIHHI", lo, hi, plo, phi, act))
        self.rules = new
        self._write_cfg()

    def expect(self, addr: str, port: int) -> str:
        """What the simulator answers a SYN to ADDR:PORT with ('up', ...)."""
        a = int(ipaddress.ip_address(addr))
        for lo, hi, plo, phi, act in self.rules:
            if lo <= a <= hi and plo <= port <= phi:
                return ACTION_NAMES[act]
        return ACTION_NAMES[self.default]

    def state(self, addr: str, port: int) -> str:
        """The state a health check should find: 'up' where the simulator
        answers SYN-ACK, 'down' otherwise."""
        return "up" if self.expect(addr, port) == "up" else "down"

    def counters(self) -> dict[str, int]:
        """The simulator's counters, summed over CPUs."""
        return {name: bpf.percpu_u64_sum(self.fd("sim_counters"), i)
                for i, name in enumerate(COUNTERS)}
