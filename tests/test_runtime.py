# SPDX-License-Identifier: MIT
"""Day two: backends changed at runtime through the control socket
(`xdphc backend add|del|drain|undrain|maint|ready`, `xdphc pool list`),
against a running engine in the lab."""
import json
import os
import stat
import time

from lab.engine import pool

SPORTS = "40000-40999"


def up_ids(engine, name: str) -> set[int]:
    """Backend ids in pool NAME's up list, as a load balancer reads them."""
    pools = [p for p in engine.bpftool_dump("pools") if p["value"]["in_use"]]
    ps = next(p["value"] for p in pools if p["value"]["name"] == name)
    slots = engine.bpftool_dump("pool_up")
    return {slots[ps["first"] + k]["value"]["id"] for k in range(ps["up"])}


def entry(engine, addr: str, port: int = 80) -> dict | None:
    return engine.states().get((addr, port))


def ok(engine, *args: str) -> str:
    r = engine.control(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def refused(engine, *args: str) -> str:
    r = engine.control(*args)
    assert r.returncode == 1, (args, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    return r.stderr


def index_entries(engine) -> dict[tuple[str, int, int], int]:
    """The index map: (address, port, pool id) -> backend id."""
    out = {}
    for e in engine.bpftool_dump("index"):
        k = e["key"]["backend"]
        addr = ".".join(str(b) for b in int(k["addr"][0]).to_bytes(4, "little"))
        port = int.from_bytes(int(k["port"]).to_bytes(2, "little"), "big")
        out[(addr, port, e["key"]["pool_id"])] = e["value"]
    return out


def index_keys(engine) -> set[tuple[str, int]]:
    return {(addr, port) for addr, port, _ in index_entries(engine)}


def test_add_and_del_on_a_running_engine(lab, engine):
    """An empty pool filled at runtime; new backends are probed and go up,
    the others keep id, state and last change; del frees the id, which comes
    back later with the next generation."""
    web = [f"198.18.1.{i}:80" for i in range(1, 6)]
    engine.configure([pool("web", web), {**pool("later", []), "max_backends": 2}],
                     source_ports=SPORTS)
    engine.start()
    before = engine.wait_until(lambda s: all(b["state"] == "up" for b in s.values()), 10,
                               "web up")[1]
    assert engine.pools()["later"]["total"] == 0

    out = ok(engine, "backend", "add", "later", "198.18.2.1:80")
    assert "added 198.18.2.1:80 to pool later" in out
    ok(engine, "backend", "add", "web", "198.18.1.9:80")
    _, st = engine.wait_until(lambda s: s.get(("198.18.2.1", 80), {}).get("state") == "up"
                              and s[("198.18.1.9", 80)]["state"] == "up", 10,
                              "the added backends up")
    for key, b in before.items():
        assert (st[key]["id"], st[key]["state"], st[key]["last_change_ns"]) == \
            (b["id"], "up", b["last_change_ns"]), key
    new_id = st[("198.18.1.9", 80)]["id"]
    assert new_id not in {b["id"] for b in before.values()}
    assert st[("198.18.1.9", 80)]["generation"] == 1
    assert new_id in up_ids(engine, "web")
    assert ("198.18.1.9", 80) in index_keys(engine)
    pools = engine.pools()
    assert (pools["web"]["total"], pools["web"]["up"]) == (6, 6)
    assert (pools["later"]["total"], pools["later"]["up"]) == (1, 1)

    out = ok(engine, "backend", "del", "web", "198.18.1.9:80")
    assert f"removed 198.18.1.9:80 from pool web (id {new_id})" in out
    st = engine.states()
    assert ("198.18.1.9", 80) not in st
    assert ("198.18.1.9", 80) not in index_keys(engine)
    assert new_id not in up_ids(engine, "web")
    dump = {e["key"]: e["value"] for e in engine.bpftool_dump("status")}
    assert dump[new_id]["key"]["family"] == 0
    assert engine.pools()["web"]["total"] == 5
    # the freed id is given out again once the free ids before it are used
    # (oldest first): fill the pool and the id returns with generation 2
    cap = engine.pools()["web"]["capacity"]
    for i in range(cap - 5):
        ok(engine, "backend", "add", "web", f"198.18.3.{i + 1}:80")
    st = engine.states()
    back = [b for b in st.values() if b["id"] == new_id]
    assert len(back) == 1 and back[0]["generation"] == 2, back
    assert engine.stop() == 0


def test_refusals_leave_nothing_behind(lab, engine):
    """Unknown pool, duplicate in the pool, bad address, full pool, unknown
    backend: each refused with its reason, exit status 1, nothing changed."""
    engine.configure([{**pool("web", ["198.18.1.1:80", "198.18.1.2:80"]), "max_backends": 3},
                      pool("api", ["198.18.2.1:80"])], source_ports=SPORTS)
    engine.start()
    engine.wait_until(lambda s: all(b["state"] == "up" for b in s.values()), 10, "up")
    dump_before = engine.bpftool_dump("status")
    pools_before = engine.pools()

    assert "unknown pool 'nope' (pools: web, api)" in \
        refused(engine, "backend", "add", "nope", "198.18.1.5:80")
    assert "198.18.1.1:80 is already in pool web" in \
        refused(engine, "backend", "add", "web", "198.18.1.1:80")
    assert "bad address '198.18.1.300:80'" in \
        refused(engine, "backend", "add", "web", "198.18.1.300:80")
    assert "bad address 'web1'" in refused(engine, "backend", "add", "web", "web1")
    assert "198.18.9.9:80 is not in pool web" in \
        refused(engine, "backend", "del", "web", "198.18.9.9:80")
    assert "198.18.2.1:80 is not in pool web (it is in pool api)" in \
        refused(engine, "backend", "drain", "web", "198.18.2.1:80")
    assert "unknown backend action 'remove'" in \
        refused(engine, "backend", "remove", "web", "198.18.1.1:80")
    keys = [e["value"]["key"] for e in engine.bpftool_dump("status")]
    assert keys == [e["value"]["key"] for e in dump_before]
    assert engine.pools() == pools_before

    ok(engine, "backend", "add", "web", "198.18.1.3:80")
    err = refused(engine, "backend", "add", "web", "198.18.1.4:80")
    assert "pool web is full: 3 of 3 backend ids in use (max_backends)" in err
    assert ("198.18.1.4", 80) not in index_keys(engine)
    assert engine.pools()["web"]["total"] == 3
    # a usage error is the CLI's own (exit 2), before any engine is asked
    r = engine.control("backend", "add", "web")
    assert r.returncode == 2 and "expects ACTION POOL ADDR:PORT" in r.stderr
    assert engine.stop() == 0


def test_drain_keeps_probing_and_removes_after_the_delay(lab, engine, tmp_path):
    """drain: flag set, out of the up list at once, still probed, removed
    after deregistration_delay; each step in the event log."""
    events = tmp_path / "events.jsonl"
    engine.configure([{**pool("web", [f"198.18.1.{i}:80" for i in range(1, 4)],
                              interval="200ms", timeout="100ms"),
                       "deregistration_delay": "3s"}],
                     source_ports=SPORTS, event_log=str(events))
    engine.start()
    engine.wait_until(lambda s: all(b["state"] == "up" for b in s.values()), 10, "up")
    victim = entry(engine, "198.18.1.2")
    t0 = time.monotonic()
    out = ok(engine, "backend", "drain", "web", "198.18.1.2:80")
    assert "removed in 3 s" in out
    b = entry(engine, "198.18.1.2")
    assert b["draining"] is True and b["state"] == "up"
    assert victim["id"] not in up_ids(engine, "web")
    show = engine.run_once("show", "198.18.1.2:80", "--pin-path", engine.pin_dir).stdout
    assert "state:            up, draining (no new flows)" in show, show
    assert f"id:               {victim['id']} (generation 1)" in show, show
    p = engine.pools()["web"]
    assert (p["total"], p["up"], p["draining"]) == (3, 2, 1)
    # still probed: its run of successes grows while it drains
    time.sleep(1.0)
    assert entry(engine, "198.18.1.2")["consecutive_ok"] > b["consecutive_ok"]
    # draining twice is no error; it does not restart the delay
    assert "already draining" in ok(engine, "backend", "drain", "web", "198.18.1.2:80")
    engine.wait_until(lambda s: ("198.18.1.2", 80) not in s, 6, "the drained backend removed")
    assert 2.8 <= time.monotonic() - t0 <= 4.5
    assert engine.pools()["web"]["total"] == 2
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    steps = [(e["event"], e["address"]) for e in lines if "event" in e]
    assert ("drain", "198.18.1.2") in steps and ("deregistered", "198.18.1.2") in steps

    # undrain before the delay: back in the up list, not removed
    ok(engine, "backend", "drain", "web", "198.18.1.3:80")
    assert "no longer draining" in ok(engine, "backend", "undrain", "web", "198.18.1.3:80")
    b = entry(engine, "198.18.1.3")
    assert b["draining"] is False and b["id"] in up_ids(engine, "web")
    time.sleep(3.5)
    assert entry(engine, "198.18.1.3")["state"] == "up"
    assert engine.stop() == 0


def test_maint_stops_probing_and_ready_resumes(lab, engine):
    """maint: out of rotation and not probed (a backend that stops answering
    stays maint, not down); ready: probed again from initial_state."""
    engine.configure([{**pool("web", ["198.18.1.1:80", "198.18.1.2:80"], interval="200ms",
                              timeout="100ms"), "initial_state": "down"}],
                     source_ports=SPORTS)
    engine.start()
    engine.wait_until(lambda s: all(b["state"] == "up" for b in s.values()), 10, "up")
    victim = entry(engine, "198.18.1.2")
    ok(engine, "backend", "maint", "web", "198.18.1.2:80")
    assert entry(engine, "198.18.1.2")["state"] == "maint"
    assert victim["id"] not in up_ids(engine, "web")
    assert engine.pools()["web"]["maint"] == 1
    lab.drop_add("198.18.1.2")
    time.sleep(1.5)
    b = entry(engine, "198.18.1.2")
    assert b["state"] == "maint" and b["reason"] == "ok", b
    out = ok(engine, "backend", "ready", "web", "198.18.1.2:80")
    assert "state down" in out
    # probed again: it times out now
    engine.wait_until(lambda s: s[("198.18.1.2", 80)]["reason"] == "timeout", 3,
                      "a probe after ready")
    assert entry(engine, "198.18.1.2")["state"] == "down"
    lab.drop_del("198.18.1.2")
    engine.wait_until(lambda s: s[("198.18.1.2", 80)]["state"] == "up", 3, "up again")
    assert engine.stop() == 0


def test_initial_state_and_grace(lab, engine):
    """initial_state down: down until the first checks pass.  grace_period:
    failures of a new backend do not count for the period, successes do at
    once."""
    engine.configure([{**pool("web", ["198.18.1.1:80"], interval="200ms", timeout="100ms",
                              unhealthy_threshold=1),
                       "initial_state": "down", "grace_period": "2s"}],
                     source_ports=SPORTS)
    engine.start()
    lab.drop_add("198.18.1.20")
    ok(engine, "backend", "add", "web", "198.18.1.10:80")
    ok(engine, "backend", "add", "web", "198.18.1.20:80")
    t0 = time.monotonic()
    b = entry(engine, "198.18.1.20")
    assert (b["state"], b["grace"]) == ("down", True)
    engine.wait_until(lambda s: s[("198.18.1.10", 80)]["state"] == "up", 2,
                      "a good new backend up within its grace")
    assert time.monotonic() - t0 < 1.5
    # the dead one: probed and failing, but its failures do not count yet
    time.sleep(1.0)
    b = entry(engine, "198.18.1.20")
    assert (b["reason"], b["consecutive_fail"], b["grace"]) == ("timeout", 0, True), b
    engine.wait_until(lambda s: not s[("198.18.1.20", 80)]["grace"] and
                      s[("198.18.1.20", 80)]["consecutive_fail"] >= 1, 3, "grace over")
    assert time.monotonic() - t0 >= 1.9
    assert engine.stop() == 0


def test_grace_on_start(lab, engine):
    """grace_on_start: right after the start, failures of every backend do
    not count for grace_period."""
    lab.drop_add("198.18.1.2")
    engine.configure([{**pool("web", ["198.18.1.1:80", "198.18.1.2:80"], interval="200ms",
                              timeout="100ms", unhealthy_threshold=1),
                       "grace_period": "2s", "grace_on_start": True}], source_ports=SPORTS)
    engine.start()
    t0 = time.monotonic()
    engine.wait_until(lambda s: s[("198.18.1.1", 80)]["state"] == "up", 2, "up at once")
    time.sleep(max(0.0, 1.5 - (time.monotonic() - t0)))
    assert entry(engine, "198.18.1.2")["state"] == "unknown"
    engine.wait_until(lambda s: s[("198.18.1.2", 80)]["state"] == "down", 3, "down after grace")
    assert time.monotonic() - t0 >= 1.9
    assert engine.stop() == 0


def test_control_socket_is_private_and_goes_away(lab, engine):
    """Mode 0600 at /run/xdphc/NAME.sock (NAME from the pin path); removed at
    stop; a second engine may not take it over."""
    engine.configure([pool("web", ["198.18.1.1:80"])], source_ports=SPORTS)
    engine.start()
    name = engine.pin_dir[len("/sys/fs/bpf/"):].replace("/", "-")
    path = f"/run/xdphc/{name}.sock"
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    r = engine.run_once("pool", "list", "--socket", path)
    assert r.returncode == 0 and r.stdout.startswith("1 pool\nPOOL"), r.stdout
    assert engine.stop() == 0
    assert not os.path.exists(path)
    r = engine.run_once("pool", "list", "--socket", path)
    assert r.returncode == 1 and "is `xdphc run` up?" in r.stderr


def probe_rate(engine, seconds: float = 2.0) -> float:
    a = engine.status(summary=True)["stats"]["probes_sent"]
    time.sleep(seconds)
    return (engine.status(summary=True)["stats"]["probes_sent"] - a) / seconds


def test_a_backend_in_two_pools_is_probed_once(lab, engine):
    """The same backend and probe settings in two pools: one probe per
    interval, each pool's entry (own id, own thresholds) follows it; added
    at runtime it joins; when the probing entry leaves, the other probes."""
    shared, only_api = "198.18.1.1:80", "198.18.1.2:80"
    engine.configure([pool("web", [shared], interval="100ms", timeout="50ms",
                           unhealthy_threshold=1),
                      pool("api", [shared, only_api], interval="100ms", timeout="50ms",
                           unhealthy_threshold=3)], source_ports=SPORTS)
    engine.start()
    engine.wait_settled(5)
    # 2 probing entries (the shared backend once, 198.18.1.2 once) at 10/s each
    assert 15 <= probe_rate(engine) <= 25
    idx = index_entries(engine)
    assert {(a, p) for a, p, _ in idx} == {("198.18.1.1", 80), ("198.18.1.2", 80)}
    assert idx[("198.18.1.1", 80, 0)] != idx[("198.18.1.1", 80, 1)]
    r = engine.run_once("show", shared, "--pool", "api", "--json", "--pin-path", engine.pin_dir)
    assert r.returncode == 0 and json.loads(r.stdout)["pool"] == "api", r.stdout + r.stderr
    # each pool judges the shared outcomes with its own thresholds
    lab.drop_add("198.18.1.1")
    t0 = time.monotonic()
    def entries_of(addr):
        return {b["pool"]: b for b in engine.status()["backends"] if b["address"] == addr}
    engine.wait_until(lambda _: entries_of("198.18.1.1")["web"]["state"] == "down", 2,
                      "web's entry down")
    api = entries_of("198.18.1.1")["api"]
    assert api["state"] == "up" and api["consecutive_fail"] >= 1, api
    engine.wait_until(lambda _: entries_of("198.18.1.1")["api"]["state"] == "down", 2,
                      "api's entry down")
    assert time.monotonic() - t0 < 2
    lab.drop_del("198.18.1.1")
    engine.wait_settled(5)
    # the probing entry leaves: the other one probes now
    ok(engine, "backend", "del", "web", shared)
    lab.drop_add("198.18.1.1")
    engine.wait_until(lambda s: s[("198.18.1.1", 80)]["state"] == "down", 3,
                      "api's entry still probed after web's left")
    lab.drop_del("198.18.1.1")
    # added at runtime to a third place with the same probes: no new probes
    engine.wait_settled(5)
    rate = probe_rate(engine)
    out = ok(engine, "backend", "add", "web", only_api)
    assert "probed once" in out
    assert abs(probe_rate(engine) - rate) <= 4
    assert engine.stop() == 0


# ---- IPv6 and udp backends at runtime ------------------------------------------

def index_protocols(engine) -> dict[tuple[int, int, int], int]:
    """The index map: (family, port, pool id) -> the key's protocol, of every entry."""
    out = {}
    for e in engine.bpftool_dump("index"):
        k = e["key"]["backend"]
        port = int.from_bytes(int(k["port"]).to_bytes(2, "little"), "big")
        out[(k["family"], port, e["key"]["pool_id"])] = k["protocol"]
    return out


def show(engine, target: str, *args: str) -> str:
    r = engine.run_once("show", target, *args, "--pin-path", engine.pin_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_ipv6_and_udp_backends_at_runtime(lab, engine, tmp_path):
    """backend add takes [IPv6]:PORT; a udp pool's backends are udp backends
    (the same address and port in a tcp pool is another one); status, show
    and the event log write IPv6 as [addr]:port or the bare address."""
    events = tmp_path / "events.jsonl"
    engine.configure([pool("web", ["198.18.1.1:80"]),
                      pool("dns", ["198.18.1.1:53"], protocol="udp", payload="ping")],
                     source_ports=SPORTS, event_log=str(events))
    engine.start()
    assert "added [2001:2::5]:80 to pool web" in ok(engine, "backend", "add", "web",
                                                   "[2001:2::5]:80")
    ok(engine, "backend", "add", "dns", "[2001:2::5]:53")
    ok(engine, "backend", "add", "dns", "198.18.1.2:53")
    # the udp backend 198.18.1.1:53 is not the tcp one
    assert "added 198.18.1.1:53 to pool web" in ok(engine, "backend", "add", "web",
                                                  "198.18.1.1:53")
    assert "already in pool dns" in refused(engine, "backend", "add", "dns", "[2001:2::5]:53")
    protos = index_protocols(engine)
    assert protos[(10, 80, 0)] == 6 and protos[(10, 53, 1)] == 17, protos
    assert protos[(2, 53, 0)] == 6 and protos[(2, 53, 1)] == 17, protos
    backends = engine.status()["backends"]
    got = {(b["address"], b["port"], b["pool"]): b["check"] for b in backends}
    assert got == {("198.18.1.1", 80, "web"): "tcp_syn", ("2001:2::5", 80, "web"): "tcp_syn",
                   ("198.18.1.1", 53, "web"): "tcp_syn", ("198.18.1.1", 53, "dns"): "udp",
                   ("198.18.1.2", 53, "dns"): "udp", ("2001:2::5", 53, "dns"): "udp"}
    assert engine.pools()["dns"]["check"] == "udp"
    # no server on udp 53 in the lab: refused, listed as not up, IPv4 first
    engine.wait_until(lambda _: all(b["state"] == "down" for b in engine.status("dns")
                                    ["backends"] if b["address"].startswith("198.")),
                      10, "the udp backends refused")
    text = engine.run_once("status", "--pin-path", engine.pin_dir).stdout
    assert "[2001:2::5]:53" in text and text.index("198.18.1.2:53") < text.index("[2001:2::5]")
    assert "check:            udp" in show(engine, "[2001:2::5]:53")
    assert "check:            tcp_syn" in show(engine, "198.18.1.1:53")
    assert "check:            udp" in show(engine, "198.18.1.1:53", "--pool", "dns")
    one = json.loads(show(engine, "[2001:2::5]:80", "--json"))
    assert (one["address"], one["port"], one["pool"]) == ("2001:2::5", 80, "web")
    assert "removed [2001:2::5]:53 from pool dns" in ok(engine, "backend", "del", "dns",
                                                        "[2001:2::5]:53")
    assert ok(engine, "backend", "drain", "web", "[2001:2::5]:80")
    lines = [json.loads(ln) for ln in events.read_text().splitlines()]
    steps = {(e.get("event"), e["address"], e["port"]) for e in lines}
    assert {("added", "2001:2::5", 53), ("removed", "2001:2::5", 53),
            ("drain", "2001:2::5", 80)} <= steps, steps
    refusal = [e for e in lines if e.get("to") == "down" and e["pool"] == "dns"]
    assert refusal and all(e["check"] == "udp" and e["reason"] == "refused" for e in refusal)
    assert engine.stop() == 0


def test_backend_add_needs_a_source_and_room(lab, engine):
    """An IPv6 backend on an engine without an IPv6 source, a udp datagram
    that an IPv6 header would push past the MTU: refused, nothing added."""
    lab.prober_exec(f"ip -6 addr flush dev {lab.prober_if} scope global")
    engine.configure([pool("web", ["198.18.1.1:80"]),
                      pool("dns", [], protocol="udp", payload="x" * 1453)], source_ports=SPORTS)
    engine.start()
    err = refused(engine, "backend", "add", "web", "[2001:2::7]:80")
    assert (f"backend '[2001:2::7]:80' is IPv6 but interface '{lab.prober_if}' has no global "
            "IPv6 address; set source_ipv6") in err, err
    ok(engine, "backend", "add", "dns", "198.18.1.7:53")        # 1453 + 8 + 20 fits 1500
    assert engine.pools()["web"]["total"] == 1 and engine.pools()["dns"]["total"] == 1
    assert engine.stop() == 0
    # with an IPv6 source, the IPv6 header is what does not fit
    lab.prober_exec(f"ip -6 addr add 2001:2:0:ffff::1/126 dev {lab.prober_if} nodad")
    engine.start()
    err = refused(engine, "backend", "add", "dns", "[2001:2::7]:53")
    assert ("payload too large for interface" in err and
            "1453 bytes + 8 (UDP) + 40 (IPv6) = 1501 bytes, in pool 'dns'" in err), err
    assert "added" in ok(engine, "backend", "add", "web", "[2001:2::7]:80")
    assert engine.stop() == 0
