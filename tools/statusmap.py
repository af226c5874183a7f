# SPDX-License-Identifier: MIT
"""Read xdphc's pinned status map directly, the way a consumer would.

The status map is an mmap-able BPF array (include/xdphc/abi.h): this maps it
read-only and decodes entries with the documented layout, honouring the
seqlock, so that a benchmark can check a million states in about a second.
"""
from __future__ import annotations

import ipaddress
import json
import mmap
import os
import struct
import subprocess

from lab import bpf

# key (family, protocol, port, addr), seq, state, reason, flags, check, consecutive_ok,
# consecutive_fail, pool_id, detail, generation, last_rtt_us, last_change_ns
ENTRY = struct.Struct("<BBH16sIBBBBBBHHHIQ")
assert ENTRY.size == 48


def _names() -> dict:
    """build/names.json: the state and reason words of user/names.c (make writes it)."""
    here = os.path.dirname(os.path.abspath(__file__))
    while True:
        path = os.path.join(here, "build", "names.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        if os.path.dirname(here) == here:
            raise FileNotFoundError("build/names.json not found above tools/: run make")
        here = os.path.dirname(here)


_NAMES = _names()
STATES = {s["value"]: s["name"] for s in _NAMES["states"]}
REASONS = {r["value"]: r["name"] for r in _NAMES["reasons"]}
class StatusMap:
    """``StatusMap(pin_dir)``: the engine's status entries, by backend id."""

    def __init__(self, pin_dir: str):
        path = os.path.join(pin_dir, "status")
        info = json.loads(subprocess.run(["bpftool", "-j", "map", "show", "pinned", path],
                                         check=True, capture_output=True, text=True).stdout)
        self.n = info["max_entries"]
        page = mmap.PAGESIZE
        length = (self.n * ENTRY.size + page - 1) // page * page
        fd = bpf.obj_get(path)
        try:
            self.mm = mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)

    def raw(self, i: int) -> tuple:
        """Entry i as the tuple ENTRY unpacks, retried while half-written."""
        for _ in range(1000):
            rec = ENTRY.unpack_from(self.mm, i * ENTRY.size)
            if rec[4] % 2 == 0 and ENTRY.unpack_from(self.mm, i * ENTRY.size)[4] == rec[4]:
                return rec
        return rec

    @staticmethod
    def decode(rec: tuple) -> dict:
        family, _proto, port, addr, seq, state, reason, flags, _check, ok, fail, pool, \
            detail, gen, rtt, change = rec
        a = str(ipaddress.IPv4Address(addr[:4])) if family == 2 else \
            str(ipaddress.IPv6Address(addr))
        return {"address": a, "port": int.from_bytes(struct.pack("<H", port), "big"),
                "state": STATES.get(state, "?"), "reason": REASONS.get(reason, "?"),
                "consecutive_ok": ok, "consecutive_fail": fail, "pool_id": pool,
                "draining": bool(flags & 1), "grace": bool(flags & 2), "detail": detail,
                "generation": gen,
                "last_rtt_us": rtt, "last_change_ns": change, "seq": seq}

    def entry(self, i: int) -> dict:
        return self.decode(self.raw(i))

    def entries(self):
        """(id, entry) for every used entry."""
        for i in range(self.n):
            rec = self.raw(i)
            if rec[0]:
                yield i, self.decode(rec)

    def close(self) -> None:
        self.mm.close()

    def __enter__(self) -> "StatusMap":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
