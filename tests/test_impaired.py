# SPDX-License-Identifier: MIT
"""The prober says when it cannot tell whether its probes leave.

A probe whose SYN the device dropped is never held against its backend, so
without a flag a prober whose sends all fail would keep every backend at its
last state forever and nobody would know.  Here the backend side of the link
goes down while the next hop's neighbour entry is permanent: the prober's
veth refuses every redirected SYN (the kernel reports them as dropped, as
it does for a full ring), while the route and the neighbour stay.  After the failure window
(interval * unhealthy_threshold + timeout, at least 2 s) the engine must set
the impaired flag in meta (bpftool), in `xdphc status --json`, as a gauge in
/metrics, and say so in one log line; backend states are held.  When the
link comes back, the flag clears."""
import re
import time

from lab.engine import pool
from test_observe import free_port, http_get
from test_probe import settled

BACKENDS = [f"198.18.1.{i}:80" for i in range(1, 21)]


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def test_persistent_device_drops_flag_the_prober_impaired(lab, engine):
    port = free_port(lab)
    engine.configure([pool("web", BACKENDS, interval="500ms", timeout="300ms")],
                     metrics_listen=f"127.0.0.1:{port}")
    engine.start()
    engine.wait_until(lambda s: all(s[k]["state"] == "up" for k in s), 10, "all up")
    url = f"http://127.0.0.1:{port}/metrics"
    assert metric(http_get(lab, url), "xdphc_prober_impaired") == 0
    assert engine.bpftool_dump("meta")[0]["value"]["flags"] == 0
    text = engine.run_once("status", "--pin-path", engine.pin_dir).stdout
    assert "engine: running" in text and "IMPAIRED" not in text and "stopped" not in text, text

    lab.prober_exec(["ip", "neigh", "replace", lab.backend_ip, "lladdr", lab.backend_mac,
                     "nud", "permanent", "dev", lab.prober_if])
    lab.backend_exec(["ip", "link", "set", lab.backend_if, "down"])
    t0 = time.monotonic()
    engine.wait_until(lambda _: engine.status()["engine"]["impaired"], 10, "impaired")
    took = time.monotonic() - t0
    # window 2 s (500ms * 2 + 300ms, rounded up, at least 2 s), judged once a
    # second: set once half of the window's probes are lost, after a timeout at least
    assert 0.3 < took < 6, took
    assert engine.bpftool_dump("meta")[0]["value"]["flags"] & 1
    text = engine.run_once("status", "--pin-path", engine.pin_dir).stdout
    assert "engine: running" in text and "engine: IMPAIRED" in text, text
    assert "stopped" not in text, text
    time.sleep(0.3)     # /metrics renders a snapshot taken every 100 ms
    assert metric(http_get(lab, url), "xdphc_prober_impaired") == 1
    assert len(re.findall(r"prober impaired", engine.log(this_run=True))) == 1
    stats = engine.status()["stats"]
    assert stats["tx_dropped"] > 0 and stats["probes_lost"] > 0, stats
    time.sleep(2)
    st = engine.states()
    assert all(st[k]["state"] == "up" for k in st), st   # held, not guessed
    assert len(re.findall(r"prober impaired", engine.log(this_run=True))) == 1

    lab.backend_exec(["ip", "link", "set", lab.backend_if, "up"])
    engine.wait_until(lambda _: not engine.status()["engine"]["impaired"], 15, "recovered")
    assert "prober recovered" in engine.log(this_run=True)
    assert engine.bpftool_dump("meta")[0]["value"]["flags"] == 0
    engine.wait_until(settled, 10, "settled")
    assert all(s["state"] == "up" for s in engine.states().values())
