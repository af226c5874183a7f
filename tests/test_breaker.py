# SPDX-License-Identifier: MIT
"""The circuit breaker: a prober that suspects itself.

The prober's own path breaks: the backend side of its veth gets an XDP
program that drops every frame.  The prober's frames are accepted by its
veth and discarded by the peer, silently: no device drop, nothing the
impaired flag could see, only timeouts from every backend at once (without
the breaker, all 300 go down within two intervals).  More than
max_down_fraction (0.5 by default) of the pool failing by timeout makes the
engine check itself: nothing answers at all, or the canaries time out too,
so the breaker opens and holds every state (meta flag, /metrics, status,
one log line, one event), and closes when answers come back.  When 60 % of
a pool really dies and the canaries (or the other backends) answer, the
failures are real and go down."""
import json
import re
import time

import pytest

from lab.bpf import XDP_PASS_OBJ
from lab.engine import pool
from lab.names import tool_obj
from test_impaired import metric
from test_observe import free_port, http_get
from test_probe import split, targets

XDP_DROP = tool_obj("bench/xdp_drop")
CANARIES = ["198.18.200.1:80", "198.18.200.2:80", "198.18.200.3:80"]
# failure window: interval * unhealthy_threshold + timeout = 1.2 s
HC = {"interval": "500ms", "timeout": "200ms"}


def peer_drops_everything(lab, on: bool) -> None:
    """The backend end of the prober's veth drops every frame in XDP (or
    passes them again): the prober's path breaks without a word.  The
    program is swapped in one step (-force): detaching first would leave a
    moment without one, and attaching to a veth without a program resets
    its rings (frames in flight are lost)."""
    lab.backend_exec(["ip", "-force", "link", "set", "dev", lab.backend_if, "xdpdrv", "obj",
                      XDP_DROP if on else XDP_PASS_OBJ, "sec", "xdp"])


def events(path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []


def circuit(path) -> list[dict]:
    """The breaker's lines (operators' changes have an "event" key too)."""
    return [e for e in events(path) if e.get("event", "").startswith("circuit_")]


def went_down(path) -> list[dict]:
    """Backends of web that went down (the canaries are never held)."""
    return [e for e in events(path) if e.get("to") == "down" and e["pool"] == "web"]


def start(lab, engine, tmp_path, backends, canaries=None):
    """The pool web over BACKENDS (and CANARIES); returns (metrics url, event log)
    once every backend is up."""
    log = tmp_path / "events.jsonl"
    url = f"http://127.0.0.1:{free_port(lab)}/metrics"
    top = {"metrics_listen": url.split("/")[2], "event_log": str(log)}
    if canaries:
        top["canaries"] = canaries
    engine.configure([pool("web", backends, **HC)], **top)
    engine.start()
    engine.wait_until(lambda st: len(st) == len(backends) + len(canaries or []) and
                      all(b["state"] == "up" for b in st.values()), 15, "all up")
    return url, log


def circuit_open(engine) -> bool:
    return engine.status(summary=True)["engine"]["circuit_open"]


def wait_for(pred, timeout: float, what: str, engine) -> float:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n"
                                 f"{engine.log(this_run=True)[-3000:]}")
        time.sleep(0.05)
    return time.monotonic() - t0


def assert_held(engine, log, seconds: float, n: int) -> None:
    """For SECONDS, every one of the N backends of web stays up."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        web = engine.status(pool="web")["backends"]
        assert len(web) == n and all(b["state"] == "up" for b in web), \
            [b for b in web if b["state"] != "up"][:5]
        assert not went_down(log)
        time.sleep(0.2)


@pytest.mark.parametrize("with_canaries", [False, True], ids=["no_canaries", "canaries"])
def test_a_broken_path_opens_the_breaker_and_holds_every_state(lab, engine, tmp_path,
                                                               with_canaries):
    backends = targets(1, 300, 80)
    url, log = start(lab, engine, tmp_path, backends, CANARIES if with_canaries else None)
    assert metric(http_get(lab, url), "xdphc_circuit_open") == 0
    assert engine.bpftool_dump("meta")[0]["value"]["flags"] & 2 == 0
    assert not circuit_open(engine)

    peer_drops_everything(lab, True)
    took = wait_for(lambda: circuit_open(engine), 10, "the breaker to open", engine)
    # half the pool has timed out after timeout + interval / 2 (0.45 s); the
    # check then waits for the canaries or, without, for any reply at all
    # (interval + jitter + timeout + 0.2 s)
    assert took < 3.5, took
    assert engine.bpftool_dump("meta")[0]["value"]["flags"] & 2
    text = engine.run_once("status", "--pin-path", engine.pin_dir).stdout
    assert "engine: CIRCUIT OPEN" in text, text
    time.sleep(0.3)                       # /metrics shows a copy made every 100 ms
    m = http_get(lab, url)
    assert metric(m, "xdphc_circuit_open") == 1
    assert metric(m, "xdphc_circuit_opened_total") == 1
    assert metric(m, "xdphc_circuit_checks_total") >= 1
    ev = circuit(log)
    cause = "canaries_timeout" if with_canaries else "no_replies"
    assert [(e["event"], e["cause"], e["pool"], e["backends"]) for e in ev] == \
        [("circuit_open", cause, "web", 300)], ev
    assert 150 < ev[0]["failing"] <= 160, ev
    # held, not guessed, over several failure windows (1.2 s each)
    assert_held(engine, log, 4, 300)
    assert len(re.findall(r"circuit breaker OPEN", engine.log(this_run=True))) == 1
    if with_canaries:
        canaries = engine.status(pool="@canaries")["backends"]
        assert all(c["state"] == "down" for c in canaries), canaries  # they are not held

    peer_drops_everything(lab, False)
    wait_for(lambda: not circuit_open(engine), 5, "the breaker to close", engine)
    assert engine.bpftool_dump("meta")[0]["value"]["flags"] & 2 == 0
    assert "circuit breaker closed after" in engine.log(this_run=True)
    ev = circuit(log)
    # closed by an answer, or (with canaries, whose next probe may come later
    # than the backends' successes) because the mass timeout is over
    assert [e["event"] for e in ev] == ["circuit_open", "circuit_close"], ev
    assert ev[1]["cause"] in (("answers", "mass_over") if with_canaries else ("answers",)), ev
    assert ev[1]["open_s"] > 4
    # the probes sent before the path came back time out after it: not counted
    assert_held(engine, log, 2, 300)
    time.sleep(0.3)
    assert metric(http_get(lab, url), "xdphc_circuit_open") == 0


@pytest.mark.parametrize("with_canaries", [True, False], ids=["canaries", "no_canaries"])
def test_a_real_mass_failure_goes_down(lab, engine, tmp_path, with_canaries):
    """60 % of the pool stops answering (its backends drop SYNs) while the
    canaries, or without canaries the other backends, answer: a check, and
    those 60 go down; the breaker never opens."""
    backends = targets(1, 100, 80)
    dead, alive = backends[:60], backends[60:]
    url, log = start(lab, engine, tmp_path, backends, CANARIES if with_canaries else None)

    lab.drop_add([split(t)[0] for t in dead])
    t0 = time.monotonic()
    _, st = engine.wait_until(lambda st: all(st[split(t)]["state"] == "down" for t in dead),
                              10, "the dead to go down")
    took = time.monotonic() - t0
    # without the breaker: fall probes, the last one's timeout (1.2 s at most);
    # with it, the check (at most a canary interval and timeout) and a
    # timeout's settling hold the timeouts for about one interval more
    assert took < 4, took
    assert all(st[split(t)]["reason"] == "timeout" for t in dead)
    assert all(st[split(t)]["state"] == "up" for t in alive)
    assert not circuit(log)
    time.sleep(0.3)
    m = http_get(lab, url)
    assert metric(m, "xdphc_circuit_opened_total") == 0
    assert metric(m, "xdphc_circuit_open") == 0
    assert metric(m, "xdphc_circuit_checks_total") >= 1
    assert "circuit breaker OPEN" not in engine.log(this_run=True)
    assert len(went_down(log)) == 60


def test_probes_lost_before_the_path_returns_are_not_held_against_backends(lab, engine,
                                                                           tmp_path):
    """When answers come back, the probes sent before still time out, for up
    to a timeout: those timeouts stay held.  Here web goes down at its first
    timeout (unhealthy_threshold 1) and its probes wait 400 ms, while a
    small fast pool trips the breaker first and makes the canaries fast
    (they take the shortest interval and timeout): the first canary answer
    after the repair comes while most of web's lost probes are pending."""
    log = tmp_path / "events.jsonl"
    web = targets(1, 300, 80)
    fast = targets(10, 4, 80)
    engine.configure([pool("web", web, interval="500ms", timeout="400ms",
                           unhealthy_threshold=1),
                      pool("fast", fast, interval="100ms", timeout="50ms",
                           unhealthy_threshold=3)],
                     canaries=CANARIES, event_log=str(log))
    engine.start()
    engine.wait_until(lambda st: len(st) == 307 and all(b["state"] == "up" for b in st.values()),
                      15, "all up")

    peer_drops_everything(lab, True)
    wait_for(lambda: circuit_open(engine), 5, "the breaker to open", engine)
    assert [(e["event"], e["pool"]) for e in circuit(log)] == [("circuit_open", "fast")]
    time.sleep(1)
    peer_drops_everything(lab, False)
    wait_for(lambda: not circuit_open(engine), 5, "the breaker to close", engine)
    time.sleep(1.5)                     # every lost probe has timed out by now
    st = engine.states()
    assert all(b["state"] == "up" for b in st.values()), \
        [b for b in st.values() if b["state"] != "up"][:5]
    assert [e for e in events(log) if e.get("to") == "down" and e["pool"] != "@canaries"] == []


def test_backends_changed_at_runtime_are_counted(lab, engine, tmp_path):
    """The breaker counts the backends the engine holds, not the config's: a
    pool filled at runtime is protected too, one in maintenance (not probed)
    does not count, and the canaries' pool takes no runtime changes."""
    log = tmp_path / "events.jsonl"
    engine.configure([{**pool("web", [], **HC), "max_backends": 64}], event_log=str(log),
                     canaries=CANARIES[:1])
    engine.start()
    added = targets(1, 20, 80)
    for t in added:
        assert engine.control("backend", "add", "web", t).returncode == 0
    engine.wait_until(lambda st: len(st) == 21 and all(b["state"] == "up" for b in st.values()),
                      10, "the added backends up")
    assert engine.control("backend", "maint", "web", added[0]).returncode == 0
    r = engine.control("backend", "add", "@canaries", "198.18.200.9:80")
    assert r.returncode == 1 and "holds the canaries" in r.stderr, (r.stdout, r.stderr)

    peer_drops_everything(lab, True)
    wait_for(lambda: circuit_open(engine), 5, "the breaker to open", engine)
    ev = circuit(log)
    assert [(e["event"], e["cause"], e["pool"], e["backends"]) for e in ev] == \
        [("circuit_open", "canaries_timeout", "web", 19)], ev
    time.sleep(2)
    web = engine.status(pool="web")["backends"]
    assert sorted(b["state"] for b in web) == ["maint"] + ["up"] * 19, web
    assert not went_down(log)
