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
    fwd.add_vip("2001:2:0:fd::10", 5000, "tcp", pool_id=0)   # IPv6: vips6, flows6
    fwd.counters()                             # forwarded, fail_open, ...
    fwd.refresh()                              # the engine pinned new maps? reload
    fwd.close()

The loader is what a production one does, with libbpf (through ctypes): it
refuses maps of another ABI version, reuses the engine's maps by id, keeps
its own maps (VIPs, chain, flows, counters) across reloads, and replaces its
program on the interface in one step, so that no packet goes unforwarded.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import struct

from lab import Lab, bpf
from lab.libbpf import BpfObject
from lab.names import LB_PIN_PREFIX, build_path, tool_obj
from lab.netns import netns_exists
from lab.proc import LabError

LB_OBJ = tool_obj("lb_forwarder/lb_forwarder")
PROG = "lb_forward"
COUNTERS = ("forwarded", "fail_open", "rechecked", "no_route", "chained",
            "flow_hit", "flow_moved")
PROTOS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}
XDPHC_MAPS = ("pools", "pool_up", "status")      # the engine's, reused from its pin dir
# pinned in the forwarder's dir; the IPv6 VIPs and flows have maps of their
# own, so that vips and flows keep the layout of forwarders before IPv6
OWN_MAPS = ("vips", "xdphc_chain", "lb_counters", "flows", "vips6", "flows6")
FLOW_MAPS = ("flows", "flows6")
FLOW_ENTRIES = 65536                             # each flow table's default size
FLOW_KEY = struct.Struct("!4s4sHHB3x")           # struct lb_flow_key
FLOW_KEY6 = struct.Struct("!16s16sHHB3x")        # struct lb_flow_key6
FLOW = struct.Struct("<IHH")                     # struct lb_flow: id, generation
META = struct.Struct("<IIQQII")                  # xdphc_meta's head, the same in ABI 2 and 3


class EngineMismatch(LabError):
    """The engine's maps are of another ABI version than the forwarder's."""


def built_abi() -> int:
    """The map ABI the forwarder is built against: build/names.json, which
    the same `make` writes from include/xdphc/abi.h."""
    with open(build_path("names.json"), encoding="utf-8") as f:
        return json.load(f)["abi_version"]


def read_meta(pin_dir: str) -> dict | None:
    """The engine's meta map (None if nothing is pinned there)."""
    try:
        fd = bpf.obj_get(f"{pin_dir}/meta")
    except FileNotFoundError:
        return None
    try:
        raw = bpf.lookup(fd, struct.pack("<I", 0), bpf.map_info(fd).value_size)
    finally:
        os.close(fd)
    return dict(zip(("abi_version", "pid", "start_ns", "last_tick_ns", "tick_us", "running"),
                    META.unpack_from(raw)))


def is_v6(addr: str) -> bool:
    return ":" in addr


def vip_key(addr: str, port: int, proto: str) -> tuple[str, bytes]:
    """(map, key) of a VIP: vips (struct lb_vip) or vips6 (struct lb_vip6)."""
    tail = struct.pack("!H", port) + bytes([PROTOS[proto], 0])
    if is_v6(addr):
        return "vips6", socket.inet_pton(socket.AF_INET6, addr) + tail
    return "vips", socket.inet_aton(addr) + tail


def flow_key(src: str, sport: int, dst: str, dport: int, proto: str) -> tuple[str, bytes]:
    """(map, key) of a flow: flows (struct lb_flow_key) or flows6."""
    if is_v6(dst):
        return "flows6", FLOW_KEY6.pack(socket.inet_pton(socket.AF_INET6, src),
                                        socket.inet_pton(socket.AF_INET6, dst), sport, dport,
                                        PROTOS[proto])
    return "flows", FLOW_KEY.pack(socket.inet_aton(src), socket.inet_aton(dst), sport, dport,
                                  PROTOS[proto])


class Forwarder:
    """The forwarder on the prober veth of LAB, using the maps of the engine
    pinned at XDPHC_PIN; its own objects are pinned in /sys/fs/bpf/xhc-lb-<lab>.

    flow_entries: the size of each flow table (IPv4, IPv6).  takeover: a forwarder (an older
    one, or this one's earlier run) is attached and pinned there: keep its
    maps that fit, and replace its program in one step."""

    def __init__(self, lab: Lab, xdphc_pin: str, *, flow_entries: int = FLOW_ENTRIES,
                 takeover: bool = False, obj: str = LB_OBJ):
        if not os.path.exists(obj):
            raise LabError(f"{obj} is missing: run `make` first")
        self.lab, self.xdphc_pin, self.obj = lab, xdphc_pin, obj
        self.flow_entries = flow_entries
        self.ns, self.dev = lab.prober_ns, lab.prober_if
        self.dir = bpf.tool_pin_dir(lab.sfx, LB_PIN_PREFIX)
        self.chain_path = f"{self.dir}/xdphc_chain"
        self.abi = built_abi()
        self.attached = False
        self.engine_ids: dict[str, int] = {}     # the engine's maps the program uses
        self.kept: set[str] = set()              # own maps the last load reused
        self._fds: dict[str, int] = {}
        self._vips: dict[tuple[str, bytes], bytes] = {}     # (map, key) -> pool id
        if not takeover:
            bpf.remove_tool_pins(lab.sfx, LB_PIN_PREFIX)
        try:
            bpf.ensure_bpffs()
            os.makedirs(self.dir, exist_ok=True)
            self._load(replace=takeover)
        except BaseException:
            if takeover:        # what runs there stays, with its pins
                self._close_fds()
            else:
                self.close()
            raise

    # -- loading -----------------------------------------------------------
    def check_engine(self) -> dict:
        """The engine's meta; EngineMismatch unless its maps are of our ABI."""
        meta = read_meta(self.xdphc_pin)
        if meta is None:
            raise LabError(f"{self.xdphc_pin}/meta: no xdphc maps pinned there")
        if meta["abi_version"] != self.abi:
            raise EngineMismatch(
                f"{self.xdphc_pin}: the engine's maps are ABI version {meta['abi_version']}, "
                f"the forwarder is built for version {self.abi}: not loading it")
        return meta

    def _load(self, replace: bool) -> None:
        """Load the program over the engine's current maps, pin it and its new
        maps, fill them, then attach it: in place of the attached one with
        REPLACE (keeping the pinned maps of ours that fit), else anew."""
        self.check_engine()
        held: list[int] = []
        fds: dict[str, int] = {}
        staged: list[str] = []
        obj = BpfObject(self.obj)
        try:
            for m in FLOW_MAPS:
                obj.map(m).set_max_entries(self.flow_entries)
            ids = {}
            for m in XDPHC_MAPS:
                held.append(fd := bpf.obj_get(f"{self.xdphc_pin}/{m}"))
                obj.map(m).reuse_fd(fd)
                ids[m] = bpf.map_info(fd).id
            kept = set()
            for m in OWN_MAPS if replace else ():
                try:
                    held.append(fd := bpf.obj_get(f"{self.dir}/{m}"))
                except FileNotFoundError:
                    continue
                i = bpf.map_info(fd)
                if (i.type, i.key_size, i.value_size, i.max_entries,
                        i.map_flags) == obj.map(m).definition():
                    obj.map(m).reuse_fd(fd)
                    kept.add(m)
            obj.load()
            fds = {m: os.dup(obj.map(m).fd) for m in OWN_MAPS}
            # The new program and maps are pinned beside the old pins, and
            # take their names only once the program is attached.
            for name, fd in [("prog", obj.prog_fd(PROG))] + \
                    [(m, fds[m]) for m in OWN_MAPS if m not in kept]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.dir}/new_{name}")
                bpf.bpf_obj_pin(fd, f"{self.dir}/new_{name}")
                staged.append(name)
            for (m, key), pool in self._vips.items():
                if m not in kept:
                    bpf.update(fds[m], key, pool)
            if "xdphc_chain" not in kept:
                self._link(fds["xdphc_chain"], missing_ok=True)
            bpf.attach_xdp_pinned(self.ns, self.dev, f"{self.dir}/new_prog", replace=replace)
            self.attached = True
            for name in staged:
                os.rename(f"{self.dir}/new_{name}", f"{self.dir}/{name}")
            staged = []
            for fn in os.listdir(self.dir):     # what an older loader pinned besides
                if fn not in ("prog", *OWN_MAPS):
                    os.unlink(f"{self.dir}/{fn}")
            self._fds, fds = fds, self._fds      # the old ones are closed below
            self.engine_ids, self.kept = ids, kept
        finally:
            obj.close()
            for fd in held + list(fds.values()):
                os.close(fd)
            for name in staged:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.dir}/new_{name}")

    def engine_maps_replaced(self) -> bool:
        """True when the engine has pinned another pools, pool_up or status
        than the program reads (a restart that had to recreate a map, an
        upgrade to a new ABI): the program still runs on the old ones, which
        nobody writes any more."""
        for m in XDPHC_MAPS:
            try:
                fd = bpf.obj_get(f"{self.xdphc_pin}/{m}")
            except FileNotFoundError:
                return False            # nothing to move to
            try:
                if bpf.map_info(fd).id != self.engine_ids[m]:
                    return True
            finally:
                os.close(fd)
        return False

    def refresh(self) -> bool:
        """Follow an engine that pinned new maps: load the program again over
        them and swap it in, keeping the forwarder's own maps (flows keep
        their backends: ids and generations survive engine restarts).  False
        if nothing changed, or while the new engine has not finished its
        start (meta.running 0: not all its maps are pinned yet).
        EngineMismatch if the new maps are of another ABI version: the
        program keeps forwarding on the old maps, frozen at their last state."""
        if not self.engine_maps_replaced():
            return False
        meta = read_meta(self.xdphc_pin)
        if not meta or not meta["running"]:
            return False
        self._load(replace=True)
        return True

    # -- the forwarder's maps ------------------------------------------------
    def fd(self, name: str) -> int:
        return self._fds[name]

    def _link(self, chain_fd: int, missing_ok: bool) -> None:
        try:
            prog = bpf.obj_get(f"{self.xdphc_pin}/probe_rx")
        except FileNotFoundError:
            if missing_ok:
                return      # not in tail-call mode, or it puts itself there
            raise
        try:
            bpf.update(chain_fd, struct.pack("<I", 0), struct.pack("<I", prog))
        finally:
            os.close(prog)

    def link_xdphc(self) -> None:
        """Put the engine's pinned probe_rx at xdphc_chain[0] (a load does it
        too, into a new chain)."""
        self._link(self.fd("xdphc_chain"), missing_ok=False)

    def add_vip(self, addr: str, port: int, proto: str, pool_id: int) -> None:
        """ADDR:PORT/PROTO (IPv4 or IPv6) to pool POOL_ID's backends of its family."""
        m, key = vip_key(addr, port, proto)
        self._vips[(m, key)] = struct.pack("<I", pool_id)
        bpf.update(self.fd(m), key, self._vips[(m, key)])

    def counters(self) -> dict[str, int]:
        return {name: bpf.percpu_u64_sum(self.fd("lb_counters"), i)
                for i, name in enumerate(COUNTERS)}

    def flow(self, src: str, sport: int, dst: str, dport: int,
             proto: str) -> tuple[int, int] | None:
        """(backend id, generation) of a flow in the flow table, or None."""
        m, key = flow_key(src, sport, dst, dport, proto)
        try:
            raw = bpf.lookup(self.fd(m), key, FLOW.size)
        except FileNotFoundError:
            return None
        return FLOW.unpack(raw)[:2]

    def set_flow(self, src: str, sport: int, dst: str, dport: int, proto: str,
                 backend_id: int, generation: int) -> None:
        """Put a flow on a backend (id and the generation it must still have)."""
        m, key = flow_key(src, sport, dst, dport, proto)
        bpf.update(self.fd(m), key, FLOW.pack(backend_id, generation, 0))

    # -- the end -------------------------------------------------------------
    def _close_fds(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()

    def close(self) -> None:
        """Detach the program and remove the pins."""
        self._close_fds()
        if self.attached and netns_exists(self.ns):
            bpf.detach_xdp(self.ns, self.dev, check=False)
        self.attached = False
        bpf.remove_tool_pins(self.lab.sfx, LB_PIN_PREFIX)

    def __enter__(self) -> "Forwarder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
