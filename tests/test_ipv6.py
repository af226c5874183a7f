# SPDX-License-Identifier: MIT
"""IPv6 SYN probes end to end: real kernel TCP backends on the lab's AnyIP
IPv6 block (2001:2::/64), SYNs written and SYN-ACKs, RSTs and ICMPv6 errors
matched in XDP, the half-open connections torn down from XDP.  Forged
SYN-ACKs of both families: test_probe.py."""
import time

from lab.engine import pool

SPORTS = (40000, 40999)


def a6(i: int) -> str:
    return f"2001:2::{i:x}"


def t6(i: int, port: int) -> str:
    return f"[{a6(i)}]:{port}"


def settled(st: dict) -> bool:
    return all(b["state"] != "unknown" for b in st.values())


def fib_path(lab) -> None:
    """IPv6 forwarding on the prober's interface: next hops from bpf_fib_lookup()."""
    lab.set_forwarding("ipv6", True)


def test_v6_states_match_the_lab(lab, engine):
    """Listening -> up/ok, closed -> down/refused, dropped SYNs -> down/timeout,
    ICMPv6 address unreachable -> down/unreachable with its type and code; v4
    backends in the same pool alongside."""
    fib_path(lab)
    up = [t6(i, 80) for i in range(1, 41)]
    closed = [t6(i, 81) for i in range(41, 51)]
    dropped = [t6(i, 80) for i in range(51, 61)]
    unreach = [t6(i, 80) for i in range(61, 66)]
    v4 = [f"198.18.1.{i}:80" for i in range(1, 11)]
    lab.drop_add([a6(i) for i in range(51, 61)])
    lab.unreach_add([a6(i) for i in range(61, 66)])
    engine.configure([pool("web", up + closed + v4), pool("dark", dropped + unreach)],
                     source_ports=f"{SPORTS[0]}-{SPORTS[1]}")
    engine.start()
    _, st = engine.wait_until(settled, 15, "every backend to leave unknown")

    def rec(t):
        a, p = t.rsplit(":", 1)
        return st[(a.strip("[]"), int(p))]

    assert len(st) == 75
    for t in up + v4:
        assert (rec(t)["state"], rec(t)["reason"]) == ("up", "ok"), t
        assert rec(t)["last_rtt_us"] > 0, t
    for t in closed:
        assert (rec(t)["state"], rec(t)["reason"]) == ("down", "refused"), t
    for t in dropped:
        assert (rec(t)["state"], rec(t)["reason"]) == ("down", "timeout"), t
    for t in unreach:
        r = rec(t)
        assert (r["state"], r["reason"]) == ("down", "unreachable"), t
        # ICMPv6 destination unreachable (1), address unreachable (3)
        assert (r["icmp_type"], r["icmp_code"]) == (1, 3), r

    # every SYN-ACK was answered from XDP with an RST: nothing stays half-open
    time.sleep(0.5)
    stats = engine.status()["stats"]
    assert stats["rst_sent"] >= stats["replies_synack"] > 0, stats
    assert lab.syn_recv_count() == 0
    assert engine.stop() == 0


def test_v6_backend_recovers_and_fails(lab, engine):
    """A v6 backend whose SYNs start being dropped goes down by timeout, and
    comes back up when they pass again."""
    fib_path(lab)
    victim = a6(7)
    engine.configure([pool("web", [t6(i, 80) for i in range(1, 11)], interval="300ms",
                           timeout="200ms", unhealthy_threshold=2, healthy_threshold=2)])
    engine.start()
    engine.wait_until(lambda s: all(b["state"] == "up" for b in s.values()), 10, "all up")
    lab.drop_add([victim])
    _, st = engine.wait_until(lambda s: s[(victim, 80)]["state"] == "down", 5, "victim down")
    assert st[(victim, 80)]["reason"] == "timeout"
    assert sum(b["state"] == "down" for b in st.values()) == 1
    lab.drop_del([victim])
    engine.wait_until(lambda s: s[(victim, 80)]["state"] == "up", 5, "victim up again")


def test_v6_connection_checks(tmp_path, xdphc_bin, pin_dir):
    """HTTP, HTTPS and TCP send/expect checks of IPv6 backends: real nginx and
    redis on the AnyIP IPv6 block, checked over the kernel's own sockets."""
    from lab import Lab
    from lab.engine import Engine
    from lab.services import Services
    with Lab(listen=[]) as lab, Services(lab, tmp_path / "svc").start("nginx", "redis"):
        eng = Engine(lab, pin_dir, tmp_path, binary=xdphc_bin)
        try:
            fast = {"interval": "500ms", "timeout": "300ms"}
            eng.configure([pool("web", [t6(0x501, 80)], protocol="http", path="/health", **fast),
                           pool("bad", [t6(0x502, 80)], protocol="http", path="/status/500",
                                **fast),
                           pool("tls", [t6(0x503, 443)], protocol="https", **fast),
                           pool("redis", [t6(0x504, 6379)], send="PING\r\n", expect="+PONG",
                                **fast)])
            eng.start()
            _, st = eng.wait_until(lambda s: all(b["state"] != "unknown" for b in s.values()),
                                   15, "every backend decided")
            got = {(a, p): (b["state"], b["reason"], b["check"]) for (a, p), b in st.items()}
            assert got == {
                (a6(0x501), 80): ("up", "ok", "http"),
                (a6(0x502), 80): ("down", "http_status", "http"),
                (a6(0x503), 443): ("up", "ok", "https"),
                (a6(0x504), 6379): ("up", "ok", "tcp"),
            }, got
            assert st[(a6(0x502), 80)]["detail"] == 500
        finally:
            eng.close()
