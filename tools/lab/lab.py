# SPDX-License-Identifier: MIT
"""The Lab: a prober namespace and a backend namespace joined by a veth pair,
its state file (/run/xhclab/<sfx>.json), and its teardown: on close(), at
exit, on SIGINT/SIGTERM, or later by name (teardown_by_name, cleanup)."""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import threading
from typing import Iterable, Sequence

from . import connect, netns, packet
from .bpf import attach_xdp_pass, load_xdp_tx_prog, remove_tool_pins, tool_pin_dir, xdp_live_run
from .names import (BACKEND_IP, BACKEND_IP6, LINK6_PLEN, LINK_PLEN, LINK_PREFIX_B, LINK_PREFIX_P,
                    LINK_RE, LISTEN_BACKLOG, LISTENER_MARK, NS_PREFIX_B, NS_PREFIX_P, NS_RE,
                    PROBER_IP, PROBER_IP6, SFX_RE, SIM_PIN_PREFIX, SINK_NET, STATE_DIR, V4_BLOCK,
                    V6_BLOCK, V6_NET, new_suffix, state_path)
from .netns import netns_exists, netns_list, netns_pids, ns_cmd
from .nft import NftSets
from .proc import (LabError, kill_pids, pdeathsig, proc_alive, proc_cmdline, proc_starttime,
                   run)
from .services import service_process


# The backend namespace's ICMP error rate limits, lifted (Lab(icmp_ratelimit=False)):
# per peer (a token each 1000 ms for IPv4, 100 ms for IPv6, by default) and the
# namespace's global bucket (1000 a second, bursts of 50), which would silence
# closed UDP ports probed faster than that.  Per namespace: the host keeps its own.
ICMP_UNLIMITED = {
    "net.ipv4.icmp_ratelimit": 0,
    "net.ipv6.icmp.ratelimit": 0,
    "net.ipv4.icmp_msgs_per_sec": 1000000,
    "net.ipv4.icmp_msgs_burst": 1000000,
}


def check_suffix(sfx: str) -> str:
    if not SFX_RE.match(sfx):
        raise LabError(f"lab name {sfx!r}: use 1-11 characters of [0-9a-z]")
    return sfx


def _read_state(sfx: str) -> dict | None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        with open(state_path(sfx)) as f:
            return json.load(f)
    return None


def _remove_names(sfx: str, prober_ns: str, backend_ns: str, prober_if: str,
                  quiet: bool = False) -> list[str]:
    """Delete the prober's veth end and both namespaces, by exact name."""
    done = []
    present = set(netns_list())
    if prober_ns in present:
        run(["ip", "-n", prober_ns, "link", "del", prober_if], check=False)
    for ns in (prober_ns, backend_ns):
        if ns in present or netns_exists(ns):
            others = netns_pids(ns)
            if others and not quiet:
                print(f"xhclab: warning: processes still in {ns}: {' '.join(others)} "
                      f"(not ours to kill; the namespace lives until they exit)",
                      file=sys.stderr)
            run(["ip", "netns", "del", ns], check=False)
            done.append(f"netns {ns}")
    return done


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
        return str(V6_NET.network_address + i + 1)

    @staticmethod
    def addrs6(n: int, start: int = 0) -> list[str]:
        return [Lab.addr6(i) for i in range(start, start + n)]

    # ---- construction --------------------------------------------------

    def __init__(self, listen: int | Iterable[int] = (80,), *,
                 name: str | None = None, drop: Iterable = (),
                 ipv6: bool = True, gro: bool = True, backend_xdp: bool = True,
                 icmp_ratelimit: bool = False, forwarding: Iterable[str] = ("ipv4",),
                 detach: bool = False, _attach_state: dict | None = None):
        """Build a lab.

        listen: port or ports with a kernel listener in the backend ns.
        name: the suffix (default: pid + random bits).
        drop: addresses/CIDRs/ranges whose SYNs are dropped from the start.
        ipv6: also set up IPv6 (link 2001:2:0:ffff::/126, backends 2001:2::/64).
        gro: enable GRO on both veth ends (needed for XDP_TX; False only to
             demonstrate that frames are then dropped).
        forwarding: the families ("ipv4", "ipv6") the prober's veth forwards:
             xdphc takes its next hops from bpf_fib_lookup() for those, and
             resolves them itself over netlink for the others.
        backend_xdp: attach an XDP_PASS program (tools/lab/xdp_pass.bpf.c)
             to the backend veth, as the backend side of a real NIC would
             behave: with GRO alone, frames XDP_TX'ed into the veth (xdphc's
             RSTs) wait in its ring until the next frame arrives.
        icmp_ratelimit: keep the kernel's ICMP error rate limits in the
             backend ns (a test of the engine's rate-limit warning needs
             them).  By default they are lifted (ICMP_UNLIMITED), so that
             every datagram to a closed UDP port is answered with a port
             unreachable, however fast they come.
        detach: leave the lab up when this process exits (shell CLI); listener
             processes are started in their own session and not tied to us."""
        self.owner_pid = os.getpid()
        self.detached = detach
        self._closed = False
        self.listeners: dict[int, tuple[int, int | None]] = {}   # port -> (pid, start)
        self._procs: dict[int, subprocess.Popen] = {}
        self._guests: list = []
        self._xdp_fd: int | None = None
        self._loss = 0

        if _attach_state is not None:
            self._load_state(_attach_state)
            return

        sfx = check_suffix(name or new_suffix())
        self._set_names(sfx)
        self.ipv6 = ipv6
        self.gro = gro
        self.backend_xdp = backend_xdp
        self.icmp_ratelimit = icmp_ratelimit
        self.forwarding = tuple(forwarding)
        if not set(self.forwarding) <= {"ipv4", "ipv6"}:
            raise LabError(f"forwarding {self.forwarding!r}: families are 'ipv4', 'ipv6'")
        ports = [listen] if isinstance(listen, int) else list(listen)
        for p in ports:
            if not 1 <= int(p) <= 65535:
                raise LabError(f"listen port {p} out of range 1..65535")

        existing = set(netns_list())
        for ns in (self.prober_ns, self.backend_ns):
            if ns in existing or netns_exists(ns):
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
        self.state_file = state_path(sfx)
        self.nft = NftSets(self.backend_ns)

    def _build(self) -> None:
        P, B = self.prober_ns, self.backend_ns
        # record the lab before creating anything, so `cleanup` knows it
        self._save_state()
        run(["ip", "netns", "add", P])
        run(["ip", "netns", "add", B])
        # create the pair directly inside the namespaces: never in the host ns
        run(["ip", "link", "add", self.prober_if, "netns", P, "type", "veth",
             "peer", "name", self.backend_if, "netns", B])
        netns.sysctl(B, {
            "net.core.somaxconn": 65535,
            "net.ipv4.tcp_max_syn_backlog": 65535,
            "net.ipv4.conf.all.rp_filter": 0,
            "net.ipv4.conf.default.rp_filter": 0,
            f"net.ipv4.conf.{self.backend_if}.rp_filter": 0,
            "net.ipv4.conf.lo.rp_filter": 0,
            **({} if self.icmp_ratelimit else ICMP_UNLIMITED),
        })
        netns.sysctl(P, {
            "net.ipv4.conf.all.rp_filter": 0,
            "net.ipv4.conf.default.rp_filter": 0,
            f"net.ipv4.conf.{self.prober_if}.rp_filter": 0,
        })
        for fam in self.forwarding:
            self.set_forwarding(fam, True)
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
                netns.sysctl(ns, kv)
            else:
                netns.sysctl(ns, {f"net.ipv6.conf.{c}.disable_ipv6": 1
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
        run(["ip", "-n", P, "-batch", "-"], input="\n".join(pcmds) + "\n")
        run(["ip", "-n", B, "-batch", "-"], input="\n".join(bcmds) + "\n")
        if self.gro:
            netns.set_gro(P, self.prober_if, True)
            netns.set_gro(B, self.backend_if, True)
        if self.backend_xdp:
            attach_xdp_pass(B, self.backend_if)
        self.nft.create()
        p_info = netns.link_info(P, self.prober_if)
        b_info = netns.link_info(B, self.backend_if)
        self.prober_mac, self.prober_ifindex = p_info["address"], p_info["ifindex"]
        self.backend_mac, self.backend_ifindex = b_info["address"], b_info["ifindex"]

    def set_forwarding(self, family: str, on: bool) -> None:
        """Forwarding of FAMILY ("ipv4" or "ipv6") on the prober's veth. With it
        on, xdphc's next hops come from bpf_fib_lookup() (which answers only
        for forwarding interfaces); with it off, xdphc resolves them itself."""
        if family not in ("ipv4", "ipv6"):
            raise ValueError("family must be 'ipv4' or 'ipv6'")
        netns.sysctl(self.prober_ns, {f"net.{family}.conf.{self.prober_if}.forwarding":
                                      int(on)})

    gro_state = staticmethod(netns.gro_state)

    def set_gro(self, side: str, on: bool) -> None:
        """Switch GRO on/off on one veth end ('prober' or 'backend')."""
        netns.set_gro(*self._side(side), on)

    def attach_pass(self, side: str) -> None:
        """An XDP_PASS program on one veth end ('prober' or 'backend'), for
        peers without XDP programs of their own (see attach_xdp_pass)."""
        attach_xdp_pass(*self._side(side))

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
            "icmp_ratelimit": getattr(self, "icmp_ratelimit", False),
            "owner_pid": None if self.detached else self.owner_pid,
            "owner_start": None if self.detached else proc_starttime(self.owner_pid),
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
        self.icmp_ratelimit = st.get("icmp_ratelimit", False)
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
        st = _read_state(check_suffix(sfx))
        if st is None:
            raise LabError(f"no lab {sfx!r} ({state_path(sfx)} not found)")
        lab = cls(_attach_state=st)
        lab.nft.load()
        return lab

    # ---- teardown ---------------------------------------------------------

    def adopt(self, guest) -> None:
        """GUEST (anything with close(), e.g. an engine running in the prober
        namespace) is closed first when the lab closes, also on a signal."""
        self._guests.append(guest)

    def release(self, guest) -> None:
        with contextlib.suppress(ValueError):
            self._guests.remove(guest)

    def close(self) -> None:
        """Tear down: close our guests, kill our listeners, delete our link and
        namespaces (by exact name), remove the state file. Idempotent; safe on
        a partly built lab."""
        if self._closed:
            return
        for g in reversed(list(self._guests)):
            with contextlib.suppress(Exception):
                g.close()
        self._guests.clear()
        if self._xdp_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._xdp_fd)
            self._xdp_fd = None
        for p in list(self._procs.values()):
            with contextlib.suppress(Exception):
                p.kill()
        kill_pids(self.listeners.values())
        for p in list(self._procs.values()):
            with contextlib.suppress(Exception):
                p.wait(timeout=2)
        self._procs.clear()
        self.listeners.clear()
        _remove_names(self.sfx, self.prober_ns, self.backend_ns, self.prober_if)
        with contextlib.suppress(Exception):
            remove_tool_pins(self.sfx)
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
        return run(ns_cmd(self.prober_ns, cmd), check=check, timeout=timeout, input=input)

    def backend_exec(self, cmd: str | Sequence[str], *, check: bool = True,
                     timeout: float = 30.0, input: str | None = None
                     ) -> subprocess.CompletedProcess:
        """Run CMD in the backend ns via `ip netns exec` (a str goes to sh -c)."""
        return run(ns_cmd(self.backend_ns, cmd), check=check, timeout=timeout, input=input)

    def nsenter_prefix(self) -> list[str]:
        """Argv prefix that runs a command in the prober's network namespace only
        (mount namespace and /sys/fs/bpf stay the host's)."""
        return netns.nsenter_prefix(self.prober_ns)

    def backend_nsenter_prefix(self) -> list[str]:
        return netns.nsenter_prefix(self.backend_ns)

    # ---- listeners --------------------------------------------------------

    def listen(self, port: int) -> int:
        """Start a kernel listener on 0.0.0.0:PORT (and [::]:PORT) in the
        backend ns: listen(65535), never accept(). Returns its pid."""
        port = int(port)
        if port in self.listeners and proc_alive(*self.listeners[port]):
            return self.listeners[port][0]
        argv = ns_cmd(self.backend_ns, [sys.executable, "-I", "-S", "-c", _LISTENER_SRC,
                                        LISTENER_MARK, self.sfx, str(port),
                                        "1" if self.ipv6 else "0", str(LISTEN_BACKLOG)])
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, close_fds=True,
                             start_new_session=True,
                             preexec_fn=None if self.detached else pdeathsig)
        try:
            r, _, _ = select.select([p.stdout], [], [], 10.0)
            if not (r and p.stdout.readline() == b"ready\n"):
                p.kill()
                err = p.stderr.read().decode(errors="replace").strip() if p.poll() is not None else ""
                p.wait(timeout=5)
                raise LabError(f"listener on port {port} in {self.backend_ns} did not "
                               f"start: {err or 'no ready line within 10 s'}")
        finally:
            p.stdout.close()
            p.stderr.close()
        self.listeners[port] = (p.pid, proc_starttime(p.pid))
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
            kill_pids([v])
        if p:
            with contextlib.suppress(Exception):
                p.wait(timeout=2)
        self._save_state()

    # ---- nftables sets (see nft.NftSets) ------------------------------------

    def set_add(self, kind: str, targets, port: int | None = None) -> None:
        """Add addresses to a set of KIND ('drop', 'refuse', 'unreach').

        targets: one or a list of 'a.b.c.d', 'CIDR', 'first-last' (IPv4 or
        IPv6, inside the lab blocks) or ipaddress objects. port: only SYNs to
        that port (addr . port set); None: every port. One nft call."""
        self.nft.change(kind, targets, port, True)

    def set_del(self, kind: str, targets, port: int | None = None) -> None:
        """Remove addresses (also parts of ranges added earlier). One nft call."""
        self.nft.change(kind, targets, port, False)

    def set_clear(self, kind: str | None = None) -> None:
        """Empty the sets of KIND (all kinds if None). One nft call."""
        self.nft.clear(kind)

    def set_list(self, kind: str, port: int | None = None) -> list[str]:
        """Current ranges of a KIND set ('a.b.c.d' or 'first-last'), for PORT
        (None: the all-ports sets)."""
        return self.nft.list(kind, port)

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

    def udp_drop_add(self, ports) -> None:
        """Datagrams to these UDP ports (one or a list; every address) are
        dropped: no reply, no ICMP port unreachable."""
        self.nft.udp_drop([ports] if isinstance(ports, int) else ports, True)

    def udp_drop_del(self, ports) -> None:
        self.nft.udp_drop([ports] if isinstance(ports, int) else ports, False)

    def udp_dropped(self) -> list[int]:
        return self.nft.udp_dropped()

    def icmp_limits(self) -> dict[str, int]:
        """The backend ns's ICMP rate-limit sysctls (the keys of ICMP_UNLIMITED)."""
        out = self.backend_exec(["sysctl", *ICMP_UNLIMITED]).stdout
        return {k.strip(): int(v) for k, v in
                (line.split("=", 1) for line in out.splitlines() if "=" in line)}

    def set_syn_loss(self, percent: int) -> None:
        """Drop PERCENT % of all incoming SYNs at random (0 switches it off)."""
        self.nft.set_loss(int(percent))
        self._loss = int(percent)
        self._save_state()

    # ---- observation --------------------------------------------------------

    def count_syns(self, addrs) -> None:
        """Count the SYNs that reach each of ADDRS (IPv4) in the backend ns
        from now on, before any drop or loss rule; read them with syn_counts()."""
        self.nft.count_syns(addrs)

    def syn_counts(self) -> dict[str, int]:
        """SYNs received per address given to count_syns()."""
        return self.nft.syn_counts()

    def syn_recv_count(self) -> int:
        """Number of SYN-RECV sockets (half-open) in the backend ns."""
        out = self.backend_exec(["ss", "-Htn", "state", "syn-recv"]).stdout
        return sum(1 for line in out.splitlines() if line.strip())

    def prober_snmp(self) -> dict[str, int]:
        """All /proc/net/{snmp,netstat,snmp6} counters of the prober ns."""
        return netns.read_snmp(self.prober_ns)

    def backend_snmp(self) -> dict[str, int]:
        return netns.read_snmp(self.backend_ns)

    def prober_tcp_out_rsts(self) -> int:
        """TcpOutRsts of the prober ns (RSTs its kernel sent)."""
        return self.prober_snmp()["Tcp.OutRsts"]

    def prober_neigh(self) -> list[dict]:
        """Neighbour entries of the prober veth (ip -j neigh)."""
        out = run(["ip", "-j", "-n", self.prober_ns, "neigh", "show",
                   "dev", self.prober_if]).stdout
        return json.loads(out or "[]")

    def flush_prober_neigh(self) -> None:
        """Remove every neighbour entry of the prober veth (the kernel's own
        connect()s in connect_check create them)."""
        run(["ip", "-n", self.prober_ns, "neigh", "flush", "dev", self.prober_if],
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
        """connect()s from the prober ns, PARALLEL at a time (connect.connect_many)."""
        return connect.connect_many(self.prober_ns, targets, timeout, parallel)

    # ---- raw packets ---------------------------------------------------------

    def send_forged_synack(self, src_ip: str, src_port: int, dst_ip: str,
                           dst_port: int, seq: int, ack: int) -> None:
        """Send a raw TCP SYN-ACK from the backend ns (src_ip: a backend address,
        dst_ip: normally the prober's 198.19.255.1), checksums computed here."""
        self.send_raw_tcp("backend", src_ip, src_port, dst_ip, dst_port, seq, ack, "SA")

    def probe_source_port(self, dst_ip: str, dst_port: int, timeout: float = 5.0,
                          proto: int = 6) -> int:
        """The source port of a probe (a SYN; a UDP datagram with PROTO 17)
        the prober sends to dst_ip:dst_port, IPv4 or IPv6, read off the backend
        veth with a packet socket (before nftables can drop it)."""
        return packet.probe_source_port(self.backend_ns, self.backend_if, dst_ip, dst_port,
                                        proto, timeout)

    def send_raw_tcp(self, side: str, src_ip: str, src_port: int, dst_ip: str,
                     dst_port: int, seq: int, ack: int = 0, flags: str | int = "S",
                     **kw) -> None:
        """Send a raw TCP segment (any flags) from 'prober' or 'backend' ns."""
        ns, _ = self._side(side)
        packet.send_raw_ip(ns, packet.make_ip_tcp(src_ip, src_port, dst_ip, dst_port,
                                                  seq, ack, flags, **kw))

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
        return packet.make_eth_frame(self.prober_mac, self.backend_mac,
                                     packet.make_ip_tcp(src_ip, src_port, dst_ip, dst_port,
                                                        seq, 0, "S"))

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


# --------------------------------------------------------------------------
# Cleanup of leftovers (crashed runs)
# --------------------------------------------------------------------------

def teardown_by_name(sfx: str, quiet: bool = False) -> list[str]:
    """Tear down lab SFX: from its state file if there is one (kills only the
    recorded listener pids whose start time still matches), otherwise by the
    exact names this module derives from SFX. Returns what it removed."""
    check_suffix(sfx)
    done = []
    path = state_path(sfx)
    st = _read_state(sfx)
    pids = []
    if st:
        pids = [(int(v[0]), v[1]) for v in st.get("listeners", {}).values()]
    for ns in (NS_PREFIX_P + sfx, NS_PREFIX_B + sfx):
        if netns_exists(ns):
            # listeners and services (services.py) of this lab that the state
            # file may not know (marker + sfx)
            for pid in netns_pids(ns):
                cl = proc_cmdline(int(pid))
                if (LISTENER_MARK in cl and sfx in cl) or service_process(cl, sfx):
                    pids.append((int(pid), proc_starttime(int(pid))))
    pids = [(p, st) for p, st in dict(pids).items() if proc_alive(p, st)]
    kill_pids(pids)
    done += [f"pid {p}" for p, _ in pids]
    done += _remove_names(sfx, NS_PREFIX_P + sfx, NS_PREFIX_B + sfx, LINK_PREFIX_P + sfx,
                          quiet)
    links = set(netns.host_links())
    for ln in (LINK_PREFIX_P + sfx, LINK_PREFIX_B + sfx):
        if ln in links:                       # never expected in the host ns
            run(["ip", "link", "del", ln], check=False)
            done.append(f"link {ln}")
    if remove_tool_pins(sfx):
        done.append(f"pins {tool_pin_dir(sfx, SIM_PIN_PREFIX)}")
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
    for ln in netns.host_links():
        m = LINK_RE.match(ln.split("@")[0])
        if m:
            sfxs.add(m.group(2))
    out = []
    for sfx in sorted(sfxs):
        st = _read_state(sfx)
        if st and not force and proc_alive(st.get("owner_pid"), st.get("owner_start")) \
                and st.get("owner_pid") != os.getpid():
            out.append(f"skip {sfx}: owner pid {st['owner_pid']} still running")
            continue
        if dry_run:
            out.append(f"would remove lab {sfx}")
            continue
        out += [f"{sfx}: {d}" for d in teardown_by_name(sfx)]
    return out
