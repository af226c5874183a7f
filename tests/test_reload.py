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
