# SPDX-License-Identifier: MIT
"""TCP send/expect checks (issue 11), black box: the engine connects to
real services in the lab's backend namespace (redis-server and the small
TCP services of tools/lab/services.py), writes `send` and looks for
`expect` in the reply."""
import json
import time

import pytest

from lab import Lab, clients
from lab.services import BANNER
from test_http import CLOSED_PORT, addrs, expect_states, host, hpool, start, \
    state, wait_for

PING = "PING\r\n"


@pytest.fixture
def lab():
    """A lab without kernel listeners: the services have their ports."""
    with Lab(listen=[]) as lab:
        yield lab


def tpool(name, backends, **hc):
    return hpool(name, backends, "tcp", **hc)


def redis_info(lab, addr: str = Lab.addr(0)) -> dict:
    """redis-server's INFO, asked from the prober namespace."""
    r = clients.tcp_exchange(lab.prober_ns, addr, 6379, b"INFO\r\n", expect=b"\r\n\r\n",
                             timeout=1.0)
    body = r.data.split(b"\r\n", 1)[1].decode()       # after "$LEN"
    return dict(line.split(":", 1) for line in body.splitlines()
                if ":" in line and not line.startswith("#"))


def test_send_expect_outcomes(lab, svc, engine):
    b = {name: addrs(100 + i, 2, port) for i, (name, port) in enumerate((
        ("redis", 6379), ("redis_hex", 6379), ("send_only", 6379), ("banner", 6382),
        ("mismatch", 6384), ("mismatch_open", 6380), ("redis_wrong", 6379),
        ("refused", CLOSED_PORT), ("closer", 6381), ("dropped", 6379)))}
    lab.drop_add([host(x) for x in b["dropped"]])
    pools = [
        tpool("redis", b["redis"], send=PING, expect="+PONG"),
        tpool("redis-hex", b["redis_hex"], send="0x50494e470d0a", expect="0x2b504f4e47"),
        tpool("send-only", b["send_only"], send=PING),
        tpool("banner", b["banner"], expect=BANNER[:4].decode()),      # "220 ", no send
        tpool("mismatch", b["mismatch"], send=PING, expect="+PONG"),
        tpool("mismatch-open", b["mismatch_open"], send=PING, expect="+PONG"),
        tpool("redis-wrong", b["redis_wrong"], send=PING, expect="+NOPE"),
        tpool("refused", b["refused"], send=PING, expect="+PONG"),
        tpool("closer", b["closer"], send=PING, expect="+PONG"),
        tpool("dropped", b["dropped"], send=PING, expect="+PONG"),
    ]
    before = int(redis_info(lab)["total_connections_received"])
    start(engine, pools)
    want = {"redis": ("up", "ok"), "redis_hex": ("up", "ok"), "send_only": ("up", "ok"),
            "banner": ("up", "ok"),
            # a reply without expect, then the close; or on a connection the
            # peer keeps open (the way redis answers -ERR or +PONG)
            "mismatch": ("down", "mismatch"), "mismatch_open": ("down", "mismatch"),
            "redis_wrong": ("down", "mismatch"),
            "refused": ("down", "refused"), "closer": ("down", "bad_reply"),
            "dropped": ("down", "timeout")}
    st = expect_states(engine, {x: w for name, w in want.items() for x in b[name]})
    assert {e["check"] for e in st.values()} == {"tcp"}
    assert {e["http_status"] for e in st.values()} == {0}
    # real connections: redis counted them (4 pools x 2 backends, every 200 ms)
    time.sleep(0.6)
    info = redis_info(lab)
    made = int(info["total_connections_received"]) - before - 1
    assert made >= 8 * 2, made
    # and none is left open (the checks close theirs)
    assert int(info["connected_clients"]) <= 1 + 8, info["connected_clients"]


def test_redis_stops_and_comes_back(lab, svc, engine, tmp_path):
    events = tmp_path / "events.jsonl"
    bs = addrs(110, 3, 6379)
    start(engine, [tpool("redis", bs, send=PING, expect="+PONG")], event_log=str(events))
    expect_states(engine, {x: ("up", "ok") for x in bs})
    svc.stop("redis")
    wait_for(lambda: all(state(engine, x)["state"] == "down" for x in bs), 2, "all down")
    assert {state(engine, x)["reason"] for x in bs} == {"refused"}
    svc.start("redis")
    wait_for(lambda: all(state(engine, x)["state"] == "up" for x in bs), 2, "all up")
    time.sleep(0.1)
    steps = [(e["address"], e["from"], e["to"], e["reason"])
             for e in map(json.loads, events.read_text().splitlines()) if "to" in e]
    for x in bs:
        assert [s[1:] for s in steps if s[0] == host(x)] == [
            ("unknown", "up", "ok"), ("up", "down", "refused"), ("down", "up", "ok")]
