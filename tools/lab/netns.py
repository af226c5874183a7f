# SPDX-License-Identifier: MIT
"""Network namespaces: commands and sockets in a namespace, sysctls, links.

in_netns() moves only the calling thread (setns(2) on a thread changes only
that thread); a socket keeps the namespace it was made in."""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import socket
from typing import Sequence

from .proc import LabError, run

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


def ns_cmd(ns: str, cmd: str | Sequence[str]) -> list[str]:
    """Argv that runs CMD in namespace NS with `ip netns exec` (a str goes to
    sh -c). Not for the engine: `ip netns exec` remounts /sys, so bpffs pins
    would not be shared; use nsenter_prefix()."""
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    return ["ip", "netns", "exec", ns, *cmd]


def nsenter_prefix(ns: str) -> list[str]:
    """Argv prefix that runs a command in NS's network namespace only (mount
    namespace and /sys/fs/bpf stay the host's)."""
    return ["nsenter", f"--net=/run/netns/{ns}"]


def netns_exists(ns: str) -> bool:
    return os.path.exists(f"/run/netns/{ns}")


def netns_list() -> list[str]:
    cp = run(["ip", "-j", "netns", "list"], check=False)
    if cp.returncode != 0 or not cp.stdout.strip():
        return []
    return [e["name"] for e in json.loads(cp.stdout)]


def netns_pids(ns: str) -> list[str]:
    """Pids of the processes in NS."""
    return run(["ip", "netns", "pids", ns], check=False).stdout.split()


def host_links() -> list[str]:
    cp = run(["ip", "-j", "link", "show"])
    return [e["ifname"] for e in json.loads(cp.stdout or "[]")]


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


@contextlib.contextmanager
def in_netns(name: str):
    """Run the body with this thread in network namespace NAME.

    Sockets created inside stay in NAME; /proc/thread-self/net/* shows NAME."""
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        tgt = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(tgt)
        finally:
            os.close(tgt)
        try:
            yield
        finally:
            _setns(orig)
    finally:
        os.close(orig)


def netns_socket(name: str, family: int, type_: int, proto: int = 0) -> socket.socket:
    with in_netns(name):
        return socket.socket(family, type_, proto)


def read_snmp(name: str) -> dict[str, int]:
    """Counters of /proc/net/snmp, snmp6 and netstat of namespace NAME as
    {"Tcp.OutRsts": n, "TcpExt.ListenDrops": n, "Ip6.InReceives": n, ...}."""
    out: dict[str, int] = {}
    with in_netns(name):
        for fn in ("snmp", "netstat"):
            with open(f"/proc/thread-self/net/{fn}") as f:
                lines = f.read().splitlines()
            for i in range(0, len(lines) - 1, 2):
                hk, hv = lines[i].split(), lines[i + 1].split()
                grp = hk[0].rstrip(":")
                for k, v in zip(hk[1:], hv[1:]):
                    out[f"{grp}.{k}"] = int(v)
        with contextlib.suppress(OSError):
            with open("/proc/thread-self/net/snmp6") as f:
                for line in f:
                    k, v = line.split()
                    out[k] = int(v)
    return out


def sysctl(ns: str, kv: dict) -> None:
    """Set sysctls (KEY: VALUE) in namespace NS, in one call."""
    run(ns_cmd(ns, ["sysctl", "-q", "-w", *[f"{k}={v}" for k, v in kv.items()]]))


def link_info(ns: str, dev: str) -> dict:
    """`ip -j link show` of DEV in NS (address, ifindex, ...)."""
    return json.loads(run(["ip", "-j", "-n", ns, "link", "show", "dev", dev]).stdout)[0]


def gro_state(ns: str, dev: str) -> bool:
    out = run(ns_cmd(ns, ["ethtool", "-k", dev])).stdout
    m = re.search(r"^generic-receive-offload:\s*(on|off)", out, re.M)
    return bool(m and m.group(1) == "on")


def set_gro(ns: str, dev: str, on: bool) -> None:
    """Switch GRO of DEV on or off, and check that it did: a veth that receives
    XDP_TX/redirected frames drops them unless it has GRO or an XDP program."""
    run(ns_cmd(ns, ["ethtool", "-K", dev, "gro", "on" if on else "off"]))
    if gro_state(ns, dev) != on:
        raise LabError(f"GRO of {dev} in {ns} did not switch {'on' if on else 'off'}")
