# SPDX-License-Identifier: MIT
"""What the engine takes from the host and from its config before it starts:
source ports, the interface and source address, config and backends files,
the event log, the pin directory (ownership, one engine per directory) and
meta after a start that failed.  Errors follow test_errors.py: one message
naming the file:line or the place at fault, a non-zero exit, nothing left
attached or pinned.
"""
import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from lab.engine import pool
from test_errors import (BASE, assert_nothing_left, assert_where, config_error, line_of,
                         one_message, run_engine, write_cfg, xdp_prog)
from lab import Lab


def source_ports_logged(engine) -> tuple[int, int]:
    m = re.search(r"source ports (\d+)-(\d+)", engine.log(this_run=True))
    assert m, f"no 'source ports' in the start line:\n{engine.log(this_run=True)}"
    return int(m.group(1)), int(m.group(2))


# ---- source ports -------------------------------------------------------------

def test_default_source_ports_below_a_high_port_range(lab, engine):
    """ip_local_port_range 3000 65000 leaves 535 ports above it and 1975
    between 1025 and 2999: the default must be a real range on one side (it
    used to wrap: 64440-2999, port 0 included, and with the ISN-indexed slots
    of that time the backends with ids past 4096 never came up), and every
    backend must come up."""
    lab.prober_exec("sysctl -q -w net.ipv4.ip_local_port_range='3000 65000'")
    backends = [f"{a}:80" for a in Lab.addrs(5000)]
    engine.configure([pool("web", backends)])
    engine.start()
    lo, hi = source_ports_logged(engine)
    assert 1024 < lo <= hi <= 65535, (lo, hi)
    assert hi < 3000 or lo > 65000, f"{lo}-{hi} overlaps ip_local_port_range 3000-65000"
    assert (lo, hi) == (1025, 2999), "the larger free side is 1025-2999"
    engine.wait_until(lambda s: len(s) == 5000 and all(b["state"] == "up" for b in s.values()),
                      20, "all 5000 backends up")
    assert engine.stop() == 0


def test_default_source_ports_default_range(lab, engine):
    """The usual 32768 60999 keeps the usual default: 4096 ports above it."""
    lab.prober_exec("sysctl -q -w net.ipv4.ip_local_port_range='32768 60999'")
    engine.configure([pool("web", ["198.18.1.1:80"])])
    engine.start()
    assert source_ports_logged(engine) == (61000, 65095)
    assert engine.stop() == 0


def test_no_default_source_ports_left(lab, engine):
    """ip_local_port_range 1025 65535 leaves nothing free above 1024: the
    engine says why and asks for source_ports."""
    lab.prober_exec("sysctl -q -w net.ipv4.ip_local_port_range='1025 65535'")
    path, _ = write_cfg(engine, BASE)
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, None, "net.ipv4.ip_local_port_range (1025 65535)",
                 "set source_ports")
    assert_nothing_left(engine)


# (id, text to replace in BASE, replacement, text of the line to be named, words)
CONFIG_CASES = [
    ("source-ports-zero", "pin_path: {PIN}", "pin_path: {PIN}\nsource_ports: 0-100",
     "source_ports", ["source_ports must be LO-HI", "got '0-100'", "port 0"]),
    ("source-ports-inverted", "pin_path: {PIN}", "pin_path: {PIN}\nsource_ports: 2000-1000",
     "source_ports", ["source_ports must be LO-HI", "got '2000-1000'", "inverted"]),
    ("source-ports-too-few", "pin_path: {PIN}", "pin_path: {PIN}\nsource_ports: 2000-2010",
     "source_ports", ["source_ports '2000-2010' has 11 ports, need at least 16"]),
    ("source-ports-past-65535", "pin_path: {PIN}", "pin_path: {PIN}\nsource_ports: 1-70000",
     "source_ports", ["source_ports must be LO-HI", "got '1-70000'", "ports end at 65535"]),
]


@pytest.mark.parametrize("old,new,needle,words",
                         [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_config_error(engine, old, new, needle, words):
    config_error(engine, old, new, needle, words)


# ---- config input: NUL bytes, special files, the event log ------------------------

NUL_CASES = [
    # a "\0" escape in a backends entry: C would read 198.18.1.2:80 and drop the rest
    ("nul-in-backend", '      - 198.18.1.2:80', '      - "198.18.1.2:80\\0junk"', "junk",
     ["backends: entry contains a NUL character"]),
    # ... and in a key: C would read it as status_index
    ("nul-in-key", "pin_path: {PIN}", 'pin_path: {PIN}\n"status_index\\0junk": true', "junk",
     ["a key in the config contains a NUL character"]),
    ("nul-in-value", "pin_path: {PIN}", 'pin_path: {PIN}\nevent_log: "/tmp/x\\0junk"', "junk",
     ["event_log contains a NUL character"]),
]


@pytest.mark.parametrize("old,new,needle,words",
                         [c[1:] for c in NUL_CASES], ids=[c[0] for c in NUL_CASES])
def test_nul_in_config(engine, old, new, needle, words):
    config_error(engine, old, new, needle, words)


def with_backends_file(engine, name: str) -> tuple[str, str]:
    return write_cfg(engine, BASE.replace(
        "    backends:\n      - 198.18.1.1:80\n      - 198.18.1.2:80\n",
        f"    backends_file: {name}\n"))


def test_backends_file_char_device(engine):
    """/dev/zero used to be read until memory ran out."""
    path, text = with_backends_file(engine, "/dev/zero")
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "backends_file"), "'/dev/zero'",
                 "a character device, not a regular file")
    assert_nothing_left(engine)


def test_backends_file_fifo(engine):
    """A FIFO used to block the start until something wrote into it."""
    fifo = engine.workdir / "backends.fifo"
    os.mkfifo(fifo)
    path, text = with_backends_file(engine, fifo.name)
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "backends_file"), str(fifo),
                 "a FIFO, not a regular file")
    assert_nothing_left(engine)


def test_backends_file_too_large(engine):
    big = engine.workdir / "backends.txt"
    with open(big, "wb") as f:         # sparse: no disk space used
        f.truncate((1 << 30) + 1)
    path, text = with_backends_file(engine, big.name)
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "backends_file"), str(big), "larger than 1 GiB")
    assert_nothing_left(engine)


def test_config_file_fifo(engine):
    fifo = str(engine.workdir / "xdphc.yaml")
    os.mkfifo(fifo)
    msg = one_message(run_engine(engine, fifo))
    assert_where(msg, fifo, None, "cannot open", "a FIFO, not a regular file")
    assert_nothing_left(engine)


def test_event_log_symlink(engine):
    """The engine (root) appends to event_log on every start and SIGHUP: a
    symlink there must not redirect it to another file."""
    target = engine.workdir / "victim"
    target.write_text("precious\n")
    link = engine.workdir / "events.jsonl"
    os.symlink(target, link)
    path, text = write_cfg(engine, BASE.replace("pin_path: {PIN}",
                                                f"pin_path: {{PIN}}\nevent_log: {link}"))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "event_log"), str(link), "symbolic link")
    assert target.read_text() == "precious\n"
    assert_nothing_left(engine)


def test_event_log_fifo_without_reader(engine):
    fifo = engine.workdir / "events.fifo"
    os.mkfifo(fifo)
    path, text = write_cfg(engine, BASE.replace("pin_path: {PIN}",
                                                f"pin_path: {{PIN}}\nevent_log: {fifo}"))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "event_log"), str(fifo), "a FIFO that nobody reads")
    assert_nothing_left(engine)


# ---- interface and source address ---------------------------------------------------

ADDR_CASES = [
    # on loopback probe_rx would take every packet for a request to send a SYN
    ("interface-lo", "interface: {IF}", "interface: lo", "interface: lo",
     ["interface 'lo' is a loopback device"]),
    ("source-unspecified", "pin_path: {PIN}", "pin_path: {PIN}\nsource_ipv4: 0.0.0.0",
     "source_ipv4", ["source_ipv4 0.0.0.0 is an unspecified address"]),
    ("source-multicast", "pin_path: {PIN}", "pin_path: {PIN}\nsource_ipv4: 224.0.0.1",
     "source_ipv4", ["source_ipv4 224.0.0.1 is a multicast address"]),
    ("source-broadcast", "pin_path: {PIN}", "pin_path: {PIN}\nsource_ipv4: 255.255.255.255",
     "source_ipv4", ["source_ipv4 255.255.255.255 is the broadcast address"]),
    ("source-loopback", "pin_path: {PIN}", "pin_path: {PIN}\nsource_ipv4: 127.0.0.1",
     "source_ipv4", ["source_ipv4 127.0.0.1 is a loopback address"]),
]


@pytest.mark.parametrize("old,new,needle,words",
                         [c[1:] for c in ADDR_CASES], ids=[c[0] for c in ADDR_CASES])
def test_interface_and_source_address(engine, old, new, needle, words):
    config_error(engine, old, new, needle, words)


def test_source_is_the_interface_broadcast(lab, engine):
    """The directed broadcast of one of the interface's networks."""
    lab.prober_exec(f"ip addr add 198.19.253.1/24 brd + dev {lab.prober_if}")
    path, text = write_cfg(engine, BASE.replace(
        "pin_path: {PIN}", "pin_path: {PIN}\nsource_ipv4: 198.19.253.255"))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "source_ipv4"),
                 f"source_ipv4 is the broadcast address of interface '{lab.prober_if}'")
    assert_nothing_left(engine)


# ---- the pin directory: ownership, one engine per directory --------------------------

def assert_left_alone(engine, mode: int, uid: int = 0) -> None:
    """A pin dir the test created is still there, as it was, with nothing
    pinned in it, and nothing is attached to the interface."""
    st = os.stat(engine.pin_dir)
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (mode, uid), \
        f"pin dir changed: mode {stat.S_IMODE(st.st_mode):o}, uid {st.st_uid}"
    assert os.listdir(engine.pin_dir) == [], f"pinned: {os.listdir(engine.pin_dir)}"
    assert xdp_prog(engine.lab) is None and not engine.xdp_attached()


def precreate(engine, mode: int, uid: int = 0) -> None:
    os.mkdir(engine.pin_dir)
    os.chmod(engine.pin_dir, mode)        # not subject to the umask
    os.chown(engine.pin_dir, uid, uid)


def test_pin_dir_writable_by_others(engine):
    """bpffs is often mounted 1777: anyone can create /sys/fs/bpf/xdphc first."""
    precreate(engine, 0o777)
    path, text = write_cfg(engine, BASE)
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "pin_path:"), f"pin_path {engine.pin_dir}",
                 "writable by group or others", "owner uid 0", "mode 0777",
                 f"chmod go-w {engine.pin_dir}")
    assert_left_alone(engine, 0o777)


def test_pin_dir_owned_by_another_user(engine):
    precreate(engine, 0o700, uid=65534)
    path, text = write_cfg(engine, BASE)
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "pin_path:"), f"pin_path {engine.pin_dir}",
                 "owned by uid 65534", "mode 0700", "not by uid 0",
                 f"rm -r {engine.pin_dir}")
    assert_left_alone(engine, 0o700, uid=65534)


def test_pin_dir_under_another_users_dir(engine):
    """The pin dir is root's, but a user owns the directory above it and
    could rename it away and put another in its place."""
    precreate(engine, 0o755, uid=65534)
    pins = f"{engine.pin_dir}/pins"
    os.mkdir(pins, 0o700)
    path, text = write_cfg(engine, BASE.replace("pin_path: {PIN}", f"pin_path: {pins}"))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "pin_path:"), f"pin_path {pins}",
                 f"{engine.pin_dir} above it is owned by uid 65534")
    assert os.listdir(pins) == [] and not engine.xdp_attached()


def test_pin_dir_symlink(engine):
    precreate(engine, 0o700)
    os.mkdir(f"{engine.pin_dir}/real", 0o700)
    os.symlink(f"{engine.pin_dir}/real", f"{engine.pin_dir}/link")
    pins = f"{engine.pin_dir}/link"
    path, text = write_cfg(engine, BASE.replace("pin_path: {PIN}", f"pin_path: {pins}"))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "pin_path:"), f"pin_path {pins} is a symbolic link")
    assert os.listdir(f"{engine.pin_dir}/real") == [] and not engine.xdp_attached()


@pytest.mark.parametrize("mode", [0o700, 0o750, 0o755])
def test_pin_dir_of_the_engines_user_is_used(engine, mode):
    """Owned by the engine's user and writable by nobody else: adopted as it is."""
    precreate(engine, mode)
    engine.configure([pool("web", ["198.18.1.1:80"])])
    engine.start()
    assert "meta" in os.listdir(engine.pin_dir)
    assert stat.S_IMODE(os.stat(engine.pin_dir).st_mode) == mode
    assert engine.stop() == 0


def start_gated(engine, n: int, tag: str) -> list[tuple[subprocess.Popen, Path]]:
    """n engines on the same config, released at the same moment: each waits
    for EOF on a pipe the test closes once all of them are started."""
    r, w = os.pipe()
    procs = []
    try:
        for i in range(n):
            err = engine.workdir / f"{tag}-{i}.log"
            with open(err, "wb") as f:
                procs.append((subprocess.Popen(
                    ["sh", "-c", f'read _ </dev/fd/{r}; exec "$@"', "sh",
                     *engine.cmd("run", "-c", str(engine.config_path))],
                    stdout=f, stderr=f, pass_fds=(r,)), err))
    finally:
        os.close(r)
        os.close(w)
    return procs


@pytest.mark.parametrize("attach", ["interface", "tail_call"])
def test_two_engines_started_together(engine, attach):
    """The old check read meta, which a starting engine has not written yet:
    two engines started together both ran.  The lock on the pin directory
    lets exactly one through, every time."""
    engine.configure([pool("web", ["198.18.1.1:80", "198.18.1.2:80"])], xdp_attach=attach)
    for rnd in range(4):
        procs = start_gated(engine, 2, f"{attach}{rnd}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = [p for p, _ in procs if p.poll() is not None]
            running = [(p, e) for p, e in procs if p.poll() is None
                       and "probing " in e.read_text()]
            if len(done) + len(running) == 2:
                break
            time.sleep(0.05)
        try:
            logs = {p.pid: e.read_text() for p, e in procs}
            assert len(running) == 1 and len(done) == 1, \
                f"round {rnd}: expected one engine running and one refused:\n{logs}"
            winner, loser = running[0][0], done[0]
            assert loser.returncode != 0
            lines = [ln for ln in logs[loser.pid].splitlines() if ln.strip()]
            assert len(lines) == 1, f"expected one message:\n{logs[loser.pid]}"
            assert_where(lines[0], str(engine.config_path), None,
                         f"another xdphc engine (pid {winner.pid})",
                         f"pin_path {engine.pin_dir}")
            st = engine.status()["engine"]
            assert st["state"] == "running" and st["pid"] == winner.pid
        finally:
            for p, _ in procs:
                if p.poll() is None:
                    p.terminate()
                    assert p.wait(10) == 0
        assert not engine.xdp_attached()
        assert engine.status()["engine"]["state"] == "stopped"


def test_reader_as_another_user(engine):
    """The README's recipe for a reader that is not root, on this kernel."""
    engine.configure([pool("web", ["198.18.1.1:80"])])
    engine.start()
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    argv = [*nobody, engine.bin, "status", "--json", "--pin-path", engine.pin_dir]
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r

    os.chown(engine.pin_dir, 0, 65534)
    os.chmod(engine.pin_dir, 0o750)
    for name in os.listdir(engine.pin_dir):
        p = os.path.join(engine.pin_dir, name)
        os.chown(p, 0, 65534)
        os.chmod(p, 0o660 if name == "status" else 0o640)
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        disabled = int(f.read())
    release = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    r = subprocess.run(argv, capture_output=True, text=True)
    if disabled and release < (6, 5):
        # every bpf() command needs CAP_BPF there, whatever the file modes
        assert r.returncode != 0 and "Operation not permitted" in r.stderr, r
    else:
        assert r.returncode == 0, r
        assert json.loads(r.stdout)["engine"]["pid"] == engine.proc.pid
    assert engine.stop() == 0


# ---- meta after a start that failed ---------------------------------------------------

def test_meta_after_a_failed_start(engine):
    """A start that fails while publishing its maps (here: a directory in the
    way of the new status map) must not leave meta saying 'running' with the
    pid of an engine that is gone; it used to, because meta (reused from the
    previous run) was marked running before the maps were pinned."""
    engine.configure([pool("web", ["198.18.1.1:80", "198.18.1.2:80"])])
    engine.start()
    assert engine.stop() == 0
    # more backends than the pinned status map holds: it is recreated and pinned
    # at new_status first, then renamed over status
    os.mkdir(f"{engine.pin_dir}/new_status")
    engine.configure([pool("web", [f"198.18.1.{i}:80" for i in range(1, 6)])])
    r = run_engine(engine, str(engine.config_path))
    # this failure comes after the attach, which logs info lines of its own:
    # the one error is the message
    assert r.returncode != 0 and r.stdout == "", r
    errors = [ln for ln in r.stderr.splitlines() if " error: " in ln]
    assert len(errors) == 1, f"expected exactly one error:\n{r.stderr}"
    msg = errors[0]
    assert_where(msg, str(engine.config_path), None, f"pinning {engine.pin_dir}/status",
                 f"{engine.pin_dir}/new_status", "File exists")
    meta = engine.bpftool_dump("meta")[0]["value"]
    assert (meta["running"], meta["pid"]) == (0, 0), meta
    st = engine.status()["engine"]
    assert st["state"] == "stopped" and st["pid"] == 0, st
    assert not engine.xdp_attached()
    # the previous run's pins are intact and the next start works
    os.rmdir(f"{engine.pin_dir}/new_status")
    engine.start()
    st = engine.status()["engine"]
    assert st["state"] == "running" and st["pid"] == engine.proc.pid
    assert engine.stop() == 0
