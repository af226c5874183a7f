# SPDX-License-Identifier: MIT
"""SIGHUP re-reads the config and applies the difference to the running
engine; runtime changes are an overlay on the file, kept in the state file
across reloads and restarts (README: "Runtime changes and the config file")."""
import json
import re
import time

from lab.engine import pool
from test_observe import free_port, http_get
from test_probe import settled


def targets(block: int, n: int, port: int = 80) -> list[str]:
    return [f"198.18.{block + i // 250}.{1 + i % 250}:{port}" for i in range(n)]


def key(t: str) -> tuple[str, int]:
    a, p = t.rsplit(":", 1)
    return a, int(p)


def ids(st: dict) -> dict:
    """(address, port) -> (id, generation, state, last_change_ns) of every backend."""
    return {k: (b["id"], b["generation"], b["state"], b["last_change_ns"]) for k, b in st.items()}


def events(path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []


def transitions(path, since: int = 0) -> list[dict]:
    """State changes (not admin events) in the event log after its first SINCE lines."""
    return [e for e in events(path)[since:] if "from" in e]


def start(engine, pools, **top):
    engine.configure(pools, **top)
    engine.start()
    return engine.wait_until(settled, 15, "every backend to leave unknown")[1]


def test_sighup_adds_and_removes_backends_and_keeps_the_others(lab, engine, tmp_path):
    """1 of 100 backends removed, 2 added, one pool's interval changed: the 99
    others keep id, generation, state and last_change_ns, and the event log
    has no state change of theirs; the new ones get probed."""
    log = tmp_path / "events.jsonl"
    web = targets(1, 100)
    before = start(engine, [pool("web", web, interval="500ms", timeout="200ms")], event_log=str(log))
    n_events = len(events(log))
    new = targets(50, 2)
    engine.configure([pool("web", web[1:] + new, interval="250ms", timeout="200ms")], event_log=str(log))
    line = engine.reload()
    assert re.search(r"reload: \+2 -1 backends, \+0 -0 pools, 1 pools changed", line), line

    _, after = engine.wait_until(lambda s: all(s.get(key(t), {}).get("state") == "up"
                                               for t in new), 10, "the new backends up")
    assert key(web[0]) not in after
    kept = {k: v for k, v in ids(before).items() if k != key(web[0])}
    assert {k: ids(after)[k] for k in kept} == kept
    assert transitions(log, n_events) == [e for e in transitions(log, n_events)
                                          if (e["address"], e["port"]) in map(key, new)]
    admin = [(e["event"], e["address"]) for e in events(log)[n_events:] if "event" in e]
    assert sorted(admin) == sorted([("config_removed", key(web[0])[0])] +
                                   [("config_added", key(t)[0]) for t in new])
    assert engine.pools()["web"]["interval_ms"] == 250
    # and again: each reload starts its work afresh
    engine.configure([pool("web", web[1:] + new + targets(60, 1), interval="250ms",
                           timeout="200ms")], event_log=str(log))
    assert "reload: +1 -0 backends, +0 -0 pools, 0 pools changed" in engine.reload()


def probes_per_s(engine, seconds: float = 2.0) -> float:
    a = engine.status(summary=True)["stats"]["probes_sent"]
    time.sleep(seconds)
    return (engine.status(summary=True)["stats"]["probes_sent"] - a) / seconds


def test_sighup_adds_and_removes_pools_and_retimes_one(lab, engine):
    """A pool removed (its backends go, its id stays unused), one added (ids
    from the spare ones), one retimed: the probe rate follows."""
    web, api, db = targets(1, 50), targets(10, 5), targets(20, 3)
    start(engine, [pool("web", web), pool("api", api)])
    rate = probes_per_s(engine)
    assert 45 <= rate <= 65, rate                        # 55 backends at 1 s
    engine.configure([pool("web", web, interval="250ms", timeout="200ms"), pool("db", db)])
    line = engine.reload()
    assert re.search(r"\+3 -5 backends, \+1 -1 pools, 1 pools changed", line), line

    _, st = engine.wait_until(lambda s: all(s.get(key(t), {}).get("state") == "up" for t in db),
                              10, "db's backends up")
    assert not any(key(t) in st for t in api)
    assert {b["pool"] for b in st.values()} == {"web", "db"}
    pools = engine.pools()
    assert set(pools) == {"web", "db"}
    assert (pools["web"]["interval_ms"], pools["web"]["timeout_ms"]) == (250, 200)
    # db's ids come after every pool's at start: web's 50 + 16 and api's 5 + 16
    assert (pools["db"]["first_id"], pools["db"]["capacity"]) == (66 + 21, 3 + 16)
    rate = probes_per_s(engine)
    assert 180 <= rate <= 240, rate                      # 50 at 250 ms + 3 at 1 s
    summary = {p["name"]: p for p in engine.status(summary=True)["pools"]}
    assert set(summary) == {"web", "db"} and summary["db"]["total"] == 3


def metrics(lab, port: int) -> dict:
    text = http_get(lab, f"http://127.0.0.1:{port}/metrics")
    return {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1])
            for ln in text.splitlines() if ln and not ln.startswith("#")}


def test_invalid_config_is_refused_logged_and_counted(lab, engine):
    """Bad YAML, then an unknown key: each reload is refused with the file and
    line, counted on /metrics, and the engine goes on probing as before."""
    port = free_port(lab)
    web = targets(1, 10)
    start(engine, [pool("web", web)], metrics_listen=f"127.0.0.1:{port}")
    time.sleep(0.3)
    m = metrics(lab, port)
    assert (m["xdphc_reloads_total"], m["xdphc_reload_failures_total"]) == (0, 0)
    assert m["xdphc_config_last_reload_successful"] == 1
    started = m["xdphc_config_last_reload_success_timestamp_seconds"]
    good = engine.config_path.read_text()

    engine.config_path.write_text(good.replace("pools:", "pools: [", 1))
    line = engine.reload()
    assert re.search(r"error: reload refused, the running configuration stays: "
                     rf"{re.escape(str(engine.config_path))}:\d+: YAML syntax error", line), line
    engine.config_path.write_text(good.replace("  healthcheck:", "  colour: blue\n  healthcheck:"))
    line = engine.reload()
    n = next(i for i, ln in enumerate(engine.config_path.read_text().splitlines(), 1)
             if "colour" in ln)
    assert f"{engine.config_path}:{n}: unknown key 'colour' in pool" in line, line
    assert engine.running()
    time.sleep(0.3)
    m = metrics(lab, port)
    assert (m["xdphc_reloads_total"], m["xdphc_reload_failures_total"]) == (2, 2)
    assert m["xdphc_config_last_reload_successful"] == 0
    assert m["xdphc_config_last_reload_success_timestamp_seconds"] == started
    assert all(b["state"] == "up" for b in engine.states().values())

    engine.config_path.write_text(good)
    assert "reload: +0 -0 backends" in engine.reload()
    time.sleep(0.3)
    m = metrics(lab, port)
    assert (m["xdphc_reloads_total"], m["xdphc_reload_failures_total"]) == (3, 2)
    assert m["xdphc_config_last_reload_successful"] == 1
    assert m["xdphc_config_last_reload_success_timestamp_seconds"] > started


def test_keys_bound_at_start_need_a_restart(lab, engine):
    """interface and source_ports cannot change live: the reload is refused
    whole, naming each key and its line, and the backend it also adds is not
    added."""
    web = targets(1, 5)
    start(engine, [pool("web", web)], source_ports="40000-40999")
    engine.configure([pool("web", web + targets(9, 1))], source_ports="41000-41999")
    text = engine.config_path.read_text().replace(lab.prober_if, "eth-other", 1)
    engine.config_path.write_text(text)
    line = engine.reload()
    cfg = engine.config_path
    assert f"interface ({cfg}:1) changed: needs a restart; " \
           f"source_ports ({cfg}:3) changed: needs a restart" in line, line
    assert key(targets(9, 1)[0]) not in engine.states()
    assert engine.pools()["web"]["total"] == 5


def control(engine, *args) -> str:
    r = engine.control(*args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def state_lines(engine) -> list[str]:
    return [ln for ln in engine.state_path.read_text().splitlines()
            if ln and not ln.startswith("#")][1:]


def wait_state_file(engine, want: list[str], timeout: float = 5.0) -> None:
    """The state file says WANT (in any order): it is written within a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine.state_path.exists() and sorted(state_lines(engine)) == sorted(want):
            return
        time.sleep(0.1)
    raise AssertionError(f"state file {engine.state_path}: "
                         f"{engine.state_path.read_text() if engine.state_path.exists() else '-'}"
                         f" is not {want}")


def test_runtime_add_and_del_survive_reload_and_restart(lab, engine):
    """An orchestrator's add and del stay through a SIGHUP with the same file
    and through a restart: the state file keeps them, the added backend keeps
    its id, generation and state."""
    web = targets(1, 10)
    extra, gone = targets(30, 1)[0], web[3]
    start(engine, [pool("web", web)])
    control(engine, "backend", "add", "web", extra)
    control(engine, "backend", "del", "web", gone)
    wait_state_file(engine, [f"add web {extra}", f"del web {gone}"])
    _, st = engine.wait_until(lambda s: s[key(extra)]["state"] == "up", 10, "extra up")
    was = ids(st)[key(extra)]

    assert "reload: +0 -0 backends" in engine.reload()
    st = engine.states()
    assert key(gone) not in st and ids(st)[key(extra)] == was

    assert engine.stop() == 0
    engine.start()
    st = engine.states()
    assert key(gone) not in st
    assert ids(st)[key(extra)] == was, "same id, generation, state and last change"
    assert set(st) == set(map(key, web + [extra])) - {key(gone)}
    assert "runtime changes on top of" in engine.log(this_run=True)
    out = control(engine, "runtime", "show")
    assert f"add   web {extra}" in out and f"del   web {gone}" in out, out


def test_the_file_takes_over_what_runtime_changed(lab, engine):
    """A backend added at runtime that the file now lists becomes a file
    backend (not a duplicate, same id); a deleted one the file no longer lists
    leaves the overlay; the state file follows."""
    web = targets(1, 10)
    extra, gone = targets(30, 1)[0], web[3]
    start(engine, [pool("web", web)])
    control(engine, "backend", "add", "web", extra)
    control(engine, "backend", "del", "web", gone)
    _, st = engine.wait_until(lambda s: s[key(extra)]["state"] == "up", 10, "extra up")
    was = ids(st)[key(extra)]
    engine.configure([pool("web", [t for t in web if t != gone] + [extra])])
    assert "reload: +0 -0 backends" in engine.reload()
    st = engine.states()
    assert len(st) == 10 and ids(st)[key(extra)] == was
    wait_state_file(engine, [])
    # now a file backend: deleting it at runtime is a runtime delete
    control(engine, "backend", "del", "web", extra)
    wait_state_file(engine, [f"del web {extra}"])


def test_drain_and_maint_survive_a_restart(lab, engine):
    """Marks stay on their backend: draining (with what is left of its
    deregistration delay) and maintenance, after a restart too."""
    web = targets(1, 5)
    start(engine, [{**pool("web", web), "deregistration_delay": "60s"}])
    control(engine, "backend", "drain", "web", web[0])
    control(engine, "backend", "maint", "web", web[1])
    wait_state_file(engine, [f"maint web {web[1]}"] +
                    [ln for ln in state_lines(engine) if ln.startswith("drain")])
    assert engine.stop() == 0
    engine.start()
    st = engine.states()
    assert st[key(web[0])]["draining"] and st[key(web[1])]["state"] == "maint"
    m = re.search(rf"drain web {re.escape(web[0])} \(removed in (\d+) s\)",
                  control(engine, "runtime", "show"))
    assert m and 50 <= int(m.group(1)) <= 60, m


def test_runtime_reset_returns_to_the_file(lab, engine):
    """`xdphc runtime reset` drops every runtime change: the added backend
    goes, the deleted one comes back, marks are lifted; it answers with the
    reload's line."""
    web = targets(1, 5)
    extra = targets(30, 1)[0]
    start(engine, [pool("web", web)])
    for args in (("add", "web", extra), ("del", "web", web[0]), ("maint", "web", web[1]),
                 ("drain", "web", web[2])):
        control(engine, "backend", *args)
    out = control(engine, "runtime", "reset")
    assert re.search(r"reload: \+1 -1 backends", out), out
    st = engine.states()
    assert set(st) == set(map(key, web))
    assert st[key(web[1])]["state"] != "maint" and not st[key(web[2])]["draining"]
    wait_state_file(engine, [])
    assert "0 runtime changes" in control(engine, "runtime", "show")


def test_xdphc_reload_answers_with_the_result(lab, engine):
    """`xdphc reload` reloads like SIGHUP and says how it went: exit 0 and the
    line, or exit 1 and why."""
    web = targets(1, 5)
    start(engine, [pool("web", web)])
    engine.configure([pool("web", web + targets(9, 1))])
    r = engine.control("reload")
    assert r.returncode == 0 and re.match(r"reload: \+1 -0 backends", r.stdout), r
    engine.configure([pool("web", web)], xdp_mode="skb")
    r = engine.control("reload")
    assert r.returncode == 1 and "xdp_mode (" in r.stderr and "needs a restart" in r.stderr, r


def test_a_new_check_port_rekeys_the_probes(lab, engine):
    """healthcheck.port changes live: the probes go to the new port at once
    (81 is closed in the lab: refused), and back."""
    web = targets(1, 20)
    start(engine, [pool("web", web, interval="250ms", timeout="200ms")])
    engine.configure([pool("web", web, interval="250ms", timeout="200ms", port=81)])
    assert "1 pools changed" in engine.reload()
    engine.wait_until(lambda s: all(b["state"] == "down" and b["reason"] == "refused"
                                    for b in s.values()), 5, "all refused on port 81")
    engine.configure([pool("web", web, interval="250ms", timeout="200ms")])
    engine.reload()
    engine.wait_until(lambda s: all(b["state"] == "up" for b in s.values()), 5, "all up again")


def test_backends_shared_by_pools_through_reloads(lab, engine):
    """A backend in two pools with the same probes is probed once; a reload
    that changes one pool's interval probes it apart for each, and a pool a
    reload adds with the same probes joins the running probe."""
    shared, x = "198.18.1.1:80", "198.18.1.2:80"
    fast = {"interval": "100ms", "timeout": "50ms"}
    start(engine, [pool("web", [shared], **fast), pool("api", [shared, x], **fast)])
    assert 15 <= probes_per_s(engine) <= 25               # 2 probes at 10/s
    slow = {"interval": "200ms", "timeout": "100ms"}
    engine.configure([pool("web", [shared], **slow), pool("api", [shared, x], **fast)])
    assert "1 pools changed" in engine.reload()
    assert 20 <= probes_per_s(engine) <= 30               # 5/s + 10/s + 10/s
    engine.configure([pool("web", [shared], **slow), pool("api", [shared, x], **fast),
                      pool("db", [x], **fast)])
    assert "+1 -0 backends, +1 -0 pools" in engine.reload()
    engine.wait_until(lambda _: {b["pool"]: b["state"] for b in engine.status()["backends"]
                                 if b["address"] == "198.18.1.2"} == {"api": "up", "db": "up"},
                      5, "db's entry up, from api's probes")
    assert 20 <= probes_per_s(engine) <= 30               # no probe more for db
    lab.drop_add("198.18.1.1")
    engine.wait_until(lambda _: all(b["state"] == "down" for b in engine.status()["backends"]
                                    if b["address"] == "198.18.1.1"), 5,
                      "both entries of the shared backend down")


def test_event_log_and_state_file_switch_live(lab, engine, tmp_path):
    """event_log and state_file are the two top-level keys a reload applies:
    the next events and the next write go to the new files."""
    web = targets(1, 5)
    old_log, new_log, new_state = (tmp_path / "a.jsonl", tmp_path / "b.jsonl",
                                   tmp_path / "b.state")
    start(engine, [pool("web", web)], event_log=str(old_log))
    engine.configure([pool("web", web + targets(9, 1))], event_log=str(new_log),
                     state_file=str(new_state))
    assert "+1 -0 backends" in engine.reload()
    control(engine, "backend", "del", "web", web[0])
    _, st = engine.wait_until(lambda s: s.get(key(targets(9, 1)[0]), {}).get("state") == "up",
                              5, "the new backend up")
    time.sleep(1.5)
    assert any(e.get("event") == "config_added" for e in events(new_log))
    assert not any(e.get("event") in ("config_added", "removed") for e in events(old_log))
    assert f"del web {web[0]}" in new_state.read_text()
    assert not engine.state_path.exists()


def test_a_broken_state_file_is_moved_aside(lab, engine):
    """A state file of another version is not applied, nor written over: it
    is kept as PATH.bad, the engine starts from the config file and says so."""
    web = targets(1, 5)
    engine.state_path.write_text("xdphc-state 9\nadd web 198.18.9.1:80\n")
    start(engine, [pool("web", web)])
    assert set(engine.states()) == set(map(key, web))
    bad = engine.state_path.with_name(engine.state_path.name + ".bad")
    assert bad.read_text().startswith("xdphc-state 9")
    assert f"state_file {engine.state_path}:1: not an xdphc state file of version 1" \
        in engine.log() and f"moved to {bad}" in engine.log()


def test_cadence_and_breaker_settings_apply_canaries_need_a_restart(lab, engine):
    """unhealthy_interval paces down backends from the reload on, and
    max_down_fraction changes live; the canaries, counted by the circuit
    breaker from start, need a restart."""
    down = targets(1, 20)
    lab.drop_add([key(t)[0] for t in down])
    check = {"interval": "100ms", "timeout": "50ms", "unhealthy_threshold": 1, "retransmits": 0}
    canary = targets(40, 1)
    engine.configure([pool("web", down, unhealthy_interval="1s", **check)],
                     canaries=canary, max_down_fraction=0.5)
    engine.start()
    engine.wait_until(lambda s: all(s[key(t)]["state"] == "down" for t in down), 10, "all down")
    slow = probes_per_s(engine)                          # 20 at 1/s, the canary at 10/s
    engine.configure([pool("web", down, unhealthy_interval="200ms", **check)],
                     canaries=canary, max_down_fraction=0.3)
    assert "1 pools changed" in engine.reload()
    fast = probes_per_s(engine)                          # 20 at 5/s, the canary at 10/s
    assert 20 <= slow <= 45 and 90 <= fast <= 135, (slow, fast)
    engine.configure([pool("web", down, unhealthy_interval="200ms", **check)],
                     canaries=canary + targets(41, 1), max_down_fraction=0.3)
    line = engine.reload()
    assert f"canaries ({engine.config_path}:" in line and "changed: needs a restart" in line, line
