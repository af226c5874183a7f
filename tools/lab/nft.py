# SPDX-License-Identifier: MIT
"""The backend namespace's nftables table: which SYNs get no answer ("drop"
-> timeout), a RST ("refuse") or ICMP host-unreachable ("unreach"), a
random SYN loss, and SYN counters per address. Only SYNs (syn set, ack
clear) match those; apart from them, the UDP ports whose datagrams are
dropped (set "udpdrop": no reply, no ICMP port unreachable)."""
from __future__ import annotations

import ipaddress
import json
import re
from typing import Iterable

from .names import NFT_TABLE, V4_NET, V6_NET
from .netns import ns_cmd
from .proc import run

# nftables verdicts per kind of set
KINDS = {
    "drop": "drop",                                     # -> timeout
    "refuse": "reject with tcp reset",                  # -> refused (RST)
    "unreach": "reject with icmpx type host-unreachable",  # -> ICMP error
}
_ADDR_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address)
_NET_TYPES = (ipaddress.IPv4Network, ipaddress.IPv6Network)


# ---- address ranges -------------------------------------------------------

def parse_target(t) -> tuple[int, int, int]:
    """'a.b.c.d', 'CIDR', 'a-b' or an ipaddress object -> (version, lo, hi)."""
    if isinstance(t, _ADDR_TYPES):
        return t.version, int(t), int(t)
    if isinstance(t, _NET_TYPES):
        return t.version, int(t.network_address), int(t.broadcast_address)
    s = str(t).strip()
    if "-" in s:
        a, b = (ipaddress.ip_address(x.strip()) for x in s.split("-", 1))
        if a.version != b.version or int(b) < int(a):
            raise ValueError(f"bad address range {s!r}")
        return a.version, int(a), int(b)
    if "/" in s:
        return parse_target(ipaddress.ip_network(s, strict=False))
    return parse_target(ipaddress.ip_address(s))


def fmt_range(ver: int, lo: int, hi: int) -> str:
    ip = ipaddress.IPv4Address if ver == 4 else ipaddress.IPv6Address
    return str(ip(lo)) if lo == hi else f"{ip(lo)}-{ip(hi)}"


def check_lab_range(ver: int, lo: int, hi: int) -> None:
    net = V4_NET if ver == 4 else V6_NET
    if lo < int(net.network_address) or hi > int(net.broadcast_address):
        raise ValueError(f"{fmt_range(ver, lo, hi)} is outside the lab block {net}")


def merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def subtract(ranges: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """RANGES minus CUT; both merged (sorted, disjoint). Linear sweep."""
    out: list[tuple[int, int]] = []
    j = 0
    for lo, hi in ranges:
        while j < len(cut) and cut[j][1] < lo:
            j += 1
        k = j
        cur = lo
        while k < len(cut) and cut[k][0] <= hi:
            if cut[k][0] > cur:
                out.append((cur, cut[k][0] - 1))
            cur = max(cur, cut[k][1] + 1)
            k += 1
        if cur <= hi:
            out.append((cur, hi))
    return out


def _elem_to_range(e) -> tuple[int, int, int]:
    if isinstance(e, str):
        return parse_target(e)
    if "prefix" in e:
        return parse_target(f"{e['prefix']['addr']}/{e['prefix']['len']}")
    if "range" in e:
        return parse_target(f"{e['range'][0]}-{e['range'][1]}")
    raise ValueError(f"unexpected nft set element {e!r}")


# ---- the table ------------------------------------------------------------

def _set_name(kind: str, ver: int, ported: bool) -> str:
    return f"{kind}{ver}{'p' if ported else ''}"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}")


class NftSets:
    """The table "inet xhc" of namespace NS, with a mirror of its sets (kind,
    family, ported) -> {port or None: merged (lo, hi) ranges}; every change
    rewrites the sets it touches in one nft call, one transaction."""

    def __init__(self, ns: str):
        self.ns = ns
        self._sets: dict[tuple[str, int, bool], dict] = {}

    def _nft(self, script: str) -> None:
        run(ns_cmd(self.ns, ["nft", "-f", "-"]), input=script)

    def create(self) -> None:
        """Make the table: an address set and an address . port set for each
        kind and family, and empty chains "count" (SYN counters, first, so
        they see every SYN) and "loss"; and the set of UDP ports dropped."""
        sets = ["  set udpdrop { type inet_service; flags interval; }"]
        rules = ["    udp dport @udpdrop drop"]
        for kind, verdict in KINDS.items():
            for ver, typ, match in ((4, "ipv4_addr", "ip daddr"), (6, "ipv6_addr", "ip6 daddr")):
                n, np_ = _set_name(kind, ver, False), _set_name(kind, ver, True)
                sets.append(f"  set {n} {{ type {typ}; flags interval; }}")
                sets.append(f"  set {np_} {{ type {typ} . inet_service; flags interval; }}")
                rules.append(f"    tcp flags & (syn | ack) == syn {match} @{n} {verdict}")
                rules.append(f"    tcp flags & (syn | ack) == syn {match} . tcp dport @{np_} {verdict}")
        self._nft(f"table inet {NFT_TABLE} {{\n" + "\n".join(sets) + "\n"
                  "  chain input {\n    type filter hook input priority -10; policy accept;\n"
                  "    jump count\n    jump loss\n" + "\n".join(rules) + "\n  }\n"
                  "  chain count {\n  }\n  chain loss {\n  }\n}\n")

    def load(self) -> None:
        """Fill the mirror from the kernel (a lab opened by name)."""
        self._sets.clear()
        cp = run(ns_cmd(self.ns, ["nft", "-j", "list", "table", "inet", NFT_TABLE]), check=False)
        if cp.returncode != 0:
            return
        for obj in json.loads(cp.stdout).get("nftables", []):
            s = obj.get("set")
            if not s:
                continue
            m = re.match(r"^(\w+?)([46])(p?)$", s["name"])
            if not m or m.group(1) not in KINDS:
                continue
            kind, ver, ported = m.group(1), int(m.group(2)), bool(m.group(3))
            d = self._sets.setdefault((kind, ver, ported), {})
            for e in s.get("elem", []):
                e = e.get("elem", {}).get("val", e) if isinstance(e, dict) and "elem" in e else e
                if ported:
                    a, port = e["concat"]
                    _, lo, hi = _elem_to_range(a)
                    d.setdefault(int(port), []).append((lo, hi))
                else:
                    _, lo, hi = _elem_to_range(e)
                    d.setdefault(None, []).append((lo, hi))
            for k in d:
                d[k] = merge(d[k])

    def change(self, kind: str, targets, port: int | None, add: bool) -> None:
        """Add TARGETS to (or remove them from) the KIND set, for PORT or every port."""
        _check_kind(kind)
        if isinstance(targets, (str, *_ADDR_TYPES, *_NET_TYPES)):
            targets = [targets]
        if port is not None and not 1 <= int(port) <= 65535:
            raise ValueError(f"port {port} out of range")
        by_ver: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for t in targets:
            ver, lo, hi = parse_target(t)
            check_lab_range(ver, lo, hi)
            by_ver[ver].append((lo, hi))
        script = []
        for ver, rs in by_ver.items():
            if not rs:
                continue
            d = self._sets.setdefault((kind, ver, port is not None), {})
            cur = d.get(port, [])
            d[port] = merge(cur + rs) if add else subtract(cur, merge(rs))
            if not d[port]:
                del d[port]
            script.append(self._set_script(kind, ver, port is not None))
        if script:
            self._nft("".join(script))

    def _set_script(self, kind: str, ver: int, ported: bool) -> str:
        name = _set_name(kind, ver, ported)
        elems = []
        for port, rs in sorted(self._sets.get((kind, ver, ported), {}).items(),
                               key=lambda kv: kv[0] or 0):
            for lo, hi in rs:
                a = fmt_range(ver, lo, hi)
                elems.append(f"{a} . {port}" if ported else a)
        s = f"flush set inet {NFT_TABLE} {name}\n"
        for i in range(0, len(elems), 4096):
            s += f"add element inet {NFT_TABLE} {name} {{ {', '.join(elems[i:i + 4096])} }}\n"
        return s

    def clear(self, kind: str | None = None) -> None:
        """Empty the sets of KIND (all kinds if None)."""
        script = ""
        for k in [kind] if kind else list(KINDS):
            _check_kind(k)
            for ver in (4, 6):
                for ported in (False, True):
                    self._sets.pop((k, ver, ported), None)
                    script += f"flush set inet {NFT_TABLE} {_set_name(k, ver, ported)}\n"
        self._nft(script)

    def list(self, kind: str, port: int | None = None) -> list[str]:
        """Current ranges of a KIND set ('a.b.c.d' or 'first-last'), for PORT
        (None: the all-ports sets)."""
        return [fmt_range(ver, lo, hi) for ver in (4, 6)
                for lo, hi in self._sets.get((kind, ver, port is not None), {}).get(port, [])]

    def udp_drop(self, ports: Iterable[int], add: bool) -> None:
        """Drop the datagrams to these UDP ports (every address), or no longer."""
        ports = [int(p) for p in ports]
        if any(not 1 <= p <= 65535 for p in ports):
            raise ValueError(f"ports {ports}: each must be 1..65535")
        if ports:
            elems = ", ".join(map(str, ports))
            self._nft(f"{'add' if add else 'delete'} element inet {NFT_TABLE} udpdrop "
                      f"{{ {elems} }}\n")

    def udp_dropped(self) -> list[int]:
        """The UDP ports whose datagrams are dropped."""
        cp = run(ns_cmd(self.ns, ["nft", "-j", "list", "set", "inet", NFT_TABLE, "udpdrop"]),
                 check=False)
        if cp.returncode != 0:
            return []
        out = []
        for obj in json.loads(cp.stdout).get("nftables", []):
            for e in obj.get("set", {}).get("elem", []):
                if isinstance(e, int):
                    out.append(e)
                elif isinstance(e, dict) and "range" in e:
                    out += range(int(e["range"][0]), int(e["range"][1]) + 1)
        return sorted(out)

    def count_syns(self, addrs: Iterable[str]) -> None:
        """Count the SYNs to each IPv4 address of ADDRS from now on (the
        counters of earlier calls are dropped)."""
        s = f"flush chain inet {NFT_TABLE} count\n"
        for a in addrs:
            check_lab_range(*parse_target(a))
            s += (f"add rule inet {NFT_TABLE} count ip daddr {a} "
                  f"tcp flags & (syn | ack) == syn counter\n")
        self._nft(s)

    def syn_counts(self) -> dict[str, int]:
        """SYNs each address given to count_syns() received, by address,
        lost ones included."""
        cp = run(ns_cmd(self.ns, ["nft", "-j", "list", "chain", "inet", NFT_TABLE, "count"]))
        out = {}
        for obj in json.loads(cp.stdout).get("nftables", []):
            addr = packets = None
            for e in obj.get("rule", {}).get("expr", []):
                m = e.get("match", {})
                if m.get("left", {}).get("payload", {}).get("field") == "daddr":
                    addr = m["right"]
                if "counter" in e:
                    packets = e["counter"]["packets"]
            if addr is not None and packets is not None:
                out[addr] = packets
        return out

    def set_loss(self, percent: int) -> None:
        """Drop PERCENT % of all incoming SYNs at random (0 switches it off)."""
        if not 0 <= percent <= 100:
            raise ValueError("percent must be 0..100")
        s = f"flush chain inet {NFT_TABLE} loss\n"
        if percent:
            s += (f"add rule inet {NFT_TABLE} loss tcp flags & (syn | ack) == syn "
                  f"numgen random mod 100 < {percent} drop\n")
        self._nft(s)
