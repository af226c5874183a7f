#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Load and drive the example XDP load balancer (lb_forwarder.bpf.c, see README.md).

It shares the probing interface with xdphc without libxdp's dispatcher: the
forwarder is the interface's XDP program, reads xdphc's pinned pools, pool_up
and status maps, and tail-calls xdphc's probe_rx (run the engine with
`xdp_attach: tail_call`) for every packet that is not for one of its VIPs::

    fwd = Forwarder(lab, xdphc_pin_dir)       # load, reuse xdphc's maps, attach
    fwd.link_xdphc()                           # chain[0] = <pin>/probe_rx
    fwd.add_vip("198.19.253.10", 5000, "udp", pool_id=0)
    fwd.counters()                             # forwarded, fail_open, ...
    fwd.close()
"""
from __future__ import annotations

import os
import socket
import struct

from lab import Lab, bpf
from lab.names import LB_PIN_PREFIX, tool_obj

LB_OBJ = tool_obj("lb_forwarder/lb_forwarder")
COUNTERS = ("forwarded", "fail_open", "rechecked", "no_route", "chained")
PROTOS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}
XDPHC_MAPS = ("pools", "pool_up", "status")      # reused from the engine's pin dir


class Forwarder(bpf.XdpTool):
    """The forwarder on the prober veth of LAB, using the maps of the engine
    pinned at XDPHC_PIN."""

    def __init__(self, lab: Lab, xdphc_pin: str):
        self.lab, self.xdphc_pin = lab, xdphc_pin
        super().__init__(lab.sfx, LB_PIN_PREFIX, LB_OBJ, lab.prober_ns, lab.prober_if,
                         maps=("vips", "lb_counters", "xdphc_chain"),
                         reuse={m: f"{xdphc_pin}/{m}" for m in XDPHC_MAPS})
        self.chain_path = f"{self.dir}/xdphc_chain"

    def link_xdphc(self) -> None:
        """Put the engine's pinned probe_rx at xdphc_chain[0]."""
        prog = bpf.obj_get(f"{self.xdphc_pin}/probe_rx")
        try:
            bpf.update(self.fd("xdphc_chain"), struct.pack("<I", 0), struct.pack("<I", prog))
        finally:
            os.close(prog)

    def add_vip(self, addr: str, port: int, proto: str, pool_id: int) -> None:
        key = socket.inet_aton(addr) + struct.pack("!H", port) + bytes([PROTOS[proto], 0])
        bpf.update(self.fd("vips"), key, struct.pack("<I", pool_id))

    def counters(self) -> dict[str, int]:
        return {name: bpf.percpu_u64_sum(self.fd("lb_counters"), i)
                for i, name in enumerate(COUNTERS)}
