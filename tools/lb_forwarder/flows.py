# SPDX-License-Identifier: MIT
"""Traffic through the example forwarder in a lab (tests/test_lb.py,
tests/test_upgrade.py): UDP receivers on the backend addresses, in the backend
namespace, and a raw sender there whose packets to the VIP go out through
the prober's veth, where the forwarder sends them back to a backend.  The
receiver that gets a packet tells which backend its flow went to.  IPv4 or
IPv6, as the VIP's address is (IPv6 datagrams carry their mandatory
checksum, which the receivers' kernel checks after the forwarder's NAT).

    flows = Flows(lab, ["198.18.1.1", "198.18.1.2"], "198.19.253.10", 5000)
    flows6 = Flows(lab, ["2001:2::1:1"], "2001:2:0:fd::10", 5000)
    got = flows.send(100)               # 100 new flows: source port -> backend
    again = flows.resend(list(got))     # one more packet on each
    with flows.stream(list(got)) as s:  # packets without a pause, in a thread
        ...                             # (upgrade something meanwhile)
    s.lost, s.backends                  # packets that never arrived; port -> backends
"""
from __future__ import annotations

import select
import socket
import struct
import threading
import time

from lab import SINK_SRC, make_ip_udp, netns_socket

CLIENT = SINK_SRC      # routed back via the prober: not local anywhere
CLIENT6 = "2001:2:0:fe::1"    # the same for IPv6: local nowhere, outside the backends' /64
FIRST_PORT = 20000
IP_FREEBIND = 15       # <linux/in.h>; binds an IPv6 socket to an AnyIP address


class Flows:
    """UDP flows from CLIENT (CLIENT6) to VIP:VIP_PORT, one per source port,
    received on BACKENDS (addresses of the VIP's family, at PORT) in LAB's
    backend namespace."""

    def __init__(self, lab, backends: list[str], vip: str, vip_port: int, port: int = 80):
        self.lab, self.vip, self.vip_port = lab, vip, vip_port
        v6 = ":" in vip
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        self.client = CLIENT6 if v6 else CLIENT
        self.socks: dict[int, tuple[socket.socket, str]] = {}
        self.next_port = FIRST_PORT
        self.seq = 0
        try:
            for a in backends:
                s = netns_socket(lab.backend_ns, fam, socket.SOCK_DGRAM)
                self.socks[s.fileno()] = (s, a)
                if v6:
                    # the kernel binds IPv6 sockets only to configured
                    # addresses, not to the AnyIP route's
                    s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
                s.bind((a, port))
                s.setblocking(False)
            # IPPROTO_RAW: the header is ours (IPv4 needs IP_HDRINCL said too)
            self.raw = netns_socket(lab.backend_ns, fam, socket.SOCK_RAW, socket.IPPROTO_RAW)
            if not v6:
                self.raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        except BaseException:
            self.close()
            raise

    def _send(self, sport: int) -> int:
        self.seq += 1
        # IPv4 without a UDP checksum (the forwarder keeps it 0); IPv6 with one
        self.raw.sendto(make_ip_udp(self.client, sport, self.vip, self.vip_port,
                                    struct.pack("!I", self.seq), checksum=False),
                        (self.vip, 0))
        return self.seq

    def _receive(self, timeout: float, got: dict[int, tuple[int, str]]) -> None:
        """Wait up to TIMEOUT for packets; got[seq] = (source port, backend)."""
        ready, _, _ = select.select(list(self.socks), [], [], timeout)
        for fd in ready:
            s, a = self.socks[fd]
            while True:
                try:
                    data, peer = s.recvfrom(64)
                except BlockingIOError:
                    break
                if peer[0] == self.client and len(data) == 4:
                    got[struct.unpack("!I", data)[0]] = (peer[1], a)

    def resend(self, ports: list[int], timeout: float = 2.0) -> dict[int, str]:
        """One packet on each flow (source port); source port -> backend.
        Fails unless every packet reaches a backend."""
        want = {self._send(p): p for p in ports}
        got: dict[int, tuple[int, str]] = {}
        deadline = time.monotonic() + timeout
        while not want.keys() <= got.keys() and time.monotonic() < deadline:
            self._receive(0.1, got)
        missing = want.keys() - got.keys()
        assert not missing, f"{len(missing)} of {len(want)} packets never reached a backend"
        return {want[q]: got[q][1] for q in want}

    def send(self, n: int) -> dict[int, str]:
        """N new flows (new source ports); source port -> backend."""
        ports = list(range(self.next_port, self.next_port + n))
        self.next_port += n
        return self.resend(ports)

    def stream(self, ports: list[int], pps: int = 500) -> "Stream":
        """Packets round the flows PORTS at PPS, in a thread, until the
        returned Stream is stopped (a with block)."""
        return Stream(self, ports, pps)

    def close(self) -> None:
        for s, _ in self.socks.values():
            s.close()
        self.socks.clear()
        if getattr(self, "raw", None):
            self.raw.close()
            self.raw = None


class Stream:
    """Flows.stream(): after stop(), sent counts the packets, lost lists the
    sequence numbers that never arrived, and backends maps each source port
    to the backends its packets reached."""

    def __init__(self, flows: Flows, ports: list[int], pps: int):
        self.flows, self.ports, self.gap = flows, ports, 1.0 / pps
        self.sent: dict[int, int] = {}                  # seq -> port
        self.got: dict[int, tuple[int, str]] = {}
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            k, t = 0, time.monotonic()
            while not self._stop.is_set():
                port = self.ports[k % len(self.ports)]
                self.sent[self.flows._send(port)] = port
                k += 1
                t += self.gap
                while (left := t - time.monotonic()) > 0:
                    self.flows._receive(left, self.got)
            end = time.monotonic() + 1.0                # the last ones in flight
            while not self.sent.keys() <= self.got.keys() and time.monotonic() < end:
                self.flows._receive(0.05, self.got)
        except BaseException as e:     # noqa: BLE001 - reported by stop()
            self.error = e

    def stop(self) -> "Stream":
        self._stop.set()
        self._thread.join(10)
        if self.error:
            raise self.error
        return self

    @property
    def lost(self) -> list[int]:
        return sorted(self.sent.keys() - self.got.keys())

    @property
    def backends(self) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for port, backend in self.got.values():
            out.setdefault(port, set()).add(backend)
        return out

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
