# SPDX-License-Identifier: MIT
"""What operators read besides the maps: the JSON event log, the /metrics
endpoint (checked by promtool) and a real Prometheus server scraping it."""
import json
import shutil
import subprocess
import time
import urllib.parse

import pytest

from lab import LabError, in_netns
from lab.engine import pool
from test_probe import settled

UP = [f"198.18.1.{i}:80" for i in range(1, 6)]
CLOSED = ["198.18.2.1:81", "198.18.2.2:81"]
DROPPED = ["198.18.3.1:80", "198.18.3.2:80", "198.18.3.3:80"]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} is not installed: `make deps` installs it")
    return path


def http_get(lab, url: str, timeout: float = 5.0) -> str:
    """GET url from inside the prober namespace (where the engine listens)."""
    code = ("import sys, urllib.request\n"
            f"sys.stdout.write(urllib.request.urlopen({url!r}, timeout={timeout}).read().decode())")
    r = lab.prober_exec(["/usr/bin/python3", "-c", code], timeout=timeout + 5)
    return r.stdout


def free_port(lab) -> int:
    import socket
    with in_netns(lab.prober_ns):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
    return port


def start_mixed(lab, engine, **top):
    lab.drop_add([a.split(":")[0] for a in DROPPED])
    engine.configure([pool("web", UP + DROPPED), pool("legacy", CLOSED)], **top)
    engine.start()
    engine.wait_until(settled, 10, "every backend to leave unknown")


def test_event_log_has_one_json_line_per_change(lab, engine, tmp_path):
    events = tmp_path / "events.jsonl"
    start_mixed(lab, engine, event_log=str(events))
    victim = UP[0]
    t_flip = time.time_ns()
    lab.drop_add([victim.split(":")[0]])
    engine.wait_until(lambda st: st[(victim.split(":")[0], 80)]["state"] == "down", 6,
                      "the victim to go down")
    time.sleep(0.1)
    lines = [json.loads(ln) for ln in events.read_text().splitlines()]
    keys = {"time", "time_ns", "pool", "address", "port", "from", "to", "check", "reason",
            "detail", "http_status", "icmp_type", "icmp_code", "rtt_us", "consecutive_ok",
            "consecutive_fail"}
    assert all(set(e) == keys for e in lines)
    assert all(e["check"] == "tcp_syn" and e["http_status"] == 0 for e in lines)
    first = {(e["address"], e["port"]): e for e in lines if e["from"] == "unknown"}
    assert len(first) == len(UP + DROPPED + CLOSED), "one start transition per backend"
    for b in UP:
        e = first[(b.split(":")[0], 80)]
        assert (e["pool"], e["to"], e["reason"]) == ("web", "up", "ok") and e["rtt_us"] > 0
        assert e["consecutive_ok"] == 2
    for b in DROPPED:
        e = first[(b.split(":")[0], 80)]
        assert (e["to"], e["reason"], e["consecutive_fail"]) == ("down", "timeout", 2)
    for b in CLOSED:
        e = first[(b.split(":")[0], 81)]
        assert (e["pool"], e["to"], e["reason"]) == ("legacy", "down", "refused")
    later = [e for e in lines if e["from"] != "unknown"]
    assert [(e["address"], e["from"], e["to"], e["reason"]) for e in later] == \
        [(victim.split(":")[0], "up", "down", "timeout")]
    assert later[0]["time_ns"] >= t_flip and later[0]["time"].endswith("Z")
    times = [e["time_ns"] for e in lines]
    assert times == sorted(times)


def test_metrics_endpoint_passes_promtool_and_matches_status(lab, engine):
    promtool = need("promtool")
    port = free_port(lab)
    start_mixed(lab, engine, metrics_listen=f"127.0.0.1:{port}")
    time.sleep(0.3)                       # the exporter's copy is refreshed every 100 ms
    text = http_get(lab, f"http://127.0.0.1:{port}/metrics")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, f"promtool: {r.stdout}{r.stderr}\n{text[:3000]}"
    assert r.stdout.strip() == "" and r.stderr.strip() == "", \
        f"promtool complained: {r.stdout}{r.stderr}"

    series = {}
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            name, value = ln.rsplit(" ", 1)
            series[name] = float(value)
    assert series['xdphc_backends{pool="web",state="up"}'] == len(UP)
    assert series['xdphc_backends{pool="web",state="down"}'] == len(DROPPED)
    assert series['xdphc_backends{pool="legacy",state="down"}'] == len(CLOSED)
    assert series['xdphc_pool_fail_open{pool="legacy"}'] == 1
    assert series['xdphc_pool_fail_open{pool="web"}'] == 0
    assert series['xdphc_transitions_total{pool="web",from="unknown",to="down",'
                  'reason="timeout"}'] == len(DROPPED)
    assert series['xdphc_probe_results_total{pool="legacy",result="rst"}'] >= 2 * len(CLOSED)
    assert series['xdphc_rtt_seconds_count{pool="web"}'] >= 2 * len(UP)
    assert series['xdphc_probes_sent_total{pool="web"}'] >= \
        series['xdphc_rtt_seconds_count{pool="web"}']
    assert abs(series["xdphc_heartbeat_timestamp_seconds"] - time.time()) < 2
    assert not any("198.18." in name for name in series), "no series per backend"
    assert 'xdphc_build_info{version="' in text
    code = ("import urllib.request, urllib.error\n"
            "try:\n"
            f"    urllib.request.urlopen('http://127.0.0.1:{port}/nope', timeout=5)\n"
            "except urllib.error.HTTPError as e:\n"
            "    print(e.code)\n")
    assert lab.prober_exec(["/usr/bin/python3", "-c", code]).stdout.strip() == "404"


def test_prometheus_scrapes_the_engine(lab, engine, tmp_path):
    prometheus = need("prometheus")
    port, prom_port = free_port(lab), free_port(lab)
    start_mixed(lab, engine, metrics_listen=f"127.0.0.1:{port}")
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n"
                   "  - job_name: xdphc\n    static_configs:\n"
                   f"      - targets: ['127.0.0.1:{port}']\n")
    log = open(tmp_path / "prometheus.log", "w")
    p = subprocess.Popen(lab.nsenter_prefix() + [
        prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
        stdout=log, stderr=log)
    query = urllib.parse.quote('sum(xdphc_backends{state="down"})')
    url = f"http://127.0.0.1:{prom_port}/api/v1/query?query={query}"
    try:
        deadline, answer = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            assert p.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            try:
                res = json.loads(http_get(lab, url))["data"]["result"]
            except (subprocess.SubprocessError, LabError, KeyError, ValueError):
                res = []
            if res:
                answer = float(res[0]["value"][1])
                if answer == len(DROPPED) + len(CLOSED):
                    break
            time.sleep(0.5)
        assert answer == len(DROPPED) + len(CLOSED), \
            f"Prometheus answered {answer}; log:\n{(tmp_path / 'prometheus.log').read_text()[-2000:]}"
    finally:
        p.terminate()
        p.wait(timeout=20)
        log.close()
