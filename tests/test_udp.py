# SPDX-License-Identifier: MIT
"""UDP checks end to end: datagrams written in XDP, replies and ICMP errors
matched in XDP, against real UDP services in the backend namespace
(tools/lab/udpserv.py: echo, another answer, a closed port, a dropped port),
IPv4 and IPv6."""
import random
import re
import socket
import time

import pytest

from lab import Lab, netns_socket
from lab.engine import pool
from lab.services import (UDP_CLOSED, UDP_DROPPED, UDP_ECHO, UDP_OTHER, Services)
from test_http import metrics
from test_observe import free_port

SPORTS = (40000, 40999)


@pytest.fixture
def lab():
    # IPv4 forwards (next hops from bpf_fib_lookup), IPv6 does not (next hops
    # the engine resolves over netlink): both paths carry UDP probes here
    with Lab(listen=[]) as lab:
        yield lab


@pytest.fixture
def udp(lab, tmp_path):
    with Services(lab, tmp_path / "svc").start("udp") as s:
        yield s


def v4(i: int, port: int) -> str:
    return f"198.18.7.{i}:{port}"


def v6(i: int, port: int) -> str:
    return f"[2001:2::7:{i:x}]:{port}"


def key(t: str) -> tuple[str, int]:
    a, p = t.rsplit(":", 1)
    return a.strip("[]"), int(p)


def udp_pool(name, backends, **hc):
    hc.setdefault("protocol", "udp")
    hc.setdefault("interval", "500ms")
    hc.setdefault("timeout", "300ms")
    return pool(name, backends, **hc)


def settled(st: dict) -> bool:
    return all(b["state"] != "unknown" for b in st.values())


def both(port: int, n: int = 3, first: int = 1) -> list[str]:
    return [v4(i, port) for i in range(first, first + n)] + \
        [v6(i, port) for i in range(first, first + n)]


def test_udp_without_expect(lab, udp, engine):
    """echo and another answer -> up/ok with an RTT; closed -> down/refused
    with the ICMP or ICMPv6 port unreachable in detail; dropped -> up, by
    silence, with no RTT."""
    echo, other, closed, dropped = both(UDP_ECHO), both(UDP_OTHER), both(UDP_CLOSED), \
        both(UDP_DROPPED)
    port = free_port(lab)
    engine.configure([udp_pool("u", echo + other + closed + dropped, payload="hello")],
                     source_ports=f"{SPORTS[0]}-{SPORTS[1]}", metrics_listen=f"127.0.0.1:{port}")
    engine.start()
    _, st = engine.wait_until(settled, 15, "every backend to leave unknown")
    for t in echo + other:
        r = st[key(t)]
        assert (r["state"], r["reason"], r["check"]) == ("up", "ok", "udp"), (t, r)
        assert r["last_rtt_us"] > 0, (t, r)
    for t in closed:
        r = st[key(t)]
        assert (r["state"], r["reason"]) == ("down", "refused"), (t, r)
        want = (1, 4) if t.startswith("[") else (3, 3)
        assert r["detail"] == want[0] << 8 | want[1], (t, r)
        assert (r["icmp_type"], r["icmp_code"]) == want, (t, r)
        shown = engine.run_once("show", t, "--pin-path", engine.pin_dir).stdout
        assert f"refused(icmp {want[0]}/{want[1]})" in shown, shown
    for t in dropped:
        r = st[key(t)]
        assert (r["state"], r["reason"]) == ("up", "ok"), (t, r)
        assert r["last_rtt_us"] == 0, (t, r)
    m = metrics(lab, port)
    assert m["xdphc_udp_silent_passes_total"] > 0, m
    assert m['xdphc_udp_replies_total{result="expected"}'] > 0, m
    assert engine.stop() == 0


def test_udp_with_expect(lab, udp, engine):
    """With expect: echo -> ok, another answer -> mismatch, closed -> refused,
    dropped -> timeout."""
    echo, other, closed, dropped = both(UDP_ECHO), both(UDP_OTHER), both(UDP_CLOSED), \
        both(UDP_DROPPED)
    port = free_port(lab)
    engine.configure([udp_pool("u", echo + other + closed + dropped, payload="ping 0x",
                               expect="ng 0")], metrics_listen=f"127.0.0.1:{port}")
    engine.start()
    _, st = engine.wait_until(settled, 15, "every backend to leave unknown")
    want = {**{t: ("up", "ok") for t in echo}, **{t: ("down", "mismatch") for t in other},
            **{t: ("down", "refused") for t in closed},
            **{t: ("down", "timeout") for t in dropped}}
    got = {t: (st[key(t)]["state"], st[key(t)]["reason"]) for t in want}
    assert got == want
    assert metrics(lab, port)['xdphc_udp_replies_total{result="mismatch"}'] > 0


def test_udp_cookie_is_echoed_and_required(lab, udp, engine):
    """{cookie} puts 8 hex digits of the probe's keyed cookie in the payload:
    the echo service sends them back (ok); a reply without them ("NOPE") is
    not taken for an answer, so with expect the backend times out."""
    echo, other = both(UDP_ECHO), both(UDP_OTHER)
    engine.configure([udp_pool("u", echo + other, payload="hc {cookie} end", expect="hc ")])
    engine.start()
    _, st = engine.wait_until(settled, 15, "every backend to leave unknown")
    for t in echo:
        assert (st[key(t)]["state"], st[key(t)]["reason"]) == ("up", "ok"), t
    for t in other:
        assert (st[key(t)]["state"], st[key(t)]["reason"]) == ("down", "timeout"), t
    assert engine.status()["stats"]["ignored_forged"] > 0


def test_udp_payload_on_the_wire(lab, udp, engine):
    """What the service receives is the payload, with the cookie's digits in
    place of {cookie}, a valid checksum (the kernel delivered it), and a new
    source port for each probe."""
    target = "198.18.7.9"
    engine.configure([udp_pool("u", [f"{target}:{UDP_DROPPED}"], payload="ab{cookie}",
                               interval="200ms", timeout="100ms", retransmits=0)],
                     source_ports=f"{SPORTS[0]}-{SPORTS[1]}")
    engine.start()
    ports = {lab.probe_source_port(target, UDP_DROPPED, proto=17) for _ in range(6)}
    assert all(SPORTS[0] <= p <= SPORTS[1] for p in ports), ports
    # six probes, 1,000 ports: a repeat is possible, two are not likely
    assert len(ports) >= 5, ports
    # the echo service saw it: a second pool on the echo port, hex payload with a cookie
    engine.stop()
    engine.configure([udp_pool("u", [f"{target}:{UDP_ECHO}"],
                               payload="0x00ff7b636f6f6b69657d")])
    engine.start()
    _, st = engine.wait_until(lambda s: s[(target, UDP_ECHO)]["state"] == "up", 10, "up")


def test_forged_udp_replies_are_ignored(lab, udp, engine):
    """Replies from the victim's address and port to every source port of
    the range, with wrong cookies: none raises it, each is counted forged."""
    victim = "198.18.7.33"
    engine.configure([udp_pool("u", [f"{victim}:{UDP_DROPPED}", v4(1, UDP_ECHO)],
                               payload="hc{cookie}", expect="hc", healthy_threshold=1)],
                     source_ports=f"{SPORTS[0]}-{SPORTS[0] + 63}")
    engine.start()
    engine.wait_until(lambda s: s[(victim, UDP_DROPPED)]["state"] == "down", 10, "victim down")
    before = engine.status()["stats"]["ignored_forged"]
    rng = random.Random(5)
    s = netns_socket(lab.backend_ns, socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        s.bind((victim, UDP_DROPPED))
        sent = 0
        for _ in range(10):
            for sp in range(SPORTS[0], SPORTS[0] + 64):
                s.sendto(b"hc%08x" % rng.getrandbits(32), (lab.prober_ip, sp))
                sent += 1
            time.sleep(0.05)
    time.sleep(0.5)
    st = engine.states()
    assert st[(victim, UDP_DROPPED)]["state"] == "down"
    assert st[(victim, UDP_DROPPED)]["consecutive_ok"] == 0
    forged = engine.status()["stats"]["ignored_forged"] - before
    # every one sent while a probe was in flight on its port
    assert 0 < forged <= sent, (forged, sent)


def test_tcp_and_udp_on_one_address_and_port(lab, udp, engine):
    """A TCP (SYN) pool and a UDP pool on the same address and port are two
    backends: the UDP echo service's port has no TCP listener (refused)."""
    t = v4(4, UDP_ECHO)
    engine.configure([pool("tcp", [t]), udp_pool("udp", [t], payload="x")])
    engine.start()
    deadline = time.monotonic() + 10
    while True:
        by_pool = {b["pool"]: b for b in engine.status()["backends"]}
        if len(by_pool) == 2 and all(b["state"] != "unknown" for b in by_pool.values()):
            break
        assert time.monotonic() < deadline, by_pool
        time.sleep(0.1)
    assert (by_pool["tcp"]["state"], by_pool["tcp"]["reason"]) == ("down", "refused")
    assert (by_pool["udp"]["state"], by_pool["udp"]["reason"]) == ("up", "ok")


def test_icmp_rate_limit_warning(tmp_path, xdphc_bin, pin_dir):
    """With the kernel's default ICMP rate limit left on the backend, the
    engine warns about a host it probes faster than that answers, and a
    closed port probed that fast indeed passes some checks by silence."""
    from lab.engine import Engine
    with Lab(listen=[], icmp_ratelimit=True) as lab:
        with Services(lab, tmp_path / "svc").start("udp"):
            eng = Engine(lab, pin_dir, tmp_path, binary=xdphc_bin)
            try:
                fast = [v4(i, UDP_CLOSED) for i in (1, 2, 3)] + [v4(1, UDP_DROPPED)]
                port = free_port(lab)
                eng.configure([udp_pool("fast", fast, payload="x", interval="250ms",
                                        timeout="100ms"),
                               udp_pool("deep", [v4(9, UDP_CLOSED)], payload="x",
                                        expect="x", interval="250ms", timeout="100ms")],
                              metrics_listen=f"127.0.0.1:{port}")
                eng.start()
                time.sleep(3)
                log = eng.log()
                assert re.search(r"pool fast: host 198\.18\.7\.1 is sent 1[0-9]\.\d UDP probes "
                                 r"a second", log), log
                assert "host 198.18.7.9 " not in log
                assert metrics(lab, port)["xdphc_udp_silent_passes_total"] > 0
            finally:
                eng.close()
