# SPDX-License-Identifier: MIT
"""HTTP and HTTPS checks (issue 11), black box: the engine checks real
nginx backends (tools/lab/services.py) in the lab and is read the way an
operator reads it: `xdphc status --json`, `xdphc show`, the pinned status
map, /metrics and the event log; nginx's access log says what it was sent.

Every pool checks every 200 ms or faster, up after one good check and down
after two bad ones unless a test says otherwise, so each test runs a few
seconds.  Two, not one: the first round of checks after a start can be
slow (the engine sets up TLS for the first time), and one timeout there
must not decide a test; expect_states() also waits a little for the same
reason."""
import json
import subprocess
import time

import pytest

from lab import Lab
from lab.engine import pool
from lab.services import TLS_NAME
from statusmap import StatusMap
from test_observe import free_port, http_get, need

SYN_PORT = 9000                 # the lab's kernel listener, for SYN pools
CLOSED_PORT = 9001              # nothing listens: RST
FAST = {"interval": "200ms", "timeout": "150ms", "healthy_threshold": 1,
        "unhealthy_threshold": 2}
CHECK_KIND = {"tcp_syn": 0, "tcp": 1, "http": 2, "https": 3}


@pytest.fixture
def lab():
    """This module's lab: a kernel listener on SYN_PORT only, so that the
    services have their ports."""
    with Lab(listen=[SYN_PORT]) as lab:
        yield lab


def hpool(name, backends, protocol="http", **hc):
    """A pool of HTTP (or HTTPS, TCP send/expect) checks, FAST unless HC says."""
    return pool(name, backends, protocol=protocol, **{**FAST, **hc})


def addrs(block: int, n: int, port: int) -> list[str]:
    return [f"{Lab.addr(block, h)}:{port}" for h in range(1, n + 1)]


def host(backend: str) -> str:
    return backend.rsplit(":", 1)[0]


def start(engine, pools, settle: float = 10.0, **top) -> dict:
    """Configure, start, and wait until no backend is unknown; the states
    by (address, port) then (each test gives its pools distinct addresses)."""
    engine.configure(pools, **top)
    engine.start()
    engine.wait_settled(settle)
    return engine.states()


def state(engine, backend: str) -> dict:
    a, p = backend.rsplit(":", 1)
    return engine.states()[(a, int(p))]


def metrics(lab, port: int) -> dict[str, float]:
    """The engine's /metrics, series name (with labels) -> value."""
    out = {}
    for ln in http_get(lab, f"http://127.0.0.1:{port}/metrics").splitlines():
        if ln and not ln.startswith("#"):
            name, value = ln.rsplit(" ", 1)
            out[name] = float(value)
    return out


def map_entries(engine) -> dict:
    """The pinned status map's entries by (address, port), with the fields
    `xdphc status` does not show: check (the kind) and detail."""
    with StatusMap(engine.pin_dir) as m:
        return {(e["address"], e["port"]): {**e, "check": m.raw(i)[8]}
                for i, e in m.entries()}


def show(engine, backend: str) -> str:
    r = engine.run_once("show", backend, "--pin-path", engine.pin_dir)
    assert r.returncode == 0, r.stderr
    return r.stdout


def wait_for(pred, timeout: float, what: str, step: float = 0.05):
    t0 = time.monotonic()
    while True:
        v = pred()
        if v:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def expect_states(engine, want: dict, within: float = 2.0) -> dict:
    """WANT: backend -> (state, reason[, detail]) as `xdphc status --json`
    shows them, which must agree with the pinned map, WITHIN seconds (the
    states of a working engine hold; the wait only absorbs a slow first
    check).  Returns the status entries by backend."""
    deadline = time.monotonic() + within
    exp = {b: tuple(w) for b, w in want.items()}
    while True:
        st, mp = engine.states(), map_entries(engine)
        got, out = {}, {}
        for b, w in want.items():
            a, p = b.rsplit(":", 1)
            e, m = st[(a, int(p))], mp[(a, int(p))]
            got[b] = (e["state"], e["reason"], e["detail"])[:len(w)]
            out[b] = e
            if e["detail"] != m["detail"] or e["reason"] != m["reason"]:
                got[b] = ("status and map disagree", e, m)      # read apart: again
            else:
                assert CHECK_KIND[e["check"]] == m["check"], (e, m)
        if got == exp or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got == exp
    return out


# ---- status codes --------------------------------------------------------------

CODES = (200, 302, 404, 500)
FORMS = {                       # success_codes -> the codes of CODES that pass
    "list": ("200,500", {200, 500}),
    "range": ("300-404", {302, 404}),
    "class": ("2xx", {200}),
    "mixed": ("4xx,200", {200, 404}),
    "default": (None, {200, 302}),          # 200-399
}


def test_success_codes_list_range_class_and_default(lab, svc, engine):
    pools, want = [], {}
    for i, (form, (codes, passing)) in enumerate(FORMS.items()):
        for j, code in enumerate(CODES):
            b = f"{Lab.addr(10 + i, 1 + j)}:80"
            hc = {"path": f"/status/{code}"}
            if codes is not None:
                hc["success_codes"] = codes
            pools.append(hpool(f"{form}-{code}", [b], **hc))
            want[b] = ("up", "ok", code) if code in passing else ("down", "http_status", code)
    start(engine, pools)
    st = expect_states(engine, want)
    mark = svc.access_mark()
    time.sleep(0.7)                             # 3 or 4 more checks each
    assert {e["check"] for e in st.values()} == {"http"}
    assert all(e["http_status"] == e["detail"] for e in st.values())
    # what nginx saw: HEAD (the default) to each pool's path, and that code
    for b, (_, _, code) in want.items():
        log = svc.access_log(mark, addr=host(b))
        assert len(log) >= 2, b
        assert {(e["method"], e["uri"], e["status"], e["proto"]) for e in log} == \
            {("HEAD", f"/status/{code}", code, "HTTP/1.1")}, b
        assert log[0]["ua"].startswith("xdphc/")
    # the state holds: every later check agrees
    assert all(st["consecutive_ok"] + st["consecutive_fail"] >= 2
               for st in engine.states().values())


# ---- methods, expect_body, host and headers ---------------------------------------

def test_head_get_expect_body_host_and_headers(lab, svc, engine):
    head, get, miss, hdr, miss_head_ok = (f"{Lab.addr(20, i)}:80" for i in range(1, 6))
    pools = [
        hpool("head", [head], path="/health"),
        hpool("get", [get], path="/health", method="GET", expect_body="status: healthy"),
        hpool("miss", [miss], path="/health", method="GET", expect_body="unhealthy"),
        hpool("hdr", [hdr], path="/", method="GET", expect_body="ok",
              host="h.xhc.test", headers={"X-Lab": "probe-1", "User-Agent": "lab-ua"}),
        hpool("miss-but-500", [miss_head_ok], path="/status/500", method="GET",
              expect_body="nope"),
    ]
    start(engine, pools)
    expect_states(engine, {head: ("up", "ok", 200), get: ("up", "ok", 200),
                           miss: ("down", "mismatch", 200), hdr: ("up", "ok", 200),
                           # a failing code says so before the body is looked at
                           miss_head_ok: ("down", "http_status", 500)})
    mark = svc.access_mark()
    time.sleep(0.7)

    def seen(b, field):
        log = svc.access_log(mark, addr=host(b))
        assert len(log) >= 2, b
        return {e[field] for e in log}

    assert seen(head, "method") == {"HEAD"}
    assert seen(get, "method") == {"GET"} and seen(miss, "method") == {"GET"}
    assert seen(head, "host") <= {host(head), f"{host(head)}:80"}      # the address
    assert seen(hdr, "host") == {"h.xhc.test"}
    assert seen(hdr, "x_lab") == {"probe-1"} and seen(hdr, "ua") == {"lab-ua"}
    assert seen(head, "x_lab") == {""}
    assert seen(get, "bytes") == {len("status: healthy\n")}          # the body was sent


# ---- TLS ---------------------------------------------------------------------------

def test_tls_verify_off_and_on(lab, svc, engine):
    ca = str(svc.ca_file)
    b = {name: f"{Lab.addr(30, i)}:{port}" for i, (name, port) in enumerate((
        ("self_off", 9443), ("wrong_off", 8443), ("good_host", 443), ("good_sni", 443),
        ("wrong_on", 8443), ("untrusted", 443), ("self_on", 9443), ("not_tls", 80),
        ("closer", 6381)), 1)}
    on = {"verify": True, "ca_file": ca}
    pools = [
        hpool("self-off", [b["self_off"]], "https"),
        hpool("wrong-off", [b["wrong_off"]], "https", tls={"verify": False}),
        hpool("good-host", [b["good_host"]], "https", host=TLS_NAME, tls=on),
        hpool("good-sni", [b["good_sni"]], "https", tls={**on, "sni": TLS_NAME}),
        hpool("wrong-on", [b["wrong_on"]], "https", host=TLS_NAME, tls=on),
        hpool("untrusted", [b["untrusted"]], "https", host=TLS_NAME, tls={"verify": True}),
        hpool("self-on", [b["self_on"]], "https", host=TLS_NAME, tls=on),
        hpool("not-tls", [b["not_tls"]], "https"),
        hpool("closer", [b["closer"]], "https"),
    ]
    mark = svc.access_mark()
    start(engine, pools)
    time.sleep(0.4)
    st = expect_states(engine, {
        b["self_off"]: ("up", "ok", 200), b["wrong_off"]: ("up", "ok", 200),
        b["good_host"]: ("up", "ok", 200), b["good_sni"]: ("up", "ok", 200),
        b["wrong_on"]: ("down", "tls_error"), b["untrusted"]: ("down", "tls_error"),
        b["self_on"]: ("down", "tls_error"),
        # no certificate was checked: detail 0
        b["not_tls"]: ("down", "tls_error", 0), b["closer"]: ("down", "tls_error", 0)})
    assert {e["check"] for e in st.values()} == {"https"}

    def detail(name):
        assert st[b[name]]["http_status"] == 0
        return st[b[name]]["detail"]

    # OpenSSL's verify results: 20 unable to get the local issuer, 18
    # self-signed; a wrong name's: test_tls_wrong_name_detail
    assert (detail("untrusted"), detail("self_on")) == (20, 18)
    assert "tls_error(verify 20)" in show(engine, b["untrusted"])

    def seen(name):
        return {(e["sni"], e["host"], e["tls"] != "") for e in
                svc.access_log(mark, addr=host(b[name]))}

    assert seen("good_host") == {(TLS_NAME, TLS_NAME, True)}
    # sni alone names the TLS server; Host stays the backend's address
    assert seen("good_sni") == {(TLS_NAME, host(b["good_sni"]), True)}
    assert seen("self_off") == {("", host(b["self_off"]) + ":9443", True)}
    for name in ("wrong_on", "untrusted", "self_on"):     # no request after a bad handshake
        assert seen(name) == set(), name


def test_tls_wrong_name_detail(lab, svc, engine):
    """docs/ABI.md: a chain that verified with a name that does not match
    keeps X509_V_ERR_HOSTNAME_MISMATCH (62) as detail."""
    wrong = f"{Lab.addr(35, 3)}:8443"
    start(engine, [hpool("wrong", [wrong], "https", host=TLS_NAME,
                         tls={"verify": True, "ca_file": str(svc.ca_file)})])
    expect_states(engine, {wrong: ("down", "tls_error", 62)}, within=0.5)


# ---- timeouts ------------------------------------------------------------------------

def test_timeout_covers_connect_tls_and_reply(lab, svc, engine):
    svc.stop("tcp")
    svc.slow_s = 0.4                        # /slow answers after 400 ms
    svc.start("tcp")
    b = {name: f"{Lab.addr(40, i)}:{port}" for i, (name, port) in enumerate((
        ("slow_short", 80), ("slow_long", 80), ("slow_tls_long", 443), ("hang", 80),
        ("hang_tls", 443), ("dropped", 80), ("dropped_tls", 443)), 1)}
    lab.drop_add([host(b["dropped"]), host(b["dropped_tls"])])
    long = {"interval": "1s", "timeout": "800ms"}
    pools = [
        hpool("slow-short", [b["slow_short"]], path="/slow", timeout="200ms",
              interval="300ms"),
        hpool("slow-long", [b["slow_long"]], path="/slow", **long),
        hpool("slow-tls-long", [b["slow_tls_long"]], "https", path="/slow", **long),
        hpool("hang", [b["hang"]], path="/hang", method="GET"),
        hpool("hang-tls", [b["hang_tls"]], "https", path="/hang", http_version="2"),
        hpool("dropped", [b["dropped"]]),
        hpool("dropped-tls", [b["dropped_tls"]], "https"),
    ]
    mark = svc.access_mark()
    start(engine, pools)
    expect_states(engine, {
        b["slow_short"]: ("down", "timeout"), b["slow_long"]: ("up", "ok", 200),
        b["slow_tls_long"]: ("up", "ok", 200), b["hang"]: ("down", "timeout"),
        b["hang_tls"]: ("down", "timeout"), b["dropped"]: ("down", "timeout"),
        b["dropped_tls"]: ("down", "timeout")})
    time.sleep(0.5)
    # the engine gave up on the requests nginx had (499: the client closed)
    for name in ("slow_short", "hang", "hang_tls"):
        log = svc.access_log(mark, addr=host(b[name]))
        assert log and {e["status"] for e in log} == {499}, (name, log)
    assert svc.access_log(mark, addr=host(b["dropped"])) == []
    for name in ("slow_long", "slow_tls_long"):
        log = svc.access_log(mark, addr=host(b[name]))
        assert log and all(e["status"] == 200 for e in log), (name, log)


def test_a_late_reply_keeps_the_connection(lab, svc, engine):
    """A reply after the check's timeout but before the next check: the
    check is a timeout, and the kept-alive connection stays (no new
    connection, no TLS handshake, for a backend slow for a moment)."""
    svc.stop("tcp")
    svc.slow_s = 0.35                       # /slow answers after 350 ms
    svc.start("tcp")
    b = [f"{Lab.addr(41, 1)}:80", f"{Lab.addr(41, 2)}:443"]
    port = free_port(lab)
    mark = svc.access_mark()
    start(engine, [hpool("late", b[:1], path="/slow", interval="700ms", timeout="150ms"),
                   hpool("late-tls", b[1:], "https", path="/slow", interval="700ms",
                         timeout="150ms")], metrics_listen=f"127.0.0.1:{port}")
    expect_states(engine, {x: ("down", "timeout") for x in b})
    m0 = metrics(lab, port)
    time.sleep(2.5)
    m1 = metrics(lab, port)
    late = m1["xdphc_check_late_replies_total"] - m0["xdphc_check_late_replies_total"]
    opened = m1["xdphc_check_connections_opened_total"] - \
        m0["xdphc_check_connections_opened_total"]
    assert late >= 4 and opened == 0, (late, opened)
    for x in b:
        log = svc.access_log(mark, addr=host(x))
        assert len(log) >= 4 and {e["status"] for e in log} == {200}, (x, log)
        assert len({e["conn"] for e in log}) == 1, (x, log)


# ---- HTTP/2 --------------------------------------------------------------------------

def test_http2_over_tls_and_prior_knowledge(lab, svc, engine):
    b = {name: f"{Lab.addr(50, i)}:{port}" for i, (name, port) in enumerate((
        ("h2_tls", 443), ("h2c", 8081), ("h1_tls", 443), ("h1_on_h2c", 8081),
        ("h2c_on_h1", 80)), 1)}
    pools = [
        hpool("h2-tls", [b["h2_tls"]], "https", http_version="2", path="/health"),
        hpool("h2c", [b["h2c"]], http_version="2", path="/health", method="GET",
              expect_body="healthy"),
        hpool("h1-tls", [b["h1_tls"]], "https", http_version="1.1"),
        hpool("h1-on-h2c", [b["h1_on_h2c"]]),
        hpool("h2c-on-h1", [b["h2c_on_h1"]], http_version="2"),
    ]
    mark = svc.access_mark()
    start(engine, pools)
    time.sleep(0.6)
    expect_states(engine, {
        b["h2_tls"]: ("up", "ok", 200), b["h2c"]: ("up", "ok", 200),
        b["h1_tls"]: ("up", "ok", 200),
        # the other side does not speak that protocol
        b["h1_on_h2c"]: ("down", "bad_reply"), b["h2c_on_h1"]: ("down", "bad_reply")})

    def seen(name):
        return svc.access_log(mark, addr=host(b[name]))

    assert {(e["proto"], e["alpn"], e["method"]) for e in seen("h2_tls")} == \
        {("HTTP/2.0", "h2", "HEAD")}
    assert {(e["proto"], e["alpn"], e["method"]) for e in seen("h2c")} == \
        {("HTTP/2.0", "", "GET")}
    assert {(e["proto"], e["alpn"]) for e in seen("h1_tls")} == {("HTTP/1.1", "http/1.1")}
    # HTTP/2 connections are reused too: one each, many requests; but
    # libcurl before 8.0 cannot reuse prior-knowledge ones (the engine says
    # so and connects per check)
    mark = svc.access_mark()                # from now on: a clean window
    time.sleep(0.6)
    conns = {name: (len(seen(name)), len({e["conn"] for e in seen(name)}))
             for name in ("h2_tls", "h2c")}
    assert conns["h2_tls"][0] >= 3 and conns["h2_tls"][1] == 1, conns
    h2c_fresh = "curl issue 10634" in engine.log()
    assert conns["h2c"][0] >= 3 and conns["h2c"][1] == (conns["h2c"][0] if h2c_fresh else 1)


# ---- connection reuse ------------------------------------------------------------------

def test_keepalive_up_to_the_descriptor_limit(lab, svc, engine, tmp_path):
    """Under RLIMIT_NOFILE 700 (hard), the engine keeps a connection for 350
    backends (half a limit under 1024) and checks the other 50 with a new
    connection each: all are up, nginx holds about 350 connections, and
    /metrics says so."""
    wrapper = tmp_path / "xdphc-nofile-700"
    wrapper.write_text(f'#!/bin/sh\nexec prlimit --nofile=700:700 {engine.bin} "$@"\n')
    wrapper.chmod(0o755)
    engine.bin = str(wrapper)
    bs = addrs(70, 200, 80) + addrs(71, 200, 80)
    port = free_port(lab)
    start(engine, [hpool("many", bs, interval="500ms", timeout="400ms")], settle=15,
          metrics_listen=f"127.0.0.1:{port}")
    expect_states(engine, {b: ("up", "ok") for b in bs}, within=5)
    m0 = metrics(lab, port)
    assert (m0["xdphc_check_keepalive_limit"], m0["xdphc_check_keepalive_backends"]) == \
        (350, 350)
    time.sleep(2.0)                         # 4 checks a backend
    m1 = metrics(lab, port)
    opened = m1["xdphc_check_connections_opened_total"] - \
        m0["xdphc_check_connections_opened_total"]
    # 50 backends x about 4 checks, each on a new connection; the 350 keep
    # theirs (a check that times out on a loaded machine loses its one)
    assert 100 <= opened <= 400, opened
    held = len(svc.connections(80))
    assert 320 <= held <= 360, held


def test_metrics_answer_past_1024_descriptors(lab, svc, engine):
    """1,100 kept-alive backends put the exporter's sockets past
    FD_SETSIZE: /metrics still answers (it polls, it does not select)."""
    bs = [b for blk in range(72, 77) for b in addrs(blk, 220, 80)]
    port = free_port(lab)
    start(engine, [hpool("wide", bs, interval="1s", timeout="500ms")], settle=20,
          metrics_listen=f"127.0.0.1:{port}")
    assert len(svc.connections(80)) >= 1050
    m = metrics(lab, port)
    assert m["xdphc_check_keepalive_backends"] == 1100
    assert m['xdphc_backends{pool="wide",state="up"}'] == 1100


def test_connection_reuse_one_connection_per_backend(lab, svc, engine):
    keep = {"http": addrs(60, 3, 80), "https": addrs(61, 3, 443)}
    fresh = {"http": addrs(62, 3, 80), "https": addrs(63, 3, 443)}
    pools = [hpool(f"keep-{k}", v, k) for k, v in keep.items()] + \
        [hpool(f"fresh-{k}", v, k, reuse_connection=False) for k, v in fresh.items()]
    port = free_port(lab)
    start(engine, pools, metrics_listen=f"127.0.0.1:{port}")
    expect_states(engine, {b: ("up", "ok") for bs in (*keep.values(), *fresh.values())
                           for b in bs})
    mark = svc.access_mark()
    m0 = metrics(lab, port)
    time.sleep(3.0)                         # about 15 checks a backend
    m1 = metrics(lab, port)

    def delta(name):
        return m1.get(name, 0) - m0.get(name, 0)

    # A check that fails (a timeout on a loaded machine) loses its connection:
    # a request is still on it.  Such failures, per pool, from /metrics:
    fails = {p["name"]: sum(delta(k) for k in m1 if k.startswith(
        f'xdphc_probe_results_total{{pool="{p["name"]}",') and 'result="ok"' not in k)
        for p in pools}
    logs = {b: svc.access_log(mark, addr=host(b)) for bs in (*keep.values(), *fresh.values())
            for b in bs}
    assert all(len(log) >= 8 for log in logs.values()), {b: len(v) for b, v in logs.items()}
    for proto, bs in keep.items():
        extra = 0
        for b in bs:
            conns = {}
            for e in logs[b]:
                conns.setdefault(e["conn"], []).append(e["reqs"])
            extra += len(conns) - 1
            # each connection carries check after check
            assert all(r == list(range(r[0], r[0] + len(r))) for r in conns.values()), conns
            n = len(svc.connections(int(b.rsplit(":", 1)[1]), host(b)))
            assert n == 1 or (fails[f"keep-{proto}"] and n <= 2), (b, n)
        assert extra <= fails[f"keep-{proto}"], \
            (proto, "one connection for every check of a backend", extra, fails)
    for proto, bs in fresh.items():
        for b in bs:
            log = logs[b]
            assert len({e["conn"] for e in log}) == len(log), (b, "a connection per check")
            assert {e["reqs"] for e in log} == {1}
            # none left open between checks (at most the one of a check under way)
            assert len(svc.connections(int(b.rsplit(":", 1)[1]), host(b))) <= 1, b
    # the engine's own counters agree with what nginx saw (the window's
    # edges differ by the checks of about one metrics refresh, 100 ms)
    assert m1["xdphc_check_keepalive_backends"] == 6
    seen_keep = sum(len(logs[b]) for bs in keep.values() for b in bs)
    seen_fresh = sum(len(logs[b]) for bs in fresh.values() for b in bs)
    slack = 6 + sum(fails.values()) + (seen_keep + seen_fresh) // 10
    assert abs(delta("xdphc_check_connections_reused_total") - seen_keep) <= slack
    assert abs(delta("xdphc_check_connections_opened_total") - seen_fresh) <= slack


# ---- mixed pools -----------------------------------------------------------------------

def test_syn_and_http_pools_in_one_engine(lab, svc, engine):
    syn_up = addrs(70, 3, SYN_PORT)
    syn_closed = addrs(71, 1, CLOSED_PORT)
    syn_dropped = addrs(72, 1, SYN_PORT)
    web = addrs(73, 2, 80)
    tls = addrs(74, 2, 443)
    lab.drop_add([host(b) for b in syn_dropped])
    pools = [pool("syn", syn_up + syn_closed + syn_dropped, interval="200ms",
                  timeout="150ms", healthy_threshold=1, unhealthy_threshold=1),
             hpool("web", web, path="/switch"), hpool("tls", tls, "https")]
    mark = svc.access_mark()
    start(engine, pools)
    st = expect_states(engine, {**{b: ("up", "ok") for b in syn_up + web + tls},
                                syn_closed[0]: ("down", "refused"),
                                syn_dropped[0]: ("down", "timeout")})
    assert {st[b]["check"] for b in syn_up + syn_closed + syn_dropped} == {"tcp_syn"}
    assert {st[b]["check"] for b in web} == {"http"}
    assert {st[b]["check"] for b in tls} == {"https"}
    assert {st[b]["detail"] for b in syn_up + web + tls} == {0, 200}
    # an HTTP backend fails while the SYN pool goes on
    svc.set_switch(host(web[0]), 500)
    wait_for(lambda: state(engine, web[0])["state"] == "down", 2, "web[0] down")
    assert state(engine, web[0])["reason"] == "http_status"
    before = {b: state(engine, b)["consecutive_ok"] for b in syn_up}
    time.sleep(0.6)
    assert all(state(engine, b)["consecutive_ok"] > before[b] for b in syn_up)
    assert all(state(engine, b)["state"] == "up" for b in web[1:] + tls)
    # a backend added at runtime gets its pool's check
    added = f"{Lab.addr(75, 1)}:443"
    r = engine.control("backend", "add", "tls", added)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: added.rsplit(":", 1)[0] in {a for a, _ in engine.states()}
             and state(engine, added)["state"] == "up", 2, "the added backend up")
    expect_states(engine, {added: ("up", "ok", 200)})
    assert state(engine, added)["check"] == "https"
    # nginx saw only the HTTP pools' backends
    assert {e["addr"] for e in svc.access_log(mark)} == {host(b) for b in web + tls + [added]}


# ---- fail fast ---------------------------------------------------------------------------

def test_fail_fast_503_ignores_unhealthy_threshold(lab, svc, engine, tmp_path):
    a, b2, c = (f"{Lab.addr(80, i)}:80" for i in (1, 2, 3))
    events = tmp_path / "events.jsonl"
    slow3 = {"path": "/switch", "unhealthy_threshold": 3, "healthy_threshold": 1,
             "interval": "200ms", "timeout": "150ms"}
    pools = [hpool("ff", [a, b2], **slow3),
             hpool("ff500", [c], fail_fast_codes="500", **slow3)]
    start(engine, pools, event_log=str(events))
    expect_states(engine, {x: ("up", "ok", 200) for x in (a, b2, c)})
    svc.set_switch(host(a), 503)
    svc.set_switch(host(b2), 500)
    svc.set_switch(host(c), 500)
    t = wait_for(lambda: state(engine, a)["state"] == "down", 2, "the 503 backend down")
    assert t < 1.0, "one check: within an interval (and a margin)"
    assert state(engine, a)["reason"] == "http_status"
    wait_for(lambda: state(engine, b2)["state"] == "down", 3, "the 500 backend down")
    wait_for(lambda: state(engine, c)["state"] == "down", 1, "fail_fast_codes 500")
    time.sleep(0.1)
    down = {e["address"]: e for e in map(json.loads, events.read_text().splitlines())
            if e.get("to") == "down"}
    # at which failure each went down: the event log's line of the change
    assert [down[host(x)][k] for x in (a, b2, c) for k in ("reason", "http_status",
                                                            "consecutive_fail")] == \
        ["http_status", 503, 1, "http_status", 500, 3, "http_status", 500, 1]
    # intervals later (its third bad check, the 503 at its first)
    assert down[host(b2)]["time_ns"] - down[host(a)]["time_ns"] > 0.15e9
    # the code is kept and shown
    expect_states(engine, {a: ("down", "http_status", 503), b2: ("down", "http_status", 500),
                           c: ("down", "http_status", 500)})
    assert "http_status(503)" in show(engine, a), show(engine, a)
    assert "http_status(500)" in show(engine, b2)
    # and back up with the next good reply
    svc.set_switch(host(a), None)
    wait_for(lambda: state(engine, a)["state"] == "up", 2, "back up")
    assert state(engine, a)["reason"] == "ok"


# ---- metrics and the event log ---------------------------------------------------------

def test_metrics_and_event_log_carry_the_new_reasons(lab, svc, engine, tmp_path):
    promtool = need("promtool")
    port = free_port(lab)
    events = tmp_path / "events.jsonl"
    b = {r: addrs(90 + i, 2, p) for i, (r, p) in enumerate((
        ("ok", 80), ("http_status", 80), ("mismatch", 80), ("tls_error", 443),
        ("timeout", 80), ("refused", CLOSED_PORT), ("bad_reply", 6381)))}
    pools = [hpool("ok", b["ok"]), hpool("http_status", b["http_status"], path="/status/404"),
             hpool("mismatch", b["mismatch"], method="GET", expect_body="absent"),
             hpool("tls_error", b["tls_error"], "https", host=TLS_NAME,
                   tls={"verify": True}),
             hpool("timeout", b["timeout"], path="/hang"),
             hpool("refused", b["refused"]), hpool("bad_reply", b["bad_reply"])]
    start(engine, pools, metrics_listen=f"127.0.0.1:{port}", event_log=str(events))
    time.sleep(1.0)                         # about 5 checks a backend
    expect_states(engine, {x: ("up" if r == "ok" else "down", r)
                           for r, bs in b.items() for x in bs})
    text = http_get(lab, f"http://127.0.0.1:{port}/metrics")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
    series = metrics(lab, port)
    results = {"refused": "rst"}            # the SYN probe's result words where they exist
    for reason in b:
        key = f'xdphc_probe_results_total{{pool="{reason}",result="{results.get(reason, reason)}"}}'
        assert series.get(key, 0) >= 2 * 3, (key, series.get(key))
        if reason == "ok":
            continue
        key = (f'xdphc_transitions_total{{pool="{reason}",from="unknown",to="down",'
               f'reason="{reason}"}}')
        assert series.get(key) == 2, key
    assert series['xdphc_backends{pool="ok",state="up"}'] == 2
    first = {(e["address"], e["port"]): e for e in map(json.loads, events.read_text().splitlines())
             if e.get("from") == "unknown"}
    for reason, bs in b.items():
        for x in bs:
            e = first[(host(x), int(x.rsplit(":", 1)[1]))]
            assert (e["pool"], e["reason"]) == (reason, reason), e
            assert e["check"] == ("https" if reason == "tls_error" else "http"), e
    assert {e["http_status"] for e in first.values() if e["pool"] == "http_status"} == {404}
