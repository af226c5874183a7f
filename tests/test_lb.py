# SPDX-License-Identifier: MIT
"""A load balancer that follows health: the example XDP forwarder
(tools/lb_forwarder/lb_forwarder.bpf.c) owns the probing interface, forwards flows to a VIP
by a hash of the 5-tuple over the pool's up backends from xdphc's pinned
maps, and tail-calls xdphc's reply program for everything else (this kernel
refuses libxdp's dispatcher)."""
import os
import select
import socket
import struct
import time

import pytest

from lab import SINK_SRC, bpf, netns_socket
from lab.engine import pool
from lb_forwarder import Forwarder

BACKENDS = [f"198.18.1.{i}" for i in range(1, 5)]
VIP, VIP_PORT = "198.19.253.10", 5000
CLIENT = SINK_SRC          # routed back via the prober: not local anywhere


def udp_packet(src: str, sport: int, dst: str, dport: int) -> bytes:
    payload = b"flow"
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload  # no checksum
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64,
                     socket.IPPROTO_UDP, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return ip + udp


class Flows:
    """UDP receivers on every backend address (port 80) in the backend ns, and a
    raw sender there whose packets for the VIP go out through the prober."""

    def __init__(self, lab):
        self.lab = lab
        self.socks = {}
        for a in BACKENDS:
            s = netns_socket(lab.backend_ns, socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((a, 80))
            s.setblocking(False)
            self.socks[s.fileno()] = (s, a)
        self.raw = netns_socket(lab.backend_ns, socket.AF_INET, socket.SOCK_RAW,
                                       socket.IPPROTO_RAW)
        self.raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        self.next_port = 20000

    def send(self, n: int) -> dict[int, str]:
        """n new flows (new source ports); returns source port -> backend."""
        ports = list(range(self.next_port, self.next_port + n))
        self.next_port += n
        for p in ports:
            self.raw.sendto(udp_packet(CLIENT, p, VIP, VIP_PORT), (VIP, 0))
        got: dict[int, str] = {}
        deadline = time.monotonic() + 2.0
        while len(got) < n and time.monotonic() < deadline:
            ready, _, _ = select.select(list(self.socks), [], [], 0.1)
            for fd in ready:
                s, a = self.socks[fd]
                while True:
                    try:
                        data, (src, sport) = s.recvfrom(64)
                    except BlockingIOError:
                        break
                    if src == CLIENT and sport in ports:
                        got[sport] = a
        assert len(got) == n, f"{n - len(got)} of {n} flows never reached a backend"
        return got

    def close(self):
        for s, _ in self.socks.values():
            s.close()
        self.raw.close()


@pytest.fixture
def lb(lab, engine):
    lab.backend_exec(["ip", "route", "add", "198.19.253.0/24", "via", lab.prober_ip])
    # A canary that keeps answering: when every backend of the only pool
    # times out, the circuit breaker then knows the failure is real (with
    # nothing answering at all, it would hold the states as its own failure).
    engine.configure([pool("web", [f"{a}:80" for a in BACKENDS], interval="500ms",
                           timeout="200ms")], xdp_attach="tail_call",
                     canaries=["198.18.200.1:80"])
    engine.start()
    fwd = Forwarder(lab, engine.pin_dir)
    flows = Flows(lab)
    try:
        fwd.link_xdphc()
        fwd.add_vip(VIP, VIP_PORT, "udp", pool_id=0)
        yield fwd, flows
    finally:
        flows.close()
        fwd.close()


def wait_states(engine, want: dict[str, str], timeout: float = 8.0):
    engine.wait_until(lambda st: all(st.get((a, 80), {}).get("state") == s
                                     for a, s in want.items()), timeout, f"states {want}")


def pool_up_ids(engine) -> tuple[set, dict]:
    pools = engine.bpftool_dump("pools")
    web = [p["value"] for p in pools if p["value"]["in_use"]][0]
    up = engine.bpftool_dump("pool_up")
    ids = {e["value"]["id"] for e in up[web["first"]:web["first"] + web["up"]]}
    return ids, web


def test_flows_follow_health_and_fail_open(lab, engine, lb):
    fwd, flows = lb
    wait_states(engine, {a: "up" for a in BACKENDS})
    assert fwd.counters()["chained"] > 0, "probe replies reach xdphc through the tail call"

    # All up: every backend gets flows, and a flow keeps its backend.
    first = flows.send(200)
    assert set(first.values()) == set(BACKENDS)
    ids, web = pool_up_ids(engine)
    assert ids == {0, 1, 2, 3} and web["up"] == 4 and not web["flags"] & 1

    # One backend fails: once xdphc says down, no new flow goes to it.
    victim = BACKENDS[1]
    lab.drop_add([victim])
    wait_states(engine, {victim: "down"})
    ids, web = pool_up_ids(engine)
    assert ids == {0, 2, 3} and web["up"] == 3
    after = flows.send(300)
    assert victim not in after.values()
    assert set(after.values()) == set(BACKENDS) - {victim}

    # It recovers: it gets new flows again.
    lab.drop_del([victim])
    wait_states(engine, {victim: "up"})
    back = flows.send(300)
    assert set(back.values()) == set(BACKENDS)

    # Every backend down: the pool fails open and flows still go to all of them.
    lab.drop_add(BACKENDS)
    wait_states(engine, {a: "down" for a in BACKENDS})
    ids, web = pool_up_ids(engine)
    assert web["up"] == 0 and web["flags"] & 1, "fail-open flag set"
    open_flows = flows.send(300)
    assert set(open_flows.values()) == set(BACKENDS)
    c = fwd.counters()
    assert c["fail_open"] >= 300 and c["forwarded"] >= 800 and c["no_route"] == 0


def test_engine_restart_puts_its_new_program_into_the_chain(lab, engine, lb):
    """With tail_call_map the engine links its new probe_rx itself on every
    start, and unlinks and unpins it when it stops."""
    fwd, flows = lb
    wait_states(engine, {a: "up" for a in BACKENDS})
    assert engine.stop() == 0
    engine.configure([pool("web", [f"{a}:80" for a in BACKENDS], interval="500ms",
                           timeout="200ms")],
                     xdp_attach="tail_call", tail_call_map=fwd.chain_path)
    engine.start()
    assert "put into " + fwd.chain_path in engine.log(this_run=True)
    chained = fwd.counters()["chained"]
    victim = BACKENDS[2]
    lab.drop_add([victim])
    wait_states(engine, {victim: "down", BACKENDS[0]: "up"})
    assert fwd.counters()["chained"] > chained
    assert victim not in flows.send(100).values()

    assert engine.stop() == 0
    with pytest.raises(OSError):           # the chain no longer leads to a stopped engine
        bpf.lookup(fwd.fd("xdphc_chain"), struct.pack("<I", 0), 4)
    assert not os.path.exists(f"{engine.pin_dir}/probe_rx")


def test_a_program_that_does_not_chain_is_detected(lab, engine):
    """In tail-call mode the engine sends its SYNs through the interface's own
    program; one that does not hand them on (here: XDP_PASS for everything)
    is noticed and the engine falls back to one SYN per run of probe_tx."""
    engine.configure([pool("web", [f"{a}:80" for a in BACKENDS], interval="500ms",
                           timeout="200ms")], xdp_attach="tail_call")
    engine.start()
    lab.attach_pass("prober")
    try:
        deadline = time.monotonic() + 5
        while "did not hand all of a batch" not in engine.log(this_run=True):
            assert time.monotonic() < deadline, engine.log(this_run=True)[-2000:]
            time.sleep(0.1)
        sent = engine.status()["stats"]["probes_sent"]
        time.sleep(1.0)
        assert engine.status()["stats"]["probes_sent"] >= sent + 4, "SYNs still go out"
    finally:
        lab.prober_exec(f"ip link set dev {lab.prober_if} xdpdrv off", check=False)
