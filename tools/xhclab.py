#!/usr/bin/env python3
"""xhclab: the xdphc test and demo lab (network namespaces, veth, kernel backends).

Topology of one lab (``sfx`` is a short unique suffix, [0-9a-z]{1,11}):

    prober ns  xhc-p-<sfx>                     backend ns  xhc-b-<sfx>
    xhcp<sfx>  198.19.255.1/30  <-- veth -->  xhcb<sfx>  198.19.255.2/30
               2001:2:0:ffff::1/126                      2001:2:0:ffff::2/126
    route 198.18.0.0/16 via 198.19.255.2      route local 198.18.0.0/16 dev lo
    route 2001:2::/64   via 2001:2:0:ffff::2  route local 2001:2::/64   dev lo
                                              listeners 0.0.0.0:PORT and [::]:PORT
                                              nftables table "inet xhc"

Every address of 198.18.0.0/16 (and 2001:2::/64) is a real kernel TCP backend:
a port with a listener answers SYN-ACK ("open"), a port without one answers RST
("refused"), and addresses put into the nftables sets answer nothing ("drop" ->
timeout), RST ("refuse") or ICMP host-unreachable ("unreach").

GRO is switched on for both veth ends (and checked): a veth that receives
XDP_TX/redirected frames drops them unless it has GRO (NAPI) or an XDP program.
The prober side has no pre-populated neighbour entries.

Only addresses of 198.18.0.0/15 and 2001:2::/48 are used; all namespaces and
links start with "xhc"; teardown deletes only the exact names the lab created.

Library use (tests do ``sys.path.insert(0, "tools")``)::

    from xhclab import Lab
    with Lab(listen=[80]) as lab:
        lab.connect_check(Lab.addr(0), 80)         # "open"
        lab.drop_add(["198.18.1.0/24"])            # those time out now

Run the engine with ``lab.nsenter_prefix() + ["build/xdphc", ...]`` (nsenter, not
``ip netns exec``: the latter remounts /sys, so bpffs pins would not be shared).

Shell use (demo)::

    eval "$(python3 tools/xhclab.py up --name demo --listen 80 --drop 198.18.40.0/22)"
    python3 tools/xhclab.py drop add demo 198.18.7.0/24
    python3 tools/xhclab.py down demo
    python3 tools/xhclab.py cleanup          # leftovers of crashed runs

Python 3.11 standard library only. Needs iproute2 (ip, ss), nftables (nft),
ethtool and util-linux (nsenter); must run as root.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import errno
import ipaddress
import json
import os
import random
import re
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Iterable, Sequence

# --------------------------------------------------------------------------
# Constants (addresses: only 198.18.0.0/15 and 2001:2::/48)
# --------------------------------------------------------------------------

V4_BLOCK = "198.18.0.0/16"          # backends (local on the backend's lo)
V6_BLOCK = "2001:2::/64"            # IPv6 backends
PROBER_IP = "198.19.255.1"
BACKEND_IP = "198.19.255.2"
LINK_PLEN = 30
PROBER_IP6 = "2001:2:0:ffff::1"
BACKEND_IP6 = "2001:2:0:ffff::2"
LINK6_PLEN = 126
# A "sink" source range: the backend routes it via the prober, whose kernel
# drops the SYN-ACKs (not its address, no forwarding), so raw SYNs sent from
# SINK_SRC leave SYN-RECV entries behind in the backend.  (With no route at all
# the listener drops the SYN instead: TcpExtListenDrops, no SYN-RECV.)
SINK_NET = "198.19.254.0/24"
SINK_SRC = "198.19.254.1"

NS_PREFIX_P = "xhc-p-"
NS_PREFIX_B = "xhc-b-"
LINK_PREFIX_P = "xhcp"
LINK_PREFIX_B = "xhcb"
SFX_RE = re.compile(r"^[0-9a-z]{1,11}$")
NS_RE = re.compile(r"^xhc-([pb])-([0-9a-z]{1,11})$")
LINK_RE = re.compile(r"^xhc([pb])([0-9a-z]{1,11})$")
STATE_DIR = "/run/xhclab"
NFT_TABLE = "xhc"                   # "table inet xhc" in the backend ns
LISTENER_MARK = "xhclab-listener"   # argv marker of listener processes
PIN_ROOT = "/sys/fs/bpf"
PIN_PREFIX = "xhc-test-"
SIM_PIN_PREFIX = "xhc-sim-"         # tools/backend_sim.py pins its maps there
LB_PIN_PREFIX = "xhc-lb-"           # tools/lb_forwarder.py pins its objects there
LISTEN_BACKLOG = 65535

# nftables verdicts per kind of set (only SYNs, i.e. syn set and ack clear, match)
KINDS = {
    "drop": "drop",                                     # -> timeout
    "refuse": "reject with tcp reset",                  # -> refused (RST)
    "unreach": "reject with icmpx type host-unreachable",  # -> ICMP error
}

_V4_NET = ipaddress.ip_network(V4_BLOCK)
_V6_NET = ipaddress.ip_network(V6_BLOCK)


XDP_PASS_OBJ = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                            "build", "tools", "xdp_pass.bpf.o")


class LabError(RuntimeError):
    """A lab operation failed (the message names the command and its error)."""


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

def _run(argv: Sequence[str], *, input: str | None = None, check: bool = True,
         timeout: float = 30.0) -> subprocess.CompletedProcess:
    try:
        cp = subprocess.run(list(argv), input=input, capture_output=True,
                            text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise LabError(f"{argv[0]}: not installed ({e})") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out after {timeout}s: {shlex.join(argv)}") from None
    if check and cp.returncode != 0:
        raise LabError(f"command failed ({cp.returncode}): {shlex.join(argv)}: "
                       f"{(cp.stderr or cp.stdout).strip()}")
    return cp


def _ns_cmd(ns: str, cmd: str | Sequence[str]) -> list[str]:
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    return ["ip", "netns", "exec", ns, *cmd]


def _proc_starttime(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    rest = data[data.rindex(b")") + 2:].split()
    return int(rest[19])            # field 22 overall


def _proc_alive(pid: int | None, starttime: int | None) -> bool:
    if not pid:
        return False
    st = _proc_starttime(pid)
    return (st is not None and (starttime is None or st == starttime)
            and not _is_zombie(pid))


def _proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def new_suffix() -> str:
    """A short unique suffix: pid and 16 random bits, in hex (<= 10 chars)."""
    return f"{os.getpid():x}{random.getrandbits(16):04x}"


def netns_list() -> list[str]:
    cp = _run(["ip", "-j", "netns", "list"], check=False)
    if cp.returncode != 0 or not cp.stdout.strip():
        return []
    return [e["name"] for e in json.loads(cp.stdout)]


def host_links() -> list[str]:
    cp = _run(["ip", "-j", "link", "show"])
    return [e["ifname"] for e in json.loads(cp.stdout or "[]")]


# --------------------------------------------------------------------------
# Entering a network namespace from this thread only (setns(2) on a thread
# changes only that thread; sockets keep the namespace they were made in)
# --------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


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


# --------------------------------------------------------------------------
# Packet building (checksums computed here)
# --------------------------------------------------------------------------

def inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


_TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}


def _tcp_flags(flags: str | int) -> int:
    if isinstance(flags, int):
        return flags
    v = 0
    for c in flags.upper():
        v |= _TCP_FLAGS[c]
    return v


def make_ip_tcp(src_ip: str, src_port: int, dst_ip: str, dst_port: int,
                seq: int, ack: int, flags: str | int = "S", *,
                window: int = 65535, ttl: int = 64, mss: int | None = 1460,
                ip_id: int | None = None) -> bytes:
    """An IPv4 or IPv6 packet (header included) carrying one TCP segment."""
    src, dst = ipaddress.ip_address(src_ip), ipaddress.ip_address(dst_ip)
    if src.version != dst.version:
        raise ValueError("source and destination address families differ")
    opts = struct.pack("!BBH", 2, 4, mss) if mss else b""
    doff = (20 + len(opts)) // 4
    tcp = struct.pack("!HHIIBBHHH", src_port, dst_port, seq & 0xFFFFFFFF,
                      ack & 0xFFFFFFFF, doff << 4, _tcp_flags(flags), window,
                      0, 0) + opts
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6, len(tcp))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(tcp), 6)
    csum = inet_checksum(pseudo + tcp)
    tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
    if src.version == 4:
        if ip_id is None:
            ip_id = random.getrandbits(16)
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ip_id,
                          0x4000, ttl, 6, 0, src.packed, dst.packed)
        hdr = hdr[:10] + struct.pack("!H", inet_checksum(hdr)) + hdr[12:]
    else:
        hdr = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, ttl,
                          src.packed, dst.packed)
    return hdr + tcp


def make_eth_frame(src_mac: str, dst_mac: str, l3: bytes) -> bytes:
    """Ethernet frame around an IP packet (EtherType from the IP version)."""
    etype = 0x0800 if (l3[0] >> 4) == 4 else 0x86DD
    return (bytes.fromhex(dst_mac.replace(":", "")) +
            bytes.fromhex(src_mac.replace(":", "")) +
            struct.pack("!H", etype) + l3)


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


# --------------------------------------------------------------------------
# A minimal XDP_TX program run with BPF_PROG_RUN live frames (the same kernel
# path the engine's probe_tx uses), to check that XDP_TX frames from the
# prober veth reach the backend (needs GRO on the backend veth).
# --------------------------------------------------------------------------

_SYS_bpf = 321 if os.uname().machine == "x86_64" else 280   # aarch64: 280
_BPF_PROG_LOAD = 5
_BPF_PROG_TEST_RUN = 10
_BPF_PROG_TYPE_XDP = 6
_BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    r = _libc.syscall(_SYS_bpf, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf({cmd}): {os.strerror(e)}")
    return r


def load_xdp_tx_prog() -> int:
    """Load `r0 = XDP_TX; exit` and return its fd."""
    insns = struct.pack("<BBhi", 0xB7, 0, 0, 3) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    ibuf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQ", attr, 0, _BPF_PROG_TYPE_XDP, 2,
                     ctypes.addressof(ibuf), ctypes.addressof(lic))
    attr[48:48 + 8] = b"xhclabtx"
    return _bpf(_BPF_PROG_LOAD, attr)


_BPF_OBJ_PIN = 6


def bpf_obj_pin(fd: int, path: str) -> None:
    """Pin a BPF object fd at PATH on bpffs (used by tests of pin dirs)."""
    pbuf = ctypes.create_string_buffer(path.encode())
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<QII", attr, 0, ctypes.addressof(pbuf), fd, 0)
    _bpf(_BPF_OBJ_PIN, attr)


def xdp_live_run(ns: str, prog_fd: int, ifindex: int, frame: bytes,
                 repeat: int = 1, batch_size: int = 0) -> None:
    """BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES on IFINDEX (in NS)."""
    data = ctypes.create_string_buffer(frame, len(frame))
    ctx = ctypes.create_string_buffer(struct.pack("<6I", 0, len(frame), 0,
                                                  ifindex, 0, 0), 24)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIIIQQII", attr, 0, prog_fd, 0, len(frame), 0,
                     ctypes.addressof(data), 0, max(1, repeat), 0)
    struct.pack_into("<IIQQIII", attr, 40, 24, 0, ctypes.addressof(ctx), 0,
                     _BPF_F_TEST_XDP_LIVE_FRAMES, 0, batch_size)
    with in_netns(ns):                  # ingress_ifindex is looked up there
        _bpf(_BPF_PROG_TEST_RUN, attr)


# --------------------------------------------------------------------------
# Address ranges for the nftables sets
# --------------------------------------------------------------------------

def _parse_target(t) -> tuple[int, int, int]:
    """'a.b.c.d', 'CIDR', 'a-b' or an ipaddress object -> (version, lo, hi)."""
    if isinstance(t, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return t.version, int(t), int(t)
    if isinstance(t, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return t.version, int(t.network_address), int(t.broadcast_address)
    s = str(t).strip()
    if "-" in s:
        a, b = (ipaddress.ip_address(x.strip()) for x in s.split("-", 1))
        if a.version != b.version or int(b) < int(a):
            raise ValueError(f"bad address range {s!r}")
        return a.version, int(a), int(b)
    if "/" in s:
        n = ipaddress.ip_network(s, strict=False)
        return n.version, int(n.network_address), int(n.broadcast_address)
    a = ipaddress.ip_address(s)
    return a.version, int(a), int(a)


def _check_lab_range(ver: int, lo: int, hi: int) -> None:
    net = _V4_NET if ver == 4 else _V6_NET
    if lo < int(net.network_address) or hi > int(net.broadcast_address):
        raise ValueError(f"{_fmt_range(ver, lo, hi)} is outside the lab block {net}")


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _subtract(ranges: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
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


def _fmt_range(ver: int, lo: int, hi: int) -> str:
    ip = ipaddress.IPv4Address if ver == 4 else ipaddress.IPv6Address
    return str(ip(lo)) if lo == hi else f"{ip(lo)}-{ip(hi)}"


def _nft_elem_to_range(e) -> tuple[int, int, int]:
    if isinstance(e, str):
        return _parse_target(e)
    if "prefix" in e:
        return _parse_target(f"{e['prefix']['addr']}/{e['prefix']['len']}")
    if "range" in e:
        return _parse_target(f"{e['range'][0]}-{e['range'][1]}")
    raise ValueError(f"unexpected nft set element {e!r}")


# --------------------------------------------------------------------------
# Listener process (one per port; never accept()s)
# --------------------------------------------------------------------------

_LISTENER_SRC = r"""
import os, signal, socket, sys
port, v6, backlog = int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5])
socks = []
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port)); s.listen(backlog); socks.append(s)
if v6:
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.bind(("::", port)); s6.listen(backlog); socks.append(s6)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.signal(signal.SIGINT, signal.SIG_IGN)
os.write(1, b"ready\n"); os.close(1)
while True:
    signal.pause()
"""

_PR_SET_PDEATHSIG = 1


def _pdeathsig():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _kill_pids(pids: Iterable[tuple[int, int | None]], grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL, only processes whose start time still matches."""
    live = [(p, st) for p, st in pids if _proc_alive(p, st)]
    for p, _ in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGTERM)
    for sig, wait in ((signal.SIGKILL, grace), (None, 1.0)):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for p, _ in live:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(p, os.WNOHANG)         # reap our own children
            live = [(p, st) for p, st in live if _proc_alive(p, st)]
            if not live:
                return
            time.sleep(0.01)
        if sig is not None:
            for p, _ in live:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, sig)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            d = f.read()
        return d[d.rindex(b")") + 2:d.rindex(b")") + 3] == b"Z"
    except OSError:
        return True


# --------------------------------------------------------------------------
# Teardown registry (atexit, SIGINT, SIGTERM)
# --------------------------------------------------------------------------

_LIVE: dict[str, "Lab"] = {}
_LIVE_LOCK = threading.RLock()
_PREV_HANDLERS: dict[int, object] = {}
_HANDLERS_INSTALLED = False


def _close_all() -> None:
    with _LIVE_LOCK:
        labs = list(_LIVE.values())
    for lab in labs:
        if lab.owner_pid == os.getpid() and not lab.detached:
            with contextlib.suppress(Exception):
                lab.close()


def _on_signal(signum, frame):
    _close_all()
    prev = _PREV_HANDLERS.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)
    elif prev != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(_close_all)
    if threading.current_thread() is not threading.main_thread():
        return                     # signal handlers only from the main thread
    for sig in (signal.SIGINT, signal.SIGTERM):
        prev = signal.getsignal(sig)
        if prev is None or prev == signal.SIG_IGN:
            continue               # set by non-Python code, or ignored: leave it
        _PREV_HANDLERS[sig] = prev
        signal.signal(sig, _on_signal)


# --------------------------------------------------------------------------
# The lab
# --------------------------------------------------------------------------

class Lab:
    """A prober namespace and a backend namespace joined by a veth pair."""

    # ---- addresses (static) -------------------------------------------

    @staticmethod
    def addr(i: int, host: int | None = None) -> str:
        """Backend IPv4 address.

        ``Lab.addr(i)``: the i-th address of 198.18.0.0/16, skipping host
        parts .0 and .255 (254 a block, i in 0..65023: 0 -> 198.18.0.1,
        253 -> 198.18.0.254, 254 -> 198.18.1.1).
        ``Lab.addr(block, host)``: 198.18.<block>.<host>."""
        if host is not None:
            if not (0 <= i <= 255 and 0 <= host <= 255):
                raise ValueError("block and host must be 0..255")
            return f"198.18.{i}.{host}"
        if not 0 <= i < 256 * 254:
            raise ValueError(f"backend index {i} out of range 0..{256 * 254 - 1}")
        return f"198.18.{i // 254}.{i % 254 + 1}"

    @staticmethod
    def addrs(n: int, start: int = 0) -> list[str]:
        """n consecutive backend addresses by index (see addr)."""
        return [Lab.addr(i) for i in range(start, start + n)]

    @staticmethod
    def addr6(i: int) -> str:
        """The i-th IPv6 backend address: 2001:2::<i+1>."""
        if not 0 <= i < 2 ** 63:
            raise ValueError("index out of range")
        return str(_V6_NET.network_address + i + 1)

    @staticmethod
    def addrs6(n: int, start: int = 0) -> list[str]:
        return [Lab.addr6(i) for i in range(start, start + n)]

    # ---- construction --------------------------------------------------

    def __init__(self, listen: int | Iterable[int] = (80,), *,
                 name: str | None = None, drop: Iterable = (),
                 ipv6: bool = True, gro: bool = True, backend_xdp: bool = True,
                 detach: bool = False, _attach_state: dict | None = None):
        """Build a lab.

        listen: port or ports with a kernel listener in the backend ns.
        name: the suffix (default: pid + random bits).
        drop: addresses/CIDRs/ranges whose SYNs are dropped from the start.
        ipv6: also set up IPv6 (link 2001:2:0:ffff::/126, backends 2001:2::/64).
        gro: enable GRO on both veth ends (needed for XDP_TX; False only to
             demonstrate that frames are then dropped).
        backend_xdp: attach an XDP_PASS program (build/tools/xdp_pass.bpf.o)
             to the backend veth, as the backend side of a real NIC would
             behave: with GRO alone, frames XDP_TX'ed into the veth (xdphc's
             RSTs) wait in its ring until the next frame arrives.
        detach: leave the lab up when this process exits (shell CLI); listener
             processes are started in their own session and not tied to us."""
        self.owner_pid = os.getpid()
        self.detached = detach
        self._closed = False
        self.listeners: dict[int, tuple[int, int | None]] = {}   # port -> (pid, start)
        self._procs: dict[int, subprocess.Popen] = {}
        self._sets: dict[tuple[str, int, bool], dict] = {}
        self._xdp_fd: int | None = None
        self._loss = 0

        if _attach_state is not None:
            self._load_state(_attach_state)
            return

        sfx = name or new_suffix()
        if not SFX_RE.match(sfx):
            raise LabError(f"lab name {sfx!r}: use 1-11 characters of [0-9a-z]")
        self._set_names(sfx)
        self.ipv6 = ipv6
        self.gro = gro
        self.backend_xdp = backend_xdp
        ports = [listen] if isinstance(listen, int) else list(listen)
        for p in ports:
            if not 1 <= int(p) <= 65535:
                raise LabError(f"listen port {p} out of range 1..65535")

        existing = set(netns_list())
        for ns in (self.prober_ns, self.backend_ns):
            if ns in existing or os.path.exists(f"/run/netns/{ns}"):
                raise LabError(f"namespace {ns} already exists (another lab named "
                               f"{sfx!r}? use `xhclab.py down {sfx}`)")
        with _LIVE_LOCK:
            if sfx in _LIVE:
                raise LabError(f"lab {sfx!r} already open in this process")
            _LIVE[sfx] = self
        _install_handlers()
        try:
            self._build()
            for p in ports:
                self.listen(int(p))
            drop = list(drop)
            if drop:
                self.drop_add(drop)
            self._save_state()
        except BaseException:
            with contextlib.suppress(Exception):
                self.close()
            raise

    def _set_names(self, sfx: str) -> None:
        self.sfx = sfx
        self.prober_ns = NS_PREFIX_P + sfx
        self.backend_ns = NS_PREFIX_B + sfx
        self.prober_if = LINK_PREFIX_P + sfx
        self.backend_if = LINK_PREFIX_B + sfx
        self.prober_ip, self.backend_ip = PROBER_IP, BACKEND_IP
        self.prober_ip6, self.backend_ip6 = PROBER_IP6, BACKEND_IP6
        self.state_file = os.path.join(STATE_DIR, f"{sfx}.json")

    def _build(self) -> None:
        P, B = self.prober_ns, self.backend_ns
        # record the lab before creating anything, so `cleanup` knows it
        self._save_state()
        _run(["ip", "netns", "add", P])
        _run(["ip", "netns", "add", B])
        # create the pair directly inside the namespaces: never in the host ns
        _run(["ip", "link", "add", self.prober_if, "netns", P, "type", "veth",
              "peer", "name", self.backend_if, "netns", B])
        self._sysctl(B, {
            "net.core.somaxconn": 65535,
            "net.ipv4.tcp_max_syn_backlog": 65535,
            "net.ipv4.conf.all.rp_filter": 0,
            "net.ipv4.conf.default.rp_filter": 0,
            f"net.ipv4.conf.{self.backend_if}.rp_filter": 0,
            "net.ipv4.conf.lo.rp_filter": 0,
        })
        self._sysctl(P, {
            "net.ipv4.conf.all.rp_filter": 0,
            "net.ipv4.conf.default.rp_filter": 0,
            f"net.ipv4.conf.{self.prober_if}.rp_filter": 0,
            # bpf_fib_lookup() (xdphc's next-hop lookup) refuses interfaces
            # without forwarding, like any LB node's data interface has it on
            f"net.ipv4.conf.{self.prober_if}.forwarding": 1,
        })
        for ns, dev in ((P, self.prober_if), (B, self.backend_if)):
            # No DAD: a tentative link-local address cannot source neighbour
            # solicitations, so for the first 1-2 s after link up a namespace
            # could not resolve its peer's IPv6 address itself.
            kv = {}
            for c in ("all", "default", dev):
                kv[f"net.ipv6.conf.{c}.accept_dad"] = 0
                kv[f"net.ipv6.conf.{c}.dad_transmits"] = 0
            kv[f"net.ipv6.conf.{dev}.router_solicitations"] = 0
            kv[f"net.ipv6.conf.{dev}.accept_ra"] = 0
            if self.ipv6:
                self._sysctl(ns, kv)
            else:
                self._sysctl(ns, {f"net.ipv6.conf.{c}.disable_ipv6": 1
                                  for c in ("all", "default", dev)})
        pcmds = [
            "link set lo up",
            f"addr add {PROBER_IP}/{LINK_PLEN} dev {self.prober_if}",
            f"link set {self.prober_if} up",
            f"route add {V4_BLOCK} via {BACKEND_IP} dev {self.prober_if}",
            # the prober forwards (bpf_fib_lookup needs it): discard the
            # sink's SYN-ACKs silently, an ICMP error would end the SYN-RECV
            f"route add blackhole {SINK_NET}",
        ]
        bcmds = [
            "link set lo up",
            f"addr add {BACKEND_IP}/{LINK_PLEN} dev {self.backend_if}",
            f"link set {self.backend_if} up",
            f"route add local {V4_BLOCK} dev lo",
            f"route add {SINK_NET} via {PROBER_IP} dev {self.backend_if}",
        ]
        if self.ipv6:
            pcmds[2:2] = [f"addr add {PROBER_IP6}/{LINK6_PLEN} dev {self.prober_if} nodad"]
            pcmds.append(f"route add {V6_BLOCK} via {BACKEND_IP6} dev {self.prober_if}")
            bcmds[2:2] = [f"addr add {BACKEND_IP6}/{LINK6_PLEN} dev {self.backend_if} nodad"]
            bcmds.append(f"route add local {V6_BLOCK} dev lo")
        _run(["ip", "-n", P, "-batch", "-"], input="\n".join(pcmds) + "\n")
        _run(["ip", "-n", B, "-batch", "-"], input="\n".join(bcmds) + "\n")
        if self.gro:
            self._enable_gro(P, self.prober_if)
            self._enable_gro(B, self.backend_if)
        if self.backend_xdp:
            self._attach_pass(B, self.backend_if)
        self._nft_init()
        self.prober_mac = self._link_info(P, self.prober_if)["address"]
        self.backend_mac = self._link_info(B, self.backend_if)["address"]
        self.prober_ifindex = self._link_info(P, self.prober_if)["ifindex"]
        self.backend_ifindex = self._link_info(B, self.backend_if)["ifindex"]

    @staticmethod
    def _sysctl(ns: str, kv: dict) -> None:
        _run(_ns_cmd(ns, ["sysctl", "-q", "-w", *[f"{k}={v}" for k, v in kv.items()]]))

    @staticmethod
    def _link_info(ns: str, dev: str) -> dict:
        return json.loads(_run(["ip", "-j", "-n", ns, "link", "show", "dev", dev]).stdout)[0]

    @staticmethod
    def gro_state(ns: str, dev: str) -> bool:
        out = _run(_ns_cmd(ns, ["ethtool", "-k", dev])).stdout
        m = re.search(r"^generic-receive-offload:\s*(on|off)", out, re.M)
        return bool(m and m.group(1) == "on")

    def _enable_gro(self, ns: str, dev: str) -> None:
        _run(_ns_cmd(ns, ["ethtool", "-K", dev, "gro", "on"]))
        if not self.gro_state(ns, dev):
            raise LabError(f"GRO did not switch on for {dev} in {ns}; XDP_TX frames "
                           f"into it would be dropped")

    @staticmethod
    def _attach_pass(ns: str, dev: str) -> None:
        if not os.path.exists(XDP_PASS_OBJ):
            raise LabError(f"{XDP_PASS_OBJ} is missing: run `make` first")
        _run(_ns_cmd(ns, ["ip", "link", "set", "dev", dev, "xdpdrv", "obj",
                          XDP_PASS_OBJ, "sec", "xdp"]))

    def set_gro(self, side: str, on: bool) -> None:
        """Switch GRO on/off on one veth end ('prober' or 'backend')."""
        ns, dev = self._side(side)
        _run(_ns_cmd(ns, ["ethtool", "-K", dev, "gro", "on" if on else "off"]))
        if self.gro_state(ns, dev) != on:
            raise LabError(f"GRO of {dev} did not switch {'on' if on else 'off'}")

    def _side(self, side: str) -> tuple[str, str]:
        if side == "prober":
            return self.prober_ns, self.prober_if
        if side == "backend":
            return self.backend_ns, self.backend_if
        raise ValueError("side must be 'prober' or 'backend'")

    # ---- state file -------------------------------------------------------

    def _state(self) -> dict:
        return {
            "sfx": self.sfx, "prober_ns": self.prober_ns, "backend_ns": self.backend_ns,
            "prober_if": self.prober_if, "backend_if": self.backend_if,
            "ipv6": getattr(self, "ipv6", True), "gro": getattr(self, "gro", True),
            "owner_pid": None if self.detached else self.owner_pid,
            "owner_start": None if self.detached else _proc_starttime(self.owner_pid),
            "listeners": {str(p): list(v) for p, v in self.listeners.items()},
            "prober_mac": getattr(self, "prober_mac", None),
            "backend_mac": getattr(self, "backend_mac", None),
            "prober_ifindex": getattr(self, "prober_ifindex", None),
            "backend_ifindex": getattr(self, "backend_ifindex", None),
            "loss": self._loss,
        }

    def _save_state(self) -> None:
        os.makedirs(STATE_DIR, exist_ok=True)
        tmp = self.state_file + f".tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(self._state(), f, indent=1)
        os.replace(tmp, self.state_file)

    def _load_state(self, st: dict) -> None:
        self._set_names(st["sfx"])
        self.ipv6 = st.get("ipv6", True)
        self.gro = st.get("gro", True)
        self.owner_pid = st.get("owner_pid") or os.getpid()
        self.detached = st.get("owner_pid") is None
        self.listeners = {int(p): (v[0], v[1]) for p, v in st.get("listeners", {}).items()}
        for k in ("prober_mac", "backend_mac", "prober_ifindex", "backend_ifindex"):
            setattr(self, k, st.get(k))
        self._loss = st.get("loss", 0)

    @classmethod
    def attach(cls, sfx: str) -> "Lab":
        """Open a lab left up by `xhclab.py up` (reads /run/xhclab/<sfx>.json).

        Closing it tears the lab down; just drop the object to leave it up."""
        if not SFX_RE.match(sfx):
            raise LabError(f"lab name {sfx!r}: use 1-11 characters of [0-9a-z]")
        path = os.path.join(STATE_DIR, f"{sfx}.json")
        try:
            with open(path) as f:
                st = json.load(f)
        except FileNotFoundError:
            raise LabError(f"no lab {sfx!r} ({path} not found)") from None
        lab = cls(_attach_state=st)
        lab._nft_load()
        return lab

    # ---- teardown ---------------------------------------------------------

    def close(self) -> None:
        """Tear down: kill our listeners, delete our link and namespaces (by
        exact name), remove the state file. Idempotent; safe on a partly
        built lab."""
        if self._closed:
            return
        if self._xdp_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._xdp_fd)
            self._xdp_fd = None
        for p in list(self._procs.values()):
            with contextlib.suppress(Exception):
                p.kill()
        _kill_pids(self.listeners.values())
        for p in list(self._procs.values()):
            with contextlib.suppress(Exception):
                p.wait(timeout=2)
        self._procs.clear()
        self.listeners.clear()
        present = set(netns_list())
        if self.prober_ns in present:
            _run(["ip", "-n", self.prober_ns, "link", "del", self.prober_if], check=False)
        for ns in (self.prober_ns, self.backend_ns):
            if ns in present or os.path.exists(f"/run/netns/{ns}"):
                others = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
                if others:
                    print(f"xhclab: warning: processes still in {ns}: {' '.join(others)} "
                          f"(not ours to kill; the namespace lives until they exit)",
                          file=sys.stderr)
                _run(["ip", "netns", "del", ns], check=False)
        with contextlib.suppress(Exception):
            remove_sim_pins(self.sfx)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.state_file)
        self._closed = True
        with _LIVE_LOCK:
            if _LIVE.get(self.sfx) is self:
                del _LIVE[self.sfx]

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Lab {self.sfx} {self.prober_ns}/{self.backend_ns}>"

    # ---- exec --------------------------------------------------------------

    def prober_exec(self, cmd: str | Sequence[str], *, check: bool = True,
                    timeout: float = 30.0, input: str | None = None
                    ) -> subprocess.CompletedProcess:
        """Run CMD in the prober ns via `ip netns exec` (a str goes to sh -c).
        Returns the CompletedProcess (text stdout/stderr). Do not run the engine
        this way: use nsenter_prefix()."""
        return _run(_ns_cmd(self.prober_ns, cmd), check=check, timeout=timeout, input=input)

    def backend_exec(self, cmd: str | Sequence[str], *, check: bool = True,
                     timeout: float = 30.0, input: str | None = None
                     ) -> subprocess.CompletedProcess:
        """Run CMD in the backend ns via `ip netns exec` (a str goes to sh -c)."""
        return _run(_ns_cmd(self.backend_ns, cmd), check=check, timeout=timeout, input=input)

    def nsenter_prefix(self) -> list[str]:
        """Argv prefix that runs a command in the prober's network namespace only
        (mount namespace and /sys/fs/bpf stay the host's)."""
        return ["nsenter", f"--net=/run/netns/{self.prober_ns}"]

    def backend_nsenter_prefix(self) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.backend_ns}"]

    # ---- listeners --------------------------------------------------------

    def listen(self, port: int) -> int:
        """Start a kernel listener on 0.0.0.0:PORT (and [::]:PORT) in the
        backend ns: listen(65535), never accept(). Returns its pid."""
        port = int(port)
        if port in self.listeners and _proc_alive(*self.listeners[port]):
            return self.listeners[port][0]
        argv = _ns_cmd(self.backend_ns, [sys.executable, "-I", "-S", "-c", _LISTENER_SRC,
                                         LISTENER_MARK, self.sfx, str(port),
                                         "1" if self.ipv6 else "0", str(LISTEN_BACKLOG)])
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, close_fds=True,
                             start_new_session=True,
                             preexec_fn=None if self.detached else _pdeathsig)
        ok = False
        try:
            r, _, _ = select.select([p.stdout], [], [], 10.0)
            ok = bool(r) and p.stdout.readline() == b"ready\n"
            if not ok:
                p.kill()
                err = p.stderr.read().decode(errors="replace").strip() if p.poll() is not None else ""
                p.wait(timeout=5)
                raise LabError(f"listener on port {port} in {self.backend_ns} did not "
                               f"start: {err or 'no ready line within 10 s'}")
        finally:
            p.stdout.close()
            p.stderr.close()
        self.listeners[port] = (p.pid, _proc_starttime(p.pid))
        if not self.detached:
            self._procs[port] = p
        self._save_state()
        return p.pid

    def unlisten(self, port: int) -> None:
        """Stop the listener of PORT (the port then answers RST: 'refused')."""
        port = int(port)
        v = self.listeners.pop(port, None)
        p = self._procs.pop(port, None)
        if v:
            _kill_pids([v])
        if p:
            with contextlib.suppress(Exception):
                p.wait(timeout=2)
        self._save_state()

    # ---- nftables sets ----------------------------------------------------

    def _set_name(self, kind: str, ver: int, ported: bool) -> str:
        return f"{kind}{ver}{'p' if ported else ''}"

    def _nft_init(self) -> None:
        sets, rules = [], []
        for kind, verdict in KINDS.items():
            for ver, typ, match in ((4, "ipv4_addr", "ip daddr"), (6, "ipv6_addr", "ip6 daddr")):
                n, np_ = self._set_name(kind, ver, False), self._set_name(kind, ver, True)
                sets.append(f"  set {n} {{ type {typ}; flags interval; }}")
                sets.append(f"  set {np_} {{ type {typ} . inet_service; flags interval; }}")
                rules.append(f"    tcp flags & (syn | ack) == syn {match} @{n} {verdict}")
                rules.append(f"    tcp flags & (syn | ack) == syn {match} . tcp dport @{np_} {verdict}")
        conf = (f"table inet {NFT_TABLE} {{\n" + "\n".join(sets) + "\n"
                "  chain input {\n    type filter hook input priority -10; policy accept;\n"
                "    jump loss\n" + "\n".join(rules) + "\n  }\n"
                "  chain loss {\n  }\n}\n")
        self._nft(conf)

    def _nft(self, script: str) -> None:
        _run(_ns_cmd(self.backend_ns, ["nft", "-f", "-"]), input=script)

    def _nft_load(self) -> None:
        """Initialise the Python mirror of the sets from the kernel (attach)."""
        self._sets.clear()
        cp = self.backend_exec(["nft", "-j", "list", "table", "inet", NFT_TABLE], check=False)
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
                    _, lo, hi = _nft_elem_to_range(a)
                    d.setdefault(int(port), []).append((lo, hi))
                else:
                    _, lo, hi = _nft_elem_to_range(e)
                    d.setdefault(None, []).append((lo, hi))
            for k in d:
                d[k] = _merge(d[k])

    def _set_change(self, kind: str, targets, port: int | None, add: bool) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}")
        if isinstance(targets, (str, ipaddress.IPv4Address, ipaddress.IPv6Address,
                                ipaddress.IPv4Network, ipaddress.IPv6Network)):
            targets = [targets]
        if port is not None and not 1 <= int(port) <= 65535:
            raise ValueError(f"port {port} out of range")
        by_ver: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for t in targets:
            ver, lo, hi = _parse_target(t)
            _check_lab_range(ver, lo, hi)
            by_ver[ver].append((lo, hi))
        script = []
        for ver, rs in by_ver.items():
            if not rs:
                continue
            key = (kind, ver, port is not None)
            d = self._sets.setdefault(key, {})
            cur = d.get(port, [])
            d[port] = _merge(cur + rs) if add else _subtract(cur, _merge(rs))
            if not d[port]:
                del d[port]
            script.append(self._set_script(kind, ver, port is not None))
        if script:
            self._nft("".join(script))      # one nft invocation, one transaction

    def _set_script(self, kind: str, ver: int, ported: bool) -> str:
        name = self._set_name(kind, ver, ported)
        d = self._sets.get((kind, ver, ported), {})
        elems = []
        for port, rs in sorted(d.items(), key=lambda kv: kv[0] or 0):
            for lo, hi in rs:
                a = _fmt_range(ver, lo, hi)
                elems.append(f"{a} . {port}" if ported else a)
        s = f"flush set inet {NFT_TABLE} {name}\n"
        for i in range(0, len(elems), 4096):
            s += f"add element inet {NFT_TABLE} {name} {{ {', '.join(elems[i:i + 4096])} }}\n"
        return s

    def set_add(self, kind: str, targets, port: int | None = None) -> None:
        """Add addresses to a set of KIND ('drop', 'refuse', 'unreach').

        targets: one or a list of 'a.b.c.d', 'CIDR', 'first-last' (IPv4 or
        IPv6, inside the lab blocks) or ipaddress objects. port: only SYNs to
        that port (addr . port set); None: every port. One nft call."""
        self._set_change(kind, targets, port, True)

    def set_del(self, kind: str, targets, port: int | None = None) -> None:
        """Remove addresses (also parts of ranges added earlier). One nft call."""
        self._set_change(kind, targets, port, False)

    def set_clear(self, kind: str | None = None) -> None:
        """Empty the sets of KIND (all kinds if None). One nft call."""
        kinds = [kind] if kind else list(KINDS)
        script = ""
        for k in kinds:
            if k not in KINDS:
                raise ValueError(f"kind must be one of {sorted(KINDS)}")
            for ver in (4, 6):
                for ported in (False, True):
                    self._sets.pop((k, ver, ported), None)
                    script += f"flush set inet {NFT_TABLE} {self._set_name(k, ver, ported)}\n"
        self._nft(script)

    def set_list(self, kind: str, port: int | None = None) -> list[str]:
        """Current ranges of a KIND set ('a.b.c.d' or 'first-last'), for PORT
        (None: the all-ports sets)."""
        out = []
        for ver in (4, 6):
            for lo, hi in self._sets.get((kind, ver, port is not None), {}).get(port, []):
                out.append(_fmt_range(ver, lo, hi))
        return out

    # convenience names for the common kinds
    def drop_add(self, targets, port: int | None = None) -> None:
        """SYNs to these addresses (optionally only to PORT) are dropped: the
        backends time out."""
        self.set_add("drop", targets, port)

    def drop_del(self, targets, port: int | None = None) -> None:
        self.set_del("drop", targets, port)

    def drop_clear(self) -> None:
        self.set_clear("drop")

    def dropped(self, port: int | None = None) -> list[str]:
        return self.set_list("drop", port)

    def refuse_add(self, targets, port: int | None = None) -> None:
        """SYNs to these addresses are answered with RST even if a listener exists."""
        self.set_add("refuse", targets, port)

    def refuse_del(self, targets, port: int | None = None) -> None:
        self.set_del("refuse", targets, port)

    def unreach_add(self, targets, port: int | None = None) -> None:
        """SYNs to these addresses are answered with ICMP host-unreachable."""
        self.set_add("unreach", targets, port)

    def unreach_del(self, targets, port: int | None = None) -> None:
        self.set_del("unreach", targets, port)

    def set_syn_loss(self, percent: int) -> None:
        """Drop PERCENT % of all incoming SYNs at random (0 switches it off)."""
        percent = int(percent)
        if not 0 <= percent <= 100:
            raise ValueError("percent must be 0..100")
        s = f"flush chain inet {NFT_TABLE} loss\n"
        if percent:
            s += (f"add rule inet {NFT_TABLE} loss tcp flags & (syn | ack) == syn "
                  f"numgen random mod 100 < {percent} drop\n")
        self._nft(s)
        self._loss = percent
        self._save_state()

    # ---- observation --------------------------------------------------------

    def syn_recv_count(self) -> int:
        """Number of SYN-RECV sockets (half-open) in the backend ns."""
        out = self.backend_exec(["ss", "-Htn", "state", "syn-recv"]).stdout
        return sum(1 for line in out.splitlines() if line.strip())

    def prober_snmp(self) -> dict[str, int]:
        """All /proc/net/{snmp,netstat,snmp6} counters of the prober ns."""
        return read_snmp(self.prober_ns)

    def backend_snmp(self) -> dict[str, int]:
        return read_snmp(self.backend_ns)

    def prober_tcp_out_rsts(self) -> int:
        """TcpOutRsts of the prober ns (RSTs its kernel sent)."""
        return read_snmp(self.prober_ns)["Tcp.OutRsts"]

    def prober_neigh(self) -> list[dict]:
        """Neighbour entries of the prober veth (ip -j neigh)."""
        out = _run(["ip", "-j", "-n", self.prober_ns, "neigh", "show",
                    "dev", self.prober_if]).stdout
        return json.loads(out or "[]")

    def flush_prober_neigh(self) -> None:
        """Remove every neighbour entry of the prober veth (the kernel's own
        connect()s in connect_check create them)."""
        _run(["ip", "-n", self.prober_ns, "neigh", "flush", "dev", self.prober_if],
             check=False)

    # ---- active checks -------------------------------------------------------

    def connect_check(self, ip: str, port: int = 80, timeout: float = 1.0) -> str:
        """connect() from the prober ns: 'open', 'refused' or 'timeout'.

        An ICMP host-unreachable answer gives 'unreachable', but only if it
        arrives while connect() does not hold the socket lock: in this lab the
        answer to the first SYN often comes back inside the connect() call and
        the kernel drops it (TcpExtLockDroppedIcmps); the SYN retransmitted
        after 1 s then gets 'unreachable'. Use a timeout > 1 s for those."""
        return self.connect_check_many([(ip, port)], timeout)[(ip, port)]

    def connect_check_many(self, targets: Iterable[tuple[str, int]],
                           timeout: float = 1.0, parallel: int = 256
                           ) -> dict[tuple[str, int], str]:
        """Non-blocking connect()s from the prober ns, PARALLEL at a time,
        each with TIMEOUT. Open connections are closed with RST (SO_LINGER 0)
        so the backend's accept queue does not fill up."""
        targets = list(dict.fromkeys((str(ip), int(p)) for ip, p in targets))
        res: dict[tuple[str, int], str] = {}
        for i in range(0, len(targets), parallel):
            res.update(self._connect_batch(targets[i:i + parallel], timeout))
        return res

    def _connect_batch(self, targets, timeout):
        res = {}
        socks: dict[int, tuple[socket.socket, tuple[str, int]]] = {}
        poller = select.poll()
        try:
            with in_netns(self.prober_ns):
                for t in targets:
                    fam = socket.AF_INET6 if ":" in t[0] else socket.AF_INET
                    s = socket.socket(fam, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.setblocking(False)
                    socks[s.fileno()] = (s, t)
            for fd, (s, t) in list(socks.items()):
                rc = s.connect_ex(t)
                if rc in (0, errno.EINPROGRESS):
                    poller.register(fd, select.POLLOUT)
                else:
                    res[t] = _classify(rc)
            deadline = time.monotonic() + timeout
            pending = len(targets) - len(res)
            while pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for fd, _ev in poller.poll(int(left * 1000) + 1):
                    s, t = socks[fd]
                    poller.unregister(fd)
                    res[t] = _classify(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
                    pending -= 1
        finally:
            for s, _ in socks.values():
                s.close()
        return {t: res.get(t, "timeout") for t in targets}      # in target order

    # ---- raw packets ---------------------------------------------------------

    def send_forged_synack(self, src_ip: str, src_port: int, dst_ip: str,
                           dst_port: int, seq: int, ack: int) -> None:
        """Send a raw TCP SYN-ACK from the backend ns (src_ip: a backend address,
        dst_ip: normally the prober's 198.19.255.1), checksums computed here."""
        send_raw_ip(self.backend_ns, make_ip_tcp(src_ip, src_port, dst_ip, dst_port,
                                                 seq, ack, "SA"))

    def probe_source_port(self, dst_ip: str, dst_port: int, timeout: float = 5.0) -> int:
        """The source port of a SYN the prober sends to dst_ip:dst_port, read off
        the backend veth with a packet socket (before nftables can drop it)."""
        sock = netns_socket(self.backend_ns, socket.AF_PACKET, socket.SOCK_RAW,
                            socket.htons(0x0800))
        try:
            sock.bind((self.backend_if, 0))
            sock.settimeout(0.2)
            want = (socket.inet_aton(dst_ip), dst_port)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    f = sock.recv(128)
                except socket.timeout:
                    continue
                ip = f[14:]
                if len(ip) < 40 or ip[9] != 6:
                    continue
                tcp = ip[(ip[0] & 0xf) * 4:]
                if (ip[16:20], int.from_bytes(tcp[2:4], "big")) == want and \
                        tcp[13] & 0x12 == 0x02:
                    return int.from_bytes(tcp[0:2], "big")
        finally:
            sock.close()
        raise LabError(f"no SYN to {dst_ip}:{dst_port} seen within {timeout}s")

    def send_raw_tcp(self, side: str, src_ip: str, src_port: int, dst_ip: str,
                     dst_port: int, seq: int, ack: int = 0, flags: str | int = "S",
                     **kw) -> None:
        """Send a raw TCP segment (any flags) from 'prober' or 'backend' ns."""
        ns, _ = self._side(side)
        send_raw_ip(ns, make_ip_tcp(src_ip, src_port, dst_ip, dst_port, seq, ack,
                                    flags, **kw))

    def send_raw_syn(self, src_ip: str, src_port: int, dst_ip: str, dst_port: int,
                     seq: int = 1) -> None:
        """A raw SYN from the prober ns (with SINK_SRC as source it leaves a
        SYN-RECV entry in the backend)."""
        self.send_raw_tcp("prober", src_ip, src_port, dst_ip, dst_port, seq, 0, "S")

    def inject_xdp_tx(self, frame: bytes, repeat: int = 1, batch_size: int = 0) -> None:
        """Run a trivial XDP_TX program with BPF_PROG_RUN live frames on the
        prober veth: FRAME (a full Ethernet frame) leaves the prober veth the
        way the engine's probes do (arrives only if the backend veth has GRO)."""
        if self._xdp_fd is None:
            self._xdp_fd = load_xdp_tx_prog()
        xdp_live_run(self.prober_ns, self._xdp_fd, self.prober_ifindex, frame,
                     repeat, batch_size)

    def syn_frame(self, dst_ip: str, dst_port: int, src_port: int, seq: int = 1,
                  src_ip: str | None = None) -> bytes:
        """Ethernet SYN frame prober veth -> backend veth (for inject_xdp_tx)."""
        if src_ip is None:
            src_ip = PROBER_IP6 if ":" in dst_ip else PROBER_IP
        return make_eth_frame(self.prober_mac, self.backend_mac,
                              make_ip_tcp(src_ip, src_port, dst_ip, dst_port, seq, 0, "S"))

    # ---- misc -------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The KEY=VALUE description printed by `xhclab.py up`."""
        return {
            "XHC_LAB": self.sfx,
            "XHC_PROBER_NS": self.prober_ns,
            "XHC_BACKEND_NS": self.backend_ns,
            "XHC_PROBER_IF": self.prober_if,
            "XHC_BACKEND_IF": self.backend_if,
            "XHC_PROBER_IP": PROBER_IP,
            "XHC_BACKEND_IP": BACKEND_IP,
            "XHC_PROBER_IP6": PROBER_IP6 if self.ipv6 else "",
            "XHC_BACKEND_IP6": BACKEND_IP6 if self.ipv6 else "",
            "XHC_PROBER_MAC": self.prober_mac or "",
            "XHC_BACKEND_MAC": self.backend_mac or "",
            "XHC_V4_BLOCK": V4_BLOCK,
            "XHC_V6_BLOCK": V6_BLOCK if self.ipv6 else "",
            "XHC_PORTS": ",".join(str(p) for p in sorted(self.listeners)),
            "XHC_NSENTER": shlex.join(self.nsenter_prefix()),
            "XHC_STATE": self.state_file,
        }


def _classify(rc: int) -> str:
    if rc == 0:
        return "open"
    if rc == errno.ECONNREFUSED:
        return "refused"
    if rc in (errno.ETIMEDOUT, errno.EINPROGRESS):
        return "timeout"
    if rc in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return f"error:{errno.errorcode.get(rc, rc)}"


# --------------------------------------------------------------------------
# bpffs pin directories for tests
# --------------------------------------------------------------------------

def _mount_fstype(path: str) -> str | None:
    """fstype of the mount containing PATH (longest mount-point prefix)."""
    path = os.path.realpath(path)
    best, fstype = "", None
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            mnt = parts[1].replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, fstype = mnt, parts[2]
    return fstype


def bpffs_mounted(root: str = PIN_ROOT) -> bool:
    with open("/proc/self/mounts") as f:
        return any(l.split()[1] == root and l.split()[2] == "bpf" for l in f)


def ensure_bpffs(root: str = PIN_ROOT) -> None:
    """Mount bpffs on /sys/fs/bpf if nothing is mounted there."""
    if not bpffs_mounted(root):
        _run(["mount", "-t", "bpf", "bpf", root])


def pin_dir_path(sfx: str | None = None) -> str:
    """A unique test pin directory name: /sys/fs/bpf/xhc-test-<sfx> (not created)."""
    sfx = sfx or new_suffix()
    if not SFX_RE.match(sfx):
        raise ValueError("bad suffix")
    return os.path.join(PIN_ROOT, PIN_PREFIX + sfx)


def remove_pin_dir(path: str) -> None:
    """Unlink every pin under PATH, then rmdir it (bottom-up). Only for
    /sys/fs/bpf/xhc-test-* directories on a bpf filesystem."""
    if not re.match(rf"^{re.escape(PIN_ROOT)}/{PIN_PREFIX}[0-9a-z]{{1,11}}$", path):
        raise ValueError(f"refusing to remove {path!r}: not a {PIN_ROOT}/{PIN_PREFIX}* dir")
    if not os.path.isdir(path):
        return
    if _mount_fstype(path) != "bpf":
        raise ValueError(f"refusing to remove {path!r}: not on a bpf filesystem")
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for fn in filenames:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(dirpath, fn))
        for dn in dirnames:
            p = os.path.join(dirpath, dn)
            if os.path.islink(p):
                os.unlink(p)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(p)
    os.rmdir(path)


TOOL_PIN_PREFIXES = (SIM_PIN_PREFIX, LB_PIN_PREFIX)


def sim_pin_dir(sfx: str, prefix: str = SIM_PIN_PREFIX) -> str:
    """Where a lab tool (simulator, forwarder) of lab SFX pins its objects."""
    return os.path.join(PIN_ROOT, prefix + sfx)


def remove_sim_pins(sfx: str, prefix: str | None = None) -> bool:
    """Unlink the pins of lab SFX's tools (exact names). True if any."""
    found = False
    for pre in (prefix,) if prefix else TOOL_PIN_PREFIXES:
        path = sim_pin_dir(sfx, pre)
        if not re.match(rf"^{re.escape(PIN_ROOT)}/{re.escape(pre)}[0-9a-z]{{1,11}}$", path):
            raise ValueError(f"refusing to remove {path!r}")
        if not os.path.isdir(path):
            continue
        for fn in os.listdir(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(path, fn))
        os.rmdir(path)
        found = True
    return found


class PinDir:
    """``with PinDir() as path:`` a unique pin dir name, removed afterwards."""

    def __init__(self, sfx: str | None = None, create: bool = False):
        self.path = pin_dir_path(sfx)
        if create:
            ensure_bpffs()
            os.makedirs(self.path)

    def remove(self) -> None:
        remove_pin_dir(self.path)

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc) -> None:
        self.remove()


# --------------------------------------------------------------------------
# Cleanup of leftovers (crashed runs)
# --------------------------------------------------------------------------

def teardown_by_name(sfx: str, quiet: bool = False) -> list[str]:
    """Tear down lab SFX: from its state file if there is one (kills only the
    recorded listener pids whose start time still matches), otherwise by the
    exact names this module derives from SFX. Returns what it removed."""
    if not SFX_RE.match(sfx):
        raise LabError(f"lab name {sfx!r}: use 1-11 characters of [0-9a-z]")
    done = []
    path = os.path.join(STATE_DIR, f"{sfx}.json")
    st = None
    with contextlib.suppress(FileNotFoundError, ValueError):
        with open(path) as f:
            st = json.load(f)
    pids = []
    if st:
        pids = [(int(v[0]), v[1]) for v in st.get("listeners", {}).values()]
    for ns in (NS_PREFIX_P + sfx, NS_PREFIX_B + sfx):
        if os.path.exists(f"/run/netns/{ns}"):
            # listeners of this lab that the state file may not know (marker + sfx)
            for pid in _run(["ip", "netns", "pids", ns], check=False).stdout.split():
                cl = _proc_cmdline(int(pid))
                if LISTENER_MARK in cl and sfx in cl:
                    pids.append((int(pid), _proc_starttime(int(pid))))
    pids = [(p, st) for p, st in dict(pids).items() if _proc_alive(p, st)]
    _kill_pids(pids)
    done += [f"pid {p}" for p, _ in pids]
    present = set(netns_list())
    if NS_PREFIX_P + sfx in present:
        _run(["ip", "-n", NS_PREFIX_P + sfx, "link", "del", LINK_PREFIX_P + sfx], check=False)
    for ns in (NS_PREFIX_P + sfx, NS_PREFIX_B + sfx):
        if ns in present or os.path.exists(f"/run/netns/{ns}"):
            others = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
            if others and not quiet:
                print(f"xhclab: warning: processes still in {ns}: {' '.join(others)}",
                      file=sys.stderr)
            _run(["ip", "netns", "del", ns], check=False)
            done.append(f"netns {ns}")
    links = set(host_links())
    for ln in (LINK_PREFIX_P + sfx, LINK_PREFIX_B + sfx):
        if ln in links:                       # never expected in the host ns
            _run(["ip", "link", "del", ln], check=False)
            done.append(f"link {ln}")
    if remove_sim_pins(sfx):
        done.append(f"pins {sim_pin_dir(sfx)}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
        done.append(f"state {path}")
    return done


def cleanup(force: bool = False, dry_run: bool = False) -> list[str]:
    """Remove leftover labs of this module: every state file under
    /run/xhclab and every namespace/link named like this module's
    (xhc-p-SFX, xhc-b-SFX, xhcpSFX, xhcbSFX), except labs whose owner
    process is still alive (unless FORCE). Returns what it removed."""
    sfxs: set[str] = set()
    with contextlib.suppress(FileNotFoundError):
        for fn in os.listdir(STATE_DIR):
            if fn.endswith(".json") and SFX_RE.match(fn[:-5]):
                sfxs.add(fn[:-5])
    for ns in netns_list():
        m = NS_RE.match(ns)
        if m:
            sfxs.add(m.group(2))
    for ln in host_links():
        m = LINK_RE.match(ln.split("@")[0])
        if m:
            sfxs.add(m.group(2))
    out = []
    for sfx in sorted(sfxs):
        st = None
        with contextlib.suppress(FileNotFoundError, ValueError):
            with open(os.path.join(STATE_DIR, f"{sfx}.json")) as f:
                st = json.load(f)
        if st and not force and _proc_alive(st.get("owner_pid"), st.get("owner_start")) \
                and st.get("owner_pid") != os.getpid():
            out.append(f"skip {sfx}: owner pid {st['owner_pid']} still running")
            continue
        if dry_run:
            out.append(f"would remove lab {sfx}")
            continue
        out += [f"{sfx}: {d}" for d in teardown_by_name(sfx)]
    return out


# --------------------------------------------------------------------------
# Shell CLI
# --------------------------------------------------------------------------

def _split_ports(values: list[str]) -> list[int]:
    out = []
    for v in values:
        for x in str(v).split(","):
            if x.strip():
                out.append(int(x))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="xhclab.py", description="xdphc namespace lab")
    sub = ap.add_subparsers(dest="cmd", required=True)

    up = sub.add_parser("up", help="build a lab and leave it up; prints KEY=VALUE lines")
    up.add_argument("--name", help="suffix [0-9a-z]{1,11} (default: random)")
    up.add_argument("--listen", action="append", default=[],
                    help="listener port(s), repeatable or comma separated (default 80)")
    up.add_argument("--drop", action="append", default=[],
                    help="address/CIDR/range whose SYNs are dropped (repeatable)")
    up.add_argument("--refuse", action="append", default=[], help="answered with RST")
    up.add_argument("--unreach", action="append", default=[], help="ICMP host-unreachable")
    up.add_argument("--loss", type=int, default=0, help="drop this %% of SYNs at random")
    up.add_argument("--no-ipv6", action="store_true")

    dn = sub.add_parser("down", help="tear a lab down by name")
    dn.add_argument("name")

    cl = sub.add_parser("cleanup", help="remove leftover labs of this module")
    cl.add_argument("--force", action="store_true", help="also labs whose owner still runs")
    cl.add_argument("--dry-run", action="store_true")

    stp = sub.add_parser("status", help="print a lab's state (KEY=VALUE)")
    stp.add_argument("name")

    for kind in KINDS:
        kp = sub.add_parser(kind, help=f"change the '{kind}' set of a lab")
        ksub = kp.add_subparsers(dest="op", required=True)
        for op in ("add", "del"):
            o = ksub.add_parser(op)
            o.add_argument("name")
            o.add_argument("targets", nargs="+")
            o.add_argument("--port", type=int)
        o = ksub.add_parser("clear")
        o.add_argument("name")
        o = ksub.add_parser("list")
        o.add_argument("name")
        o.add_argument("--port", type=int)

    lp = sub.add_parser("listen", help="start listener(s) on a running lab")
    lp.add_argument("name")
    lp.add_argument("ports", nargs="+")
    ulp = sub.add_parser("unlisten", help="stop listener(s) of a running lab")
    ulp.add_argument("name")
    ulp.add_argument("ports", nargs="+")
    lo = sub.add_parser("loss", help="set random SYN loss percent")
    lo.add_argument("name")
    lo.add_argument("percent", type=int)

    a = ap.parse_args(argv)
    try:
        if a.cmd == "up":
            ports = _split_ports(a.listen) or [80]
            lab = Lab(listen=ports, name=a.name, drop=a.drop, ipv6=not a.no_ipv6,
                      detach=True)
            try:
                if a.refuse:
                    lab.refuse_add(a.refuse)
                if a.unreach:
                    lab.unreach_add(a.unreach)
                if a.loss:
                    lab.set_syn_loss(a.loss)
            except BaseException:
                lab.close()
                raise
            for k, v in lab.env().items():
                print(f"{k}={shlex.quote(v)}")
            return 0
        if a.cmd == "down":
            for d in teardown_by_name(a.name):
                print(f"removed {d}", file=sys.stderr)
            return 0
        if a.cmd == "cleanup":
            for d in cleanup(force=a.force, dry_run=a.dry_run):
                print(d)
            return 0
        lab = Lab.attach(a.name)
        if a.cmd == "status":
            for k, v in lab.env().items():
                print(f"{k}={shlex.quote(v)}")
            for kind in KINDS:
                print(f"XHC_{kind.upper()}={shlex.quote(' '.join(lab.set_list(kind)))}")
            return 0
        if a.cmd in KINDS:
            if a.op == "add":
                lab.set_add(a.cmd, a.targets, a.port)
            elif a.op == "del":
                lab.set_del(a.cmd, a.targets, a.port)
            elif a.op == "clear":
                lab.set_clear(a.cmd)
            else:
                print("\n".join(lab.set_list(a.cmd, a.port)))
            return 0
        if a.cmd == "listen":
            for p in _split_ports(a.ports):
                lab.listen(p)
            return 0
        if a.cmd == "unlisten":
            for p in _split_ports(a.ports):
                lab.unlisten(p)
            return 0
        if a.cmd == "loss":
            lab.set_syn_loss(a.percent)
            return 0
    except (LabError, ValueError, OSError) as e:
        print(f"xhclab: {e}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
