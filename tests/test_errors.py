# SPDX-License-Identifier: MIT
"""Every bad input a user can cause ends in ONE clear message that names the
problem and the place (file:line or the argument), a non-zero exit, nothing
attached to the interface and nothing pinned.

Not covered, because it cannot be simulated on this machine: a kernel without
live-frames BPF_PROG_RUN (Linux < 5.18).  The engine checks for it with an
empty live-frames run before attaching anything (send.c,
check_live_frames); faking the failure would test nothing real.
"""
import os
import re
import subprocess
import textwrap

import pytest

from lab import PinDir, bpf_obj_pin, bpffs_mounted, in_netns, load_xdp_tx_prog
from lab.engine import pool

# A valid config; the cases below break one line of it.
BASE = textwrap.dedent("""\
    interface: {IF}
    pin_path: {PIN}
    pools:
      - name: web
        healthcheck:
          protocol: tcp
          interval: 1s
          timeout: 500ms
          healthy_threshold: 2
          unhealthy_threshold: 2
        backends:
          - 198.18.1.1:80
          - 198.18.1.2:80
    """)

RUN_TIMEOUT = 5.0   # a failing start takes milliseconds; a start that works hangs


# ---- helpers ----------------------------------------------------------------

def line_of(text: str, needle: str) -> int:
    """1-based number of the only line of text containing needle."""
    hits = [i for i, ln in enumerate(text.splitlines(), 1) if needle in ln]
    assert len(hits) == 1, f"{needle!r} is on lines {hits} of the test config"
    return hits[0]


def write_cfg(engine, text: str, name: str = "xdphc.yaml") -> tuple[str, str]:
    """Fill in {IF} and {PIN}, write it; returns (path, text)."""
    text = text.replace("{IF}", engine.lab.prober_if).replace("{PIN}", engine.pin_dir)
    path = engine.workdir / name
    path.write_text(text)
    return str(path), text


def run_cmd(argv: list[str], timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        # subprocess.run has SIGKILLed it: the engine fixture detaches what it left
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        raise AssertionError(f"{argv} did not fail: still running after {timeout}s; "
                             f"stderr:\n{err}") from None


def run_engine(engine, cfg: str) -> subprocess.CompletedProcess:
    """`xdphc run -c cfg` in the lab's prober netns (nsenter, not ip netns exec)."""
    return run_cmd(engine.cmd("run", "-c", cfg))


def one_message(r: subprocess.CompletedProcess) -> str:
    """The failure's single message (asserts a non-zero exit and one line)."""
    assert r.returncode != 0, f"exit 0; stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected exactly one message, got:\n{r.stderr}"
    assert r.stdout == "", f"unexpected stdout:\n{r.stdout}"
    return lines[0]


def xdp_prog(lab) -> str | None:
    """'<name> id <id>' of the XDP program on the lab interface, or None."""
    out = lab.prober_exec(f"ip -d link show dev {lab.prober_if}").stdout
    m = re.search(r"prog/xdp id (\d+) name (\S+)", out)
    return f"{m.group(2)} id {m.group(1)}" if m else None


def assert_nothing_left(engine, *pin_paths: str) -> None:
    """No XDP program on the lab interface; none of pin_paths (and not the
    test's pin dir) exists, so nothing is pinned and no empty dir is left."""
    assert xdp_prog(engine.lab) is None and not engine.xdp_attached(), \
        f"an XDP program was left attached: {xdp_prog(engine.lab)}"
    for p in (engine.pin_dir, *pin_paths):
        assert not os.path.exists(p), \
            f"{p} was left behind: {os.listdir(p) if os.path.isdir(p) else 'a file'}"


def assert_where(msg: str, path: str, line: int | None, *words: str) -> None:
    where = f"{path}:{line}:" if line else f"{path}:"
    assert where in msg, f"message does not name {where!r}: {msg}"
    for w in words:
        assert w in msg, f"message does not say {w!r}: {msg}"


# ---- config errors: file:line ------------------------------------------------

# (id, text to replace in BASE, replacement, text of the line to be named, words)
CONFIG_CASES = [
    ("yaml-indent", "      interval: 1s", "     interval: 1s", "interval: 1s",
     ["YAML syntax error"]),
    ("yaml-tab", "      - 198.18.1.2:80", "\t- 198.18.1.2:80", "198.18.1.2:80",
     ["YAML syntax error", "tab"]),
    ("unknown-key-top", "pin_path: {PIN}", "pin_path: {PIN}\npin_pth: /x", "pin_pth",
     ["unknown key 'pin_pth'"]),
    ("unknown-key-healthcheck", "timeout: 500ms", "timout: 500ms", "timout",
     ["unknown key 'timout'", "healthcheck"]),
    ("unknown-key-pool", "    backends:", "    backend:", "backend:",
     ["unknown key 'backend'", "pool"]),
    ("bad-address", "198.18.1.2:80", "198.18.1.256:80", "198.18.1.256",
     ["bad backend address '198.18.1.256:80'"]),
    ("no-port", "198.18.1.2:80", "198.18.1.2", "198.18.1.2",
     ["bad backend address '198.18.1.2'"]),
    ("port-0", "198.18.1.2:80", "198.18.1.2:0", "198.18.1.2:0",
     ["bad backend address '198.18.1.2:0'", "port"]),
    ("port-65536", "198.18.1.2:80", "198.18.1.2:65536", "198.18.1.2:65536",
     ["bad backend address '198.18.1.2:65536'", "port"]),
    ("ipv6-backend-unquoted", "- 198.18.1.2:80", "- [2001:2::1]:80", "2001:2::1",
     ["YAML syntax error"]),
    ("udp-expect-without-payload", "protocol: tcp", "protocol: udp\n      expect: PONG",
     "expect: PONG", ["expect without payload", "set payload"]),
    ("udp-bad-hex", "protocol: tcp", "protocol: udp\n      payload: 0xzz", "payload: 0xzz",
     ["payload: '0xzz' is not hex"]),
    ("udp-payload-too-large", "protocol: tcp", "protocol: udp\n      payload: " + "a" * 1473,
     "payload: aaa", ["payload too large: 1473 bytes, at most 1472"]),
    ("healthy-threshold-0", "healthy_threshold: 2", "healthy_threshold: 0",
     "  healthy_threshold", ["healthy_threshold", "got '0'"]),
    ("unhealthy-threshold-0", "unhealthy_threshold: 2", "unhealthy_threshold: 0",
     "unhealthy_threshold", ["unhealthy_threshold", "got '0'"]),
    ("timeout-over-interval", "timeout: 500ms", "timeout: 2s", "timeout: 2s",
     ["timeout (2000ms)", "interval (1000ms)"]),
    ("duplicate-backend", "198.18.1.2:80", "198.18.1.1:80  # again", "# again",
     ["duplicate backend 198.18.1.1:80", "already in pool 'web'"]),
    ("missing-interface", "interface: {IF}", "interface: xhc-nosuch", "xhc-nosuch",
     ["interface 'xhc-nosuch'", "no such network interface"]),
    ("backends-file-missing", "    backends:\n      - 198.18.1.1:80\n      - 198.18.1.2:80\n",
     "    backends_file: nosuch.txt\n", "backends_file", ["nosuch.txt", "cannot open"]),
    ("metrics-listen-no-port", "pin_path: {PIN}", "pin_path: {PIN}\nmetrics_listen: 127.0.0.1",
     "metrics_listen", ["metrics_listen '127.0.0.1'", "127.0.0.1:9469"]),
    ("metrics-listen-foreign-address", "pin_path: {PIN}",
     "pin_path: {PIN}\nmetrics_listen: 198.18.9.9:9469", "metrics_listen",
     ["metrics_listen 198.18.9.9:9469", "cannot serve /metrics", "address"]),
    ("event-log-relative", "pin_path: {PIN}", "pin_path: {PIN}\nevent_log: events.json",
     "event_log", ["event_log must be 'stdout' or an absolute file path"]),
    ("event-log-no-dir", "pin_path: {PIN}",
     "pin_path: {PIN}\nevent_log: /nonexistent-xhc/events.json", "event_log",
     ["/nonexistent-xhc/events.json", "No such file or directory"]),
    ("status-index-not-bool", "pin_path: {PIN}", "pin_path: {PIN}\nstatus_index: maybe",
     "status_index", ["status_index must be true or false", "maybe"]),
    ("jitter-over-half", "timeout: 500ms", "timeout: 500ms\n      jitter: 600ms", "jitter",
     ["jitter (600ms) must not exceed half the interval (1000ms)"]),
    ("interval-over-a-day", "interval: 1s", "interval: 1441m", "interval: 1441m",
     ["interval must be a duration in 1ms..1440m", "got '1441m'"]),
]


def test_metrics_port_in_use(engine):
    """Another process holds the port: the engine says so and attaches nothing."""
    import socket
    with in_netns(engine.lab.prober_ns):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
    port = holder.getsockname()[1]
    try:
        path, text = write_cfg(engine, BASE.replace(
            "pin_path: {PIN}", f"pin_path: {{PIN}}\nmetrics_listen: 127.0.0.1:{port}", 1))
        msg = one_message(run_engine(engine, path))
        assert_where(msg, path, line_of(text, "metrics_listen"),
                     f"metrics_listen 127.0.0.1:{port}", "Address already in use")
        assert_nothing_left(engine)
    finally:
        holder.close()


@pytest.mark.parametrize("old,new,needle,words",
                         [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_config_error(engine, old, new, needle, words):
    config_error(engine, old, new, needle, words)


def config_error(engine, old, new, needle, words):
    """BASE with one line changed: one message naming the line with needle
    and the words, and nothing left behind."""
    assert old in BASE
    path, text = write_cfg(engine, BASE.replace(old, new, 1))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, needle), *words)
    assert_nothing_left(engine)


# (id, backends file content, line named, words)
FILE_CASES = [
    ("bad-address", "198.18.1.1:80\n\n198.18.1.256:80\n", 3,
     ["bad backend address '198.18.1.256:80'"]),
    ("port-0", "198.18.1.1:80\n198.18.1.2:0\n", 2, ["bad backend address '198.18.1.2:0'"]),
    ("port-65536", "198.18.1.1:80\n198.18.1.2:80\n198.18.1.3:65536\n", 3,
     ["bad backend address '198.18.1.3:65536'"]),
    ("ipv6-bad", "198.18.1.1:80\n[2001:2::1:80\n", 2,
     ["bad backend address '[2001:2::1:80'", "missing ']'"]),
]


@pytest.mark.parametrize("content,line,words", [c[1:] for c in FILE_CASES],
                         ids=[c[0] for c in FILE_CASES])
def test_backends_file_error(engine, content, line, words):
    bfile = engine.workdir / "backends.txt"
    bfile.write_text(content)
    path, _ = write_cfg(engine, BASE.replace(
        "    backends:\n      - 198.18.1.1:80\n      - 198.18.1.2:80\n",
        "    backends_file: backends.txt\n"))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, str(bfile), line, *words)
    assert_nothing_left(engine)


# ---- the interface: a source for each family, the MTU ------------------------

V6 = BASE.replace("- 198.18.1.2:80", '- "[2001:2::2]:80"  # v6')


def flush_addresses(lab, family: str) -> None:
    """The prober interface without its IPv4 addresses, or its global IPv6 ones."""
    scope = " scope global" if family == "-6" else ""
    lab.prober_exec(f"ip {family} addr flush dev {lab.prober_if}{scope}")


# (family flushed, config, text of the line named, words); with the interface's name
SOURCE_CASES = [
    ("-6", V6, "# v6", ["backend '[2001:2::2]:80' is IPv6",
                        "has no global IPv6 address; set source_ipv6"]),
    # the IPv4 address is required only by IPv4 backends, and then named so
    ("-4", BASE, "198.18.1.1:80", ["backend '198.18.1.1:80' is IPv4",
                                   "has no IPv4 address; set source_ipv4"]),
]


@pytest.mark.parametrize("family,cfg,needle,words", SOURCE_CASES, ids=["ipv6", "ipv4"])
def test_backend_without_a_source_of_its_family(engine, family, cfg, needle, words):
    """No address of the family on the interface, none configured: the
    first backend of that family's line, and what to set."""
    flush_addresses(engine.lab, family)
    path, text = write_cfg(engine, cfg)
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, needle), f"interface '{engine.lab.prober_if}'", *words)
    assert_nothing_left(engine)


def test_ipv6_only_config_starts_without_ipv4(engine):
    """The counterpart: no IPv4 on the interface, no IPv4 backend: it starts,
    probing from the interface's IPv6 address alone."""
    flush_addresses(engine.lab, "-4")
    engine.configure([pool("web", ["[2001:2::1]:80", "[2001:2::2]:80"])])
    engine.start()
    assert "probing 2 backends in 1 pools on" in engine.log()
    assert f"from {engine.lab.prober_ip6}, source ports" in engine.log()
    assert engine.stop() == 0


def test_ipv6_backend_in_file_without_ipv6_source(engine):
    flush_addresses(engine.lab, "-6")
    bfile = engine.workdir / "backends.txt"
    bfile.write_text("198.18.1.1:80\n\n[2001:2::5]:80\n[2001:2::6]:80\n")
    path, _ = write_cfg(engine, BASE.replace(
        "    backends:\n      - 198.18.1.1:80\n      - 198.18.1.2:80\n",
        "    backends_file: backends.txt\n"))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, str(bfile), 3, "backend '[2001:2::5]:80' is IPv6", "set source_ipv6")
    assert_nothing_left(engine)


def test_udp_payload_over_the_mtu(engine):
    """1400 - 20 (IPv4) - 8 (UDP) = 1372 bytes fit; one more does not, and
    with an IPv6 backend 20 fewer."""
    lab = engine.lab
    lab.prober_exec(f"ip link set dev {lab.prober_if} mtu 1400")
    for payload, backend, words in (
            (1373, "198.18.1.2:80", ["1373 bytes + 8 (UDP) + 20 (IPv4) = 1401 bytes"]),
            (1353, '"[2001:2::2]:80"', ["1353 bytes + 8 (UDP) + 40 (IPv6) = 1401 bytes"])):
        text = BASE.replace("protocol: tcp", "protocol: udp\n      payload: " + "p" * payload)
        path, text = write_cfg(engine, text.replace("198.18.1.2:80", backend))
        msg = one_message(run_engine(engine, path))
        assert_where(msg, path, line_of(text, "payload:"), "payload too large for interface",
                     f"'{lab.prober_if}' (MTU 1400)", *words, "in pool 'web'")
        assert_nothing_left(engine)


def test_missing_config_file(engine):
    path = str(engine.workdir / "nosuch.yaml")
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, None, "cannot open", "No such file or directory")
    assert_nothing_left(engine)


# ---- errors from the system: interface, bpffs, permissions ------------------

def test_pin_path_not_on_bpffs(engine, tmp_path):
    pins = tmp_path / "xyz" / "pins"
    path, text = write_cfg(engine, BASE.replace("pin_path: {PIN}", f"pin_path: {pins}"))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "pin_path:"), str(pins),
                 "not on a bpf filesystem")
    assert not (tmp_path / "xyz").exists(), "created a pin dir outside bpffs"
    assert_nothing_left(engine)


def test_no_bpffs_and_no_right_to_mount(engine):
    """A private mount namespace without bpffs on /sys/fs/bpf, and the engine
    without CAP_SYS_ADMIN, so it cannot mount one itself."""
    path, text = write_cfg(engine, BASE)
    script = ("while umount -l /sys/fs/bpf 2>/dev/null; do :; done; "
              "[ \"$(stat -f -c %T /sys/fs/bpf)\" != bpf_fs ] || exit 99; "
              f"exec nsenter --net=/run/netns/{engine.lab.prober_ns} "
              "setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin \"$@\"")
    r = run_cmd(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                 "sh", engine.bin, "run", "-c", path])
    assert r.returncode != 99, "could not unmount bpffs in the private mount namespace"
    msg = one_message(r)
    assert_where(msg, path, line_of(text, "pin_path:"), "bpffs is not mounted at /sys/fs/bpf",
                 "mounting it failed", "mount -t bpf bpf /sys/fs/bpf")
    # the host's bpffs was not touched, and nothing was pinned in it
    assert bpffs_mounted("/sys/fs/bpf")
    assert_nothing_left(engine)


def test_no_bpf_permission(engine):
    """Root without CAP_BPF/CAP_SYS_ADMIN/CAP_PERFMON/CAP_NET_ADMIN: loading
    fails after the pin dirs were created; they must all be removed again."""
    pins = f"{engine.pin_dir}/a/b"
    path, _ = write_cfg(engine, BASE.replace("pin_path: {PIN}", f"pin_path: {pins}"))
    caps = "-bpf,-sys_admin,-perfmon,-net_admin"
    r = run_cmd([*engine.lab.nsenter_prefix(), "setpriv", f"--inh-caps={caps}",
                 f"--bounding-set={caps}", engine.bin, "run", "-c", path])
    msg = one_message(r)
    assert "Operation not permitted" in msg and "CAP_BPF" in msg, msg
    assert_nothing_left(engine)


def test_foreign_xdp_program(engine):
    """An XDP program that does not use libxdp is already attached: the engine
    says which interface (and line), leaves that program alone and removes the
    pin dirs it created."""
    lab = engine.lab
    fd = load_xdp_tx_prog()
    try:
        with PinDir(create=True) as tmp_pins:
            bpf_obj_pin(fd, f"{tmp_pins}/prog")
            subprocess.run([*lab.nsenter_prefix(), "ip", "link", "set", "dev", lab.prober_if,
                            "xdp", "pinned", f"{tmp_pins}/prog"], check=True)
    finally:
        os.close(fd)
    before = xdp_prog(lab)
    assert before and before.startswith("xhclabtx ")
    pins = f"{engine.pin_dir}/a/b"
    path, text = write_cfg(engine, BASE.replace("pin_path: {PIN}", f"pin_path: {pins}"))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(text, "interface:"), f"interface '{lab.prober_if}'",
                 "attaching probe_rx", "another XDP program")
    assert xdp_prog(lab) == before, "the other XDP program was replaced or removed"
    lab.prober_exec(f"ip link set dev {lab.prober_if} xdp off")
    assert_nothing_left(engine)


# ---- a second engine while one runs ----------------------------------------

def test_second_engine_same_pin_path(engine):
    engine.configure([pool("web", ["198.18.1.1:80", "198.18.1.2:80"])])
    engine.start()
    before = xdp_prog(engine.lab)
    assert before and before.startswith("probe_rx ")
    msg = one_message(run_engine(engine, str(engine.config_path)))
    assert_where(msg, str(engine.config_path), None, f"another xdphc engine (pid {engine.proc.pid})",
                 engine.pin_dir)
    # the first engine keeps running, still attached, still publishing
    assert engine.proc.poll() is None, f"the first engine died:\n{engine.log()}"
    assert xdp_prog(engine.lab) == before
    st = engine.status()["engine"]
    assert st["state"] == "running" and st["pid"] == engine.proc.pid
    assert engine.stop() == 0
    assert not engine.xdp_attached()


def test_second_engine_same_interface(engine):
    """Another pin_path but the same interface: the second engine must not
    take the running engine's probe_rx away (it would blind it)."""
    engine.configure([pool("web", ["198.18.1.1:80"])])
    engine.start()
    before = xdp_prog(engine.lab)
    with PinDir() as other:
        path, text = write_cfg(engine, BASE.replace("{PIN}", other), "second.yaml")
        msg = one_message(run_engine(engine, path))
        assert_where(msg, path, line_of(text, "interface:"),
                     f"interface '{engine.lab.prober_if}'",
                     f"another xdphc engine (pid {engine.proc.pid})")
        assert not os.path.exists(other), "the second engine left its pin dir behind"
    assert engine.proc.poll() is None, f"the first engine died:\n{engine.log()}"
    assert xdp_prog(engine.lab) == before, "the first engine's probe_rx was removed"
    assert "removing a probe_rx" not in engine.log()
    assert engine.stop() == 0


# ---- command line ---------------------------------------------------------------

# (id, argv, words); {PIN} is this test's (never created) pin dir
CLI_CASES = [
    ("run-without-c", ["run"], ["xdphc run", "missing -c CONFIG"]),
    ("run-c-without-value", ["run", "-c"], ["xdphc run", "'-c'", "needs an argument"]),
    ("run-extra-argument", ["run", "-c", "x.yaml", "extra"], ["xdphc run", "unexpected argument 'extra'"]),
    ("status-extra-argument", ["status", "web"], ["xdphc status", "unexpected argument 'web'"]),
    ("unknown-command", ["bogus"], ["unknown command 'bogus'"]),
    ("unknown-option", ["status", "--bogus"], ["xdphc status", "unknown option '--bogus'"]),
    ("option-without-value", ["status", "--pin-path"],
     ["xdphc status", "'--pin-path'", "needs an argument"]),
    ("show-not-an-address", ["show", "notanaddress"], ["show notanaddress", "PORT"]),
    ("show-port-0", ["show", "198.18.1.1:0"], ["show 198.18.1.1:0", "port"]),
    ("show-no-address", ["show"], ["xdphc show", "ADDR:PORT"]),
    ("status-no-pins", ["status", "--pin-path", "{PIN}"], ["{PIN}/meta", "no such pinned map"]),
    ("show-no-pins", ["show", "198.18.1.1:80", "--pin-path", "{PIN}"],
     ["{PIN}/meta", "no such pinned map"]),
]


@pytest.mark.parametrize("argv,words", [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_error(engine, argv, words):
    argv = [a.replace("{PIN}", engine.pin_dir) for a in argv]
    msg = one_message(run_cmd(engine.cmd(*argv)))
    for w in words:
        w = w.replace("{PIN}", engine.pin_dir)
        assert w in msg, f"message does not say {w!r}: {msg}"
    assert_nothing_left(engine)
