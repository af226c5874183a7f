# SPDX-License-Identifier: MIT
"""The systemd service protocol (packaging/xdphc.service: Type=notify,
WatchdogSec=): the engine says READY=1 only after its first tick (the
"probing" start line is logged before the loop), WATCHDOG=1 at most every
WATCHDOG_USEC/2, STOPPING=1 on SIGTERM, RELOADING=1 then READY=1 on SIGHUP.
We play systemd: a Unix datagram socket named by NOTIFY_SOCKET."""
import signal
import socket
import threading
import time

import pytest

from lab.engine import pool


@pytest.fixture
def notify_sock(tmp_path):
    path = tmp_path / "notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    try:
        yield s, str(path)
    finally:
        s.close()


def recv_all(s: socket.socket, seconds: float) -> list[tuple[float, str]]:
    """(monotonic time, message) of every datagram within SECONDS."""
    out = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            out.append((time.monotonic(), s.recv(4096).decode()))
        except socket.timeout:
            break
    return out


def fields(msg: str) -> list[str]:
    return msg.splitlines()


def start_watching_ready(engine, s: socket.socket) -> dict:
    """Receive the first datagram in a thread and snapshot the engine's log
    at that moment: READY=1 must come after the "probing" line."""
    seen = {}

    def first():
        s.settimeout(10)
        try:
            seen["msg"] = s.recv(4096).decode()
        except socket.timeout:
            return
        seen["t"] = time.monotonic()
        seen["log"] = engine.log(this_run=True)

    th = threading.Thread(target=first, daemon=True)
    th.start()
    seen["thread"] = th
    return seen


def test_ready_watchdog_reload_stopping(engine, notify_sock):
    s, path = notify_sock
    engine.configure([pool("web", [f"{engine.lab.addr(0)}:80"])])
    seen = start_watching_ready(engine, s)
    engine.start(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    seen["thread"].join(10)
    assert "msg" in seen, f"no READY=1 within 10 s; log:\n{engine.log()}"
    assert "READY=1" in fields(seen["msg"]), seen["msg"]
    assert "probing " in seen["log"], f"READY=1 before the start line:\n{seen['log']}"
    msgs = [(seen["t"], seen["msg"])] + recv_all(s, 3.2)
    dogs = [t for t, m in msgs if "WATCHDOG=1" in fields(m)]
    # every 1 s (2 s / 2) after READY: two or three within ~3 s
    assert len(dogs) >= 2, msgs
    gaps = [b - a for a, b in zip(dogs, dogs[1:])]
    assert all(0.8 < g < 1.3 for g in gaps), gaps

    engine.proc.send_signal(signal.SIGHUP)
    msgs = [m for _, m in recv_all(s, 1.5) if "WATCHDOG=1" not in fields(m)]
    assert len(msgs) == 2, msgs
    assert "RELOADING=1" in fields(msgs[0]) and "READY=1" in fields(msgs[1]), msgs

    assert engine.stop() == 0
    msgs = [m for _, m in recv_all(s, 0.5)]
    assert any("STOPPING=1" in fields(m) for m in msgs), msgs


def test_no_watchdog_without_watchdog_usec(engine, notify_sock):
    s, path = notify_sock
    engine.configure([pool("web", [f"{engine.lab.addr(0)}:80"])])
    seen = start_watching_ready(engine, s)
    engine.start(env={"NOTIFY_SOCKET": path})
    seen["thread"].join(10)
    assert "probing " in seen.get("log", ""), seen
    msgs = [seen["msg"]] + [m for _, m in recv_all(s, 1.5)]
    assert msgs and "READY=1" in fields(msgs[0]), msgs
    assert not any("WATCHDOG=1" in fields(m) for m in msgs), msgs
    assert engine.stop() == 0
