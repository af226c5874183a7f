# SPDX-License-Identifier: MIT
"""End-to-end probing against real kernel TCP backends in a namespace lab."""
import random
import signal
import time

import pytest

from lab import bpf, netns_socket
from lab.engine import pool

SPORTS = (40000, 40999)


def targets(block: int, n: int, port: int) -> list[str]:
    return [f"198.18.{block + i // 250}.{1 + i % 250}:{port}" for i in range(n)]


def split(t: str) -> tuple[str, int]:
    a, p = t.rsplit(":", 1)
    return a, int(p)


def settled(st: dict) -> bool:
    return all(b["state"] != "unknown" for b in st.values())


def test_states_match_the_lab_exactly(lab, engine):
    """Listening -> up, closed port -> down/refused, dropped SYNs -> down/timeout."""
    up = targets(1, 300, 80)
    closed = targets(10, 100, 81)
    dropped = targets(20, 100, 80)
    lab.drop_add([split(t)[0] for t in dropped])
    engine.configure([pool("web", up + closed), pool("api", dropped)],
                     source_ports=f"{SPORTS[0]}-{SPORTS[1]}")
    engine.start()
    _, st = engine.wait_until(settled, 15, "every backend to leave unknown")

    assert len(st) == 500
    for t in up:
        assert (st[split(t)]["state"], st[split(t)]["reason"]) == ("up", "ok"), t
    for t in closed:
        assert (st[split(t)]["state"], st[split(t)]["reason"]) == ("down", "refused"), t
    for t in dropped:
        assert (st[split(t)]["state"], st[split(t)]["reason"]) == ("down", "timeout"), t
    assert all(st[split(t)]["pool"] == "api" for t in dropped)

    pools = {p["name"]: p for p in engine.status()["pools"]}
    assert (pools["web"]["total"], pools["web"]["up"], pools["web"]["down"]) == (400, 300, 100)
    assert (pools["api"]["total"], pools["api"]["up"], pools["api"]["down"]) == (100, 0, 100)
    assert pools["api"]["fail_open"] is True and pools["web"]["fail_open"] is False
    # the engine resolved the next hop itself: nobody pinged a backend first
    assert engine.status()["stats"]["neigh_requests"] >= 1
    assert engine.stop() == 0


def test_thresholds_and_detection_time(lab, engine):
    """Down after exactly unhealthy_threshold failures, within
    timeout + interval * unhealthy_threshold (+ tolerance); recovery likewise."""
    interval, timeout, fall, rise = 0.5, 0.2, 3, 2
    tol = 0.35  # status polling (50 ms), 1 ms ticks and process scheduling
    victim = "198.18.1.7"
    engine.configure([pool("web", targets(1, 20, 80), interval="500ms", timeout="200ms",
                           unhealthy_threshold=fall, healthy_threshold=rise)])
    engine.start()
    engine.wait_until(lambda s: all(b["state"] == "up" for b in s.values()), 10, "all up")

    lab.drop_add([victim])
    t0 = time.monotonic()
    _, st = engine.wait_until(lambda s: s[(victim, 80)]["state"] == "down", 5,
                              "the victim to go down", poll=0.05)
    took = time.monotonic() - t0
    rec = st[(victim, 80)]
    assert rec["reason"] == "timeout"
    assert rec["consecutive_fail"] == fall
    # fall probes: the first may go out right after the drop, the last needs its timeout
    assert took >= (fall - 1) * interval + timeout - 0.05, took
    assert took <= timeout + interval * fall + tol, took
    assert sum(b["state"] == "down" for b in st.values()) == 1

    lab.drop_del([victim])
    t1 = time.monotonic()
    _, st = engine.wait_until(lambda s: s[(victim, 80)]["state"] == "up", 5,
                              "the victim to recover", poll=0.05)
    took = time.monotonic() - t1
    assert st[(victim, 80)]["consecutive_ok"] == rise
    assert took >= (rise - 1) * interval - 0.05, took
    assert took <= interval * rise + tol, took
    assert f"backend {victim}:80: up -> down (timeout, {fall} in a row)" in engine.log()
    assert f"backend {victim}:80: down -> up (ok" in engine.log()


def test_no_half_open_leftovers_and_no_kernel_rsts(lab, engine):
    """Every SYN-ACK is torn down by XDP: no SYN-RECV left on the backends and
    the prober's kernel never sees a SYN-ACK (so it sends no RST of its own)."""
    rsts_before = lab.prober_tcp_out_rsts()
    engine.configure([pool("web", targets(1, 400, 80), interval="500ms", timeout="200ms")])
    engine.start()
    time.sleep(3)
    stats = engine.status()["stats"]
    assert engine.stop() == 0
    time.sleep(0.3)  # a SYN-ACK in flight at the stop would still be answered by XDP

    assert stats["replies_synack"] >= 400 * 3, stats
    assert stats["rst_sent"] >= stats["replies_synack"], stats
    assert lab.syn_recv_count() == 0
    assert lab.prober_tcp_out_rsts() == rsts_before
    assert lab.backend_snmp()["TcpExt.EmbryonicRsts"] >= stats["replies_synack"]


@pytest.mark.parametrize("victim, other", [("198.18.3.3", "198.18.1.1:80"),
                                           ("2001:2::33", "[2001:2::1]:80")],
                         ids=["ipv4", "ipv6"])
def test_forged_synacks_are_ignored_and_counted(lab, engine, victim, other):
    """Forged SYN-ACKs on the victim's exact probe tuple (its backend address
    and port, and the source port its SYNs leave from) with random
    acknowledgment numbers: each is counted as forged and none raises it.
    IPv6 cookies cover both whole addresses: the same holds there."""
    v6 = ":" in victim
    prober_ip = lab.prober_ip6 if v6 else lab.prober_ip
    lab.drop_add([victim])
    engine.configure([pool("web", [f"[{victim}]:80" if v6 else f"{victim}:80", other],
                           healthy_threshold=1)],
                     source_ports=f"{SPORTS[0]}-{SPORTS[1]}")
    engine.start()
    engine.wait_until(lambda s: s[(victim, 80)]["state"] == "down", 10, "victim down")
    sport = lab.probe_source_port(victim, 80)
    assert SPORTS[0] <= sport <= SPORTS[1]
    before = engine.status()["stats"]["ignored_forged"]

    rng = random.Random(7)
    sent = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and sent < 3000:
        for _ in range(100):
            lab.send_forged_synack(victim, 80, prober_ip, sport,
                                   rng.getrandbits(32), rng.getrandbits(32))
            sent += 1
        time.sleep(0.05)

    st = engine.states()
    assert st[(victim, 80)]["state"] == "down"
    assert st[(victim, 80)]["consecutive_ok"] == 0
    time.sleep(0.3)
    forged = engine.status()["stats"]["ignored_forged"] - before
    assert forged == sent, (forged, sent)
    assert engine.states()[(victim, 80)]["state"] == "down"


def test_bpftool_shows_named_fields_and_agrees_with_cli(lab, engine):
    lab.drop_add(["198.18.1.2"])
    engine.configure([pool("web", ["198.18.1.1:80", "198.18.1.2:80", "198.18.1.3:81"])])
    engine.start()
    engine.wait_until(settled, 10, "settled")
    meta = engine.bpftool_dump("meta")[0]["value"]
    assert meta["running"] == 1 and meta["abi_version"] == 3 and meta["flags"] == 0
    assert meta["pid"] == engine.proc.pid
    # Probes change the counters of every backend each interval: stop the
    # engine so that bpftool and the CLI read the very same entries, and
    # compare every field exactly.
    assert engine.stop() == 0
    st = engine.states()

    dump = engine.bpftool_dump("status")
    states = {0: "unknown", 1: "up", 2: "down"}
    reasons = {0: "none", 1: "ok", 2: "refused", 3: "timeout", 4: "unreachable",
               5: "no_route", 6: "neigh_failed"}
    pools = engine.bpftool_dump("pools")
    # an array sized to the pool's capacity: its 3 backends and, by default, room for
    # 16 more, whose ids stay unused (family 0) until backends are added; then the
    # 1024 spare ids (spare_ids) for pools a reload adds
    web = [p["value"] for p in pools if p["value"]["in_use"]]
    assert (web[0]["first"], web[0]["total"], web[0]["capacity"]) == (0, 3, 19)
    assert len(dump) == 19 + 1024
    assert all(e["value"]["key"]["family"] == 0 for e in dump[3:]), dump[3:]
    dump = dump[:3]
    pool_names = {p["key"]: p["value"]["name"] for p in pools if p["value"]["in_use"]}
    ids, seen = {}, set()
    for e in dump:
        assert set(e) >= {"key", "value"}, "bpftool printed raw bytes: no BTF"
        v = e["value"]
        k = v["key"]
        assert set(k) >= {"family", "protocol", "port", "addr"}
        assert set(v) >= {"seq", "state", "reason", "flags", "check", "consecutive_ok",
                          "consecutive_fail", "pool_id", "detail", "generation",
                          "last_rtt_us", "last_change_ns"}
        assert v["generation"] == 1, "the first backend an id holds is generation 1"
        assert v["seq"] % 2 == 0, "a settled entry must not look half-written"
        assert (k["family"], k["protocol"]) == (2, 6)
        addr = ".".join(str(b) for b in int(k["addr"][0]).to_bytes(4, "little"))
        port = int.from_bytes(int(k["port"]).to_bytes(2, "little"), "big")
        cli = st[(addr, port)]
        seen.add((addr, port))
        assert {
            "pool": pool_names[v["pool_id"]], "state": states[v["state"]],
            "reason": reasons[v["reason"]], "icmp_type": v["detail"] >> 8,
            "icmp_code": v["detail"] & 0xff, "generation": v["generation"],
            "draining": bool(v["flags"] & 1), "consecutive_ok": v["consecutive_ok"],
            "consecutive_fail": v["consecutive_fail"], "last_rtt_us": v["last_rtt_us"],
            "last_change_ns": v["last_change_ns"],
        } == {f: cli[f] for f in ("pool", "state", "reason", "icmp_type", "icmp_code",
                                  "generation", "draining", "consecutive_ok", "consecutive_fail", "last_rtt_us",
                                  "last_change_ns")}, (addr, port)
        ids[(k["addr"][0], k["port"])] = e["key"]
    assert seen == set(st), "bpftool and the CLI list different backends"
    # what the lab says, so that agreeing on wrong values cannot pass
    assert (st[("198.18.1.1", 80)]["state"], st[("198.18.1.1", 80)]["reason"]) == ("up", "ok")
    assert (st[("198.18.1.2", 80)]["state"], st[("198.18.1.2", 80)]["reason"]) == \
        ("down", "timeout")
    assert (st[("198.18.1.3", 81)]["state"], st[("198.18.1.3", 81)]["reason"]) == \
        ("down", "refused")
    assert st[("198.18.1.1", 80)]["consecutive_ok"] >= 2
    # the index maps each backend's key to its entry in status
    index = engine.bpftool_dump("index")
    assert len(index) == 3
    for e in index:
        k = e["key"]["backend"]
        assert ids[(k["addr"][0], k["port"])] == e["value"]
        assert e["key"]["pool_id"] == 0
    web = [p["value"] for p in pools if p["value"]["in_use"]]
    cli_pools = engine.status()["pools"]
    assert len(web) == 1 and len(cli_pools) == 1
    assert {f: web[0][f] for f in ("name", "total", "up", "down", "unknown")} == \
        {f: cli_pools[0][f] for f in ("name", "total", "up", "down", "unknown")}
    assert (web[0]["up"], web[0]["down"]) == (1, 2)
    meta = engine.bpftool_dump("meta")[0]["value"]
    assert (meta["running"], meta["pid"]) == (0, 0)


def test_stop_detaches_and_restart_reuses_pins(lab, engine):
    up, closed = targets(1, 50, 80), targets(10, 10, 81)
    engine.configure([pool("web", up + closed)])
    engine.start()
    engine.wait_until(settled, 10, "settled")
    assert engine.xdp_attached()

    assert engine.stop(signal.SIGTERM) == 0
    assert not engine.xdp_attached()
    st = engine.status()
    assert st["engine"]["state"] == "stopped"
    assert sum(b["state"] == "up" for b in st["backends"]) == 50   # pins outlive the engine
    r = engine.run_once("status", "--pin-path", engine.pin_dir)
    assert "stopped" in r.stdout and "last known state" in r.stdout

    # the restart keeps what it knew, then probes as before
    lab.drop_add(["198.18.1.5"])
    engine.start()
    assert "kept the last known state of 60 backends" in engine.log(this_run=True)
    first = engine.states()
    assert sum(b["state"] == "up" for b in first.values()) >= 49
    assert engine.status()["engine"]["state"] == "running"
    engine.wait_until(lambda s: s[("198.18.1.5", 80)]["state"] == "down", 10, "victim down")
    assert engine.xdp_attached()
    assert engine.stop(signal.SIGINT) == 0
    assert not engine.xdp_attached()


def _connect_from(lab, sport: int, dst: str, port: int) -> str:
    """A kernel TCP connection from the prober's address and source port
    sport: 'connected', 'refused' or 'timeout'."""
    import socket
    s = netns_socket(lab.prober_ns, socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((lab.prober_ip, sport))
        s.settimeout(2.0)
        s.connect((dst, port))
        return "connected"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "timeout"
    finally:
        s.close()


def test_host_connections_in_the_probe_port_range_pass(lab, engine):
    """The host's own connections that use a port of the probe range (as NAT
    may) get their SYN-ACKs and RSTs: probe_rx touches only replies on a
    probe's own tuple."""
    probed = "198.18.1.1"
    engine.configure([pool("web", [f"{probed}:80", "198.18.1.2:80"])],
                     source_ports="40000-40015")
    engine.start()
    engine.wait_until(lambda s: s[(probed, 80)]["state"] == "up", 10, "up")
    probe_port = lab.probe_source_port(probed, 80)
    before = engine.status()["stats"]

    others = [p for p in range(40000, 40016) if p != probe_port]
    # an unprobed address, and the probed one from a port that is not its probe's
    assert _connect_from(lab, others[0], "198.18.9.9", 80) == "connected"
    assert _connect_from(lab, others[1], probed, 80) == "connected"
    # a closed port answers RST, which must reach the kernel's socket
    assert _connect_from(lab, others[2], "198.18.9.9", 81) == "refused"

    after = engine.status()["stats"]
    assert after["ignored_forged"] == before["ignored_forged"], (before, after)
    assert engine.states()[(probed, 80)]["state"] == "up"


def test_consumer_writes_to_the_published_maps_do_not_steer_the_engine(lab, engine):
    """The published maps are output only.  A consumer scribbles over them
    (a down backend's state set to up, its pool_id out of range, the pool's
    up count and up list): the engine neither crashes nor believes it, and
    its next changes publish the truth again."""
    import os
    import struct
    a, b = "198.18.1.1", "198.18.1.2"
    lab.drop_add([b])
    # Both backends fail by timeout for a moment below: the circuit breaker
    # would hold a's fall until b answers, and b's rise would come first.
    engine.configure([pool("web", [f"{a}:80", f"{b}:80"], interval="300ms",
                           timeout="200ms", healthy_threshold=1, unhealthy_threshold=1)],
                     max_down_fraction=1)
    engine.start()
    engine.wait_until(lambda s: s[(a, 80)]["state"] == "up" and s[(b, 80)]["state"] == "down",
                      10, "a up, b down")
    status = bpf.obj_get(f"{engine.pin_dir}/status")
    pools = bpf.obj_get(f"{engine.pin_dir}/pools")
    up = bpf.obj_get(f"{engine.pin_dir}/pool_up")
    try:
        id_b = 1                                      # ids follow the config order
        rec = bytearray(bpf.lookup(status, struct.pack("<I", id_b), 48))
        rec[24] = 1                                   # state = UP
        struct.pack_into("<H", rec, 32, 999)          # pool_id far out of range
        bpf.update(status, struct.pack("<I", id_b), bytes(rec))
        prec = bytearray(bpf.lookup(pools, struct.pack("<I", 0), 88))  # sizeof summary
        struct.pack_into("<I", prec, 36, 1000)        # up
        bpf.update(pools, struct.pack("<I", 0), bytes(prec))
        bpf.update(up, struct.pack("<I", 0), struct.pack("<II", 12345, 0))
    finally:
        for fd in (status, pools, up):
            os.close(fd)

    # a goes down (its up-list entry is removed, which finds the list
    # scribbled over), then b comes up: in that order, whatever the phase of
    # their probes (a retransmit may raise b before a's timeout)
    lab.drop_add([a])
    engine.wait_until(lambda s: s[(a, 80)]["state"] == "down", 10, "a down")
    lab.drop_del([b])
    engine.wait_until(lambda s: s[(b, 80)]["state"] == "up", 10, "b up")
    assert engine.proc.poll() is None, engine.log()
    time.sleep(0.5)
    p = [x["value"] for x in engine.bpftool_dump("pools") if x["value"]["in_use"]][0]
    assert (p["up"], p["down"], p["unknown"]) == (1, 1, 0), p
    ups = engine.bpftool_dump("pool_up")
    assert ups[p["first"]]["value"]["id"] == id_b, ups[:2]
    assert "written by someone else" in engine.log(this_run=True)
