#!/usr/bin/env python3
"""Load and drive the example XDP load balancer (tools/lb_forwarder.bpf.c).

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
import subprocess

import bpfmaps
from xhclab import (LB_PIN_PREFIX, Lab, LabError, _run, ensure_bpffs, remove_sim_pins,
                    sim_pin_dir)

LB_OBJ = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                      "build", "tools", "lb_forwarder.bpf.o")
COUNTERS = ("forwarded", "fail_open", "rechecked", "no_route", "chained")
PROTOS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}


class Forwarder:
    def __init__(self, lab: Lab, xdphc_pin: str):
        if not os.path.exists(LB_OBJ):
            raise LabError(f"{LB_OBJ} is missing: run `make` first")
        self.lab, self.xdphc_pin = lab, xdphc_pin
        self.dir = sim_pin_dir(lab.sfx, LB_PIN_PREFIX)
        self.chain_path = f"{self.dir}/xdphc_chain"
        self._fds: dict[str, int] = {}
        self.attached = False
        remove_sim_pins(lab.sfx, LB_PIN_PREFIX)
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        ensure_bpffs()
        os.makedirs(self.dir)
        reuse = []
        for m in ("pools", "pool_up", "status"):
            reuse += ["map", "name", m, "pinned", f"{self.xdphc_pin}/{m}"]
        _run(["bpftool", "prog", "load", LB_OBJ, f"{self.dir}/prog", "type", "xdp",
              *reuse, "pinmaps", self.dir])
        _run(self.lab.nsenter_prefix() + ["ip", "link", "set", "dev", self.lab.prober_if,
                                          "xdpdrv", "pinned", f"{self.dir}/prog"])
        self.attached = True
        for m in ("vips", "lb_counters", "xdphc_chain"):
            self._fds[m] = bpfmaps.obj_get(f"{self.dir}/{m}")

    def link_xdphc(self) -> None:
        """Put the engine's pinned probe_rx at xdphc_chain[0]."""
        prog = bpfmaps.obj_get(f"{self.xdphc_pin}/probe_rx")
        try:
            bpfmaps.update(self._fds["xdphc_chain"], struct.pack("<I", 0),
                           struct.pack("<I", prog))
        finally:
            os.close(prog)

    def add_vip(self, addr: str, port: int, proto: str, pool_id: int) -> None:
        key = socket.inet_aton(addr) + struct.pack("!H", port) + bytes([PROTOS[proto], 0])
        bpfmaps.update(self._fds["vips"], key, struct.pack("<I", pool_id))

    def counters(self) -> dict[str, int]:
        return {name: bpfmaps.percpu_u64_sum(self._fds["lb_counters"], i)
                for i, name in enumerate(COUNTERS)}

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self.attached and os.path.exists(f"/run/netns/{self.lab.prober_ns}"):
            subprocess.run(self.lab.nsenter_prefix() + ["ip", "link", "set", "dev",
                                                        self.lab.prober_if, "xdpdrv", "off"],
                           capture_output=True)
        self.attached = False
        remove_sim_pins(self.lab.sfx, LB_PIN_PREFIX)

    def __enter__(self) -> "Forwarder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
